// Token sampling on the device; see sampling_cuda.h. One block of kThreads per sampled row; the row's logits are
// read from global memory (L2-resident after the LM head) in every pass: argmax, the top-k select (≤ 8 passes),
// the softmax total and the top-p select (≤ 8 passes) when top-p is on, and the draw (2 passes).
#include "runtime/ops/cuda/sampling_cuda.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/pdl_cuda.cuh"
#include "runtime/sampling_hash.h"

namespace banyan::ops::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 256;
constexpr unsigned kFull = 0xffffffffu;
constexpr float kGreedyBelowTemperature = 1e-5f;  // as the CPU Sampler

struct Best {
  float v;
  int32_t i;
};
__device__ __forceinline__ void take(Best& b, float v, int32_t i) {
  if (v > b.v || (v == b.v && i < b.i)) b = {v, i};
}

struct Shared {
  double mass[kBins];
  uint32_t count[kBins];
  double wsum[kWarps];
  Best wbest[kWarps];
  uint64_t prefix, mask, result;
  double remaining;
  int done, pick, last;
};

// Float bits → an unsigned that orders like the floats (−0 as +0, so equal values tie as on the CPU).
__device__ __forceinline__ uint32_t ordered_bits(float v) {
  uint32_t b = __float_as_uint(v);
  if ((b & 0x7fffffffu) == 0) b = 0;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
// The CPU's ranking as one key: a larger key ranks first (higher value; equal values → lower token id).
__device__ __forceinline__ uint64_t rank_key(float v, int64_t id) {
  return (uint64_t(ordered_bits(v)) << 32) | uint64_t(0xffffffffu - uint32_t(id));
}

// The CPU Sampler's penalty expression with the same rounding (no contraction into fused multiply-adds).
__device__ __forceinline__ float penalized(float x, bool repetition, int32_t count, const SampleRow& p) {
  if (repetition) x = x > 0.0f ? __fdiv_rn(x, p.repetition_penalty) : __fmul_rn(x, p.repetition_penalty);
  if (count > 0)
    x = __fsub_rn(x, __fadd_rn(__fmul_rn(float(count), p.frequency_penalty), p.presence_penalty));
  return x;
}

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Sum over the block, the same value (same order) in every thread.
__device__ double block_sum(double v, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum_d(v);
  __syncthreads();
  if (lane == 0) sh.wsum[warp] = v;
  __syncthreads();
  return warp_sum_d(sh.wsum[lane]);
}

// Exclusive prefix sum over the threads in index order; `total` gets the block's sum.
__device__ double block_exclusive_scan(double v, Shared& sh, double& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    const double n = __shfl_up_sync(kFull, inc, o);
    if (lane >= o) inc += n;
  }
  double exc = __shfl_up_sync(kFull, inc, 1);
  if (lane == 0) exc = 0.0;
  __syncthreads();
  if (lane == 31) sh.wsum[warp] = inc;
  __syncthreads();
  double winc = sh.wsum[lane];
  for (int o = 1; o < 32; o <<= 1) {
    const double n = __shfl_up_sync(kFull, winc, o);
    if (lane >= o) winc += n;
  }
  const double woff = warp > 0 ? __shfl_sync(kFull, winc, warp - 1) : 0.0;
  total = __shfl_sync(kFull, winc, 31);
  return woff + exc;
}

__device__ Best block_best(Best b, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) take(b, __shfl_xor_sync(kFull, b.v, o), __shfl_xor_sync(kFull, b.i, o));
  __syncthreads();
  if (lane == 0) sh.wbest[warp] = b;
  __syncthreads();
  Best t = sh.wbest[lane];
  for (int o = 16; o > 0; o >>= 1) take(t, __shfl_xor_sync(kFull, t.v, o), __shfl_xor_sync(kFull, t.i, o));
  return t;
}

// Radix select over the candidates' 64-bit rank keys, highest first: the key T of the candidate at which the
// cumulative weight (in rank order) first reaches `target`, so that the kept set is {candidates with key ≥ T}.
// kCounting: every weight is 1 (top-k: target k). Otherwise weights are softmax numerators (top-p), summed in
// double per 8-bit digit bin; if rounding leaves the total short of the target, every candidate matching the
// digits fixed so far is kept. `candidate(j, key, weight)` says whether token j takes part, and its key and weight.
template <bool kCounting, class Candidate>
__device__ uint64_t select_threshold(int64_t V, double target, Candidate candidate, Shared& sh) {
  const int tid = threadIdx.x, lane = tid & 31;
  __syncthreads();  // sh is free (earlier readers are done)
  if (tid == 0) {
    sh.prefix = 0;
    sh.mask = 0;
    sh.remaining = target;
    sh.done = 0;
  }
  bool done = false;
  for (int shift = 56; shift >= 0 && !done; shift -= 8) {
    for (int b = tid; b < kBins; b += kThreads) {
      sh.mass[b] = 0.0;
      sh.count[b] = 0;
    }
    __syncthreads();
    const uint64_t prefix = sh.prefix, mask = sh.mask;
    for (int64_t base = 0; base < V; base += kThreads) {
      const int64_t j = base + tid;
      uint64_t key = 0;
      double w = 0.0;
      int bin = -1;
      if (j < V && candidate(j, key, w) && (key & mask) == prefix) bin = int((key >> shift) & 0xff);
      // Warp-aggregated histogram update (lanes of one bin would otherwise serialise on one shared address): the
      // lowest lane of each bin's group adds the group's count; masses of a lane alone in its bin are added
      // directly, those of larger groups by a warp sum per group.
      const unsigned peers = __match_any_sync(kFull, bin);
      const bool leader = bin >= 0 && lane == __ffs(peers) - 1;
      if (leader) atomicAdd(&sh.count[bin], uint32_t(__popc(peers)));
      if constexpr (!kCounting) {
        const bool alone = __popc(peers) == 1;
        if (bin >= 0 && alone) atomicAdd(&sh.mass[bin], w);
        unsigned pending = __ballot_sync(kFull, bin >= 0 && !alone);
        while (pending) {
          const int first = __ffs(pending) - 1;
          const int b = __shfl_sync(kFull, bin, first);
          const double m = warp_sum_d(bin == b ? w : 0.0);
          if (lane == first) atomicAdd(&sh.mass[b], m);
          pending &= ~__ballot_sync(kFull, bin == b);
        }
      }
    }
    __syncthreads();
    if (tid == 0) {
      const double remaining = sh.remaining;
      double above = 0.0;
      int chosen = -1;
      for (int b = kBins - 1; b >= 0; --b) {
        if (sh.count[b] == 0) continue;
        const double m = kCounting ? double(sh.count[b]) : sh.mass[b];
        if (above + m >= remaining) {
          chosen = b;
          break;
        }
        above += m;
      }
      if (chosen < 0) {
        sh.done = 1;
        sh.result = prefix;
      } else {
        const double m = kCounting ? double(sh.count[chosen]) : sh.mass[chosen];
        const uint64_t np = prefix | (uint64_t(chosen) << shift);
        sh.prefix = np;
        sh.mask = mask | (uint64_t(0xff) << shift);
        sh.remaining = remaining - above;
        // The whole bin is kept (exactly the remaining count, or a single token): keys ≥ np, lower digits free.
        if (shift == 0 || sh.count[chosen] == 1 || (kCounting && m == remaining - above)) {
          sh.done = 1;
          sh.result = np;
        }
      }
    }
    __syncthreads();
    done = sh.done != 0;
  }
  const uint64_t result = sh.result;
  __syncthreads();
  return result;
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(float* logits, int64_t V, const SampleRow* rows, const PenaltyEntry* history,
                       int32_t* tokens) {
  pdl_trigger();
  pdl_wait();
  __shared__ Shared sh;
  const int tid = threadIdx.x;
  const SampleRow p = rows[blockIdx.x];
  float* x = logits + int64_t(p.row) * V;

  // 1. Penalties (the history's tokens are distinct: no two threads touch one logit).
  const bool repetition = p.repetition_penalty != 1.0f;
  for (int i = tid; i < p.history_count; i += kThreads) {
    const PenaltyEntry e = history[p.history_begin + i];
    x[e.token] = penalized(x[e.token], repetition && (e.in_prompt != 0 || e.count > 0), e.count, p);
  }
  __syncthreads();

  // 2. Argmax (greedy, and the best logit) and the input check.
  Best b{-INFINITY, INT_MAX};
  int bad = 0;
  for (int64_t j = tid; j < V; j += kThreads) {
    const float v = x[j];
    bad |= int(isnan(v) || v == INFINITY);
    take(b, v, int32_t(j));
  }
  b = block_best(b, sh);
  bad = __syncthreads_or(bad);
  if (bad || b.v == -INFINITY) {
    if (tid == 0) tokens[blockIdx.x] = -1;
    return;
  }
  if (p.temperature < kGreedyBelowTemperature) {
    if (tid == 0) tokens[blockIdx.x] = b.i;
    return;
  }
  const float inv_t = __fdiv_rn(1.0f, p.temperature);
  const float best = __fmul_rn(b.v, inv_t);  // the largest scaled logit (scaling by inv_t > 0 keeps the order)
  if (!isfinite(best)) {
    if (tid == 0) tokens[blockIdx.x] = -1;
    return;
  }
  auto numerator = [&](float l) { return expf(__fsub_rn(__fmul_rn(l, inv_t), best)); };

  // 3. Top-k: keys of the raw (penalised) logits, as the CPU's heap compares them.
  uint64_t tk = 0;
  if (p.top_k > 0 && int64_t(p.top_k) < V) {
    tk = select_threshold<true>(
        V, double(p.top_k),
        [&](int64_t j, uint64_t& key, double& w) {
          key = rank_key(x[j], j);
          w = 1.0;
          return true;
        },
        sh);
  }

  // 4. Top-p over the top-k set: softmax numerators ranked by (numerator, lower id), as the CPU's nucleus sort.
  uint64_t tp = 0;
  if (p.top_p < 1.0f) {
    double part = 0.0;
    for (int64_t j = tid; j < V; j += kThreads) {
      const float l = x[j];
      if (rank_key(l, j) >= tk) part += double(numerator(l));
    }
    const double total = block_sum(part, sh);
    tp = select_threshold<false>(
        V, double(p.top_p) * total,
        [&](int64_t j, uint64_t& key, double& w) {
          const float l = x[j];
          if (rank_key(l, j) < tk) return false;
          const float e = numerator(l);
          key = rank_key(e, j);
          w = double(e);
          return true;
        },
        sh);
  }

  // 5. Min-p: the best kept numerator is exp(0) = 1, so the threshold is min_p itself.
  const float min_e = p.min_p > 0.0f ? p.min_p : 0.0f;
  auto kept = [&](int64_t j, float& e) {
    const float l = x[j];
    if (rank_key(l, j) < tk) return false;
    e = numerator(l);
    return rank_key(e, j) >= tp && e >= min_e;
  };

  // 6. The draw in ascending token id: each thread owns a contiguous id range; an exclusive scan of the ranges'
  // masses gives each its starting cumulative value; the lowest id whose cumulative mass exceeds u · kept wins.
  if (tid == 0) {
    sh.pick = INT_MAX;
    sh.last = -1;
  }
  const int64_t chunk = (V + kThreads - 1) / kThreads;
  const int64_t lo = std::min<int64_t>(V, int64_t(tid) * chunk), hi = std::min<int64_t>(V, lo + chunk);
  double part = 0.0;
  int last = -1;
  for (int64_t j = lo; j < hi; ++j) {
    float e;
    if (kept(j, e) && e > 0.0f) {
      part += double(e);
      last = int(j);
    }
  }
  double total = 0.0;
  const double before = block_exclusive_scan(part, sh, total);
  const double r = sampling::uniform_for_step(p.seed, p.step) * total;
  int pick = INT_MAX;
  if (last >= 0) {
    double cumulative = before;
    for (int64_t j = lo; j < hi; ++j) {
      float e;
      if (!kept(j, e) || e <= 0.0f) continue;
      cumulative += double(e);
      if (r < cumulative) {
        pick = int(j);
        break;
      }
    }
  }
  atomicMin(&sh.pick, pick);
  atomicMax(&sh.last, last);
  __syncthreads();
  if (tid == 0) tokens[blockIdx.x] = sh.pick != INT_MAX ? sh.pick : sh.last;  // rounding past the end: the last
}

__global__ void uniform_kernel(const uint64_t* seeds, const uint64_t* steps, int n, double* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = sampling::uniform_for_step(seeds[i], steps[i]);
}

size_t align16(size_t x) { return (x + 15) / 16 * 16; }

}  // namespace

void sample_rows(float* logits, int64_t vocab, const SampleRow* rows, int n, const PenaltyEntry* history,
                 int32_t* tokens, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(sample_rows_kernel, dim3(unsigned(n)), dim3(kThreads), 0, stream, logits, vocab, rows, history, tokens);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void uniform_for_steps(const uint64_t* seeds, const uint64_t* steps, int n, double* out, cudaStream_t stream) {
  if (n == 0) return;
  uniform_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(seeds, steps, n, out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

RowSampler::~RowSampler() {
  cudaFreeHost(host_);
  cudaFree(dev_);
}

void RowSampler::grow(size_t bytes, cudaStream_t stream) {
  if (bytes <= bytes_) return;
  BANYAN_CUDA_CHECK(cudaStreamSynchronize(stream));
  BANYAN_CUDA_CHECK(cudaFreeHost(host_));
  BANYAN_CUDA_CHECK(cudaFree(dev_));
  host_ = dev_ = nullptr;
  bytes_ = std::max(bytes, bytes_ * 3 / 2);
  BANYAN_CUDA_CHECK(cudaMallocHost(&host_, bytes_));
  BANYAN_CUDA_CHECK(cudaMalloc(&dev_, bytes_));
}

void RowSampler::sample(float* logits, int64_t vocab, std::span<const RowSampling> requests,
                        std::vector<int32_t>& tokens, cudaStream_t stream) {
  tokens.assign(requests.size(), -1);
  rows_of_.clear();
  size_t n_history = 0;
  for (size_t r = 0; r < requests.size(); ++r) {
    if (!requests[r].params) continue;
    rows_of_.push_back(int32_t(r));
    if (penalties_enabled(*requests[r].params)) n_history += requests[r].history.size();
  }
  const int n = int(rows_of_.size());
  if (n == 0) return;
  const size_t rows_at = 0, history_at = align16(size_t(n) * sizeof(SampleRow));
  const size_t tokens_at = align16(history_at + n_history * sizeof(PenaltyEntry));
  const size_t total = align16(tokens_at + size_t(n) * sizeof(int32_t));
  grow(total, stream);
  auto* h_rows = reinterpret_cast<SampleRow*>(host_ + rows_at);
  auto* h_history = reinterpret_cast<PenaltyEntry*>(host_ + history_at);
  size_t h_at = 0;
  for (int i = 0; i < n; ++i) {
    const RowSampling& req = requests[size_t(rows_of_[size_t(i)])];
    const SamplingParams& sp = *req.params;
    SampleRow row;
    row.row = rows_of_[size_t(i)];
    row.top_k = sp.top_k;
    row.temperature = sp.temperature;
    row.top_p = sp.top_p;
    row.min_p = sp.min_p;
    row.repetition_penalty = sp.repetition_penalty;
    row.presence_penalty = sp.presence_penalty;
    row.frequency_penalty = sp.frequency_penalty;
    row.seed = sp.seed.value_or(0);
    row.step = req.step;
    row.history_begin = int32_t(h_at);
    if (penalties_enabled(sp)) {
      std::memcpy(h_history + h_at, req.history.data(), req.history.size() * sizeof(PenaltyEntry));
      h_at += req.history.size();
    }
    row.history_count = int32_t(h_at) - row.history_begin;
    h_rows[i] = row;
  }
  BANYAN_CUDA_CHECK(cudaMemcpyAsync(dev_, host_, tokens_at, cudaMemcpyHostToDevice, stream));
  auto* d_tokens = reinterpret_cast<int32_t*>(dev_ + tokens_at);
  sample_rows(logits, vocab, reinterpret_cast<const SampleRow*>(dev_ + rows_at), n,
              reinterpret_cast<const PenaltyEntry*>(dev_ + history_at), d_tokens, stream);
  auto* h_tokens = reinterpret_cast<int32_t*>(host_ + tokens_at);
  BANYAN_CUDA_CHECK(cudaMemcpyAsync(h_tokens, d_tokens, size_t(n) * sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  BANYAN_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int i = 0; i < n; ++i) {
    const int32_t r = rows_of_[size_t(i)];
    BANYAN_CHECK(h_tokens[i] >= 0 && h_tokens[i] < vocab,
                 "sampling on the device: row {} has a NaN or +inf logit, or no finite one (after penalties and "
                 "temperature)",
                 r);
    tokens[size_t(r)] = h_tokens[i];
  }
}

}  // namespace banyan::ops::cuda
