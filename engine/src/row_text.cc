// row_text.cc — the text arena and the RowText record format (row_text.h).
#include "row_text.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <tuple>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CANOPY_POISON(addr, size) ASAN_POISON_MEMORY_REGION(addr, size)
#define CANOPY_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION(addr, size)
#else
#define CANOPY_POISON(addr, size) ((void)(addr), (void)(size))
#define CANOPY_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

namespace canopy::internal {

std::atomic<char*> TextArena::chunks_[TextArena::kMaxChunks];

namespace {

// A thread takes this many units of a chunk at a time and fills them
// without the lock.
constexpr uint32_t kRegionUnits = 4096;
static_assert(TextArena::kChunkUnits % kRegionUnits == 0);

// Everything below is guarded by mu. The free-list heads are also read
// without it (relaxed), as a hint that a list may be non-empty.
std::mutex mu;
std::atomic<uint32_t> free_heads[TextArena::kMaxInlineUnits + 1];  // by size in units; 0 = empty
uint64_t free_units = 0;
uint32_t next_unit = 0;  // the next unit no region has taken; 0: no chunk yet
uint32_t chunk_count = 0;
// What exited threads left of their regions, [next, end), for the next thread
// to take before a new region is carved.
std::vector<std::pair<uint32_t, uint32_t>> spare_regions;

uint32_t LoadLink(uint32_t handle) {
  uint32_t next;
  std::memcpy(&next, TextArena::At(handle), sizeof next);
  return next;
}

// REQUIRES: mu held, 1 <= units <= kMaxInlineUnits.
void PushFree(uint32_t handle, uint32_t units) {
  char* block = TextArena::At(handle);
  CANOPY_UNPOISON(block, sizeof(uint32_t));
  const uint32_t next = free_heads[units].load(std::memory_order_relaxed);
  std::memcpy(block, &next, sizeof next);
  CANOPY_POISON(block + sizeof(uint32_t), size_t{units} * TextArena::kUnitBytes - sizeof(uint32_t));
  free_heads[units].store(handle, std::memory_order_relaxed);
  free_units += units;
}

}  // namespace

// The part of a chunk this thread fills without the lock: [next, end).
struct TextArenaRegion {
  uint32_t next = 0, end = 0;
  // The rest goes back on a free list, for any thread.
  void GiveBackLocked() {
    while (next != end) {
      const uint32_t piece = std::min(end - next, TextArena::kMaxInlineUnits);
      PushFree(next, piece);
      next += piece;
    }
    next = end = 0;
  }
  ~TextArenaRegion() {
    std::lock_guard lock(mu);
    if (next == end) return;
    try {
      spare_regions.emplace_back(next, end);
      next = end = 0;
    } catch (const std::bad_alloc&) {
      GiveBackLocked();
    }
  }
  // A region left by an exited thread, else a fresh one of kRegionUnits (a
  // chunk is a whole number of them; unit 0 of the first chunk is left out
  // so that handle 0 stays "no text").
  void TakeLocked() {
    GiveBackLocked();
    if (!spare_regions.empty()) {
      std::tie(next, end) = spare_regions.back();
      spare_regions.pop_back();
      return;
    }
    if (next_unit % TextArena::kChunkUnits == 0) {
      if (chunk_count == TextArena::kMaxChunks) throw std::bad_alloc();
      void* chunk = std::malloc(size_t{TextArena::kChunkUnits} * TextArena::kUnitBytes);
      if (chunk == nullptr) throw std::bad_alloc();
      CANOPY_POISON(chunk, size_t{TextArena::kChunkUnits} * TextArena::kUnitBytes);
      TextArena::chunks_[chunk_count].store(static_cast<char*>(chunk), std::memory_order_release);
      next_unit = chunk_count++ << TextArena::kUnitBits;
    }
    next = next_unit == 0 ? 1 : next_unit;
    end = next_unit + kRegionUnits;
    next_unit = end;
  }
};

namespace {
thread_local TextArenaRegion region;
}  // namespace

uint32_t TextArena::Allocate(uint32_t units) {
  uint32_t handle = 0;
  if (free_heads[units].load(std::memory_order_relaxed) != 0) {
    std::lock_guard lock(mu);
    handle = free_heads[units].load(std::memory_order_relaxed);
    if (handle != 0) {
      free_heads[units].store(LoadLink(handle), std::memory_order_relaxed);
      free_units -= units;
    }
  }
  if (handle == 0) {
    if (region.end - region.next < units) {
      std::lock_guard lock(mu);
      do {
        region.TakeLocked();  // (a spare region may be smaller than `units`)
      } while (region.end - region.next < units);
    }
    handle = region.next;
    region.next += units;
  }
  CANOPY_UNPOISON(At(handle), size_t{units} * kUnitBytes);
  return handle;
}

void TextArena::Free(uint32_t handle, uint32_t units) {
  std::lock_guard lock(mu);
  PushFree(handle, units);
}

size_t TextArena::ReservedBytes() {
  std::lock_guard lock(mu);
  return size_t{chunk_count} * kChunkUnits * kUnitBytes;
}

size_t TextArena::FreeBytes() {
  std::lock_guard lock(mu);
  return free_units * kUnitBytes;
}

// ---------------------------------------------------------------------------
// RowText

namespace {

size_t VarintSize(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
char* WriteVarint(uint32_t v, char* p) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
uint32_t UnitsFor(size_t bytes) {
  return static_cast<uint32_t>((bytes + TextArena::kUnitBytes - 1) / TextArena::kUnitBytes);
}
// A big record: refs (2) + head (1, the flags alone) + at most 5 bytes to the
// 8-aligned pointer slot (records start 4-aligned) + the pointer (8).
constexpr uint32_t kBigRecordUnits = 4;
static_assert(sizeof(uint16_t) + 1 + 5 + sizeof(void*) <= kBigRecordUnits * TextArena::kUnitBytes);

}  // namespace

uint32_t RowText::UnitsOf(const Decoded& d) const {
  if (d.big != nullptr) return kBigRecordUnits;
  // An inline record ends with its name's bytes, or its path's when the name
  // is the path (or empty).
  const char* end = std::max(d.path.data() + d.path.size(), d.name.data() + d.name.size());
  return UnitsFor(static_cast<size_t>(end - TextArena::At(handle_)));
}

RowText RowText::Make(std::string_view name, std::string_view path) {
  RowText t;
  if (name.empty() && path.empty()) return t;
  const bool name_is_path = name == path;
  const size_t name_bytes = name_is_path ? 0 : name.size();
  const uint32_t flags = name_is_path ? row_text::kNameIsPath : 0;
  const uint16_t one_ref = 1;
  const size_t inline_bytes =
      sizeof(uint16_t) + VarintSize(static_cast<uint32_t>(path.size() << 2)) +
      (name_is_path ? 0 : VarintSize(static_cast<uint32_t>(name_bytes))) + path.size() + name_bytes;
  if (path.size() < TextArena::kMaxInlineBytes && inline_bytes <= TextArena::kMaxInlineBytes) {
    t.handle_ = TextArena::Allocate(UnitsFor(inline_bytes));
    char* p = TextArena::At(t.handle_);
    std::memcpy(p, &one_ref, sizeof one_ref);
    p = WriteVarint(static_cast<uint32_t>(path.size() << 2) | flags, p + sizeof one_ref);
    if (!name_is_path) p = WriteVarint(static_cast<uint32_t>(name_bytes), p);
    if (!path.empty()) std::memcpy(p, path.data(), path.size());
    if (name_bytes != 0) std::memcpy(p + path.size(), name.data(), name_bytes);
    return t;
  }
  // Big: the bytes in their own block, its pointer in a small record. Sizes
  // past 4 GiB cannot come from PostgreSQL (a field is at most 1 GB).
  void* mem = std::malloc(offsetof(row_text::BigBlock, data) + path.size() + name_bytes);
  if (mem == nullptr) throw std::bad_alloc();
  auto* big = static_cast<row_text::BigBlock*>(mem);
  big->path_size = static_cast<uint32_t>(path.size());
  big->name_size = static_cast<uint32_t>(name_bytes);
  if (!path.empty()) std::memcpy(big->data, path.data(), path.size());
  if (name_bytes != 0) std::memcpy(big->data + path.size(), name.data(), name_bytes);
  try {
    t.handle_ = TextArena::Allocate(kBigRecordUnits);
  } catch (...) {
    std::free(mem);
    throw;
  }
  char* p = TextArena::At(t.handle_);
  std::memcpy(p, &one_ref, sizeof one_ref);
  char* after_head = WriteVarint(row_text::kBig | flags, p + sizeof one_ref);
  std::memcpy(const_cast<char*>(row_text::BigPointerAt(after_head)), &big, sizeof big);
  return t;
}

void RowText::Unref() {
  if (handle_ == 0) return;
  char* rec = TextArena::At(handle_);
  uint16_t refs;
  std::memcpy(&refs, rec, sizeof refs);
  if (--refs != 0) {
    std::memcpy(rec, &refs, sizeof refs);
  } else {
    const Decoded d = Decode();
    std::free(const_cast<row_text::BigBlock*>(d.big));
    TextArena::Free(handle_, UnitsOf(d));
  }
  handle_ = 0;
}

size_t RowText::bytes() const {
  if (handle_ == 0) return 0;
  const Decoded d = Decode();
  size_t b = size_t{UnitsOf(d)} * TextArena::kUnitBytes;
  if (d.big != nullptr)
    b += offsetof(row_text::BigBlock, data) + d.big->path_size + d.big->name_size;
  return b;
}

}  // namespace canopy::internal
