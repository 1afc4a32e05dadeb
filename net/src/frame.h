// net/src/frame.h — canopy's framing: a 4-byte little-endian payload length,
// then the payload (one FlatBuffer).
//
// A frame is exactly a FlatBuffers *size-prefixed* buffer (what
// FlatBufferBuilder::FinishSizePrefixed makes): the buffer's alignment is
// relative to the first byte of the length prefix, so it is verified with
// VerifySizePrefixedBuffer and read with GetSizePrefixedRoot over the whole
// frame, prefix included.
//
// FrameReader turns a byte stream into frames without trusting it: a length of
// zero is malformed, a length over the limit is refused before any of its
// payload is buffered, and every frame handed out starts 8-byte aligned (the
// Verifier checks alignment, and reading unaligned scalars is undefined
// behaviour), so a caller can verify it in place.
//
//   FrameReader reader(/*max_frame_bytes=*/1 << 20);
//   std::span<uint8_t> space = reader.PrepareWrite(4096);
//   size_t n = read(fd, space.data(), space.size());
//   reader.CommitWrite(n);
//   for (;;) {
//     FrameReader::Next next = reader.NextFrame();
//     if (next.state != FrameReader::State::kFrame) break;   // kNeedMore or an error
//     use(next.frame);                    // prefix + payload; valid until the next call
//   }
//
// THREAD SAFETY: thread-compatible (one owner at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace canopy::net::internal {

inline constexpr size_t kFrameHeader = 4;

inline uint32_t LoadLittleEndian32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void StoreLittleEndian32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

// A growable byte buffer whose data() is 8-byte aligned.
class AlignedBytes {
 public:
  uint8_t* data() { return reinterpret_cast<uint8_t*>(words_.data()); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words_.data()); }
  size_t size() const { return size_; }
  size_t capacity() const { return words_.size() * sizeof(uint64_t); }
  // Keeps the first min(size, n) bytes; new bytes are unspecified.
  void Resize(size_t n) {
    if (n > capacity()) words_.resize((n + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    size_ = n;
  }
  void Assign(std::span<const uint8_t> bytes);
  std::span<const uint8_t> span() const { return {data(), size_}; }
  // Returns memory to the allocator when the buffer grew past `keep` bytes.
  void ShrinkTo(size_t keep);

 private:
  std::vector<uint64_t> words_;
  size_t size_ = 0;
};

class FrameReader {
 public:
  enum class State : uint8_t {
    kFrame = 0,     // `payload` is one complete frame
    kNeedMore = 1,  // no complete frame buffered
    kEmpty = 2,     // a zero-length frame (malformed)
    kTooLarge = 3,  // declared length over the limit (`declared_length` says how much)
  };
  struct Next {
    State state = State::kNeedMore;
    std::span<const uint8_t> frame;  // kFrame only: length prefix + payload, 8-byte aligned
    uint32_t declared_length = 0;    // kTooLarge
  };

  // REQUIRES: max_frame_bytes > 0 (the payload limit, header not included).
  explicit FrameReader(size_t max_frame_bytes, size_t initial_capacity = 16 * 1024);

  // Space for at least `at_least` more bytes (more if the buffer has it);
  // fill a prefix of it, then CommitWrite(n). Invalidates earlier payloads.
  std::span<uint8_t> PrepareWrite(size_t at_least);
  void CommitWrite(size_t n);
  // PrepareWrite + copy + CommitWrite.
  void Append(std::span<const uint8_t> bytes);

  // The next complete frame, if any. After kEmpty or kTooLarge the stream
  // cannot be trusted: the reader keeps returning that error.
  Next NextFrame();

  // Bytes buffered that do not yet form a complete frame (a started frame).
  size_t partial_bytes() const { return end_ - begin_; }
  bool has_partial() const { return end_ != begin_; }
  size_t max_frame_bytes() const { return max_frame_; }
  // Drops everything buffered (after an error, before reuse).
  void Reset();

 private:
  size_t max_frame_;
  size_t initial_capacity_;
  AlignedBytes buffer_;   // bytes [begin_, end_) are unread
  AlignedBytes scratch_;  // aligned copy of a frame that sits unaligned in buffer_
  size_t begin_ = 0;
  size_t end_ = 0;
  State error_ = State::kNeedMore;  // sticky kEmpty / kTooLarge
  uint32_t error_length_ = 0;
};

}  // namespace canopy::net::internal
