#include "http_protocol.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <cstring>

namespace canopy::net::internal {
namespace http = boost::beast::http;

namespace {

constexpr uint32_t kMaxHeaderBytes = 64 * 1024;
// An input buffer that grew past this for a large request head gives its memory back.
constexpr size_t kInputKeepBytes = 64 * 1024;

const char* ReasonPhrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Why the replica is not (yet) streaming, for /readyz.
std::string NotStreamingReason(const ReplicationReport& r) {
  if (r.stage == "backoff" && !r.last_error.empty()) return "reconnecting: " + r.last_error;
  switch (r.state) {
    case ServingState::kLoading:
      if (r.stage == "connect" || r.stage.empty()) return "connecting to the source";
      return "loading snapshot (" + r.stage + ")";
    case ServingState::kStale:
      return "stale: " + (r.stage.empty() ? std::string("not streaming") : r.stage) +
             (r.last_error.empty() ? "" : "; last error: " + r.last_error);
    case ServingState::kStreaming:
      return "streaming";
    case ServingState::kFailed:
      return "failed: " + (r.last_error.empty() ? std::string("replication failed") : r.last_error);
    case ServingState::kUnknown:
      break;
  }
  // The replication side has not started yet (canopyd starts it after its
  // listeners), or has stopped.
  if (r.stage.empty() && r.last_error.empty()) return "replication not started";
  return "replication stopped" + (r.last_error.empty() ? "" : ": " + r.last_error);
}

}  // namespace

Readiness JudgeReadiness(const ServerStatus& status, bool replicated, bool index_loaded,
                         uint64_t max_lag_bytes, double max_lag_seconds) {
  if (!index_loaded) {
    return {false, replicated ? NotStreamingReason(status.replication) : "no index loaded"};
  }
  if (!replicated) return {true, "ok"};
  if (status.replication.state != ServingState::kStreaming) {
    return {false, NotStreamingReason(status.replication)};
  }
  if (status.lag_bytes > max_lag_bytes) {
    return {false, "lagging: " + std::to_string(status.lag_bytes) + " bytes of WAL behind (limit " +
                       std::to_string(max_lag_bytes) + ")"};
  }
  if (max_lag_seconds > 0 && status.lag_seconds > max_lag_seconds) {
    std::string reason = "lagging: ";
    AppendShortest(status.lag_seconds, &reason);
    reason += " s behind (limit ";
    AppendShortest(max_lag_seconds, &reason);
    reason += " s)";
    return {false, std::move(reason)};
  }
  return {true, "ok"};
}

uint32_t HttpHeaderLimit(const ServerOptions& options) {
  return std::max<uint32_t>(std::min(options.max_request_frame_bytes, kMaxHeaderBytes), 1);
}

HttpProtocol::HttpProtocol(const ServerOptions& options, const StatusSource* status_source,
                           const MetricsSource* metrics_source)
    : options_(options),
      status_source_(status_source),
      metrics_source_(metrics_source),
      header_limit_(HttpHeaderLimit(options)) {}

std::span<uint8_t> HttpProtocol::PrepareRead(size_t at_least) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (in_.capacity() > kInputKeepBytes) std::vector<uint8_t>().swap(in_);
  } else if (begin_ > 0) {
    std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (in_.size() < end_ + at_least) in_.resize(end_ + at_least);
  return std::span<uint8_t>(in_.data() + end_, in_.size() - end_);
}

bool HttpProtocol::HandleNext(SessionContext& ctx) {
  // The head is handed to Beast only once it is complete (its CR LF CR LF
  // has arrived) and in one piece: Beast's own limit check depends on how
  // the head was split, this one does not. The scan resumes where it stopped.
  const size_t buffered = end_ - begin_;
  const size_t window = std::min<size_t>(buffered, header_limit_);
  const uint8_t* head = in_.data() + begin_;
  size_t head_end = 0;  // past the CR LF CR LF; 0: not here yet
  for (size_t i = scanned_ >= 3 ? scanned_ - 3 : 0; i + 4 <= window; ++i) {
    if (head[i] == '\r' && head[i + 1] == '\n' && head[i + 2] == '\r' && head[i + 3] == '\n') {
      head_end = i + 4;
      break;
    }
  }
  if (head_end == 0) {
    scanned_ = window;
    if (buffered < header_limit_) return false;
    ctx.NoteRequest(RequestKind::kOther);
    FailRequest(ctx, 431, "request head too large\n", "http: request head over the limit");
    return true;
  }
  scanned_ = 0;
  parser_.emplace();
  parser_->header_limit(header_limit_ + 1);  // enforced above
  // A body is never read: the head decides (405, or 400 for a GET with one).
  parser_->body_limit(boost::none);
  boost::system::error_code ec;
  (void)parser_->put(boost::asio::buffer(head, head_end), ec);
  begin_ += head_end;
  if (ec || !parser_->is_header_done()) {
    ctx.NoteRequest(RequestKind::kOther);
    FailRequest(ctx, 400, "bad request\n",
                "http: bad request: " + (ec ? ec.message() : std::string("incomplete head")));
    return true;
  }
  Route(ctx);
  parser_.reset();
  return true;
}

bool HttpProtocol::Authorized(const SessionContext& ctx) const {
  if (options_.token.empty()) return true;
  const auto& fields = parser_->get();
  const auto it = fields.find(http::field::authorization);
  if (it == fields.end()) return false;
  std::string_view value(it->value().data(), it->value().size());
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size() || !EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme))
    return false;
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return TokenMatches(ctx.token(), value);  // the current token (SIGHUP reloads it)
}

void HttpProtocol::Route(SessionContext& ctx) {
  const auto& request = parser_->get();
  std::string_view target(request.target().data(), request.target().size());
  target = target.substr(0, target.find('?'));
  RequestKind kind = RequestKind::kOther;
  if (target == "/metrics") {
    kind = RequestKind::kMetrics;
  } else if (target == "/healthz") {
    kind = RequestKind::kHealthz;
  } else if (target == "/readyz") {
    kind = RequestKind::kReadyz;
  }
  ctx.NoteRequest(kind);
  const bool exempt = kind == RequestKind::kHealthz || kind == RequestKind::kReadyz;
  if (request.method() != http::verb::get) {
    FailRequest(ctx, 405, "only GET\n", "http: method not allowed");
    return;
  }
  if (!parser_->is_done()) {  // a GET with a body
    FailRequest(ctx, 400, "a GET has no body\n", "http: GET with a body");
    return;
  }
  const bool close = !request.keep_alive();
  if (!exempt && !Authorized(ctx)) {
    Respond(ctx, 401, "a bearer token is required\n", close, "text/plain; charset=utf-8",
            "WWW-Authenticate: Bearer\r\n");
    return;
  }
  switch (kind) {
    case RequestKind::kMetrics:
      Metrics(ctx);
      return;
    case RequestKind::kHealthz:
      Respond(ctx, 200, "ok\n", close);
      return;
    case RequestKind::kReadyz:
      Ready(ctx);
      return;
    default:
      Respond(ctx, 404, "not found\n", close);
      return;
  }
}

void HttpProtocol::Metrics(SessionContext& ctx) {
  const HierarchyIndex* index = ctx.index();
  const ServerStatus status = CollectStatus(index, status_source_);
  const ServerMetrics* metrics = nullptr;
  if (metrics_source_ != nullptr) {
    metrics_source_->FillMetrics(&metrics_);
    metrics = &metrics_;
  }
  body_.clear();
  WritePrometheus(status, index != nullptr, metrics, ProcessResidentBytes(), &body_);
  Respond(ctx, 200, body_, !parser_->get().keep_alive(),
          "text/plain; version=0.0.4; charset=utf-8");
}

void HttpProtocol::Ready(SessionContext& ctx) {
  const HierarchyIndex* index = ctx.index();
  const ServerStatus status = CollectStatus(index, status_source_);
  const Readiness r =
      JudgeReadiness(status, static_cast<bool>(options_.replication_status), index != nullptr,
                     ctx.ready_max_lag_bytes(), options_.ready_max_lag_seconds);
  body_ = r.reason;
  body_ += '\n';
  Respond(ctx, r.ready ? 200 : 503, body_, !parser_->get().keep_alive());
}

void HttpProtocol::Respond(SessionContext& ctx, int code, std::string_view body, bool close,
                           std::string_view content_type, std::string_view extra_headers) {
  std::vector<uint8_t>& out = ctx.output();
  auto append = [&out](std::string_view s) { out.insert(out.end(), s.begin(), s.end()); };
  char number[24];
  append("HTTP/1.1 ");
  auto [code_end, ec1] = std::to_chars(number, number + sizeof(number), code);
  (void)ec1;
  append(std::string_view(number, static_cast<size_t>(code_end - number)));
  append(" ");
  append(ReasonPhrase(code));
  append("\r\nServer: ");
  append(options_.server_version);
  append("\r\nContent-Type: ");
  append(content_type);
  append("\r\nContent-Length: ");
  auto [len_end, ec2] = std::to_chars(number, number + sizeof(number), body.size());
  (void)ec2;
  append(std::string_view(number, static_cast<size_t>(len_end - number)));
  append("\r\nCache-Control: no-store\r\n");
  append(extra_headers);
  if (close) append("Connection: close\r\n");
  append("\r\n");
  append(body);
  ctx.AnswerAdded();
  if (close) ctx.CloseAfterOutput("http: connection close");
}

void HttpProtocol::FailRequest(SessionContext& ctx, int code, std::string_view body,
                               std::string_view why) {
  Respond(ctx, code, body, false, "text/plain; charset=utf-8",
          code == 405 ? "Allow: GET\r\nConnection: close\r\n" : "Connection: close\r\n");
  parser_.reset();
  begin_ = end_;  // the rest of the stream cannot be parsed
  scanned_ = 0;
  ctx.CloseAfterOutput(why);
}

void HttpProtocol::AnswerParked(std::span<const uint8_t> /*saved*/, uint64_t /*request_id*/,
                                const HierarchyIndex& /*index*/, SessionContext& ctx) {
  FailRequest(ctx, 500, "internal error\n", "http: a request was parked");  // never parks
}

void HttpProtocol::FailParked(std::span<const uint8_t> /*saved*/, uint64_t /*request_id*/,
                              ErrorCode /*code*/, std::string_view /*message*/, Lsn /*applied*/,
                              SessionContext& ctx) {
  FailRequest(ctx, 500, "internal error\n", "http: a request was parked");
}

void HttpProtocol::ConnectionError(ErrorCode code, std::string_view message, Lsn /*applied*/,
                                   SessionContext& ctx) {
  const int status = code == ErrorCode::kOverloaded || code == ErrorCode::kShuttingDown ? 503 : 400;
  body_.assign(message);
  body_ += '\n';
  Respond(ctx, status, body_, false, "text/plain; charset=utf-8", "Connection: close\r\n");
}

}  // namespace canopy::net::internal
