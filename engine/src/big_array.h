// big_array.h — the growable array of the engine's per-row columns (internal).
//
// A snapshot makes arrays of millions of nodes at once, and the second
// left-right copy copies them; later writes grow them one row at a time.
// Two costs of std::vector matter at that size:
//   * growing past the capacity copies the whole array (hundreds of MB at
//     millions of rows; even a page-table move with mremap(2) took 12-15 ms
//     at 1.5M rows): a stall of the writer, seen as replication lag. A
//     BigArray is segmented instead: elements live in fixed-size segments
//     of kSegmentElements (a power of two, about 4 MiB of T), found through
//     a small directory, and growth maps one more segment, half a segment
//     ahead of need (its mapping and first page fault then fall in an
//     earlier write); no element ever moves.
//   * every first touch of a 4 KiB page is a page fault, which on a virtual
//     machine was most of a snapshot's build time: the segments of a
//     reserve (a snapshot, Compact, the copy of the other side) are
//     therefore mapped together and marked for transparent huge pages
//     (MADV_HUGEPAGE: honoured when the kernel's THP mode is "madvise" or
//     "always", a no-op under "never") up to the last whole huge page the
//     reserved elements fill; past it, 4 KiB pages (a huge page there
//     would be resident whole for the few elements in it). A segment
//     mapped for growth one element at a time is marked MADV_NOHUGEPAGE:
//     its first touch of a huge page would zero 2 MiB inside one write
//     (measured at 1-4 ms on this project's VMs), where 4 KiB faults
//     spread the same work thinly.
// Segments are mapped lazily: an untouched page costs address space only.
// Element i is segment i / kSegmentElements, offset i % kSegmentElements;
// a run of elements is contiguous within a segment (CopyRange copies by
// segment).
// T must be trivially copyable: elements are copied as bytes.
//
// THREAD SAFETY: as std::vector — const methods may run concurrently,
// anything else needs exclusive access.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace canopy::internal {

template <typename T>
class BigArray {
  static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");

 public:
  // Elements per segment: the largest power of two of T that fits 4 MiB.
  static constexpr size_t kSegmentElements = std::bit_floor((size_t{4} << 20) / sizeof(T));

  BigArray() = default;
  BigArray(const BigArray& other) { *this = other; }
  BigArray& operator=(const BigArray& other) {
    if (this == &other) return *this;
    clear();
    reserve(other.size_);
    for (size_t begin = 0; begin < other.size_; begin += kSegmentElements) {
      const size_t n = std::min(kSegmentElements, other.size_ - begin);
      std::memcpy(segments_[begin / kSegmentElements], other.segments_[begin / kSegmentElements],
                  n * sizeof(T));
    }
    size_ = other.size_;
    return *this;
  }
  BigArray(BigArray&& other) noexcept { swap(other); }
  BigArray& operator=(BigArray&& other) noexcept {
    BigArray(std::move(other)).swap(*this);
    return *this;
  }
  ~BigArray() { ReleaseAll(); }

  void swap(BigArray& other) noexcept {
    segments_.swap(other.segments_);
    mappings_.swap(other.mappings_);
    std::swap(size_, other.size_);
  }

  size_t size() const { return size_; }
  size_t capacity() const { return segments_.size() * kSegmentElements; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return segments_[i / kSegmentElements][i % kSegmentElements]; }
  const T& operator[](size_t i) const {
    return segments_[i / kSegmentElements][i % kSegmentElements];
  }
  T& back() { return (*this)[size_ - 1]; }
  // Bytes of the pages the elements are in: what the array keeps resident
  // (the rest of its last segment is address space only, until touched).
  size_t bytes() const { return (size_ * sizeof(T) + 4095) / 4096 * 4096; }

  // In index order, for range-for loops (bulk copies: CopyRange).
  template <typename Array, typename Element>
  class Iterator {
   public:
    Iterator(Array* array, size_t i) : array_(array), i_(i) {}
    Element& operator*() const { return (*array_)[i_]; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }

   private:
    Array* array_;
    size_t i_;
  };
  Iterator<BigArray, T> begin() { return {this, 0}; }
  Iterator<BigArray, T> end() { return {this, size_}; }
  Iterator<const BigArray, const T> begin() const { return {this, 0}; }
  Iterator<const BigArray, const T> end() const { return {this, size_}; }

  // Whether both hold the same elements, byte for byte.
  bool SameElements(const BigArray& other) const {
    if (size_ != other.size_) return false;
    for (size_t begin = 0; begin < size_; begin += kSegmentElements) {
      const size_t n = std::min(kSegmentElements, size_ - begin);
      if (std::memcmp(segments_[begin / kSegmentElements],
                      other.segments_[begin / kSegmentElements], n * sizeof(T)) != 0) {
        return false;
      }
    }
    return true;
  }

  // Appends elements [begin, end) to *out, converted to U (a widening copy
  // when U is wider). REQUIRES: begin <= end <= size().
  template <typename U>
  void CopyRange(size_t begin, size_t end, std::vector<U>* out) const {
    while (begin < end) {
      const size_t offset = begin % kSegmentElements;
      const size_t n = std::min(end - begin, kSegmentElements - offset);
      const T* from = segments_[begin / kSegmentElements] + offset;
      out->insert(out->end(), from, from + n);
      begin += n;
    }
  }

  // Capacity for n elements, mapped together; existing elements stay where
  // they are.
  void reserve(size_t n) {
    if (n > capacity()) {
      AddSegments((n - capacity() + kSegmentElements - 1) / kSegmentElements,
                  /*huge_bytes=*/(n - capacity()) * sizeof(T));
    }
  }
  // reserve(n), then takes the first page fault of every page the first n
  // elements fall in (writing a zero byte where nothing is stored yet), so
  // that filling them later faults no more: the fault's work (zeroing,
  // and on a virtual machine the host backing the page) can be done ahead,
  // on another thread. REQUIRES: empty() (nothing stored to overwrite).
  void Prefault(size_t n) {
    assert(empty());
    reserve(n);
    for (size_t begin = 0; begin < n; begin += kSegmentElements) {
      char* bytes = reinterpret_cast<char*>(segments_[begin / kSegmentElements]);
      const size_t length = std::min(kSegmentElements, n - begin) * sizeof(T);
      for (size_t offset = 0; offset < length; offset += 4096) {
        reinterpret_cast<volatile char*>(bytes)[offset] = 0;  // (reads as zero already)
      }
    }
  }
  // New elements are value-initialized (T{}).
  void resize(size_t n) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) new (&(*this)[i]) T{};
    size_ = n;
  }
  // Grows to n elements without writing the new ones: they read as zero
  // bytes, as mapped. REQUIRES: zero bytes are a valid T, and no element
  // past size() was written since it was mapped (an array grown this way is
  // released, never cleared).
  void GrowZeroed(size_t n) {
    if (n <= size_) return;
    while (n + kSegmentElements / 2 >= capacity()) MapAhead();
    size_ = n;
  }
  void push_back(const T& value) { emplace_back(value); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    // Half a segment ahead, so that a segment's mapping and first page
    // fault fall in another write than the one that needs it (and, as
    // segment sizes differ by T, than other arrays' crossings).
    if (size_ + kSegmentElements / 2 >= capacity()) [[unlikely]]
      MapAhead();
    T* slot = new (&(*this)[size_]) T{std::forward<Args>(args)...};
    ++size_;
    return *slot;
  }
  // Keeps the segments (capacity) for reuse.
  void clear() { size_ = 0; }
  // Maps the first segment now and takes its first page fault, unless there
  // is a segment already, so that an empty array's first emplace_back does
  // not pay for them inside a write.
  void MapFirstSegment() {
    if (segments_.empty()) MapAhead();
  }

 private:
  static constexpr size_t kSegmentBytes = kSegmentElements * sizeof(T);
  static constexpr size_t kHugePageBytes = size_t{2} << 20;
  static_assert(kSegmentBytes % 4096 == 0, "segments are whole pages");

  struct Mapping {
    void* address;
    size_t bytes;
  };

  // Maps `count` segments in one mapping and appends them to the directory.
  // Its first `huge_bytes` (to the last 2 MiB boundary within) are marked
  // for transparent huge pages, the rest not: the huge page that the last
  // element reserved would fall in is mostly past it, and its first touch
  // would make all 2 MiB of it resident (up to 2 MiB per array, which
  // made a small canopyd's whole resident size).
  void AddSegments(size_t count, size_t huge_bytes) {
    const size_t bytes = count * kSegmentBytes;
    // Room first (doubling): nothing to undo if it throws.
    segments_.reserve(std::max(segments_.size() + count, 2 * segments_.size()));
    mappings_.reserve(std::max(mappings_.size() + 1, 2 * mappings_.size()));
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    // Up to the last 2 MiB boundary (by address) the wanted bytes reach.
    const uintptr_t start = reinterpret_cast<uintptr_t>(p);
    const uintptr_t huge_end = (start + std::min(bytes, huge_bytes)) & ~(kHugePageBytes - 1);
    const size_t huge = huge_end > start ? huge_end - start : 0;
    if (huge != 0) madvise(p, huge, MADV_HUGEPAGE);  // advice only
    if (huge != bytes) madvise(static_cast<char*>(p) + huge, bytes - huge, MADV_NOHUGEPAGE);
    mappings_.push_back({p, bytes});
    for (size_t i = 0; i < count; ++i) {
      segments_.push_back(reinterpret_cast<T*>(static_cast<char*>(p) + i * kSegmentBytes));
    }
  }

  void MapAhead() {
    AddSegments(1, /*huge_bytes=*/0);
    *reinterpret_cast<volatile char*>(segments_.back()) = 0;  // its first page fault, now
  }

  void ReleaseAll() noexcept {
    for (const Mapping& m : mappings_) munmap(m.address, m.bytes);
    mappings_.clear();
    segments_.clear();
    size_ = 0;
  }

  std::vector<T*> segments_;  // the directory: segment k holds elements from k * kSegmentElements
  std::vector<Mapping> mappings_;
  size_t size_ = 0;
};

}  // namespace canopy::internal
