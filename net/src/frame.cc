#include "frame.h"

#include <algorithm>
#include <cstring>

namespace canopy::net::internal {
namespace {
// Where frames start after a rewind. A frame is a FlatBuffers size-prefixed
// buffer whose alignment is relative to its first byte (the length prefix);
// such buffers are a multiple of their alignment long, so pipelined frames
// that follow an aligned one are aligned too and need no copy.
constexpr size_t kHeadroom = 0;
// A buffer that grew past this for a large frame is shrunk once it is empty.
constexpr size_t kShrinkAbove = 1 << 20;
}  // namespace

void AlignedBytes::Assign(std::span<const uint8_t> bytes) {
  Resize(bytes.size());
  if (!bytes.empty()) std::memcpy(data(), bytes.data(), bytes.size());
}

void AlignedBytes::ShrinkTo(size_t keep) {
  if (capacity() <= keep) return;
  size_ = std::min(size_, keep);
  words_.resize((keep + sizeof(uint64_t) - 1) / sizeof(uint64_t));
  words_.shrink_to_fit();
}

FrameReader::FrameReader(size_t max_frame_bytes, size_t initial_capacity)
    : max_frame_(max_frame_bytes), initial_capacity_(std::max<size_t>(initial_capacity, 64)) {
  buffer_.Resize(initial_capacity_);
}

std::span<uint8_t> FrameReader::PrepareWrite(size_t at_least) {
  if (buffer_.size() - end_ < at_least) {
    // Move the unread bytes to the front first; grow only if that is not enough.
    if (begin_ > kHeadroom) {
      std::memmove(buffer_.data() + kHeadroom, buffer_.data() + begin_, end_ - begin_);
      end_ = kHeadroom + (end_ - begin_);
      begin_ = kHeadroom;
    }
    if (buffer_.size() - end_ < at_least) {
      buffer_.Resize(std::max(buffer_.size() * 2, end_ + at_least));
    }
  }
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void FrameReader::CommitWrite(size_t n) { end_ = std::min(end_ + n, buffer_.size()); }

void FrameReader::Append(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  std::span<uint8_t> space = PrepareWrite(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  CommitWrite(bytes.size());
}

FrameReader::Next FrameReader::NextFrame() {
  Next next;
  if (error_ != State::kNeedMore) {
    next.state = error_;
    next.declared_length = error_length_;
    return next;
  }
  const size_t available = end_ - begin_;
  if (available < kFrameHeader) {
    if (available == 0) {
      begin_ = end_ = kHeadroom;  // cheap rewind, payloads stay aligned
      if (buffer_.size() > kShrinkAbove) buffer_.ShrinkTo(initial_capacity_);
    }
    return next;
  }
  const uint32_t length = LoadLittleEndian32(buffer_.data() + begin_);
  if (length == 0 || length > max_frame_) {
    error_ = length == 0 ? State::kEmpty : State::kTooLarge;
    error_length_ = length;
    next.state = error_;
    next.declared_length = length;
    return next;
  }
  if (available - kFrameHeader < length) {
    // Make sure the whole frame will fit once it arrives.
    if (buffer_.size() - begin_ < kFrameHeader + length)
      PrepareWrite(kFrameHeader + length - available);
    return next;
  }
  const uint8_t* frame = buffer_.data() + begin_;
  begin_ += kFrameHeader + length;
  if (reinterpret_cast<uintptr_t>(frame) % alignof(uint64_t) != 0) {
    scratch_.Assign({frame, kFrameHeader + length});
    frame = scratch_.data();
  }
  next.state = State::kFrame;
  next.frame = {frame, kFrameHeader + length};
  return next;
}

void FrameReader::Reset() {
  begin_ = end_ = kHeadroom;
  error_ = State::kNeedMore;
  error_length_ = 0;
}

}  // namespace canopy::net::internal
