// net/src/wire_protocol.h — what a server session needs from the protocol it
// speaks, so that one Session (reading, flow control, min_lsn parking,
// timeouts, batched writes, polite close) serves both of canopyd's wire
// protocols: FlatBuffers frames (FlatBuffersProtocol) and Redis's RESP
// (RespProtocol).
//
//   Session                       WireProtocol (one per connection)
//   -------                       ---------------------------------
//   socket read  -> PrepareRead / CommitRead (the protocol owns the input buffer)
//   while room   -> HandleNext(ctx): takes one request; answers it into
//                   ctx.output() (+ ctx.AnswerAdded()), or ctx.Park()s it, or
//                   writes an error and ctx.CloseAfterOutput()
//   LSN applied  -> AnswerParked(saved bytes)      timeout -> FailParked(STALE)
//   socket write <- ctx.output(): every answer ready, in one write
//
// Answers are encoded straight into the session's output buffer: no per-answer
// heap allocation in steady state.
//
// THREAD SAFETY: a WireProtocol and its SessionContext belong to one session
// and are used on that session's I/O thread only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/lsn.h"
#include "canopy/net/protocol.h"
#include "canopy/net/server.h"
#include "metrics.h"

namespace canopy::net::internal {

class StatusSource;

// The session, as its protocol sees it.
class SessionContext {
 public:
  virtual ~SessionContext() = default;
  // Append answers here; call AnswerAdded() once per complete answer.
  virtual std::vector<uint8_t>& output() = 0;
  virtual void AnswerAdded() = 0;
  // The index this thread serves now (null before the first snapshot).
  virtual const HierarchyIndex* index() = 0;
  virtual const ServerOptions& options() const = 0;
  virtual const StatusSource* status_source() const = 0;
  // The token a client must present now (Server::SetToken may replace
  // options().token; whether one is required never changes).
  virtual std::string token() const { return options().token; }
  // /readyz's lag bound now (Server::SetReadyMaxLagBytes may replace
  // options().ready_max_lag_bytes).
  virtual uint64_t ready_max_lag_bytes() const { return options().ready_max_lag_bytes; }
  virtual uint64_t connection_id() const = 0;
  // Holds the request whose bytes are `saved` until the index applies
  // `min_lsn` (then WireProtocol::AnswerParked) or `timeout_ms` passes (0:
  // the server's default; capped by its maximum; then FailParked with
  // kStale). May call FailParked at once (kOverloaded, kShuttingDown).
  // `nudge_source`: ask the replication side to learn the position
  // (ServerOptions::on_wait_for_lsn) — not for a feed poll, which waits for
  // news, not for a position the client knows was committed.
  virtual void Park(std::span<const uint8_t> saved, Lsn min_lsn, uint32_t timeout_ms,
                    uint64_t request_id, bool nudge_source = true) = 0;
  // Takes no more requests; closes once the output is written. Call after
  // writing the error that explains it. `why` is logged.
  virtual void CloseAfterOutput(std::string_view why) = 0;
  // Logs at `level`, prefixed with the connection.
  virtual void Log(LogLevel level, std::string_view message) const = 0;
  // Starts a change-feed subscription of this connection (FlatBuffers
  // Subscribe): answers with its first FeedBatch or an error, then streams
  // through WireProtocol::FeedBatch until it ends (WireProtocol::FeedError).
  virtual void Subscribe(uint64_t /*request_id*/, const SubscribeRequest& /*request*/) {}
  // What the request being handled asks (for the request counters); called
  // once a request is taken, before it is answered or parked. Not calling
  // it counts the request as RequestKind::kOther.
  virtual void NoteRequest(RequestKind /*kind*/) {}
};

class WireProtocol {
 public:
  virtual ~WireProtocol() = default;

  // The input buffer (as FrameReader's PrepareWrite/CommitWrite).
  virtual std::span<uint8_t> PrepareRead(size_t at_least) = 0;
  virtual void CommitRead(size_t n) = 0;
  // A request has started arriving but is not complete.
  virtual bool has_partial() const = 0;
  // True: answers leave strictly in request order, so a parked request holds
  // back the requests behind it (RESP). False: answers carry request ids and
  // a parked one may be overtaken (FlatBuffers).
  virtual bool ordered() const = 0;

  // Handles the next buffered request, if one is complete; false if none is
  // (the session reads more). After CloseAfterOutput the session stops
  // calling it.
  virtual bool HandleNext(SessionContext& ctx) = 0;
  // Answers a request parked by ctx.Park(): `index` has applied its min_lsn.
  virtual void AnswerParked(std::span<const uint8_t> saved, uint64_t request_id,
                            const HierarchyIndex& index, SessionContext& ctx) = 0;
  // Answers a parked request with an error (kStale with the applied LSN,
  // kShuttingDown, kOverloaded).
  virtual void FailParked(std::span<const uint8_t> saved, uint64_t request_id, ErrorCode code,
                          std::string_view message, Lsn applied, SessionContext& ctx) = 0;
  // A connection-level error before the session closes (e.g. kOverloaded at
  // max_connections, or a read timeout with a request half sent).
  virtual void ConnectionError(ErrorCode code, std::string_view message, Lsn applied,
                               SessionContext& ctx) = 0;
  // A subscription's next message (position = where it is after `txns`), and
  // its end. Only protocols that start subscriptions are asked.
  virtual void FeedBatch(uint64_t /*request_id*/, Lsn /*position*/,
                         std::span<const SharedFeedTransaction> /*txns*/, SessionContext& /*ctx*/) {
  }
  virtual void FeedError(uint64_t request_id, ErrorCode code, std::string_view message, Lsn applied,
                         SessionContext& ctx) {
    FailParked({}, request_id, code, message, applied, ctx);
  }
};

}  // namespace canopy::net::internal

namespace canopy::net::internal {

// Compares a presented token with the server's in time independent of where
// they differ (both protocols' AUTH).
bool TokenMatches(std::string_view expected, std::string_view presented);

}  // namespace canopy::net::internal
