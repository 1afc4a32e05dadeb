#include "fb_protocol.h"

#include <algorithm>
#include <string>

namespace canopy::net::internal {
namespace {

// A builder that grew past this for a large answer gives its memory back.
constexpr size_t kBuilderKeepBytes = 256 * 1024;

std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->c_str(), s->size());
}

RequestKind KindOf(fb::RequestBody body) {
  switch (body) {
    case fb::RequestBody::Hello:
      return RequestKind::kHello;
    case fb::RequestBody::Ping:
      return RequestKind::kPing;
    case fb::RequestBody::IdQuery:
      return RequestKind::kIdQuery;
    case fb::RequestBody::BatchQuery:
      return RequestKind::kBatch;
    case fb::RequestBody::Counts:
      return RequestKind::kCounts;
    case fb::RequestBody::FullPath:
      return RequestKind::kFullPath;
    case fb::RequestBody::Resolve:
      return RequestKind::kResolve;
    case fb::RequestBody::Status:
      return RequestKind::kStatus;
    case fb::RequestBody::RunnersOfGroups:
      return RequestKind::kRunnersOfGroups;
    case fb::RequestBody::Subscribe:
      return RequestKind::kSubscribe;
    default:
      break;
  }
  return RequestKind::kOther;
}

Lsn AppliedLsn(SessionContext& ctx) {
  const HierarchyIndex* index = ctx.index();
  return index != nullptr ? index->applied_lsn() : Lsn();
}

}  // namespace

bool TokenMatches(std::string_view expected, std::string_view presented) {
  unsigned diff = expected.size() == presented.size() ? 0 : 1;
  const size_t n = std::max(expected.size(), presented.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    const unsigned char y = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

FlatBuffersProtocol::FlatBuffersProtocol(const ServerOptions& options,
                                         const DecoderLimits& decoder_limits,
                                         const HandlerLimits& handler_limits,
                                         const StatusSource* status_source)
    : options_(options),
      decoder_limits_(decoder_limits),
      reader_(options.max_request_frame_bytes),
      handler_(handler_limits, status_source),
      builder_(1024),
      authenticated_(options.token.empty()) {}

bool FlatBuffersProtocol::HandleNext(SessionContext& ctx) {
  FrameReader::Next next = reader_.NextFrame();
  switch (next.state) {
    case FrameReader::State::kFrame:
      HandleFrame(next.frame, ctx);
      return true;
    case FrameReader::State::kNeedMore:
      return false;
    case FrameReader::State::kEmpty:
      CloseAfter(0, ErrorCode::kMalformedFrame, "zero-length frame", ctx);
      return true;
    case FrameReader::State::kTooLarge:
      CloseAfter(0, ErrorCode::kTooLarge,
                 "frame of " + std::to_string(next.declared_length) +
                     " bytes exceeds the limit of " + std::to_string(reader_.max_frame_bytes()),
                 ctx);
      return true;
  }
  return false;
}

void FlatBuffersProtocol::HandleFrame(std::span<const uint8_t> frame, SessionContext& ctx) {
  DecodedRequest d = DecodeRequest(frame, decoder_limits_);
  if (d.request != nullptr) ctx.NoteRequest(KindOf(d.request->body_type()));
  if (d.fatal) {
    CloseAfter(0, d.error, d.message, ctx);
    return;
  }
  if (d.request != nullptr && d.request->body_type() == fb::RequestBody::Hello) {
    HandleHello(*d.request, d.request_id, ctx);
    return;
  }
  if (!authenticated_) {
    CloseAfter(d.request_id, ErrorCode::kUnauthorized,
               "this server wants Hello with its token first", ctx);
    return;
  }
  const HierarchyIndex* index = ctx.index();
  if (d.error != ErrorCode::kOk) {
    SendError(d.request_id, index != nullptr ? index->applied_lsn() : Lsn(), d.error, d.message,
              ctx);
    return;
  }
  const fb::Request& request = *d.request;
  if (const fb::Subscribe* subscribe = request.body_as_Subscribe()) {
    ctx.Subscribe(d.request_id, ToSubscribeRequest(*subscribe));  // min_lsn has no meaning here
    return;
  }
  if (request.min_lsn() != 0 &&
      (index == nullptr || index->applied_lsn().value < request.min_lsn())) {
    ctx.Park(frame, Lsn(request.min_lsn()), request.timeout_ms(), d.request_id);
    return;
  }
  handler_.Answer(request, index, &builder_);
  Emit(ctx);
}

void FlatBuffersProtocol::HandleHello(const fb::Request& request, uint64_t request_id,
                                      SessionContext& ctx) {
  const fb::Hello* hello = request.body_as_Hello();
  if (hello->version() != kProtocolVersion) {
    CloseAfter(request_id, ErrorCode::kUnsupportedVersion,
               "client speaks protocol version " + std::to_string(hello->version()) +
                   "; this server speaks version " + std::to_string(kProtocolVersion),
               ctx);
    return;
  }
  if (!options_.token.empty() && !TokenMatches(ctx.token(), View(hello->token()))) {
    CloseAfter(request_id, ErrorCode::kUnauthorized, "wrong or missing token", ctx);
    return;
  }
  authenticated_ = true;
  HelloReply reply;
  reply.version = kProtocolVersion;
  reply.server_version = options_.server_version;
  reply.max_frame_bytes = options_.max_request_frame_bytes;
  reply.max_in_flight = options_.max_in_flight;
  EncodeHelloReply(request_id, AppliedLsn(ctx), reply, &builder_);
  Emit(ctx);
}

void FlatBuffersProtocol::AnswerParked(std::span<const uint8_t> saved, uint64_t /*request_id*/,
                                       const HierarchyIndex& index, SessionContext& ctx) {
  // `saved` is the frame that passed DecodeRequest, kept 8-byte aligned.
  const fb::Request* request = flatbuffers::GetSizePrefixedRoot<fb::Request>(saved.data());
  handler_.Answer(*request, &index, &builder_);
  Emit(ctx);
}

void FlatBuffersProtocol::FailParked(std::span<const uint8_t> /*saved*/, uint64_t request_id,
                                     ErrorCode code, std::string_view message, Lsn applied,
                                     SessionContext& ctx) {
  SendError(request_id, applied, code, message, ctx);
}

void FlatBuffersProtocol::ConnectionError(ErrorCode code, std::string_view message, Lsn applied,
                                          SessionContext& ctx) {
  SendError(0, applied, code, message, ctx);
}

void FlatBuffersProtocol::FeedBatch(uint64_t request_id, Lsn position,
                                    std::span<const SharedFeedTransaction> txns,
                                    SessionContext& ctx) {
  EncodeFeedBatch(request_id, position, txns, &builder_);
  Emit(ctx);
}

void FlatBuffersProtocol::SendError(uint64_t request_id, Lsn lsn, ErrorCode code,
                                    std::string_view message, SessionContext& ctx) {
  EncodeError(request_id, lsn, code, message, &builder_);
  Emit(ctx);
}

void FlatBuffersProtocol::CloseAfter(uint64_t request_id, ErrorCode code, std::string_view message,
                                     SessionContext& ctx) {
  SendError(request_id, AppliedLsn(ctx), code, message, ctx);
  ctx.CloseAfterOutput(std::string(ErrorCodeName(code)) + ": " + std::string(message));
}

void FlatBuffersProtocol::Emit(SessionContext& ctx) {
  const uint8_t* data = builder_.GetBufferPointer();
  std::vector<uint8_t>& out = ctx.output();
  out.insert(out.end(), data, data + builder_.GetSize());
  if (builder_.GetSize() > kBuilderKeepBytes) {
    builder_.Reset();
  } else {
    builder_.Clear();
  }
  ctx.AnswerAdded();
}

}  // namespace canopy::net::internal
