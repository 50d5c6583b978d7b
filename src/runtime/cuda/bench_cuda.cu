// The CUDA engine benchmark; see bench_cuda.h. Bytes per decode token count every weight byte a batch-1 decode
// step must read (attention, router, the top-k experts (fp8 experts: 1 byte per weight + one fp32 scale per row),
// norms, the LM head, one embedding row); the roofline is
// copy bandwidth (bytes read + written by a device-to-device copy, the ceiling a read-mostly kernel can reach)
// divided by those bytes.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>

#include "runtime/cuda/bench_cuda.h"
#include "runtime/engine.h"
#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/random_tokens.h"
#include "runtime/sampler.h"

namespace banyan {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Device-to-device copy of 2 GiB, best of 5: bytes read + written per second.
double copy_bandwidth() {
  const size_t n = size_t(2) << 30;
  void *a = nullptr, *b = nullptr;
  BANYAN_CUDA_CHECK(cudaMalloc(&a, n));
  BANYAN_CUDA_CHECK(cudaMalloc(&b, n));
  BANYAN_CUDA_CHECK(cudaMemset(a, 1, n));
  cudaEvent_t e0, e1;
  BANYAN_CUDA_CHECK(cudaEventCreate(&e0));
  BANYAN_CUDA_CHECK(cudaEventCreate(&e1));
  float best = 1e30f;
  for (int i = 0; i < 6; ++i) {
    BANYAN_CUDA_CHECK(cudaEventRecord(e0));
    BANYAN_CUDA_CHECK(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
    BANYAN_CUDA_CHECK(cudaEventRecord(e1));
    BANYAN_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    BANYAN_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    if (i > 0) best = std::min(best, ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * double(n) / (double(best) * 1e-3);
}

struct WeightBytes {
  double per_token = 0;  // bytes a batch-1 decode step reads
  double total = 0;      // the whole model
};

// elem: bytes per weight of everything but the routed experts; expert_elem: of the routed experts, whose rows
// carry an fp32 scale each when row_scaled (fp8).
WeightBytes weight_bytes(const ModelSpec& s, int64_t experts, double elem, double expert_elem, bool row_scaled) {
  const double H = double(s.hidden_size), hd = double(s.head_dim);
  const double q_dim = double(s.num_heads) * hd, kv_dim = double(s.num_kv_heads) * hd;
  const double attn = (q_dim + 2 * kv_dim) * H + H * q_dim;
  const double I = double(s.moe_intermediate_size);
  // Bytes of one routed expert (gate, up, down), in the unit of `elem` like the other terms below.
  const double expert = (3.0 * I * H * expert_elem + (row_scaled ? (2.0 * I + H) * 4.0 : 0.0)) / elem;
  const double k = double(std::min(s.top_k, experts));
  WeightBytes w;
  for (int l = 0; l < int(s.num_layers); ++l) {
    const double norms = 2 * H * 4;  // fp32 on the device
    double ffn_tok = 0, ffn_all = 0;
    if (s.is_moe_layer(l)) {
      ffn_tok = double(experts) * H + k * expert;
      ffn_all = double(experts) * H + double(experts) * expert;
      if (s.shared_expert_intermediate_size > 0) {
        const double sh = 3.0 * double(s.shared_expert_intermediate_size) * H + H;
        ffn_tok += sh;
        ffn_all += sh;
      }
    } else {
      ffn_tok = ffn_all = 3.0 * double(s.intermediate_size) * H;
    }
    w.per_token += (attn + ffn_tok) * elem + norms;
    w.total += (attn + ffn_all) * elem + norms;
  }
  const double lm = double(s.vocab_size) * H * elem;
  w.per_token += lm + H * elem + H * 4;
  w.total += lm * (s.tie_word_embeddings ? 1 : 2) + H * 4;
  return w;
}

// How a decode step picks each sequence's next token: argmax on the device (ids downloaded), sampling on the device
// (ForwardOutput::sampling: ids downloaded), or the old serve path: every row's logits downloaded and the CPU Sampler.
enum class Pick { Greedy, Sampled, SampledOnHost };

// Decode throughput of `batch` sequences (each prefilled with `context` tokens): generated tokens per second.
// Sampled picks use temperature 0.8, top-p 0.95, one seed per sequence.
double decode_tok_s(Engine& e, int batch, int context, int steps, bool profile = false, Pick pick = Pick::Greedy) {
  std::vector<BatchItem> items(static_cast<size_t>(batch));
  ForwardOutput out;
  out.argmax_only = true;
  for (int i = 0; i < batch; ++i) {
    items[size_t(i)].seq = e.create_sequence();
    BatchItem p{items[size_t(i)].seq, random_token_ids(size_t(context), e.spec().vocab_size, uint32_t(i + 1)),
                LogitsRequest::last(), nullptr, nullptr};
    e.forward(std::span<BatchItem>(&p, 1), out);
    items[size_t(i)].tokens = {out.argmax.at(0)};
  }
  std::vector<SamplingParams> params(static_cast<size_t>(batch));
  for (int i = 0; i < batch; ++i) {
    params[size_t(i)].temperature = 0.8f;
    params[size_t(i)].top_p = 0.95f;
    params[size_t(i)].seed = uint64_t(1000 + i);
  }
  uint64_t drawn = 0;  // draw index (the same for every sequence)
  Sampler host;
  SampleResult picked;
  out.argmax_only = pick == Pick::Greedy;
  if (pick == Pick::Sampled) out.sampling.resize(size_t(batch));
  auto run = [&](int n) {
    for (int s = 0; s < n; ++s, ++drawn) {
      for (auto& r : out.sampling) r.step = drawn;
      for (int i = 0; i < batch && pick == Pick::Sampled; ++i) out.sampling[size_t(i)].params = &params[size_t(i)];
      e.forward(items, out);
      for (int i = 0; i < batch; ++i) {
        int32_t t = 0;
        if (pick == Pick::Greedy) {
          t = out.argmax[size_t(i)];
        } else if (pick == Pick::Sampled) {
          t = out.sampled[size_t(i)];
        } else {
          host.sample(params[size_t(i)], out.row(size_t(i), 0), std::span<const PenaltyEntry>{}, drawn, picked);
          t = picked.token;
        }
        items[size_t(i)].tokens[0] = t;
      }
    }
  };
  run(4);  // warm-up: buffers grow, cuBLAS picks kernels
  if (profile) {
    // One step between cudaProfilerStart/Stop, for `ncu --profile-from-start off` (tools/bench/cuda_kernels/
    // profile_step.sh): the per-kernel breakdown of a warm decode step.
    BANYAN_CUDA_CHECK(cudaDeviceSynchronize());
    BANYAN_CUDA_CHECK(cudaProfilerStart());
    run(1);
    BANYAN_CUDA_CHECK(cudaDeviceSynchronize());
    BANYAN_CUDA_CHECK(cudaProfilerStop());
  }
  const double t0 = now_s();
  run(steps);
  const double dt = now_s() - t0;
  for (auto& it : items) e.free_sequence(it.seq);
  return double(batch) * double(steps) / dt;
}
}  // namespace

nlohmann::json bench_cuda(const CudaBenchOptions& o) {
  EngineOptions eo;
  eo.device = o.device;
  eo.kv_dtype = DType::BF16;
  eo.kv_cache_bytes = size_t(8) << 30;
  eo.expert_dtype = o.expert_dtype;
  eo.device_sampling = true;  // the "sampled" figure is the device sampler's; "sampled_on_host" samples itself
  size_t free0 = 0, total = 0;
  BANYAN_CUDA_CHECK(cudaMemGetInfo(&free0, &total));
  const double t_load = now_s();
  std::unique_ptr<Engine> engine = o.config.empty() ? Engine::load(o.model, eo)
                                                    : Engine::load_dummy(o.config, eo, o.experts_per_node);
  BANYAN_CUDA_CHECK(cudaDeviceSynchronize());
  const double load_s = now_s() - t_load;
  const ModelSpec& s = engine->spec();
  const DeviceBackend* be = engine->device_backend();
  size_t free1 = 0;
  BANYAN_CUDA_CHECK(cudaMemGetInfo(&free1, &total));

  const double bw = copy_bandwidth();
  const double elem = 2.0;  // bf16 weights (dummy weights are bf16; a loaded bf16 checkpoint too)
  const bool fp8_experts = o.expert_dtype == DType::F8_E4M3;
  const double expert_elem = fp8_experts ? 1.0 : 2.0;
  const WeightBytes wb = weight_bytes(s, s.num_experts, elem, expert_elem, fp8_experts);
  // KV bytes a decode step reads at the timed context (bf16 cache), beside the weights.
  const double kv_per_token = double(s.num_layers) * 2.0 * double(s.num_kv_heads * s.head_dim) * 2.0;

  // BANYAN_CUDA_PROFILE_BATCH=b: profile one decode step of batch b (1 or the concurrent batch) and skip the rest.
  const char* prof_env = std::getenv("BANYAN_CUDA_PROFILE_BATCH");
  const int prof = prof_env ? std::atoi(prof_env) : 0;
  if (prof > 0) {
    const double t = decode_tok_s(*engine, prof, o.context, 4, true);
    return {{"bench", "cuda_engine_profile"}, {"device", be ? be->device_name() : std::string("?")},
            {"profiled_batch", prof}, {"decode_tok_s", t}};
  }
  const double tok1 = decode_tok_s(*engine, 1, o.context, o.decode_steps);
  const double tokb = decode_tok_s(*engine, o.batch, o.context, std::max(8, o.decode_steps / 2));
  // The same batch with temperature 0.8 / top-p 0.95: sampled on the device, and (for comparison) the old serve
  // path, every row's logits downloaded and sampled by the CPU Sampler.
  const double tokb_sampled =
      decode_tok_s(*engine, o.batch, o.context, std::max(8, o.decode_steps / 2), false, Pick::Sampled);
  const double tokb_host =
      decode_tok_s(*engine, o.batch, o.context, std::max(8, o.decode_steps / 2), false, Pick::SampledOnHost);

  // Prefill: one forward of the whole prompt on a fresh sequence (best of 3); TTFT = prefill + first token.
  double prefill_best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const SeqId seq = engine->create_sequence();
    BatchItem p{seq, random_token_ids(size_t(o.prefill_tokens), s.vocab_size, 99), LogitsRequest::last(), nullptr,
                nullptr};
    ForwardOutput out;
    out.argmax_only = true;
    const double t0 = now_s();
    engine->forward(std::span<BatchItem>(&p, 1), out);
    prefill_best = std::min(prefill_best, now_s() - t0);
    engine->free_sequence(seq);
  }

  const double roofline = bw / wb.per_token;
  nlohmann::json memory = nlohmann::json::array();
  ModelSpec full = s;
  if (!o.config.empty()) {
    std::ifstream in(o.config);
    full = parse_model_spec(nlohmann::json::parse(in), o.config.string());
  }
  for (int64_t k : {full.num_experts, full.num_experts / 2, full.num_experts / 4}) {
    if (k < 1) continue;
    memory.push_back({{"nodes", full.num_experts / k},
                      {"experts_per_node", k},
                      {"weight_bytes", weight_bytes(full, k, elem, expert_elem, fp8_experts).total}});
  }
  return {
      {"bench", "cuda_engine"},
      {"device", be ? be->device_name() : std::string("?")},
      {"model", o.config.empty() ? o.model.string() : o.config.string()},
      {"dummy_weights", !o.config.empty()},
      {"experts", s.num_experts},
      {"top_k", s.top_k},
      {"weights_dtype", "bf16"},
      {"expert_dtype", fp8_experts ? "fp8 e4m3 (one fp32 scale per row)" : "bf16"},
      {"activations",
       "fp32 (GEMV for ≤8 rows); above, bf16 hi+lo split on the tensor cores (one stacked GEMM up to 64 rows, two "
       "above), fp32 accumulation"},
      {"load_seconds", load_s},
      {"copy_bandwidth_bytes_per_s", bw},
      {"bytes_per_decode_token", wb.per_token},
      {"kv_bytes_per_context_token", kv_per_token},
      {"roofline_tok_s", roofline},
      {"decode_context", o.context},
      {"batch1_decode_tok_s", tok1},
      {"batch1_fraction_of_roofline", tok1 / roofline},
      {"concurrent_sequences", o.batch},
      {"aggregate_decode_tok_s", tokb},
      {"aggregate_decode_sampled_tok_s", tokb_sampled},
      {"aggregate_decode_sampled_on_host_tok_s", tokb_host},
      {"sampling", "temperature 0.8, top_p 0.95; sampled: on the device (token ids downloaded); sampled_on_host: "
                   "every row's logits downloaded and the CPU Sampler (the serve path before GPU sampling)"},
      {"prefill_tokens", o.prefill_tokens},
      {"prefill_tok_s", double(o.prefill_tokens) / prefill_best},
      {"ttft_seconds", prefill_best},
      {"gpu_memory_total_bytes", total},
      {"gpu_memory_used_by_model_bytes", double(free0) - double(free1)},
      {"weight_bytes_held", be ? be->device_bytes() : 0},
      {"memory_per_node", memory},
  };
}

}  // namespace banyan
