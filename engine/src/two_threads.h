// two_threads.h — running two halves of a writer's job at once (internal).
//
// The writer's big one-off jobs (a snapshot's build, a relayout, the copy of
// a copy) split into two independent halves that touch disjoint memory; the
// machines canopy runs on have at least two cores.
//
// THREAD SAFETY: `first` runs on the calling thread and `second` on a new
// one; they must not write anything the other reads or writes.
#pragma once

#include <exception>
#include <system_error>
#include <thread>

namespace canopy::internal {

// Runs `first` here and `second` on another thread and waits for both (when
// no thread can be started, both here, one after the other). An exception of
// either (std::bad_alloc in the engine) is rethrown here once both are done,
// the first's before the second's; what they left half made is the caller's
// to clean up.
template <typename First, typename Second>
void RunOnTwoThreads(First&& first, Second&& second) {
  std::exception_ptr first_error, second_error;
  std::thread other;
  try {
    other = std::thread([&] {
      try {
        second();
      } catch (...) {
        second_error = std::current_exception();
      }
    });
  } catch (const std::system_error&) {
    first();
    second();
    return;
  }
  try {
    first();
  } catch (...) {
    first_error = std::current_exception();
  }
  other.join();
  if (first_error) std::rethrow_exception(first_error);
  if (second_error) std::rethrow_exception(second_error);
}

}  // namespace canopy::internal
