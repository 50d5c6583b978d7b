// A fixed pool of worker threads for data-parallel loops. The calling thread takes part in the work.
//
// Waking a sleeping thread costs a futex call on each side and a few microseconds of scheduler latency, which on a
// small model is as long as the op itself. So after each job a worker spins briefly (pause, then yield) watching for
// the next one — a forward issues its ops back to back — and only then sleeps; the caller likewise spins briefly for
// the workers to finish. Both spins are bounded in time, so an idle pool (a server between requests) sleeps and
// costs no CPU. parallel_for allocates nothing.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace banyan {

class ThreadPool {
 public:
  // How long a worker watches for the next job before sleeping, and the caller for the workers before sleeping.
  static constexpr std::chrono::microseconds kDefaultSpin{200};

  // num_threads: total threads including the caller; <= 0 means hardware concurrency.
  explicit ThreadPool(int num_threads, std::chrono::microseconds spin = kDefaultSpin);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return int(workers_.size()) + 1; }

  // Calls fn(begin, end) over [0, n) split into contiguous chunks, one per thread; returns when all are done. If a
  // chunk throws, the first exception is rethrown here once every chunk has finished. Not re-entrant: do not call parallel_for from inside fn, nor from two threads at once.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);
  // Waits until `word` differs from `old`: spins up to spin_, then sleeps on the word; `sleepers` counts sleepers so
  // that the writer only makes the wake-up system call when someone sleeps.
  void await_change(const std::atomic<uint32_t>& word, uint32_t old, std::atomic<int>& sleepers) const;

  std::vector<std::thread> workers_;
  const std::chrono::microseconds spin_;
  // The job, written by the caller before it bumps generation_ (release) and read by workers after (acquire).
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint32_t> generation_{0};  // bumped once per job; also the stop signal (with stop_)
  std::atomic<uint32_t> pending_{0};     // workers still running the current job
  std::atomic<int> sleeping_workers_{0};
  std::atomic<int> sleeping_caller_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mu_;  // guards error_, written only when a chunk throws
  std::exception_ptr error_;
};

// A process-wide pool sized by set_default_threads (default: hardware concurrency).
ThreadPool& default_thread_pool();
void set_default_threads(int n);

}  // namespace banyan
