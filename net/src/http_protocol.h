// net/src/http_protocol.h — the operators' HTTP/1.1 endpoint on one server
// connection (ServerOptions::http_listen): requests parsed by Boost.Beast's
// request parser, answers written straight into the session's output buffer.
//
//   GET /metrics   200, Prometheus text format 0.0.4 (metrics.h)
//   GET /healthz   200 "ok" while the process runs
//   GET /readyz    200 "ok" while an index is served, the replica streams and
//                  its lag is at most ServerOptions::ready_max_lag_bytes (and
//                  ready_max_lag_seconds when set); else
//                  503 with the reason ("loading snapshot (copy)",
//                  "reconnecting: <error>", "lagging: ...")
//
//   * Only GET: another method is 405 (with Allow: GET) and the connection
//     closes (a body may follow that is not read). A GET with a body is 400.
//   * Unknown paths are 404. A query string is ignored.
//   * With a token (ServerOptions::token), /metrics and unknown paths want
//     "Authorization: Bearer <token>" (else 401); /healthz and /readyz are
//     exempt, so that probes need no secret (they say only "ok" or why not).
//   * A head is parsed once its CR LF CR LF has arrived (so the outcome does
//     not depend on how the bytes were split); a head over
//     min(max_request_frame_bytes, 64 KiB) is 431, an unparsable one 400;
//     both close the connection (there is no way to find the next request in
//     the stream). A stream that never ends a head is closed by the read
//     timeout or the limit. Nothing is ever parked.
//   * Keep-alive as HTTP/1.1 says (HTTP/1.0: close unless keep-alive asked);
//     pipelined requests are answered in order (ordered() is true).
//
// THREAD SAFETY: one per session, used on its I/O thread (thread-compatible).
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics.h"
#include "request_handler.h"
#include "wire_protocol.h"

namespace canopy::net::internal {

// Whether /readyz says ready, and why not.
struct Readiness {
  bool ready = false;
  std::string reason;  // "ok" when ready
};
// `replicated`: the server has a replication side (options.replication_status);
// without one, a served index is all it takes.
Readiness JudgeReadiness(const ServerStatus& status, bool replicated, bool index_loaded,
                         uint64_t max_lag_bytes, double max_lag_seconds = 0);

// The largest request head accepted: min(max_request_frame_bytes, 64 KiB).
uint32_t HttpHeaderLimit(const ServerOptions& options);

class HttpProtocol final : public WireProtocol {
 public:
  // `status_source` and `metrics_source` may be null (the fuzzer's case):
  // /metrics then reports only what the index says.
  HttpProtocol(const ServerOptions& options, const StatusSource* status_source,
               const MetricsSource* metrics_source);

  std::span<uint8_t> PrepareRead(size_t at_least) override;
  void CommitRead(size_t n) override { end_ += n; }
  bool has_partial() const override { return end_ > begin_; }
  // Input bytes not taken by a request yet.
  size_t buffered() const { return end_ - begin_; }
  bool ordered() const override { return true; }

  bool HandleNext(SessionContext& ctx) override;
  void AnswerParked(std::span<const uint8_t> saved, uint64_t request_id,
                    const HierarchyIndex& index, SessionContext& ctx) override;
  void FailParked(std::span<const uint8_t> saved, uint64_t request_id, ErrorCode code,
                  std::string_view message, Lsn applied, SessionContext& ctx) override;
  void ConnectionError(ErrorCode code, std::string_view message, Lsn applied,
                       SessionContext& ctx) override;

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::empty_body>;

  void Route(SessionContext& ctx);
  void Metrics(SessionContext& ctx);
  void Ready(SessionContext& ctx);
  // Appends one complete response; `close` adds "Connection: close" and
  // closes the connection after it.
  void Respond(SessionContext& ctx, int code, std::string_view body, bool close,
               std::string_view content_type = "text/plain; charset=utf-8",
               std::string_view extra_headers = "");
  void FailRequest(SessionContext& ctx, int code, std::string_view body, std::string_view why);
  bool Authorized(const SessionContext& ctx) const;

  const ServerOptions& options_;
  const StatusSource* status_source_;
  const MetricsSource* metrics_source_;
  const uint32_t header_limit_;
  std::vector<uint8_t> in_;  // bytes [begin_, end_) are unparsed input
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t scanned_ = 0;            // bytes from begin_ searched for the head's end in vain
  std::optional<Parser> parser_;  // one per request (Beast parsers are single-use)
  // Scratch reused across requests.
  std::string body_;
  ServerMetrics metrics_;
};

}  // namespace canopy::net::internal
