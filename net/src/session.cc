#include "session.h"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <utility>

#include "server_core.h"

namespace canopy::net::internal {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Bytes asked of each read_some (more if a large frame is being assembled).
constexpr size_t kReadChunk = 16 * 1024;
// Answers gathered into one write.
constexpr size_t kMaxBuffersPerWrite = 64;
// A builder that grew past this for a large answer gives its memory back.
constexpr size_t kBuilderKeepBytes = 256 * 1024;

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->c_str(), s->size());
}

}  // namespace

Session::Session(ServerCore& core, Socket socket, uint64_t id)
    : core_(core),
      id_(id),
      socket_(std::move(socket)),
      strand_(socket_.get_executor()),
      watchdog_(strand_),
      reader_(core.options().max_request_frame_bytes),
      handler_(core.handler_limits(), &core),
      builder_(1024),
      authenticated_(core.options().token.empty()) {}

Session::~Session() {
  if (!closed_) core_.Unregister(id_);
}

void Session::Start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->ArmWatchdog();
    self->Resume();
  });
}

void Session::BeginShutdown() {
  asio::post(strand_, [self = shared_from_this()] { self->ShutdownNow(); });
}

void Session::ForceClose() {
  asio::post(strand_, [self = shared_from_this()] { self->Close(); });
}

void Session::Reject(ErrorCode code, std::string message) {
  asio::dispatch(strand_, [self = shared_from_this(), code, message = std::move(message)] {
    self->ArmWatchdog();
    self->CloseAfter(0, code, message);
    self->Resume();
  });
}

void Session::Wake(uint64_t wait_id) {
  asio::post(strand_, [self = shared_from_this(), wait_id] {
    self->AnswerParked(wait_id);
    self->Resume();
  });
}

// ---------------------------------------------------------------------------
// Reading

void Session::DoRead() {
  if (closed_ || reading_ || read_closed_ || closing_ || shutting_down_) return;
  std::span<uint8_t> space = reader_.PrepareWrite(kReadChunk);
  reading_ = true;
  ArmReadDeadline();
  socket_.async_read_some(
      asio::buffer(space.data(), space.size()),
      [self = shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
}

void Session::OnRead(const error_code& ec, size_t bytes) {
  reading_ = false;
  if (lingering_) {  // the last real read ended after the linger began: drain
    if (ec || closed_) {
      Close();
    } else {
      DoDrain();
    }
    return;
  }
  read_deadline_ = Clock::time_point::max();  // the pending deadline no longer applies
  if (closed_) return;
  if (ec) {
    if (ec == asio::error::eof ||
        ((closing_ || shutting_down_) && ec == asio::error::operation_aborted)) {
      read_closed_ = true;  // answer what was read, then close
      Resume();
      return;
    }
    Fail(ec, "read");
    return;
  }
  reader_.CommitWrite(bytes);
  Resume();
}

void Session::ProcessBuffered() {
  // REQUIRES: !reading_ (the reader's buffer may move).
  const size_t max_in_flight = std::max<uint32_t>(core_.options().max_in_flight, 1);
  while (!closed_ && !closing_ && in_flight() < max_in_flight) {
    FrameReader::Next next = reader_.NextFrame();
    switch (next.state) {
      case FrameReader::State::kFrame:
        frame_started_ = Clock::time_point::max();
        HandleFrame(next.frame);
        continue;
      case FrameReader::State::kNeedMore:
        DoRead();  // no-op once reading stopped
        return;
      case FrameReader::State::kEmpty:
        CloseAfter(0, ErrorCode::kMalformedFrame, "zero-length frame");
        return;
      case FrameReader::State::kTooLarge:
        CloseAfter(0, ErrorCode::kTooLarge,
                   "frame of " + std::to_string(next.declared_length) +
                       " bytes exceeds the limit of " + std::to_string(reader_.max_frame_bytes()));
        return;
    }
  }
}

void Session::HandleFrame(std::span<const uint8_t> frame) {
  DecodedRequest d = DecodeRequest(frame, core_.decoder_limits());
  if (d.fatal) {
    CloseAfter(0, d.error, d.message);
    return;
  }
  if (d.request != nullptr && d.request->body_type() == fb::RequestBody::Hello) {
    HandleHello(*d.request, d.request_id);
    return;
  }
  if (!authenticated_) {
    CloseAfter(d.request_id, ErrorCode::kUnauthorized,
               "this server wants Hello with its token first");
    return;
  }
  if (d.error != ErrorCode::kOk) {
    QueueError(d.request_id, d.error, d.message);
    return;
  }
  const fb::Request& request = *d.request;
  std::shared_ptr<const HierarchyIndex> index = core_.index();
  if (request.min_lsn() != 0 &&
      (index == nullptr || index->applied_lsn().value < request.min_lsn())) {
    Park(frame, request, d.request_id);
    return;
  }
  handler_.Answer(request, index.get(), &builder_);
  QueueBuilder();
}

void Session::HandleHello(const fb::Request& request, uint64_t request_id) {
  const fb::Hello* hello = request.body_as_Hello();
  if (hello->version() != kProtocolVersion) {
    CloseAfter(request_id, ErrorCode::kUnsupportedVersion,
               "client speaks protocol version " + std::to_string(hello->version()) +
                   "; this server speaks version " + std::to_string(kProtocolVersion));
    return;
  }
  const std::string& token = core_.options().token;
  if (!token.empty() && !ConstantTimeEquals(token, View(hello->token()))) {
    CloseAfter(request_id, ErrorCode::kUnauthorized, "wrong or missing token");
    return;
  }
  authenticated_ = true;
  HelloReply reply;
  reply.version = kProtocolVersion;
  reply.server_version = core_.options().server_version;
  reply.max_frame_bytes = core_.options().max_request_frame_bytes;
  reply.max_in_flight = core_.options().max_in_flight;
  EncodeHelloReply(request_id, core_.applied_lsn(), reply, &builder_);
  QueueBuilder();
}

// ---------------------------------------------------------------------------
// min_lsn waits

void Session::Park(std::span<const uint8_t> frame, const fb::Request& request,
                   uint64_t request_id) {
  if (shutting_down_) {
    QueueError(request_id, ErrorCode::kShuttingDown, "the server is stopping");
    return;
  }
  const Lsn min_lsn(request.min_lsn());
  const ServerOptions& o = core_.options();
  std::chrono::milliseconds timeout =
      request.timeout_ms() == 0 ? o.default_wait : std::chrono::milliseconds(request.timeout_ms());
  timeout = std::min(timeout, o.max_wait);
  const uint64_t wait_id = core_.NextWaitId();
  if (!core_.waiters().Add(min_lsn, wait_id, weak_from_this())) {
    QueueError(request_id, ErrorCode::kOverloaded, "too many requests are waiting for min_lsn");
    return;
  }
  Parked& parked = parked_[wait_id];
  parked.frame.Assign(frame);
  parked.min_lsn = min_lsn;
  parked.request_id = request_id;
  parked.timer = std::make_unique<asio::steady_timer>(strand_);
  parked.timer->expires_after(timeout);
  parked.timer->async_wait([self = shared_from_this(), wait_id](const error_code& ec) {
    if (ec) return;  // cancelled: answered
    self->OnWaitTimeout(wait_id);
    self->Resume();
  });
  // The replication side may need a nudge to learn the source reached min_lsn.
  if (o.on_wait_for_lsn) o.on_wait_for_lsn(min_lsn, timeout);
  // Applied between our check and Add()? Then nobody will wake us: answer now.
  if (core_.applied_lsn() >= min_lsn && core_.waiters().Remove(min_lsn, wait_id)) {
    AnswerParked(wait_id);
  }
}

void Session::AnswerParked(uint64_t wait_id) {
  if (closed_) return;
  auto it = parked_.find(wait_id);
  if (it == parked_.end()) return;  // already answered (timeout or shutdown)
  Parked& parked = it->second;
  std::shared_ptr<const HierarchyIndex> index = core_.index();
  if (index == nullptr || index->applied_lsn() < parked.min_lsn) {
    // Woken by a hint ahead of the index (or a swapped index): wait again.
    if (!core_.waiters().Add(parked.min_lsn, wait_id, weak_from_this())) {
      parked.timer->cancel();
      QueueError(parked.request_id, ErrorCode::kOverloaded,
                 "too many requests are waiting for min_lsn");
      parked_.erase(it);
      return;
    }
    if (core_.applied_lsn() >= parked.min_lsn && core_.waiters().Remove(parked.min_lsn, wait_id)) {
      index = core_.index();
    } else {
      return;
    }
    if (index == nullptr) return;  // unreachable: applied_lsn() > 0 means an index
  }
  parked.timer->cancel();
  const fb::Request* request = flatbuffers::GetSizePrefixedRoot<fb::Request>(parked.frame.data());
  handler_.Answer(*request, index.get(), &builder_);
  parked_.erase(it);  // after Answer: `request` points into the parked frame
  QueueBuilder();
}

void Session::OnWaitTimeout(uint64_t wait_id) {
  if (closed_) return;
  auto it = parked_.find(wait_id);
  if (it == parked_.end()) return;
  core_.waiters().Remove(it->second.min_lsn, wait_id);
  const Lsn applied = core_.applied_lsn();
  if (applied >= it->second.min_lsn) {  // applied, the wake-up just has not run yet
    AnswerParked(wait_id);
    return;
  }
  QueueError(it->second.request_id, ErrorCode::kStale,
             "min_lsn " + it->second.min_lsn.ToString() +
                 " not applied before the timeout; applied " + applied.ToString());
  parked_.erase(it);
}

void Session::ShutdownNow() {
  if (closed_ || shutting_down_) return;
  shutting_down_ = true;
  for (auto& [wait_id, parked] : parked_) {
    core_.waiters().Remove(parked.min_lsn, wait_id);
    parked.timer->cancel();
    QueueError(parked.request_id, ErrorCode::kShuttingDown, "the server is stopping");
  }
  parked_.clear();
  Resume();  // an outstanding read stays: it becomes the drain once we linger
}

// ---------------------------------------------------------------------------
// Writing

void Session::QueueBuilder() {
  const uint8_t* data = builder_.GetBufferPointer();
  outbox_.emplace_back(data, data + builder_.GetSize());
  if (builder_.GetSize() > kBuilderKeepBytes) {
    builder_.Reset();
  } else {
    builder_.Clear();
  }
  core_.CountRequest();
}

void Session::QueueError(uint64_t request_id, ErrorCode code, std::string_view message) {
  EncodeError(request_id, core_.applied_lsn(), code, message, &builder_);
  QueueBuilder();
}

void Session::CloseAfter(uint64_t request_id, ErrorCode code, std::string_view message) {
  core_.Log(LogLevel::kInfo, "session " + std::to_string(id_) + ": " + ErrorCodeName(code) + ": " +
                                 std::string(message) + "; closing");
  QueueError(request_id, code, message);
  closing_ = true;  // REQUIRES !reading_: called while taking frames, or before any read
}

void Session::DoWrite() {
  if (closed_ || !writing_.empty() || outbox_.empty()) return;
  std::vector<asio::const_buffer> buffers;
  while (!outbox_.empty() && writing_.size() < kMaxBuffersPerWrite) {
    writing_.push_back(std::move(outbox_.front()));
    outbox_.pop_front();
    buffers.push_back(asio::buffer(writing_.back()));
  }
  write_deadline_ = Clock::now() + core_.options().write_timeout;
  asio::async_write(socket_, buffers, [self = shared_from_this()](const error_code& ec, size_t n) {
    self->OnWrite(ec, n);
  });
}

void Session::OnWrite(const error_code& ec, size_t /*bytes*/) {
  write_deadline_ = Clock::time_point::max();
  writing_.clear();
  if (closed_) return;
  if (ec) {
    Fail(ec, "write");
    return;
  }
  Resume();
}

void Session::Resume() {
  if (closed_ || lingering_) return;
  if (!reading_) {
    ProcessBuffered();
  } else {
    ArmReadDeadline();  // in_flight changed: maybe idle now
  }
  DoWrite();
  MaybeFinish();
}

void Session::MaybeFinish() {
  if (closed_ || lingering_ || !writing_.empty() || !outbox_.empty()) return;
  // After a fatal error parked requests are dropped; otherwise they finish first.
  const bool done = closing_ || ((read_closed_ || shutting_down_) && parked_.empty());
  if (!done) return;
  if (read_closed_) {
    Close();  // the peer's EOF was read: nothing left to drain
    return;
  }
  StartLinger();
}

void Session::StartLinger() {
  lingering_ = true;
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  const size_t unread = socket_.available(ec);
  if (ec || unread == 0) {
    Close();  // nothing unread: a plain close sends FIN, not a reset
    return;
  }
  read_deadline_ = Clock::now() + std::min<std::chrono::milliseconds>(core_.options().read_timeout,
                                                                      std::chrono::seconds(2));
  read_deadline_what_ = "linger";
  if (!reading_) DoDrain();
}

void Session::DoDrain() {
  if (closed_) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(drain_buffer_),
                          [self = shared_from_this()](const error_code& ec, size_t) {
                            self->reading_ = false;
                            if (self->closed_) return;
                            if (ec) {
                              self->Close();
                              return;
                            }
                            self->DoDrain();
                          });
}

// ---------------------------------------------------------------------------
// Deadlines, errors, closing

void Session::ArmReadDeadline() {
  const ServerOptions& o = core_.options();
  if (reader_.has_partial()) {
    // From the frame's first bytes, not from the last read: a trickle of
    // bytes does not keep a frame alive.
    if (frame_started_ == Clock::time_point::max()) frame_started_ = Clock::now();
    read_deadline_ = frame_started_ + o.read_timeout;
    read_deadline_what_ = "read timeout (incomplete frame)";
    return;
  }
  frame_started_ = Clock::time_point::max();
  if (in_flight() == 0) {
    read_deadline_ = Clock::now() + o.idle_timeout;
    read_deadline_what_ = "idle timeout";
  } else {
    read_deadline_ = Clock::time_point::max();  // busy answering: not idle
  }
}

void Session::ArmWatchdog() {
  watchdog_.expires_after(core_.watchdog_interval());
  watchdog_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->OnWatchdog();
  });
}

void Session::OnWatchdog() {
  if (closed_) return;
  const Clock::time_point now = Clock::now();
  if (now >= write_deadline_) {
    Fail(asio::error::timed_out, "write");
    return;
  }
  if (now >= read_deadline_) {
    if (lingering_) {
      Close();
    } else {
      Fail(asio::error::timed_out, read_deadline_what_);
    }
    return;
  }
  ArmWatchdog();
}

void Session::Fail(const error_code& ec, const char* what) {
  if (closed_) return;
  const bool routine = ec == asio::error::eof || ec == asio::error::connection_reset ||
                       ec == asio::error::broken_pipe || ec == asio::error::operation_aborted;
  core_.Log(routine ? LogLevel::kDebug : LogLevel::kInfo,
            "session " + std::to_string(id_) + ": " + what + ": " + ec.message());
  Close();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  watchdog_.cancel();
  for (auto& [wait_id, parked] : parked_) {
    core_.waiters().Remove(parked.min_lsn, wait_id);
    parked.timer->cancel();
  }
  parked_.clear();
  outbox_.clear();  // writing_ stays until its handler runs: the write may still hold it
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
  core_.Unregister(id_);
}

}  // namespace canopy::net::internal
