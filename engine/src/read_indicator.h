// read_indicator.h — counts the readers inside one side of the left-right
// HierarchyIndex (internal).
//
// THREAD SAFETY: Arrive/Depart from any reader thread, IsEmpty from the
// writer. Readers are spread over cache-line-sized stripes (by thread) so
// that readers on different cores do not fight over one counter.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

namespace canopy::internal {

class ReadIndicator {
 public:
  static constexpr int kStripes = 16;

  // The stripe of the calling thread (stable for the thread's lifetime).
  static int StripeOfThisThread() {
    thread_local const int stripe =
        static_cast<int>(std::hash<std::thread::id>()(std::this_thread::get_id()) % kStripes);
    return stripe;
  }
  void Arrive(int stripe) { stripes_[stripe].readers.fetch_add(1, std::memory_order_seq_cst); }
  void Depart(int stripe) { stripes_[stripe].readers.fetch_sub(1, std::memory_order_seq_cst); }
  bool IsEmpty() const {
    for (const Stripe& s : stripes_) {
      if (s.readers.load(std::memory_order_seq_cst) != 0) return false;
    }
    return true;
  }

 private:
  struct alignas(64) Stripe {
    std::atomic<int64_t> readers{0};
  };
  Stripe stripes_[kStripes];
};

}  // namespace canopy::internal
