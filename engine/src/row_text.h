// row_text.h — a row's name and path, stored once in a shared text arena
// and named by a 32-bit handle (internal to canopy::engine).
//
// Every namespace and project row carries a name and a path. A RowText is
// both, in one immutable record shared by the two copies of the index (and
// by the prepared transaction that brought it, and by a project and its
// project namespace when the two are equal). The records live in the
// process's TextArena rather than one malloc each: a record is a 2-byte
// reference count, the two sizes as varints and the bytes, rounded up to 4
// bytes; a node holds 4 bytes of handle instead of an 8-byte pointer. On
// GitLab-shaped rows ("Gitlab 1a2b" / "gitlab-1a2b") that is 28 bytes
// where a malloc'd record took a 48-byte glibc chunk (35 bytes asked).
//
// RECORD   u16 refs | varint (path size << 2 | flags) | [varint name size]
//          | path bytes | name bytes. Flags: name equals path (no name
//          bytes, no name size), big. A big record (more than kMaxInlineBytes
//          in all) holds, at its first 8-aligned byte after the flags, a
//          pointer to a malloc'd block with the two sizes and the bytes.
//
// THREAD SAFETY
//   * Make() and the last Unref() (which frees) may run on any thread at
//     once: the arena's free lists and chunk table are locked, and each
//     thread fills its own region of a chunk between locks.
//   * The reference count of one RowText is touched by one thread at a
//     time (the writer of the index holding it; the left-right protocol
//     orders the rest).
//   * name() and path() may run concurrently with anything except the last
//     Unref() of the same text: a record never moves, and its bytes never
//     change while it is referenced.
//   * The arena keeps the memory of freed records for reuse by later
//     records of the same size; it returns none of it to the system.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace canopy::internal {

// The process-wide store of RowText records, addressed by 32-bit handles
// counted in 4-byte units: handle >> kUnitBits names a 64 KiB chunk, the
// low bits a unit in it. Handle 0 is "no text" and never allocated.
class TextArena {
 public:
  static constexpr uint32_t kUnitBytes = 4;
  static constexpr uint32_t kUnitBits = 14;  // 16,384 units = 64 KiB a chunk
  static constexpr uint32_t kChunkUnits = 1u << kUnitBits;
  static constexpr uint32_t kMaxChunks = 1u << (32 - kUnitBits);  // 16 GiB of records
  // Records up to this size are stored inline; bigger texts go to a malloc'd
  // block named by a small record (every GitLab name and path fits inline).
  static constexpr uint32_t kMaxInlineBytes = 1024;
  static constexpr uint32_t kMaxInlineUnits = kMaxInlineBytes / kUnitBytes;

  // The first byte of the record at `handle`. REQUIRES: handle != 0, live.
  static char* At(uint32_t handle) {
    return chunks_[handle >> kUnitBits].load(std::memory_order_acquire) +
           size_t{handle & (kChunkUnits - 1)} * kUnitBytes;
  }
  // A new record of `units` units (1..kMaxInlineUnits), uninitialized.
  // Throws std::bad_alloc when the arena or the system is out of memory.
  static uint32_t Allocate(uint32_t units);
  // Gives the record back for reuse by records of the same size.
  static void Free(uint32_t handle, uint32_t units);

  // Bytes the arena holds from the system (chunks, not big blocks) and
  // bytes of it on free lists; for tests and reports.
  static size_t ReservedBytes();
  static size_t FreeBytes();

 private:
  friend struct TextArenaRegion;
  static std::atomic<char*> chunks_[kMaxChunks];
};

// ---- the record format (RECORD above), read inline by name() and path() ----
namespace row_text {
inline constexpr uint32_t kNameIsPath = 1, kBig = 2;  // the low bits of the head varint
struct BigBlock {
  uint32_t path_size, name_size;  // name_size 0 when kNameIsPath
  char data[1];                   // path bytes, then name bytes
};
inline uint32_t ReadVarint(const char** p) {
  uint32_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto byte = static_cast<unsigned char>(*(*p)++);
    v |= uint32_t{byte & 0x7fu} << shift;
    if (byte < 0x80) return v;
  }
}
// Where a big record keeps its block pointer: the first 8-aligned byte at or
// after `after_head` (so that leak checkers see the pointer).
inline const char* BigPointerAt(const char* after_head) {
  const auto a = reinterpret_cast<uintptr_t>(after_head);
  return reinterpret_cast<const char*>((a + 7) & ~uintptr_t{7});
}
}  // namespace row_text

class RowText {
 public:
  RowText() = default;
  // Throws std::bad_alloc (nothing made).
  static RowText Make(std::string_view name, std::string_view path);

  std::string_view name() const { return handle_ == 0 ? std::string_view() : Decode().name; }
  std::string_view path() const { return handle_ == 0 ? std::string_view() : Decode().path; }
  bool Equals(std::string_view name, std::string_view path) const {
    if (handle_ == 0) return name.empty() && path.empty();
    const Decoded d = Decode();
    return d.path == path && d.name == name;
  }
  bool same(const RowText& o) const { return handle_ == o.handle_; }
  void Ref() const {
    if (handle_ == 0) return;
    char* rec = TextArena::At(handle_);
    uint16_t refs;
    std::memcpy(&refs, rec, sizeof refs);
    ++refs;  // bounded far below 2^16: two copies, a row and its project namespace, a few ops
    std::memcpy(rec, &refs, sizeof refs);
  }
  // Drops this reference (freeing the record with the last) and empties *this.
  void Unref();
  // The record's bytes, the big block's included.
  size_t bytes() const;

 private:
  struct Decoded {
    std::string_view path, name;    // inline: in the record, the name after the path
    const row_text::BigBlock* big;  // nullptr for an inline record
  };
  Decoded Decode() const;
  // The arena record's units (a big record's block not included).
  uint32_t UnitsOf(const Decoded& d) const;
  uint32_t handle_ = 0;
};

inline RowText::Decoded RowText::Decode() const {
  const char* p = TextArena::At(handle_) + sizeof(uint16_t);
  const uint32_t head = row_text::ReadVarint(&p);
  Decoded d{};
  if (head & row_text::kBig) {
    std::memcpy(&d.big, row_text::BigPointerAt(p), sizeof d.big);
    d.path = std::string_view(d.big->data, d.big->path_size);
    d.name = (head & row_text::kNameIsPath)
                 ? d.path
                 : std::string_view(d.big->data + d.big->path_size, d.big->name_size);
    return d;
  }
  const uint32_t name_size = (head & row_text::kNameIsPath) ? 0 : row_text::ReadVarint(&p);
  d.path = std::string_view(p, head >> 2);
  d.name = (head & row_text::kNameIsPath) ? d.path : std::string_view(p + (head >> 2), name_size);
  return d;
}

}  // namespace canopy::internal
