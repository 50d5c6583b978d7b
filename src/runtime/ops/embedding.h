// Embedding lookup: out[i] = table[ids[i]] as fp32.
#pragma once
#include <cstdint>

#include "runtime/ops/matrix.h"
#include "runtime/ops/op_context.h"

namespace banyan::ops {

// Errors (banyan::Error) on an id outside [0, table.rows).
void embedding(const OpContext& ctx, const Matrix& table, const int32_t* ids, int64_t n, float* out);

}  // namespace banyan::ops
