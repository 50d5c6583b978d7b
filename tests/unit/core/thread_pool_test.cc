// The thread pool: every index once, wake-ups never lost whether the workers are spinning or asleep, exceptions
// reach the caller, and an idle pool sleeps (its bounded spin must not turn into a busy-wait that burns a core).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "core/thread_pool.h"

namespace banyan {
namespace {

using namespace std::chrono_literals;

// CPU time (user + system) of the whole process so far.
std::chrono::microseconds process_cpu_time() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return us(u.ru_utime) + us(u.ru_stime);
}

// CPU time the process spends while the pool, after some work, is left alone for `idle`.
std::chrono::microseconds cpu_while_idle(ThreadPool& pool, std::chrono::milliseconds idle) {
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 50; ++i) pool.parallel_for(1000, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 50 * 1000);
  const auto before = process_cpu_time();
  std::this_thread::sleep_for(idle);
  return process_cpu_time() - before;
}

TEST(ThreadPool, EveryIndexExactlyOnce) {
  for (auto spin : {0us, ThreadPool::kDefaultSpin})
    for (int threads : {1, 2, 3, 8}) {
      ThreadPool pool(threads, spin);
      EXPECT_EQ(pool.num_threads(), threads);
      for (int64_t n : {0, 1, 2, 7, 100, 1001}) {
        std::vector<std::atomic<int>> hits(size_t(std::max<int64_t>(n, 1)));
        for (int rep = 0; rep < 3; ++rep)
          pool.parallel_for(n, [&](int64_t b, int64_t e) {
            ASSERT_LE(b, e);
            for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
          });
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[size_t(i)].load(), 3) << threads << " threads, n " << n;
      }
    }
}

// Jobs arrive back to back (workers still spinning), after short pauses (within the spin) and after long ones
// (workers asleep): each job must still be run by every thread exactly once. A lost wake-up hangs this test.
TEST(ThreadPool, NoLostWakeUpsBetweenSpinningAndSleeping) {
  for (auto spin : {0us, 20us, ThreadPool::kDefaultSpin}) {
    ThreadPool pool(3, spin);
    for (int job = 0; job < 1500; ++job) {
      std::atomic<int64_t> sum{0};
      pool.parallel_for(300, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) sum += i;
      });
      ASSERT_EQ(sum.load(), 300 * 299 / 2) << "job " << job << ", spin " << spin.count() << " us";
      switch (job % 4) {
        case 1: std::this_thread::sleep_for(10us); break;
        case 2: std::this_thread::sleep_for(spin + 300us); break;
        case 3: std::this_thread::yield(); break;
        default: break;
      }
    }
  }
}

TEST(ThreadPool, ExceptionsOfAnyChunkReachTheCallerAfterAllChunksEnd) {
  ThreadPool pool(3);
  for (int64_t thrower : {0, 2}) {  // chunk 0 runs on the caller, chunk 2 on a worker
    std::atomic<int> finished{0};
    try {
      pool.parallel_for(3, [&](int64_t b, int64_t) {
        if (b == thrower) throw std::runtime_error("chunk " + std::to_string(b));
        std::this_thread::sleep_for(5ms);  // still running when the thrower is done
        finished++;
      });
      ADD_FAILURE() << "no exception from chunk " << thrower;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(e.what(), "chunk " + std::to_string(thrower));
    }
    EXPECT_EQ(finished.load(), 2) << "parallel_for returned before the other chunks ended";
  }
  std::atomic<int64_t> sum{0};
  pool.parallel_for(10, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 10);
}

// A server's pool idles most of the time: after its bounded spin the workers must sleep. Seven threads spinning
// for 200 ms would take hundreds of ms of CPU; asleep they take ~0. The contrast pool (a spin longer than the idle
// window) shows that this measurement does see spinning workers.
TEST(ThreadPool, IdlePoolSleeps) {
  {
    ThreadPool pool(8);
    const auto cpu = cpu_while_idle(pool, 200ms);
    EXPECT_LT(cpu, 20ms) << "an idle pool used " << cpu.count() << " us of CPU in 200 ms";
  }
  {
    ThreadPool spinning(4, std::chrono::microseconds(2s));
    const auto cpu = cpu_while_idle(spinning, 200ms);
    EXPECT_GT(cpu, 30ms) << "spinning workers used only " << cpu.count() << " us of CPU in 200 ms";
  }
}

TEST(ThreadPool, DefaultPoolFollowsSetting) {
  set_default_threads(3);
  EXPECT_EQ(default_thread_pool().num_threads(), 3);
  set_default_threads(1);
  EXPECT_EQ(default_thread_pool().num_threads(), 1);
  set_default_threads(0);
  EXPECT_GE(default_thread_pool().num_threads(), 1);
}

}  // namespace
}  // namespace banyan
