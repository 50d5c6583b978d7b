// Microbenchmark of the CUDA MoE and paged-attention kernels at the Qwen3-30B-A3B decode geometry (hidden 2048,
// expert inter 768, 128 experts top-8, 32/4 heads of 128, bf16 weights and KV, fp32 activations). Prints one JSON
// object per line: the copy bandwidth measured in the same run (device-to-device copy, bytes read + written, and
// a read-only streaming kernel), then per case µs per call, GB/s of the bytes the call must read, and that as a
// fraction of both ceilings. Calls are captured in a CUDA graph (as the engine runs them) and replayed; inputs
// rotate so that nothing is served from L2.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "runtime/ops/cuda/attention_cuda.h"
#include "runtime/ops/cuda/moe_cuda.h"

using namespace banyan::ops;

#define CK(expr)                                                                               \
  do {                                                                                         \
    cudaError_t e_ = (expr);                                                                   \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(1);                                                                            \
    }                                                                                          \
  } while (0)

namespace {

__global__ void fill_kernel(uint32_t* p, size_t n, uint32_t seed, uint32_t mask, uint32_t bias) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t s = uint32_t(i) * 2654435761u ^ seed;
    s ^= s >> 15;
    s *= 2246822519u;
    s ^= s >> 13;
    p[i] = (s & mask) | bias;
  }
}
// Random bf16 pairs / floats in a modest range: sign and low exponent bits random around 2^-4.
void fill_random(void* p, size_t bytes, uint32_t seed, bool bf16) {
  const uint32_t mask = bf16 ? 0x807f807fu : 0x807fffffu;
  const uint32_t bias = bf16 ? 0x3d003d00u : 0x3d000000u;
  fill_kernel<<<1024, 256>>>(static_cast<uint32_t*>(p), bytes / 4, seed, mask, bias);
  CK(cudaGetLastError());
}

__global__ void read_kernel(const uint4* p, size_t n, uint32_t* sink) {
  uint32_t acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const uint4 v = __ldg(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) *sink = acc;  // keeps the loads alive
}

// Median of `reps` timings of f() on `stream` (events must sit on the stream the work goes to).
template <class F>
float time_ms(cudaStream_t stream, F&& f, int reps) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> ts;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(a, stream));
    f();
    CK(cudaEventRecord(b, stream));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    ts.push_back(ms);
  }
  std::sort(ts.begin(), ts.end());
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  return ts[ts.size() / 2];
}

// Captures `calls` invocations of body(i) into a graph and returns µs per call (median of replays).
template <class F>
double graph_us_per_call(cudaStream_t s, int calls, F&& body) {
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < calls; ++i) body(i, s);
  CK(cudaStreamEndCapture(s, &g));
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, s));  // warm-up
  CK(cudaStreamSynchronize(s));
  const float ms = time_ms(s, [&] { CK(cudaGraphLaunch(ge, s)); }, 7);
  CK(cudaGraphExecDestroy(ge));
  CK(cudaGraphDestroy(g));
  return double(ms) * 1000.0 / calls;
}

double g_copy_gbs = 0, g_read_gbs = 0;

void print_case(const char* name, const std::string& extra, double us, double bytes) {
  const double gbs = bytes / (us * 1e-6) / 1e9;
  std::printf(
      "{\"case\":\"%s\",%s\"us_per_call\":%.2f,\"bytes_per_call\":%.0f,\"GBps\":%.1f,"
      "\"fraction_of_copy_bw\":%.3f,\"fraction_of_read_bw\":%.3f}\n",
      name, extra.c_str(), us, bytes, gbs, gbs / g_copy_gbs, gbs / g_read_gbs);
}

void bench_bandwidth() {
  const size_t bytes = size_t(4) << 30;
  void *a, *b;
  uint32_t* sink;
  CK(cudaMalloc(&a, bytes));
  CK(cudaMalloc(&b, bytes));
  CK(cudaMalloc(&sink, 4));
  fill_random(a, bytes, 1, false);
  CK(cudaDeviceSynchronize());
  const float copy_ms = time_ms(nullptr, [&] { CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, 9);
  int sms = 0;
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const float read_ms = time_ms(
      nullptr, [&] {
        read_kernel<<<sms * 8, 512>>>(static_cast<const uint4*>(a), bytes / 16, sink);
      },
      9);
  CK(cudaGetLastError());
  g_copy_gbs = 2.0 * bytes / (copy_ms * 1e-3) / 1e9;
  g_read_gbs = double(bytes) / (read_ms * 1e-3) / 1e9;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("{\"device\":\"%s\",\"sms\":%d,\"l2_MB\":%.1f,\"copy_GBps_read_plus_write\":%.1f,\"read_only_GBps\":%.1f}\n",
              prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0, g_copy_gbs, g_read_gbs);
  CK(cudaFree(a));
  CK(cudaFree(b));
  CK(cudaFree(sink));
}

void bench_moe(int n, cudaStream_t s) {
  const int64_t E = 128, H = 2048, I = 768;
  const int k = 8;
  const size_t gu_elems = size_t(E * 2 * I * H), d_elems = size_t(E * H * I);
  __nv_bfloat16 *gu, *dn;
  CK(cudaMalloc(&gu, gu_elems * 2));
  CK(cudaMalloc(&dn, d_elems * 2));
  fill_random(gu, gu_elems * 2, 2, true);
  fill_random(dn, d_elems * 2, 3, true);
  // Id sets rotate through the graph (64 × 8 experts cover the stack many times over); big batches read the
  // whole stack anyway and take long, so a few sets do.
  const int sets = n >= 256 ? 4 : 64;
  std::mt19937 rng(5 + n);
  std::vector<int32_t> ids(size_t(sets) * n * k);
  double bytes_total = 0;
  for (int st = 0; st < sets; ++st) {
    std::set<int32_t> used;
    for (int t = 0; t < n; ++t) {
      std::vector<int32_t> perm(E);
      for (int e = 0; e < E; ++e) perm[size_t(e)] = e;
      std::shuffle(perm.begin(), perm.end(), rng);
      for (int j = 0; j < k; ++j) {
        ids[(size_t(st) * n + t) * k + j] = perm[size_t(j)];
        used.insert(perm[size_t(j)]);
      }
    }
    // Bytes the call must read: each distinct expert's weights once, plus activations.
    bytes_total += double(used.size()) * double(3 * I * H) * 2.0 + double(n) * H * 4 * 2;
  }
  int32_t* dids;
  float *dw, *dx, *dout;
  CK(cudaMalloc(&dids, ids.size() * 4));
  CK(cudaMemcpy(dids, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&dw, ids.size() * 4));
  fill_random(dw, ids.size() * 4, 7, false);
  CK(cudaMalloc(&dx, size_t(n) * H * 4));
  fill_random(dx, size_t(n) * H * 4, 8, false);
  CK(cudaMalloc(&dout, size_t(n) * H * 4));
  cuda::MoeWorkspace ws;
  ws.reserve(cuda::moe_workspace_bytes(n, k, H, I));
  cuda::ExpertStack<__nv_bfloat16> w{gu, dn, E, H, I};
  cuda::moe_experts(w, dx, n, H, dids, dw, k, dout, H, ws, s);  // first call outside capture (smem attributes)
  CK(cudaStreamSynchronize(s));
  const double us = graph_us_per_call(s, sets, [&](int i, cudaStream_t st) {
    cuda::moe_experts(w, dx, n, H, dids + size_t(i) * n * k, dw + size_t(i) * n * k, k, dout, H, ws, st);
  });
  print_case("moe_bf16_qwen3_30b_a3b", "\"batch\":" + std::to_string(n) + ",", us, bytes_total / sets);
  CK(cudaFree(gu));
  CK(cudaFree(dn));
  CK(cudaFree(dids));
  CK(cudaFree(dw));
  CK(cudaFree(dx));
  CK(cudaFree(dout));
}

void bench_attention(int batch, int ctx, bool split, cudaStream_t s) {
  KvLayout layout;
  layout.num_layers = 1;
  layout.kv_heads = 4;
  layout.head_dim = 128;
  layout.page_tokens = 16;
  layout.dtype = banyan::DType::BF16;
  AttentionShape shape{32, 4, 128, 1.0f / std::sqrt(128.0f)};
  const int pages_per_seq = (ctx + 15) / 16;
  // Enough distinct sequences that the rotation never finds its K/V in L2 (≥ 512 MB of pages).
  const size_t seq_bytes = size_t(pages_per_seq) * layout.page_bytes();
  const int sets = int(std::max<size_t>(2, (size_t(512) << 20) / (seq_bytes * batch) + 1));
  const int seqs = sets * batch;
  uint8_t* pool;
  CK(cudaMalloc(&pool, seq_bytes * seqs));
  fill_random(pool, seq_bytes * seqs, 11, true);
  std::vector<const uint8_t*> tables(size_t(seqs) * pages_per_seq);
  for (size_t i = 0; i < tables.size(); ++i) tables[i] = pool + i * layout.page_bytes();
  const uint8_t** dtables;
  CK(cudaMalloc(&dtables, tables.size() * sizeof(void*)));
  CK(cudaMemcpy(dtables, tables.data(), tables.size() * sizeof(void*), cudaMemcpyHostToDevice));
  std::vector<cuda::AttentionItem> items(static_cast<size_t>(seqs));
  for (int i = 0; i < seqs; ++i) {
    items[size_t(i)].pages = dtables + size_t(i) * pages_per_seq;
    items[size_t(i)].start = ctx - 1;
    items[size_t(i)].n_new = 1;
    items[size_t(i)].row_begin = i % batch;
  }
  cuda::AttentionItem* ditems;
  CK(cudaMalloc(&ditems, items.size() * sizeof(items[0])));
  CK(cudaMemcpy(ditems, items.data(), items.size() * sizeof(items[0]), cudaMemcpyHostToDevice));
  float *q, *out;
  CK(cudaMalloc(&q, size_t(batch) * 32 * 128 * 4));
  CK(cudaMalloc(&out, size_t(batch) * 32 * 128 * 4));
  fill_random(q, size_t(batch) * 32 * 128 * 4, 12, false);
  cuda::AttentionWorkspace ws;
  if (split) ws.reserve(std::max<size_t>(1, cuda::attention_workspace_bytes(shape, batch, 1, ctx)));
  cuda::paged_attention(shape, layout, 0, ditems, batch, 1, ctx, q, 32 * 128, out, 32 * 128, s, split ? &ws : nullptr);
  CK(cudaStreamSynchronize(s));
  const double us = graph_us_per_call(s, sets, [&](int i, cudaStream_t st) {
    cuda::paged_attention(shape, layout, 0, ditems + size_t(i) * batch, batch, 1, ctx, q, 32 * 128, out, 32 * 128,
                          st, split ? &ws : nullptr);
  });
  const double bytes = double(batch) * ctx * 4 * 128 * 2 * 2;  // K and V of every position, bf16
  print_case("attention_decode_bf16_qwen3_30b_a3b",
             "\"batch\":" + std::to_string(batch) + ",\"context\":" + std::to_string(ctx) +
                 ",\"split_k\":" + (split ? "true" : "false") + ",",
             us, bytes);
  CK(cudaFree(pool));
  CK(cudaFree(dtables));
  CK(cudaFree(ditems));
  CK(cudaFree(q));
  CK(cudaFree(out));
}

// Prefill: one sequence of `tokens` new tokens from position 0 (causal), Qwen3-30B-A3B heads, bf16 KV.
void bench_attention_prefill(int tokens, cudaStream_t s) {
  KvLayout layout;
  layout.num_layers = 1;
  layout.kv_heads = 4;
  layout.head_dim = 128;
  layout.page_tokens = 16;
  layout.dtype = banyan::DType::BF16;
  AttentionShape shape{32, 4, 128, 1.0f / std::sqrt(128.0f)};
  const int pages = (tokens + 15) / 16;
  uint8_t* pool;
  CK(cudaMalloc(&pool, size_t(pages) * layout.page_bytes()));
  fill_random(pool, size_t(pages) * layout.page_bytes(), 21, true);
  std::vector<const uint8_t*> table(static_cast<size_t>(pages));
  for (int i = 0; i < pages; ++i) table[size_t(i)] = pool + size_t(i) * layout.page_bytes();
  const uint8_t** dtable;
  CK(cudaMalloc(&dtable, table.size() * sizeof(void*)));
  CK(cudaMemcpy(dtable, table.data(), table.size() * sizeof(void*), cudaMemcpyHostToDevice));
  cuda::AttentionItem item;
  item.pages = dtable;
  item.start = 0;
  item.n_new = tokens;
  item.row_begin = 0;
  cuda::AttentionItem* ditem;
  CK(cudaMalloc(&ditem, sizeof(item)));
  CK(cudaMemcpy(ditem, &item, sizeof(item), cudaMemcpyHostToDevice));
  float *q, *out;
  CK(cudaMalloc(&q, size_t(tokens) * 32 * 128 * 4));
  CK(cudaMalloc(&out, size_t(tokens) * 32 * 128 * 4));
  fill_random(q, size_t(tokens) * 32 * 128 * 4, 22, false);
  cuda::paged_attention(shape, layout, 0, ditem, 1, tokens, tokens, q, 32 * 128, out, 32 * 128, s);
  CK(cudaStreamSynchronize(s));
  const double us = graph_us_per_call(s, 2, [&](int, cudaStream_t st) {
    cuda::paged_attention(shape, layout, 0, ditem, 1, tokens, tokens, q, 32 * 128, out, 32 * 128, st);
  });
  const double flops = 4.0 * 32 * 128 * (double(tokens) * (tokens + 1) / 2);  // QK and PV over causal pairs
  std::printf("{\"case\":\"attention_prefill_bf16_qwen3_30b_a3b\",\"tokens\":%d,\"us_per_call\":%.1f,"
              "\"TFLOPs\":%.2f}\n",
              tokens, us, flops / (us * 1e-6) / 1e12);
  CK(cudaFree(pool));
  CK(cudaFree(dtable));
  CK(cudaFree(ditem));
  CK(cudaFree(q));
  CK(cudaFree(out));
}

}  // namespace

int main() {
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  bench_bandwidth();
  for (int n : {1, 8, 32, 2048}) bench_moe(n, s);
  for (int ctx : {1024, 4096})
    for (int batch : {1, 32})
      for (bool split : {false, true}) bench_attention(batch, ctx, split, s);
  bench_attention_prefill(2048, s);
  CK(cudaStreamDestroy(s));
  return 0;
}
