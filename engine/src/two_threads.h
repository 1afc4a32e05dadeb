// two_threads.h — running two halves of a writer's job at once (internal).
//
// The writer's big one-off jobs (a snapshot's build, a relayout, the copy of
// a copy) split into two independent halves that touch disjoint memory; the
// machines canopy runs on have at least two cores.
//
// THREAD SAFETY: `first` runs on the calling thread and `second` on a new
// one; they must not write anything the other reads or writes.
#pragma once

#include <new>
#include <thread>

namespace canopy::internal {

// Runs `first` here and `second` on another thread and waits for both. Either
// may throw std::bad_alloc (and nothing else): it is thrown here once both
// are done, whatever they left half made is the caller's to clean up.
template <typename First, typename Second>
void RunOnTwoThreads(First&& first, Second&& second) {
  auto finished = [](auto& work) {
    try {
      work();
      return true;
    } catch (const std::bad_alloc&) {
      return false;
    }
  };
  bool second_finished = false;
  std::thread other([&] { second_finished = finished(second); });
  const bool first_finished = finished(first);
  other.join();
  if (!first_finished || !second_finished) throw std::bad_alloc();
}

}  // namespace canopy::internal
