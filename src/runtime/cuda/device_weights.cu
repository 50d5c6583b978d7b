// Upload and on-device generation of model weights; see device_weights.h.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/thread_pool.h"
#include "runtime/cuda/device_weights.h"
#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/init_cuda.h"
#include "runtime/ops/fp8.h"

namespace banyan::cuda {

namespace {
// The device dtype for a group of host matrices that become one device tensor: bf16 only if all are bf16.
DType device_dtype(std::initializer_list<const ops::Matrix*> parts) {
  for (const ops::Matrix* m : parts)
    if (m->dtype != DType::BF16) return DType::F32;
  return DType::BF16;
}

// Appends the rows of `m` to `dst` in `dtype` (F32 or BF16): a raw copy when m already has it, else converted
// (bf16: rounded to nearest even).
void append_rows(const ops::Matrix& m, DType dtype, std::vector<uint8_t>& dst) {
  const size_t old = dst.size();
  if (m.dtype == dtype) {
    dst.resize(old + size_t(m.rows) * m.row_bytes());
    std::memcpy(dst.data() + old, m.data, size_t(m.rows) * m.row_bytes());
    return;
  }
  if (dtype == DType::F32) {
    dst.resize(old + size_t(m.rows) * size_t(m.cols) * sizeof(float));
    float* out = reinterpret_cast<float*>(dst.data() + old);
    for (int64_t r = 0; r < m.rows; ++r) ops::matrix_row_to_f32(m, r, out + r * m.cols);
    return;
  }
  BANYAN_CHECK(dtype == DType::BF16, "cuda upload: cannot convert {} rows to {}", dtype_name(m.dtype),
               dtype_name(dtype));
  dst.resize(old + size_t(m.rows) * size_t(m.cols) * sizeof(uint16_t));
  ops::matrix_to_bf16(m, reinterpret_cast<uint16_t*>(dst.data() + old));
}

}  // namespace

DeviceWeights::~DeviceWeights() {
  for (void* p : allocations_) cudaFree(p);
}

void* DeviceWeights::alloc(size_t n) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, std::max<size_t>(n, 16));
  if (err != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    fail("CUDA: cannot allocate {} bytes of weights ({} bytes held so far, {} free of {}): {}", n, bytes, free_b,
         total_b, cudaGetErrorString(err));
  }
  allocations_.push_back(p);
  bytes += n;
  return p;
}

std::unique_ptr<DeviceWeights> DeviceWeights::upload(const ModelWeights& w, cudaStream_t stream,
                                                     std::optional<DType> expert_dtype) {
  BANYAN_CHECK(!expert_dtype || *expert_dtype == DType::BF16 || *expert_dtype == DType::F8_E4M3,
               "cuda upload: expert dtype {}: expected bf16 or fp8", dtype_name(*expert_dtype));
  std::unique_ptr<DeviceWeights> d(new DeviceWeights());
  std::vector<uint8_t> staging;
  auto put_bytes = [&](const std::vector<uint8_t>& host) {
    void* p = d->alloc(host.size());
    BANYAN_CUDA_CHECK(cudaMemcpy(p, host.data(), host.size(), cudaMemcpyHostToDevice));
    return p;
  };
  // One device matrix from several host matrices stacked by rows.
  auto put = [&](std::initializer_list<const ops::Matrix*> parts) {
    const DType dt = device_dtype(parts);
    staging.clear();
    int64_t rows = 0, cols = (*parts.begin())->cols;
    for (const ops::Matrix* m : parts) {
      BANYAN_CHECK(m->cols == cols, "cuda upload: fused matrices disagree on columns ({} vs {})", m->cols, cols);
      append_rows(*m, dt, staging);
      rows += m->rows;
    }
    return DeviceMatrix{dt, put_bytes(staging), rows, cols};
  };
  auto put_vec = [&](const std::vector<float>& v) -> const float* {
    if (v.empty()) return nullptr;
    void* p = d->alloc(v.size() * sizeof(float));
    BANYAN_CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
    return static_cast<const float*>(p);
  };

  d->embed = put({&w.embed});
  d->lm_head = w.lm_head.data == w.embed.data ? d->embed : put({&w.lm_head});
  d->final_norm = put_vec(w.final_norm);
  d->full_num_experts = w.full_num_experts;
  d->layers.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& h = w.layers[l];
    DeviceLayer& g = d->layers[l];
    g.attn_norm = put_vec(h.attn_norm);
    g.ffn_norm = put_vec(h.ffn_norm);
    g.qkv = put({&h.attn.q, &h.attn.k, &h.attn.v});
    g.o = put({&h.attn.o});
    if (!h.attn.q_bias.empty()) {
      std::vector<float> b = h.attn.q_bias;
      b.insert(b.end(), h.attn.k_bias.begin(), h.attn.k_bias.end());
      b.insert(b.end(), h.attn.v_bias.begin(), h.attn.v_bias.end());
      g.qkv_bias = put_vec(b);
    }
    g.q_norm = put_vec(h.attn.q_norm);
    g.k_norm = put_vec(h.attn.k_norm);
    g.is_moe = h.is_moe;
    if (h.is_moe) {
      g.router = put({&h.router});
      bool all_bf16 = true;
      for (const auto& e : h.experts)
        all_bf16 = all_bf16 && device_dtype({&e.gate, &e.up, &e.down}) == DType::BF16;
      g.expert_dtype = expert_dtype ? *expert_dtype : all_bf16 ? DType::BF16 : DType::F32;
      const int64_t E = int64_t(h.experts.size()), H = w.spec.hidden_size, I = h.experts.at(0).gate.rows;
      for (const auto& e : h.experts)
        BANYAN_CHECK(e.gate.rows == I && e.up.rows == I && e.gate.cols == H && e.up.cols == H && e.down.rows == H &&
                         e.down.cols == I,
                     "cuda upload: layer {}: experts of different shapes", l);
      if (g.expert_dtype == DType::F8_E4M3) {
        // Quantised on the host by the CPU engine's code (the same bytes and scales as its reference).
        std::vector<uint8_t> q_gu(size_t(E * 2 * I * H)), q_dn(size_t(E * H * I));
        std::vector<float> s_gu(size_t(E * 2 * I)), s_dn(size_t(E * H));
        default_thread_pool().parallel_for(E, [&](int64_t begin, int64_t end) {
          for (int64_t e = begin; e < end; ++e) {
            const ops::ExpertWeights& x = h.experts[size_t(e)];
            ops::quantize_rows_e4m3(x.gate, q_gu.data() + e * 2 * I * H, s_gu.data() + e * 2 * I);
            ops::quantize_rows_e4m3(x.up, q_gu.data() + (e * 2 + 1) * I * H, s_gu.data() + e * 2 * I + I);
            ops::quantize_rows_e4m3(x.down, q_dn.data() + e * H * I, s_dn.data() + e * H);
          }
        });
        auto put_floats = [&](const std::vector<float>& v) {
          void* p = d->alloc(v.size() * sizeof(float));
          BANYAN_CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
          return static_cast<const float*>(p);
        };
        g.experts_fp8 = {static_cast<const __nv_fp8_e4m3*>(put_bytes(q_gu)),
                         static_cast<const __nv_fp8_e4m3*>(put_bytes(q_dn)),
                         E,
                         H,
                         I,
                         put_floats(s_gu),
                         put_floats(s_dn)};
      } else {
        staging.clear();
        for (const auto& e : h.experts) {
          append_rows(e.gate, g.expert_dtype, staging);
          append_rows(e.up, g.expert_dtype, staging);
        }
        const void* gate_up = put_bytes(staging);
        staging.clear();
        for (const auto& e : h.experts) append_rows(e.down, g.expert_dtype, staging);
        const void* down = put_bytes(staging);
        if (g.expert_dtype == DType::BF16)
          g.experts_bf16 = {static_cast<const __nv_bfloat16*>(gate_up), static_cast<const __nv_bfloat16*>(down), E,
                            H, I};
        else
          g.experts_f32 = {static_cast<const float*>(gate_up), static_cast<const float*>(down), E, H, I};
      }
      if (h.shared_expert) {
        g.shared_gate_up = put({&h.shared_expert->gate, &h.shared_expert->up});
        g.shared_down = put({&h.shared_expert->down});
        if (!h.shared_expert_gate.empty()) g.shared_gate = put({&h.shared_expert_gate});
        d->max_inter = std::max(d->max_inter, h.shared_expert->gate.rows);
      }
      if (!w.full_router.empty() && !w.full_router[l].empty()) g.full_router = put({&w.full_router[l]});
    } else {
      BANYAN_CHECK(h.dense_mlp.has_value(), "cuda upload: layer {} has neither experts nor a dense MLP", l);
      g.dense_gate_up = put({&h.dense_mlp->gate, &h.dense_mlp->up});
      g.dense_down = put({&h.dense_mlp->down});
      d->max_inter = std::max(d->max_inter, h.dense_mlp->gate.rows);
    }
  }
  (void)stream;
  return d;
}

std::unique_ptr<DeviceWeights> DeviceWeights::random(const ModelSpec& s, const FamilyOptions& opt, DType dt,
                                                     uint64_t seed, cudaStream_t stream,
                                                     std::optional<DType> expert_dtype) {
  const DType edt = expert_dtype.value_or(dt);
  BANYAN_CHECK(edt == DType::BF16 || edt == DType::F32 || edt == DType::F8_E4M3,
               "dummy weights: expert dtype {}: expected bf16, f32 or fp8", dtype_name(edt));
  std::unique_ptr<DeviceWeights> d(new DeviceWeights());
  uint64_t tensor = 0;
  auto mat = [&](int64_t rows, int64_t cols, DType mdt) {
    DeviceMatrix m{mdt, nullptr, rows, cols};
    void* p = d->alloc(m.bytes());
    ops::cuda::fill_uniform(p, mdt, rows * cols, seed + 1000003 * ++tensor, 1.0f / std::sqrt(float(cols)), stream);
    m.data = p;
    return m;
  };
  auto vec = [&](int64_t n, float value) -> const float* {
    float* p = static_cast<float*>(d->alloc(size_t(n) * sizeof(float)));
    ops::cuda::fill_constant(p, n, value, stream);
    return p;
  };
  // fp8 codes of uniform [-448, 448) with row scales 1/(448·sqrt(cols)): the same spread as the bf16 weights.
  auto fp8 = [&](int64_t rows, int64_t cols) {
    auto* p = static_cast<uint8_t*>(d->alloc(size_t(rows * cols)));
    ops::cuda::fill_uniform_e4m3(p, rows * cols, seed + 1000003 * ++tensor, stream);
    return std::pair{reinterpret_cast<const __nv_fp8_e4m3*>(p), vec(rows, 1.0f / (448.0f * std::sqrt(float(cols))))};
  };
  const int64_t H = s.hidden_size, hd = s.head_dim, q_dim = s.num_heads * hd, kv_dim = s.num_kv_heads * hd;
  const int64_t E = s.num_experts, I = s.moe_intermediate_size;
  d->embed = mat(s.vocab_size, H, dt);
  d->lm_head = s.tie_word_embeddings ? d->embed : mat(s.vocab_size, H, dt);
  d->final_norm = vec(H, 1.0f);
  d->layers.resize(size_t(s.num_layers));
  for (int l = 0; l < int(s.num_layers); ++l) {
    DeviceLayer& g = d->layers[size_t(l)];
    g.attn_norm = vec(H, 1.0f);
    g.ffn_norm = vec(H, 1.0f);
    g.qkv = mat(q_dim + 2 * kv_dim, H, dt);
    g.o = mat(H, q_dim, dt);
    if (opt.qkv_bias) g.qkv_bias = vec(q_dim + 2 * kv_dim, 0.0f);
    if (opt.qk_norm == QkNorm::PerHead) {
      g.q_norm = vec(hd, 1.0f);
      g.k_norm = vec(hd, 1.0f);
    } else if (opt.qk_norm == QkNorm::Full) {
      g.q_norm = vec(q_dim, 1.0f);
      g.k_norm = vec(kv_dim, 1.0f);
    }
    g.is_moe = s.is_moe_layer(l);
    if (g.is_moe) {
      g.router = mat(E, H, dt);
      g.expert_dtype = edt;
      if (edt == DType::F8_E4M3) {
        const auto [gu, gu_scale] = fp8(E * 2 * I, H);
        const auto [dn, dn_scale] = fp8(E * H, I);
        g.experts_fp8 = {gu, dn, E, H, I, gu_scale, dn_scale};
      } else {
        const DeviceMatrix gu = mat(E * 2 * I, H, edt), dn = mat(E * H, I, edt);
        if (edt == DType::BF16)
          g.experts_bf16 = {static_cast<const __nv_bfloat16*>(gu.data), static_cast<const __nv_bfloat16*>(dn.data),
                            E, H, I};
        else
          g.experts_f32 = {static_cast<const float*>(gu.data), static_cast<const float*>(dn.data), E, H, I};
      }
      if (s.shared_expert_intermediate_size > 0) {
        const int64_t Is = s.shared_expert_intermediate_size;
        g.shared_gate_up = mat(2 * Is, H, dt);
        g.shared_down = mat(H, Is, dt);
        if (s.shared_expert_gate) g.shared_gate = mat(1, H, dt);
        d->max_inter = std::max(d->max_inter, Is);
      }
    } else {
      g.dense_gate_up = mat(2 * s.intermediate_size, H, dt);
      g.dense_down = mat(H, s.intermediate_size, dt);
      d->max_inter = std::max(d->max_inter, s.intermediate_size);
    }
  }
  BANYAN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return d;
}

}  // namespace banyan::cuda
