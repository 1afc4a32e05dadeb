// net/src/fb_protocol.h — canopy's own protocol (schemas/canopy.fbs) on one
// server connection: size-prefixed FlatBuffers frames in, one Response frame
// per request out (see net/README.md for the wire rules).
//
//   * A bad frame (zero or oversized length, failed verification), a missing
//     or wrong token, or an unsupported version: an error frame (request id
//     0, or the request's), then the connection closes.
//   * A request with min_lsn ahead of the index is parked with its verified
//     frame; answers carry request ids, so later requests overtake it.
//
// THREAD SAFETY: one per session, used on its I/O thread (thread-compatible).
#pragma once

#include <cstdint>

#include "codec.h"
#include "frame.h"
#include "request_handler.h"
#include "wire_protocol.h"

namespace canopy::net::internal {

class FlatBuffersProtocol final : public WireProtocol {
 public:
  FlatBuffersProtocol(const ServerOptions& options, const DecoderLimits& decoder_limits,
                      const HandlerLimits& handler_limits, const StatusSource* status_source);

  std::span<uint8_t> PrepareRead(size_t at_least) override {
    return reader_.PrepareWrite(at_least);
  }
  void CommitRead(size_t n) override { reader_.CommitWrite(n); }
  bool has_partial() const override { return reader_.has_partial(); }
  bool ordered() const override { return false; }

  bool HandleNext(SessionContext& ctx) override;
  void AnswerParked(std::span<const uint8_t> saved, uint64_t request_id,
                    const HierarchyIndex& index, SessionContext& ctx) override;
  void FailParked(std::span<const uint8_t> saved, uint64_t request_id, ErrorCode code,
                  std::string_view message, Lsn applied, SessionContext& ctx) override;
  void ConnectionError(ErrorCode code, std::string_view message, Lsn applied,
                       SessionContext& ctx) override;

  void FeedBatch(uint64_t request_id, Lsn position, std::span<const SharedFeedTransaction> txns,
                 SessionContext& ctx) override;

 private:
  void HandleFrame(std::span<const uint8_t> frame, SessionContext& ctx);
  void HandleHello(const fb::Request& request, uint64_t request_id, SessionContext& ctx);
  void SendError(uint64_t request_id, Lsn lsn, ErrorCode code, std::string_view message,
                 SessionContext& ctx);
  void CloseAfter(uint64_t request_id, ErrorCode code, std::string_view message,
                  SessionContext& ctx);
  // Appends the finished builder to the output as one answer.
  void Emit(SessionContext& ctx);

  const ServerOptions& options_;
  const DecoderLimits& decoder_limits_;
  FrameReader reader_;
  RequestHandler handler_;
  flatbuffers::FlatBufferBuilder builder_;
  bool authenticated_;
};

}  // namespace canopy::net::internal
