// byte_reader.h — bounds-checked big-endian reads over a byte span.
//
// Every read checks the remaining length first and fails (returns false)
// instead of reading past the end; after a failure the reader stays failed.
// Used by the pgoutput decoder and the walsender envelope parser, which turn
// a failed read into a Status naming the field.
//
// THREAD SAFETY: a value type; one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace canopy::cdc::internal {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return bytes_.size() - offset_; }
  bool at_end() const { return offset_ == bytes_.size(); }

  bool ReadU8(uint8_t* out) {
    if (remaining() < 1) return false;
    *out = bytes_[offset_++];
    return true;
  }
  bool ReadI16(int16_t* out) {
    uint64_t v;
    if (!ReadBigEndian(2, &v)) return false;
    *out = static_cast<int16_t>(static_cast<uint16_t>(v));
    return true;
  }
  bool ReadU32(uint32_t* out) {
    uint64_t v;
    if (!ReadBigEndian(4, &v)) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  }
  bool ReadI32(int32_t* out) {
    uint32_t v;
    if (!ReadU32(&v)) return false;
    *out = static_cast<int32_t>(v);
    return true;
  }
  bool ReadU64(uint64_t* out) { return ReadBigEndian(8, out); }
  bool ReadI64(int64_t* out) {
    uint64_t v;
    if (!ReadU64(&v)) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }
  // A NUL-terminated string; the view excludes the NUL. Fails when no NUL
  // byte is left in the buffer.
  bool ReadCString(std::string_view* out) {
    const uint8_t* start = bytes_.data() + offset_;
    const void* nul = remaining() == 0 ? nullptr : std::memchr(start, 0, remaining());
    if (nul == nullptr) return false;
    size_t len = static_cast<const uint8_t*>(nul) - start;
    *out = std::string_view(reinterpret_cast<const char*>(start), len);
    offset_ += len + 1;
    return true;
  }
  // `n` raw bytes.
  bool ReadBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + offset_), n);
    offset_ += n;
    return true;
  }

 private:
  bool ReadBigEndian(size_t n, uint64_t* out) {
    if (remaining() < n) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | bytes_[offset_ + i];
    offset_ += n;
    *out = v;
    return true;
  }

  std::span<const uint8_t> bytes_;
  size_t offset_ = 0;
};

}  // namespace canopy::cdc::internal
