// A fixed pool of worker threads for data-parallel loops. The calling thread takes part in the work.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace banyan {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);  // total threads including the caller; <= 0 means hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return int(workers_.size()) + 1; }

  // Calls fn(begin, end) over [0, n) split into contiguous chunks, one per thread; returns when all are done.
  // Not re-entrant: do not call parallel_for from inside fn.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

// A process-wide pool sized by set_default_threads (default: hardware concurrency).
ThreadPool& default_thread_pool();
void set_default_threads(int n);

}  // namespace banyan
