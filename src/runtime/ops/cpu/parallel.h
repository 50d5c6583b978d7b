// OpContext::parallel without a heap allocation per call. ThreadPool::parallel_for takes a std::function, and a
// lambda capturing more than two references does not fit its small buffer, so every parallel op would allocate
// (several times per layer per decode step). A lambda holding one reference to the real body always fits.
#pragma once
#include <cstdint>

#include "runtime/ops/op_context.h"

namespace banyan::ops {

template <class Fn>
void parallel_ops(const OpContext& ctx, int64_t n, int64_t work, const Fn& fn) {
  ctx.parallel(n, work, [&fn](int64_t begin, int64_t end) { fn(begin, end); });
}

}  // namespace banyan::ops
