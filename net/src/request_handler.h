// net/src/request_handler.h — answers one decoded request from the index into
// a response frame. No sockets, no Asio: the server's sessions call it, and so
// does the fuzzer.
//
//   RequestHandler handler(limits, &status_source);
//   DecodedRequest d = DecodeRequest(frame, decoder_limits);
//   if (d.error == ErrorCode::kOk) handler.Answer(*d.request, index.get(), &builder);
//   write(builder.GetBufferPointer(), builder.GetSize());   // a complete frame
//
// Every answer is copied out of the engine (HierarchyIndex::Query/QueryBatch,
// or a ReadView dropped before encoding) before the caller can do any I/O, so
// no ReadView is ever held across a socket write (see hierarchy_index.h).
//
// THREAD SAFETY: a RequestHandler keeps scratch buffers; one per session
// (thread-compatible). The StatusSource must be thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/net/protocol.h"
#include "codec.h"

namespace canopy::net::internal {

struct HandlerLimits {
  // Every IdQuery's page is cut here (limit 0 means "up to this"); the answer
  // says more=true and the client continues with after_id.
  uint32_t max_ids_per_page = 1'000'000;
  // A response frame over this becomes TOO_LARGE.
  size_t max_response_bytes = kDefaultMaxResponseFrame;
};

// Fills what a Status reply says beyond the index (replication state, server
// counters, version). Implemented by the server.
class StatusSource {
 public:
  virtual ~StatusSource() = default;
  virtual void FillStatus(ServerStatus* status) const = 0;
};

// What a Status reply says: the index's stats (if loaded) + the source's
// fields + the lag (lag_seconds from the source's last_commit_unix_ms and
// the system clock now). `index` and `source` may be null.
ServerStatus CollectStatus(const HierarchyIndex* index, const StatusSource* source);

// Appends `value` in the shortest form that reads back the same ("0", "2.5")
// — the text listeners' (RESP INFO, HTTP) way to print seconds.
void AppendShortest(double value, std::string* out);

class RequestHandler {
 public:
  // `status_source` may be null (then only the index fields are reported).
  RequestHandler(HandlerLimits limits, const StatusSource* status_source);

  // Answers `request` (passed DecodeRequest; Hello is the session's business
  // and is answered with a bare HelloReply here) from `index`, which may be
  // null (not loaded yet: NOT_READY, except ping and status). Finishes
  // `builder` as one size-prefixed Response frame. O(answer).
  void Answer(const fb::Request& request, const HierarchyIndex* index,
              flatbuffers::FlatBufferBuilder* builder);

  const HandlerLimits& limits() const { return limits_; }

 private:
  void AnswerBatch(uint64_t request_id, const fb::BatchQuery* batch, const HierarchyIndex& index,
                   flatbuffers::FlatBufferBuilder* builder);
  IdQuery Capped(IdQuery query) const;

  HandlerLimits limits_;
  const StatusSource* status_source_;
  // Scratch reused across requests.
  IdAnswer answer_;
  std::vector<IdQuery> queries_;
  std::vector<CountsEntry> counts_;
  std::vector<PathEntry> paths_;
  std::vector<ResolvedEntry> resolved_;
};

}  // namespace canopy::net::internal
