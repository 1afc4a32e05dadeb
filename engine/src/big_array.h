// big_array.h — the growable array of the engine's per-row columns (internal).
//
// A snapshot makes arrays of millions of nodes at once, and the second
// left-right copy copies them; later writes grow them one row at a time.
// Two costs of std::vector matter at that size:
//   * every first touch of a 4 KiB page is a page fault, which on a virtual
//     machine was most of a snapshot's build time: arrays sized at once
//     (reserve: a snapshot, Compact, the copy of the other side) are
//     therefore mapped on their own and marked for transparent huge pages
//     (MADV_HUGEPAGE: honoured when the kernel's THP mode is "madvise" or
//     "always", a no-op under "never");
//   * growing past the capacity copies the whole array (hundreds of MB at
//     millions of rows: a stall of the writer, seen as replication lag):
//     a mapped array grows with mremap(2) instead, which moves the page
//     tables, not the bytes.
// An array that grows one element at a time is marked MADV_NOHUGEPAGE:
// its first touch of a huge page would zero 2 MiB inside one write
// (measured at 1-4 ms on this project's VMs), where 4 KiB faults spread
// the same work thinly. Small arrays live on the heap (realloc).
// T must be trivially copyable: elements are moved as bytes.
//
// THREAD SAFETY: as std::vector — const methods may run concurrently,
// anything else needs exclusive access.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace canopy::internal {

template <typename T>
class BigArray {
  static_assert(std::is_trivially_copyable_v<T>, "elements are moved as bytes");

 public:
  BigArray() = default;
  BigArray(const BigArray& other) { *this = other; }
  BigArray& operator=(const BigArray& other) {
    if (this == &other) return *this;
    clear();
    reserve(other.size_);
    if (other.size_ != 0) std::memcpy(data_, other.data_, other.size_ * sizeof(T));
    size_ = other.size_;
    return *this;
  }
  BigArray(BigArray&& other) noexcept { swap(other); }
  BigArray& operator=(BigArray&& other) noexcept {
    BigArray(std::move(other)).swap(*this);
    return *this;
  }
  ~BigArray() { Release(data_, capacity_); }

  void swap(BigArray& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& back() { return data_[size_ - 1]; }

  // Capacity for n elements; existing elements keep their values.
  void reserve(size_t n) {
    if (n > capacity_) Grow(n, /*sized_at_once=*/true);
  }
  // New elements are value-initialized (T{}).
  void resize(size_t n) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) new (data_ + i) T{};
    size_ = n;
  }
  void push_back(const T& value) { emplace_back(value); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    // Doubling keeps pushes amortized O(1); with mremap a growth costs the
    // page-table move, not a copy.
    if (size_ == capacity_) Grow(capacity_ < 16 ? 16 : capacity_ * 2, /*sized_at_once=*/false);
    T* slot = new (data_ + size_) T{std::forward<Args>(args)...};
    ++size_;
    return *slot;
  }
  void clear() { size_ = 0; }

 private:
  // At least this many bytes are mapped rather than heap-allocated, so an
  // array crossing it copies at most this much, once.
  static constexpr size_t kMapAtLeast = size_t{1} << 20;
  static constexpr size_t kPage = 4096;

  static size_t MappedBytes(size_t elements) {
    return (elements * sizeof(T) + kPage - 1) / kPage * kPage;
  }
  static bool IsMapped(size_t elements) { return elements * sizeof(T) >= kMapAtLeast; }

  void Grow(size_t n, bool sized_at_once) {
    T* grown = nullptr;
    const int advice = sized_at_once ? MADV_HUGEPAGE : MADV_NOHUGEPAGE;
    if (!IsMapped(n)) {
      grown = static_cast<T*>(std::realloc(data_, n * sizeof(T)));
      if (grown == nullptr) throw std::bad_alloc();
    } else if (IsMapped(capacity_)) {
      void* p = mremap(data_, MappedBytes(capacity_), MappedBytes(n), MREMAP_MAYMOVE);
      if (p == MAP_FAILED) throw std::bad_alloc();
      grown = static_cast<T*>(p);
      madvise(p, MappedBytes(n), advice);  // advice only: failure changes nothing
    } else {
      void* p =
          mmap(nullptr, MappedBytes(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      madvise(p, MappedBytes(n), advice);
      grown = static_cast<T*>(p);
      if (size_ != 0) std::memcpy(grown, data_, size_ * sizeof(T));
      Release(data_, capacity_);
    }
    data_ = grown;
    capacity_ = n;
  }

  static void Release(T* data, size_t capacity) noexcept {
    if (data == nullptr) return;
    if (IsMapped(capacity)) {
      munmap(data, MappedBytes(capacity));
    } else {
      std::free(data);
    }
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace canopy::internal
