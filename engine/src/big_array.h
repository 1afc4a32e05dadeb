// big_array.h — the allocator of the engine's big per-row arrays (internal).
//
// A snapshot makes arrays of millions of nodes at once, and the second
// left-right copy copies them: with 4 KiB pages every first touch is a page
// fault, which on a virtual machine is most of a snapshot's build time. Big
// allocations are therefore mapped on their own and marked for transparent
// huge pages (MADV_HUGEPAGE: honoured when the kernel's THP mode is
// "madvise" or "always", a no-op under "never"); small ones use operator new.
//
// THREAD SAFETY: stateless; as thread-safe as mmap.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <vector>

namespace canopy::internal {

template <typename T>
class HugePageAllocator {
 public:
  using value_type = T;
  HugePageAllocator() noexcept = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kMapAtLeast) return static_cast<T*>(::operator new(bytes));
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure changes nothing
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes < kMapAtLeast) {
      ::operator delete(p);
    } else {
      munmap(p, bytes);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }

 private:
  static constexpr size_t kMapAtLeast = size_t{4} << 20;  // two huge pages
};

// A vector of one value per row.
template <typename T>
using BigArray = std::vector<T, HugePageAllocator<T>>;

}  // namespace canopy::internal
