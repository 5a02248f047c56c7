// The threads a kernel splits its work over, when a job asks for more than one (BLAS_THREADS):
// OpenBLAS threads one large product well, but a convolution is one small product per image, which it
// runs on one thread. Kernels that split images or channels over these threads first turn OpenBLAS
// down to one thread for the call (SerialBlas), so the two never oversubscribe the cores.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

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
      ++generation_;
    }
    wake_.notify_all();
    work();
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
      if (--unfinished_ == 0) done_.notify_all();
    }
  }

  void serve() {
    uint64_t seen = 0;
    for (;;) {
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
  bool stopping_ = false;
};

// The threads kernels may use: setThreads' value, shared with OpenBLAS's own setting.
inline int& kernelThreads() {
  static int threads = 1;
  return threads;
}

// One pool per JavaScript thread (a distributed job's training threads each run kernels at once),
// rebuilt when the thread count changes.
inline WorkerPool& workerPool() {
  static thread_local std::unique_ptr<WorkerPool> pool;
  if (!pool || pool->threads() != kernelThreads()) {
    pool.reset();
    pool = std::make_unique<WorkerPool>(kernelThreads());
  }
  return *pool;
}

// OpenBLAS at one thread while it lives: products called from several of our threads at once
// would otherwise queue for OpenBLAS's own threads, or oversubscribe the cores.
class SerialBlas {
 public:
  SerialBlas() : previous_(openblas_get_num_threads()) {
    if (previous_ > 1) openblas_set_num_threads(1);
  }
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;
  ~SerialBlas() {
    if (previous_ > 1) openblas_set_num_threads(previous_);
  }

 private:
  int previous_;
};

// [begin, end) of part `part` when `count` items are split into `parts` nearly equal runs.
inline long partBegin(long count, int parts, int part) { return count * part / parts; }

}  // namespace trainyard
