// Memory layout of one KV-cache page, shared by the cache (which writes it) and attention (which reads it).
// A page holds `page_tokens` consecutive positions of one sequence for every layer:
//   page = [layer][K then V][slot < page_tokens][kv_heads · head_dim] in fp32 or bf16.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace banyan::ops {

struct KvLayout {
  int64_t num_layers = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t page_tokens = 16;
  DType dtype = DType::F32;  // F32 or BF16

  int64_t kv_dim() const { return kv_heads * head_dim; }
  size_t elem_size() const { return dtype_size(dtype); }
  size_t page_bytes() const { return size_t(num_layers) * 2 * size_t(page_tokens) * size_t(kv_dim()) * elem_size(); }
  // Byte offset in a page of the K (v=0) or V (v=1) row of `slot` in `layer`.
  size_t offset(int64_t layer, int v, int64_t slot) const {
    return ((size_t(layer) * 2 + size_t(v)) * size_t(page_tokens) + size_t(slot)) * size_t(kv_dim()) * elem_size();
  }
};

}  // namespace banyan::ops
