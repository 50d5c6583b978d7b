// CUDA routed experts. Two schedules, both deterministic (every value is computed by a fixed set of lanes in a
// fixed order, whatever the grid's timing):
//  - per assignment (n ≤ 2, decode): each (token, slot) is its own tile; gate/up rows are split over many CTAs
//    (one warp per gate+up row pair, silu·up fused), then one kernel per token runs the down rows of its k experts
//    and sums them weighted, in slot order. Two launches, weights streamed once per assignment.
//  - grouped (batches): a one-block counting sort on the device groups assignments by expert into tiles of ≤ TM
//    tokens (no host synchronisation), so every expert's rows are read once per tile instead of once per token; the
//    down projection writes each assignment's own row and a last kernel sums them in slot order.
#include "runtime/ops/cuda/moe_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <atomic>

#include "core/error.h"
#include "runtime/ops/cuda/pdl_cuda.cuh"
#include "runtime/ops/cuda/moe_cuda_gemv.cuh"

namespace banyan::ops::cuda {

using namespace moe_detail;

namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("cuda moe: {}: {}", what, cudaGetErrorString(e));
}

constexpr int kDownRows = 4;  // down rows per warp (rows are short: several keep enough loads in flight)

size_t align_up(size_t v) { return (v + 255) & ~size_t(255); }

struct WorkspaceLayout {
  size_t h, expert_out, order, tiles, num_tiles, total;
};
WorkspaceLayout layout_for(int64_t n, int k, int64_t hidden, int64_t inter) {
  const size_t na = size_t(n) * size_t(k);
  WorkspaceLayout l{};
  size_t off = 0;
  l.h = off;
  off += align_up(na * size_t(inter) * sizeof(float));
  l.expert_out = off;
  off += align_up(na * size_t(hidden) * sizeof(float));
  l.order = off;
  off += align_up(na * sizeof(int32_t));
  l.tiles = off;
  off += align_up(2 * na * sizeof(int4));  // tiles ≤ ceil(na/TM) + min(E, na) ≤ 2·na
  l.num_tiles = off;
  off += align_up(sizeof(int));
  l.total = off;
  return l;
}

// Cached per device: the call must stay cheap and capture-safe on the decode path.
int max_optin_smem() {
  static std::atomic<int> cache[64] = {};
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev < 64 && cache[dev].load() > 0) return cache[dev].load();
  int optin = 0;
  check_cuda(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), "smem limit");
  if (dev < 64) cache[dev].store(optin);
  return optin;
}

// Kernels whose dynamic shared memory may exceed the default 48 KB get their limit raised once.
template <auto Kernel>
void allow_smem(size_t bytes) {
  static std::atomic<size_t> granted{48 * 1024};
  if (bytes <= granted.load()) return;
  const int optin = max_optin_smem();
  BANYAN_CHECK(bytes <= size_t(optin), "cuda moe: needs {} bytes of shared memory per block, the device has {}",
               bytes, optin);
  check_cuda(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
             "cudaFuncSetAttribute");
  granted.store(bytes);
}

// ---- grouping ----

// One block: counts per expert, positions grouped by expert (order[pos] = assignment) and the tile list
// {expert, first position, tokens, 0}. Order within an expert follows atomics, but each position's result depends
// only on its own token, so values do not.
__global__ void group_by_expert_kernel(const int32_t* ids, int na, int E, int tm, int32_t* order, int4* tiles,
                                       int* num_tiles) {
  pdl_trigger();
  pdl_wait();
  extern __shared__ int sm[];
  int* counts = sm;
  int* starts = sm + E;
  int* tile_starts = sm + 2 * E;
  int* cursor = sm + 3 * E;
  for (int e = threadIdx.x; e < E; e += blockDim.x) counts[e] = cursor[e] = 0;
  __syncthreads();
  for (int a = threadIdx.x; a < na; a += blockDim.x) atomicAdd(&counts[ids[a]], 1);
  __syncthreads();
  if (threadIdx.x < 32) {  // warp 0 scans counts and tile counts, 32 experts at a time
    const int lane = threadIdx.x;
    int carry_pos = 0, carry_tiles = 0;
    for (int e0 = 0; e0 < E; e0 += 32) {
      const int e = e0 + lane;
      const int c = e < E ? counts[e] : 0;
      int pos = c, nt = (c + tm - 1) / tm;
      for (int off = 1; off < 32; off <<= 1) {
        const int p = __shfl_up_sync(0xffffffffu, pos, off), q = __shfl_up_sync(0xffffffffu, nt, off);
        if (lane >= off) {
          pos += p;
          nt += q;
        }
      }
      if (e < E) {
        starts[e] = carry_pos + pos - c;
        tile_starts[e] = carry_tiles + nt - (c + tm - 1) / tm;
      }
      carry_pos += __shfl_sync(0xffffffffu, pos, 31);
      carry_tiles += __shfl_sync(0xffffffffu, nt, 31);
    }
    if (lane == 0) *num_tiles = carry_tiles;
  }
  __syncthreads();
  for (int a = threadIdx.x; a < na; a += blockDim.x) {
    const int e = ids[a];
    order[starts[e] + atomicAdd(&cursor[e], 1)] = a;
  }
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    const int c = counts[e];
    for (int q = 0; q * tm < c; ++q) tiles[tile_starts[e] + q] = make_int4(e, starts[e] + q * tm, min(tm, c - q * tm), 0);
  }
}

// ---- gate/up ----

// CTA (row block, tile): h[pos, i] = silu(gate_i · x) · (up_i · x) for the tile's positions. Without a tile list,
// tile = assignment (position = assignment, one token).
template <class W, int TM, int P, bool VEC>
__global__ void __launch_bounds__(kThreads) gate_up_kernel(ExpertStack<W> w, const float* x, int64_t ldx,
                                                           const int32_t* ids, int k, const int32_t* order,
                                                           const int4* tiles, const int* num_tiles, float* h) {
  pdl_trigger();
  pdl_wait();
  extern __shared__ float4 smem_gu[];
  float* xs = reinterpret_cast<float*>(smem_gu);
  const int tile = blockIdx.y;
  int e, begin, m;
  if (tiles == nullptr) {
    e = ids[tile];
    begin = tile;
    m = 1;
  } else {
    if (tile >= *num_tiles) return;
    const int4 td = tiles[tile];
    e = td.x;
    begin = td.y;
    m = td.z;
  }
  const int H = int(w.hidden), I = int(w.inter);
  for (int t = 0; t < m; ++t) {
    const int a = order ? order[begin + t] : begin + t;
    const float* xr = x + int64_t(a / k) * ldx;
    for (int c = threadIdx.x; c < H; c += kThreads) xs[t * H + c] = xr[c];
  }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int i0 = (blockIdx.x * kWarps + warp) * P;  // this warp's P (gate, up) row pairs
  if (i0 >= I) return;
  const W* base = w.gate_up + int64_t(e) * 2 * I * H;
  const W* rows[2 * P];
#pragma unroll
  for (int q = 0; q < P; ++q) {
    const int i = min(i0 + q, I - 1);  // past the end: a valid row whose result is dropped
    rows[2 * q] = base + int64_t(i) * H;
    rows[2 * q + 1] = base + int64_t(I + i) * H;
  }
  float acc[2 * P][TM] = {};
  warp_rows_dot<W, 2 * P, TM, VEC, (P == 1 ? 4 : 2)>(rows, xs, H, H, m, acc);
  warp_sum<2 * P, TM>(acc, m);
#pragma unroll
  for (int q = 0; q < P; ++q) {
#pragma unroll
    for (int t = 0; t < TM; ++t) {
      if (t < m && lane == t * P + q && i0 + q < I) {
        float g = acc[2 * q][t], u = acc[2 * q + 1][t];
        if constexpr (kRowScaled<W>) {
          g *= w.gate_up_scale[int64_t(e) * 2 * I + i0 + q];
          u *= w.gate_up_scale[int64_t(e) * 2 * I + I + i0 + q];
        }
        h[int64_t(begin + t) * I + i0 + q] = g / (1.0f + expf(-g)) * u;
      }
    }
  }
}

// ---- down ----

// Per assignment, fused with the combine: CTA (row block, token t) stages h of the token's k assignments; each
// warp owns one output row o and reads row o of all k experts' down matrices at once (8 slots per pass, so many
// loads are in flight), then sums weight_j · dot_j in slot order j.
constexpr int kSlotsPerPass = 8;
template <class W, bool VEC>
__global__ void __launch_bounds__(kThreads, 2) down_combine_kernel(ExpertStack<W> w, const float* h,
                                                                const int32_t* ids, const float* weights, int k,
                                                                float* out, int64_t ldo) {
  pdl_trigger();
  pdl_wait();
  extern __shared__ float4 smem_dc[];
  float* hs = reinterpret_cast<float*>(smem_dc);
  const int t = blockIdx.y;
  const int H = int(w.hidden), I = int(w.inter);
  const float* hsrc = h + int64_t(t) * k * I;
  for (int c = threadIdx.x; c < k * I; c += kThreads) hs[c] = hsrc[c];
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int o = blockIdx.x * kWarps + warp;
  if (o >= H) return;
  float total = 0.0f;
  for (int j0 = 0; j0 < k; j0 += kSlotsPerPass) {
    const int nr = min(kSlotsPerPass, k - j0);
    const W* rows[kSlotsPerPass];
#pragma unroll
    for (int r = 0; r < kSlotsPerPass; ++r)
      rows[r] = w.down + (int64_t(ids[t * k + j0 + min(r, nr - 1)]) * H + o) * I;
    float acc[kSlotsPerPass] = {};
    warp_slots_dot<W, kSlotsPerPass, VEC>(rows, hs + j0 * I, I, I, nr, acc);
#pragma unroll
    for (int r = 0; r < kSlotsPerPass; ++r) {
      if (r < nr) {
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], off);
        if constexpr (kRowScaled<W>) acc[r] *= w.down_scale[int64_t(ids[t * k + j0 + r]) * H + o];
        total = fmaf(weights[t * k + j0 + r], acc[r], total);
      }
    }
  }
  if (lane == 0) out[int64_t(t) * ldo + o] = total;
}

// Grouped: CTA (row block, tile) writes expert_out[assignment, o] = down_e row o · h[pos] for the tile.
template <class W, int TM, bool VEC>
__global__ void __launch_bounds__(kThreads) down_grouped_kernel(ExpertStack<W> w, const float* h,
                                                                const int32_t* order, const int4* tiles,
                                                                const int* num_tiles, float* expert_out) {
  pdl_trigger();
  pdl_wait();
  extern __shared__ float4 smem_dg[];
  float* hs = reinterpret_cast<float*>(smem_dg);
  const int tile = blockIdx.y;
  if (tile >= *num_tiles) return;
  const int4 td = tiles[tile];
  const int e = td.x, begin = td.y, m = td.z;
  const int H = int(w.hidden), I = int(w.inter);
  const float* hsrc = h + int64_t(begin) * I;
  for (int c = threadIdx.x; c < m * I; c += kThreads) hs[c] = hsrc[c];
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int o0 = (blockIdx.x * kWarps + warp) * kDownRows;
  if (o0 >= H) return;
  const W* base = w.down + int64_t(e) * H * I;
  const W* rows[kDownRows];
#pragma unroll
  for (int r = 0; r < kDownRows; ++r) rows[r] = base + int64_t(min(o0 + r, H - 1)) * I;
  float acc[kDownRows][TM] = {};
  warp_rows_dot<W, kDownRows, TM, VEC>(rows, hs, I, I, m, acc);
  warp_sum<kDownRows, TM>(acc, m);
#pragma unroll
  for (int t = 0; t < TM; ++t) {
#pragma unroll
    for (int r = 0; r < kDownRows; ++r) {
      if (t < m && lane == t * kDownRows + r && o0 + r < H) {
        float v = acc[r][t];
        if constexpr (kRowScaled<W>) v *= w.down_scale[int64_t(e) * H + o0 + r];
        expert_out[int64_t(order[begin + t]) * H + o0 + r] = v;
      }
    }
  }
}

// out[t, o] = Σ_j weight[t, j] · expert_out[t·k + j, o], in slot order.
__global__ void combine_kernel(const float* expert_out, const float* weights, int k, int H, float* out,
                               int64_t ldo) {
  pdl_trigger();
  pdl_wait();
  const int t = blockIdx.y;
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= H) return;
  float s = 0.0f;
  for (int j = 0; j < k; ++j) s = fmaf(weights[t * k + j], expert_out[(int64_t(t) * k + j) * H + o], s);
  out[int64_t(t) * ldo + o] = s;
}

template <class W, bool VEC>
void run_per_assignment(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                        const float* weights, int k, float* out, int64_t ldo, float* h, cudaStream_t stream) {
  const int64_t na = n * k;
  const size_t xs_bytes = size_t(w.hidden) * sizeof(float);
  constexpr int P = 2;  // row pairs per warp: all CTAs of a decode step fit in one wave
  allow_smem<gate_up_kernel<W, 1, P, VEC>>(xs_bytes);
  launch_pdl(gate_up_kernel<W, 1, P, VEC>, dim3(unsigned((w.inter + kWarps * P - 1) / (kWarps * P)), unsigned(na)),
             dim3(kThreads), xs_bytes, stream, w, x, ldx, ids, k, nullptr, nullptr, nullptr, h);
  check_cuda(cudaGetLastError(), "gate_up launch");
  const size_t hs_bytes = size_t(k) * size_t(w.inter) * sizeof(float);
  allow_smem<down_combine_kernel<W, VEC>>(hs_bytes);
  launch_pdl(down_combine_kernel<W, VEC>, dim3(unsigned((w.hidden + kWarps - 1) / kWarps), unsigned(n)), dim3(kThreads),
             hs_bytes, stream, w, h, ids, weights, k, out, ldo);
  check_cuda(cudaGetLastError(), "down launch");
}

template <class W, int TM, bool VEC>
void run_grouped(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                 const float* weights, int k, float* out, int64_t ldo, uint8_t* ws, const WorkspaceLayout& lay,
                 cudaStream_t stream) {
  const int64_t na = n * k;
  const int64_t E = w.num_experts;
  float* h = reinterpret_cast<float*>(ws + lay.h);
  float* expert_out = reinterpret_cast<float*>(ws + lay.expert_out);
  int32_t* order = reinterpret_cast<int32_t*>(ws + lay.order);
  int4* tiles = reinterpret_cast<int4*>(ws + lay.tiles);
  int* num_tiles = reinterpret_cast<int*>(ws + lay.num_tiles);
  const int64_t max_tiles = (na + TM - 1) / TM + std::min(E, na);
  BANYAN_CHECK(max_tiles <= 65535, "cuda moe: {} tokens × {} experts each is too many for one call", n, k);

  const size_t sort_smem = size_t(4 * E) * sizeof(int);
  allow_smem<group_by_expert_kernel>(sort_smem);
  launch_pdl(group_by_expert_kernel, dim3(1), dim3(1024), sort_smem, stream, ids, int(na), int(E), TM, order, tiles,
             num_tiles);
  check_cuda(cudaGetLastError(), "group launch");

  const size_t xs_bytes = size_t(TM) * size_t(w.hidden) * sizeof(float);
  allow_smem<gate_up_kernel<W, TM, 1, VEC>>(xs_bytes);
  launch_pdl(gate_up_kernel<W, TM, 1, VEC>, dim3(unsigned((w.inter + kWarps - 1) / kWarps), unsigned(max_tiles)),
             dim3(kThreads), xs_bytes, stream, w, x, ldx, ids, k, order, tiles, num_tiles, h);
  check_cuda(cudaGetLastError(), "gate_up launch");

  const size_t hs_bytes = size_t(TM) * size_t(w.inter) * sizeof(float);
  allow_smem<down_grouped_kernel<W, TM, VEC>>(hs_bytes);
  const int64_t rows_per_cta = int64_t(kWarps) * kDownRows;
  launch_pdl(down_grouped_kernel<W, TM, VEC>,
             dim3(unsigned((w.hidden + rows_per_cta - 1) / rows_per_cta), unsigned(max_tiles)), dim3(kThreads),
             hs_bytes, stream, w, h, order, tiles, num_tiles, expert_out);
  check_cuda(cudaGetLastError(), "down launch");

  launch_pdl(combine_kernel, dim3(unsigned((w.hidden + 255) / 256), unsigned(n)), dim3(256), 0, stream, expert_out,
             weights, k, int(w.hidden), out, ldo);
  check_cuda(cudaGetLastError(), "combine launch");
}

// The grouped schedule at the tile height that suits the batch (any n ≥ 1).
template <class W, bool VEC>
void dispatch_grouped(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                      const float* weights, int k, float* out, int64_t ldo, uint8_t* base, const WorkspaceLayout& lay,
                      cudaStream_t stream) {
  // Tile height: about the expected tokens per active expert, rounded up (a tile re-reads its expert's rows).
  const int64_t na = n * k;
  const int64_t active = std::min(w.num_experts, na);
  const int64_t per_expert = (na + active - 1) / active;
  const int64_t optin = max_optin_smem();
  const bool fits8 = int64_t(8 * std::max(w.hidden, w.inter) * sizeof(float)) <= optin;
  const bool fits4 = int64_t(4 * std::max(w.hidden, w.inter) * sizeof(float)) <= optin;
  BANYAN_CHECK(int64_t(std::max(w.hidden, w.inter) * sizeof(float)) <= optin,
               "cuda moe: hidden {} / inter {} rows do not fit in shared memory", w.hidden, w.inter);
  if (per_expert > 3 && fits8) run_grouped<W, 8, VEC>(w, x, n, ldx, ids, weights, k, out, ldo, base, lay, stream);
  else if (per_expert > 1 && fits4) run_grouped<W, 4, VEC>(w, x, n, ldx, ids, weights, k, out, ldo, base, lay, stream);
  else run_grouped<W, 1, VEC>(w, x, n, ldx, ids, weights, k, out, ldo, base, lay, stream);
}

template <class W, bool VEC>
void dispatch(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
              const float* weights, int k, float* out, int64_t ldo, MoeWorkspace& ws, cudaStream_t stream) {
  const WorkspaceLayout lay = layout_for(n, k, w.hidden, w.inter);
  uint8_t* base = static_cast<uint8_t*>(ws.data);
  if (n <= 2) {
    run_per_assignment<W, VEC>(w, x, n, ldx, ids, weights, k, out, ldo, reinterpret_cast<float*>(base + lay.h),
                               stream);
    return;
  }
  dispatch_grouped<W, VEC>(w, x, n, ldx, ids, weights, k, out, ldo, base, lay, stream);
}

// Router taps' expert output norms: sumsq[a] = Σ_o rows[a, o]² for a < na (rows H floats apart), one warp per row,
// lanes striding the row and a fixed butterfly: deterministic. Launched the ordinary way (not PDL), so it starts
// after the grouped schedule's kernels have finished writing the rows.
__global__ void row_sumsq_kernel(const float* rows, int64_t na, int H, float* sumsq) {
  const int64_t a = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (a >= na) return;  // whole warps leave together
  const float* r = rows + a * H;
  float s = 0.0f;
  for (int o = lane; o < H; o += 32) s = fmaf(r[o], r[o], s);
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  if (lane == 0) sumsq[a] = s;
}

}  // namespace

void MoeWorkspace::reserve(size_t need_bytes) {
  if (need_bytes <= bytes) return;
  if (data) check_cuda(cudaFree(data), "cudaFree");
  data = nullptr;
  bytes = 0;
  check_cuda(cudaMalloc(&data, need_bytes), "cudaMalloc (moe workspace)");
  bytes = need_bytes;
}

MoeWorkspace::~MoeWorkspace() {
  if (data) cudaFree(data);  // no throwing from a destructor; a failure here leaks at worst
}

size_t moe_workspace_bytes(int64_t n, int k, int64_t hidden, int64_t inter) {
  return layout_for(n, k, hidden, inter).total;
}

namespace {
// The arguments' checks of both entry points; true when the weights allow 16-byte loads.
template <class W>
bool check_call(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                const float* weights, int k, float* out, int64_t ldo, const MoeWorkspace& ws) {
  BANYAN_CHECK(n > 0 && k > 0 && w.num_experts > 0 && w.hidden > 0 && w.inter > 0,
               "cuda moe: bad shape (n {}, k {}, experts {}, hidden {}, inter {})", n, k, w.num_experts, w.hidden,
               w.inter);
  BANYAN_CHECK(w.gate_up && w.down && x && ids && weights && out, "cuda moe: null pointer");
  if constexpr (kRowScaled<W>)
    BANYAN_CHECK(w.gate_up_scale && w.down_scale, "cuda moe: fp8 experts without their row scales");
  BANYAN_CHECK(ldx >= w.hidden && ldo >= w.hidden, "cuda moe: row strides {} / {} below hidden {}", ldx, ldo,
               w.hidden);
  BANYAN_CHECK(n <= 65535, "cuda moe: {} tokens in one call (at most 65535)", n);
  const size_t need = moe_workspace_bytes(n, k, w.hidden, w.inter);
  BANYAN_CHECK(ws.data && ws.bytes >= need, "cuda moe: workspace holds {} bytes, {} tokens × {} need {}", ws.bytes, n,
               k, need);
  constexpr int N = Chunk<W>::N;
  return w.hidden % N == 0 && w.inter % N == 0 && reinterpret_cast<uintptr_t>(w.gate_up) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w.down) % 16 == 0;
}
}  // namespace

template <class W>
void moe_experts(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                 const float* weights, int k, float* out, int64_t ldo, MoeWorkspace& ws, cudaStream_t stream) {
  if (n == 0) return;
  const bool vec = check_call(w, x, n, ldx, ids, weights, k, out, ldo, ws);
  if (vec) dispatch<W, true>(w, x, n, ldx, ids, weights, k, out, ldo, ws, stream);
  else dispatch<W, false>(w, x, n, ldx, ids, weights, k, out, ldo, ws, stream);
}

template <class W>
void moe_experts_with_norms(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                            const float* weights, int k, float* out, int64_t ldo, float* sumsq, MoeWorkspace& ws,
                            cudaStream_t stream) {
  if (n == 0) return;
  BANYAN_CHECK(sumsq, "cuda moe: null pointer (expert output norms)");
  const bool vec = check_call(w, x, n, ldx, ids, weights, k, out, ldo, ws);
  const WorkspaceLayout lay = layout_for(n, k, w.hidden, w.inter);
  uint8_t* base = static_cast<uint8_t*>(ws.data);
  if (vec) dispatch_grouped<W, true>(w, x, n, ldx, ids, weights, k, out, ldo, base, lay, stream);
  else dispatch_grouped<W, false>(w, x, n, ldx, ids, weights, k, out, ldo, base, lay, stream);
  const int64_t na = n * k;
  constexpr int kRowsPerBlock = 8;  // one warp per row
  row_sumsq_kernel<<<unsigned((na + kRowsPerBlock - 1) / kRowsPerBlock), 32 * kRowsPerBlock, 0, stream>>>(
      reinterpret_cast<const float*>(base + lay.expert_out), na, int(w.hidden), sumsq);
  check_cuda(cudaGetLastError(), "norms launch");
}

template void moe_experts<float>(const ExpertStack<float>&, const float*, int64_t, int64_t, const int32_t*,
                                 const float*, int, float*, int64_t, MoeWorkspace&, cudaStream_t);
template void moe_experts<__nv_bfloat16>(const ExpertStack<__nv_bfloat16>&, const float*, int64_t, int64_t,
                                         const int32_t*, const float*, int, float*, int64_t, MoeWorkspace&,
                                         cudaStream_t);
template void moe_experts<__nv_fp8_e4m3>(const ExpertStack<__nv_fp8_e4m3>&, const float*, int64_t, int64_t,
                                         const int32_t*, const float*, int, float*, int64_t, MoeWorkspace&,
                                         cudaStream_t);
template void moe_experts_with_norms<float>(const ExpertStack<float>&, const float*, int64_t, int64_t,
                                            const int32_t*, const float*, int, float*, int64_t, float*,
                                            MoeWorkspace&, cudaStream_t);
template void moe_experts_with_norms<__nv_bfloat16>(const ExpertStack<__nv_bfloat16>&, const float*, int64_t,
                                                    int64_t, const int32_t*, const float*, int, float*, int64_t,
                                                    float*, MoeWorkspace&, cudaStream_t);
template void moe_experts_with_norms<__nv_fp8_e4m3>(const ExpertStack<__nv_fp8_e4m3>&, const float*, int64_t,
                                                    int64_t, const int32_t*, const float*, int, float*, int64_t,
                                                    float*, MoeWorkspace&, cudaStream_t);

}  // namespace banyan::ops::cuda
