// The threads a kernel splits its work over, when a job asks for more than one (BLAS_THREADS). OpenBLAS
// itself always runs at one thread (set when the addon loads): its own threads ran a layer's products
// slower on 2 than on 1 ([2048, 64] × [64, 64]), ran a convolution's small per-image products on one,
// and polled for a long while after each product, taking the core our helpers need.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace trainyard {

// A fixed set of helper threads that run parts of one task with the caller, and sleep between tasks.
class WorkerPool {
 public:
  explicit WorkerPool(int threads) {
    for (int i = 1; i < threads; ++i) helpers_.emplace_back([this] { serve(); });
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& helper : helpers_) helper.join();
  }

  int threads() const { return static_cast<int>(helpers_.size()) + 1; }

  // fn(part) for every part in [0, parts), each exactly once, the caller's thread among those running
  // them; returns when all are done.
  void run(int parts, const std::function<void(int)>& fn) {
    if (parts <= 1 || helpers_.empty()) {
      for (int part = 0; part < parts; ++part) fn(part);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &fn;
      parts_ = parts;
      next_ = 0;
      unfinished_ = parts;
      busy_.store(parts, std::memory_order_relaxed);
      published_.store(++generation_, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    spinWhile([this] { return busy_.load(std::memory_order_acquire) != 0; });
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return unfinished_ == 0; });
    task_ = nullptr;
  }

 private:
  void work() {
    for (;;) {
      const std::function<void(int)>* task;
      int part;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (task_ == nullptr || next_ >= parts_) return;
        task = task_;
        part = next_++;
      }
      (*task)(part);
      std::lock_guard<std::mutex> lock(mutex_);
      busy_.store(--unfinished_, std::memory_order_release);
      if (unfinished_ == 0) done_.notify_all();
    }
  }

  // Polls for up to 500 µs before the caller blocks: a training step runs kernels back to back, with
  // the op dispatch between them, and a thread woken from a futex takes about as long as a small
  // kernel's part (the bench Transformer ran about 8 % faster on 2 threads than with 50 µs).
  template <typename Condition>
  static void spinWhile(Condition condition) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(500);
    while (condition() && std::chrono::steady_clock::now() < until) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
  }

  void serve() {
    uint64_t seen = 0;
    for (;;) {
      spinWhile([&] { return published_.load(std::memory_order_acquire) == seen && !stopping_.load(std::memory_order_relaxed); });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      work();
    }
  }

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int)>* task_ = nullptr;
  int parts_ = 0;
  int next_ = 0;
  int unfinished_ = 0;
  uint64_t generation_ = 0;
  // Copies of generation_ and unfinished_ that the spinning threads read without the lock.
  std::atomic<uint64_t> published_{0};
  std::atomic<int> busy_{0};
  std::atomic<bool> stopping_{false};
};

// The threads kernels may use: setThreads' value (BLAS_THREADS), for the whole process as OpenBLAS's is.
inline std::atomic<int>& kernelThreads() {
  static std::atomic<int> threads{1};
  return threads;
}

// One pool per JavaScript thread (a distributed job's training threads each run kernels at once),
// rebuilt when the thread count changes.
inline WorkerPool& workerPool() {
  static thread_local std::unique_ptr<WorkerPool> pool;
  const int threads = kernelThreads().load(std::memory_order_relaxed);
  if (!pool || pool->threads() != threads) {
    pool.reset();
    pool = std::make_unique<WorkerPool>(threads);
  }
  return *pool;
}

// [begin, end) of part `part` when `count` items are split into `parts` nearly equal runs.
inline long partBegin(long count, int parts, int part) { return count * part / parts; }

// fn(begin, end) over [0, count), split over the kernel threads where each part gets at least `grain`
// items, at multiples of `align` (16 floats: threads never write the same cache line), and no part is empty.
inline void overRange(long count, long grain, const std::function<void(long, long)>& fn, long align = 16) {
  auto& pool = workerPool();
  const long units = (count + align - 1) / align;
  const int parts = static_cast<int>(std::max(1L, std::min({static_cast<long>(pool.threads()), units, count / std::max(1L, grain)})));
  if (parts == 1) {
    fn(0, count);
    return;
  }
  pool.run(parts, [&](int part) { fn(std::min(count, partBegin(units, parts, part) * align), std::min(count, partBegin(units, parts, part + 1) * align)); });
}

// Elementwise kernels split where a part has at least this many values (256 KiB of floats): below it
// a part costs about what waking a thread does.
constexpr long kElementwiseGrain = 1 << 16;

}  // namespace trainyard
