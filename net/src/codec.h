// net/src/codec.h — between canopy's C++ values and the FlatBuffers of
// schemas/canopy.fbs, in both directions, for the server and the client.
//
// Everything that reads a FlatBuffer here verifies it first (DecodeRequest,
// DecodeResponse); nothing trusts a length, an offset or an enum value that
// came off the wire. Encoders finish size-prefixed buffers, i.e. complete
// frames: builder.GetBufferPointer()/GetSize() can be written as is (the
// 4-byte prefix is the frame header, little-endian).
//
// THREAD SAFETY: free functions; a FlatBufferBuilder belongs to one thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "canopy/fb/canopy_generated.h"
#include "canopy/feed.h"
#include "canopy/net/protocol.h"
#include "canopy/query.h"
#include "canopy/status.h"

namespace canopy::net::internal {

// Largest request frame a server accepts by default; a batch of 10k queries
// is ~400 KiB.
inline constexpr uint32_t kDefaultMaxRequestFrame = 4u << 20;
// Largest response frame (and so the client's default inbound limit).
inline constexpr uint32_t kDefaultMaxResponseFrame = 64u << 20;

// ---- requests (server side) ----

struct DecoderLimits {
  size_t max_batch_queries = 10'000;  // BatchQuery.queries
  size_t max_ids = 100'000;           // Counts / FullPath / RunnersOfGroups ids
  size_t max_paths = 10'000;          // Resolve.paths
};

struct DecodedRequest {
  // kOk: `request` is verified, has a body of a known type (body_as_X() is
  // not null for its type) and its values are in range.
  // kFailedVerification: not a Request at all (`fatal`: close the connection).
  // kUnknownRequest / kInvalidArgument / kTooLarge: a per-request error to
  // answer with `request_id`; the connection stays usable.
  ErrorCode error = ErrorCode::kOk;
  bool fatal = false;
  std::string message;
  uint64_t request_id = 0;
  const fb::Request* request = nullptr;  // points into the payload
};

// Verifies `frame` (length prefix + payload, as FrameReader hands it out:
// 8-byte aligned, else refused) as a Request and checks every enum, size and
// vector alignment against `limits`. O(frame).
DecodedRequest DecodeRequest(std::span<const uint8_t> frame, const DecoderLimits& limits);

// REQUIRES: `query` passed DecodeRequest.
IdQuery ToIdQuery(const fb::IdQuery& query);
// REQUIRES: `sub` passed DecodeRequest.
SubscribeRequest ToSubscribeRequest(const fb::Subscribe& sub);

// ---- responses (server side): each Finish()es `builder` size-prefixed ----

void EncodeError(uint64_t request_id, Lsn lsn, ErrorCode code, std::string_view message,
                 flatbuffers::FlatBufferBuilder* builder);
// Single query. An answer whose status is not OK becomes Response.error too.
void EncodeIdAnswer(uint64_t request_id, Lsn lsn, const IdAnswer& answer,
                    flatbuffers::FlatBufferBuilder* builder);
void EncodeBatchAnswer(uint64_t request_id, const BatchAnswer& batch,
                       flatbuffers::FlatBufferBuilder* builder);
void EncodeCounts(uint64_t request_id, Lsn lsn, std::span<const CountsEntry> members,
                  flatbuffers::FlatBufferBuilder* builder);
void EncodePaths(uint64_t request_id, Lsn lsn, std::span<const PathEntry> members,
                 flatbuffers::FlatBufferBuilder* builder);
void EncodeResolved(uint64_t request_id, Lsn lsn, std::span<const ResolvedEntry> members,
                    flatbuffers::FlatBufferBuilder* builder);
void EncodeStatus(uint64_t request_id, const ServerStatus& status,
                  flatbuffers::FlatBufferBuilder* builder);
// One message of a change-feed subscription (Response::lsn = `position`).
void EncodeFeedBatch(uint64_t request_id, Lsn position, std::span<const SharedFeedTransaction> txns,
                     flatbuffers::FlatBufferBuilder* builder);
void EncodePong(uint64_t request_id, Lsn lsn, uint64_t payload,
                flatbuffers::FlatBufferBuilder* builder);
void EncodeHelloReply(uint64_t request_id, Lsn lsn, const HelloReply& hello,
                      flatbuffers::FlatBufferBuilder* builder);

// ---- requests (client side) and responses (client side) ----

// Finishes a size-prefixed Request frame. REQUIRES: request.request_id set.
void EncodeRequest(const Request& request, flatbuffers::FlatBufferBuilder* builder);

// Verifies `frame` (8-byte aligned) as a Response and copies it out.
// Errors: kDataLoss when it does not verify.
Result<Response> DecodeResponse(std::span<const uint8_t> frame);

// Enum conversions (values are equal by construction; see canopy.fbs).
inline fb::ErrorCode ToWire(ErrorCode code) { return static_cast<fb::ErrorCode>(code); }
inline ErrorCode FromWire(fb::ErrorCode code) {
  const auto v = static_cast<uint16_t>(code);
  return v <= kMaxErrorCode ? static_cast<ErrorCode>(v) : ErrorCode::kInternal;
}
// The wire code for an engine answer's status (kNotFound -> kUnknownId, ...).
ErrorCode ErrorCodeFor(const Status& status);

}  // namespace canopy::net::internal
