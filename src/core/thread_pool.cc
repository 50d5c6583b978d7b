#include "core/thread_pool.h"

#include <algorithm>
#include <memory>

namespace banyan {

namespace {

using Clock = std::chrono::steady_clock;

// Tells the core this is a spin-wait: saves power and lets a sibling hyper-thread run.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void run_chunk(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int index, int total) {
  int64_t begin = n * index / total, end = n * (index + 1) / total;
  if (begin < end) fn(begin, end);
}

}  // namespace

ThreadPool::ThreadPool(int num_threads, std::chrono::microseconds spin) : spin_(spin) {
  if (num_threads <= 0) num_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::await_change(const std::atomic<uint32_t>& word, uint32_t old, std::atomic<int>& sleepers) const {
  const auto deadline = Clock::now() + spin_;
  for (uint32_t i = 1;; ++i) {
    if (word.load(std::memory_order_acquire) != old) return;
    if (i % 64 != 0) {
      cpu_relax();
      continue;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::yield();  // on a busy machine, let whoever we wait for have the core
  }
  // Announce the sleep before re-checking the word (both sequentially consistent): either the writer, which stores
  // the word and then reads `sleepers`, sees us and notifies, or our re-check sees its store.
  sleepers.fetch_add(1);
  while (word.load() == old) word.wait(old);
  sleepers.fetch_sub(1);
}

void ThreadPool::worker_loop(int index) {
  uint32_t seen = 0;
  for (;;) {
    await_change(generation_, seen, sleeping_workers_);
    if (stop_.load()) return;
    // The caller waits for every worker before it starts another job, so the generation moved by exactly one.
    ++seen;
    try {
      run_chunk(*job_, job_n_, index, num_threads());
    } catch (...) {
      std::lock_guard lock(error_mu_);
      if (!error_) error_ = std::current_exception();
    }
    if (pending_.fetch_sub(1) == 1 && sleeping_caller_.load() > 0) pending_.notify_one();
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  pending_.store(uint32_t(workers_.size()));
  generation_.fetch_add(1);  // publishes the job (sequentially consistent, so also a release)
  if (sleeping_workers_.load() > 0) generation_.notify_all();

  std::exception_ptr caller_error;
  try {
    run_chunk(fn, n, 0, num_threads());
  } catch (...) {
    caller_error = std::current_exception();  // the workers still use fn: wait for them before leaving
  }
  for (uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;)
    await_change(pending_, left, sleeping_caller_);

  if (caller_error) std::rethrow_exception(caller_error);
  if (error_) {
    std::exception_ptr e;
    std::swap(e, error_);  // every worker is done: no lock needed
    std::rethrow_exception(e);
  }
}

namespace {
std::mutex g_pool_mu;
int g_default_threads = 0;
std::unique_ptr<ThreadPool> g_pool;
}  // namespace

ThreadPool& default_thread_pool() {
  std::lock_guard lock(g_pool_mu);
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(g_default_threads);
  return *g_pool;
}

void set_default_threads(int n) {
  std::lock_guard lock(g_pool_mu);
  g_default_threads = n;
  g_pool.reset();
}

}  // namespace banyan
