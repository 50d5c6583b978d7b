// What every op needs besides its operands: where to run. Backend-neutral so a CUDA context can sit beside it.
#pragma once
#include "core/thread_pool.h"

namespace banyan::ops {

struct OpContext {
  ThreadPool* pool = nullptr;  // nullptr: run on the calling thread
  // Ops whose work (multiply-adds) is below this run on the calling thread: waking workers costs more.
  int64_t parallel_min_work = 1 << 15;

  // Runs fn(begin, end) over [0, n), on the pool when `work` is large enough.
  template <class Fn>
  void parallel(int64_t n, int64_t work, Fn&& fn) const {
    if (pool == nullptr || pool->num_threads() == 1 || work < parallel_min_work || n < 2) {
      if (n > 0) fn(int64_t(0), n);
      return;
    }
    pool->parallel_for(n, fn);
  }
};

}  // namespace banyan::ops
