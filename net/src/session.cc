#include "session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

// Bytes asked of each read_some (more if a large request is being assembled).
constexpr size_t kReadChunk = 16 * 1024;
// An output buffer that grew past this for a large answer gives its memory back.
constexpr size_t kOutputKeepBytes = 1u << 20;
// A subscription's FeedBatch holds about this many bytes of transactions at
// most (as the feed's window counts them; a bigger transaction goes alone), so
// neither side holds one huge frame.
constexpr size_t kFeedMessageBytes = 1u << 20;

// "192.0.2.7:51234", "[2001:db8::7]:51234", or "unix" (peers of a Unix
// socket have no useful address); "" when the peer is already gone.
std::string PeerName(const Socket& socket) {
  error_code ec;
  const Socket::endpoint_type peer = socket.remote_endpoint(ec);
  if (ec) return "";
  const sockaddr* address = static_cast<const sockaddr*>(peer.data());
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    std::string name = "[";
    name += text;
    name += "]:";
    name += std::to_string(ntohs(in6->sin6_port));
    return name;
  }
  return "unix";
}

}  // namespace

Session::Session(ServerCore& core, IoLoop& loop, Socket socket, uint64_t id, ListenerKind listener,
                 std::unique_ptr<WireProtocol> protocol)
    : core_(core),
      loop_(loop),
      id_(id),
      listener_(listener),
      socket_(std::move(socket)),
      peer_(PeerName(socket_)),
      protocol_(std::move(protocol)),
      watchdog_(socket_.get_executor()) {}

Session::~Session() {
  if (!closed_) core_.Unregister(id_);
}

void Session::Start() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    self->Log(LogLevel::kDebug, "connection opened");
    self->ArmWatchdog();
    self->Resume();
  });
}

void Session::BeginShutdown() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->ShutdownNow(); });
}

void Session::ForceClose() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->Close(); });
}

void Session::Reject(ErrorCode code, std::string message) {
  asio::dispatch(socket_.get_executor(),
                 [self = shared_from_this(), code, message = std::move(message)] {
                   self->ArmWatchdog();
                   self->protocol_->ConnectionError(code, message, self->applied_lsn(), *self);
                   self->CloseAfterOutput(message);
                   self->Resume();
                 });
}

void Session::Wake(uint64_t wait_id) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), wait_id] {
    self->AnswerParked(wait_id);
    self->Resume();
  });
}

void Session::WakeFeed() {
  if (feed_poll_posted_.exchange(true)) return;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->feed_poll_posted_.store(false);
    self->Resume();
  });
}

// ---------------------------------------------------------------------------
// SessionContext

void Session::AnswerAdded() {
  ++out_answers_;
  loop_.CountAnswer();
}

const HierarchyIndex* Session::index() { return loop_.index(); }

const ServerOptions& Session::options() const { return core_.options(); }

const StatusSource* Session::status_source() const { return &core_; }

std::string Session::token() const { return core_.token(); }
uint64_t Session::ready_max_lag_bytes() const { return core_.ready_max_lag_bytes(); }

Lsn Session::applied_lsn() {
  const HierarchyIndex* index = loop_.index();
  return index != nullptr ? index->applied_lsn() : Lsn();
}

void Session::CloseAfterOutput(std::string_view why) {
  Log(LogLevel::kInfo, std::string(why) + "; closing");
  closing_ = true;  // REQUIRES !reading_: called while taking requests, or before any read
}

void Session::Record(RequestKind kind, Clock::time_point taken) {
  loop_.metrics().Record(listener_, kind, Clock::now() - taken);
}

void Session::Log(LogLevel level, std::string_view message) const {
  core_.Log(level, message,
            {{"session", std::to_string(id_)},
             {"listener", ListenerKindName(listener_)},
             {"peer", peer_}});
}

// ---------------------------------------------------------------------------
// Reading

void Session::DoRead() {
  if (closed_ || reading_ || read_closed_ || closing_ || shutting_down_) return;
  std::span<uint8_t> space = protocol_->PrepareRead(kReadChunk);
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
  protocol_->CommitRead(bytes);
  Resume();
}

void Session::ProcessBuffered() {
  // REQUIRES: !reading_ (the protocol's input buffer may move).
  const size_t max_in_flight = std::max<uint32_t>(core_.options().max_in_flight, 1);
  const bool ordered = protocol_->ordered();
  // Redis clients (redis-rb, redis-py) write a whole pipeline before they
  // read a reply. Counting an ordered protocol's unwritten answers toward
  // max_in_flight would stop reading while such a client still writes, and
  // both would wait for the write timeout; its answers are bounded in bytes.
  auto taken = [&] { return ordered ? parked_.size() : in_flight(); };
  while (!closed_ && !closing_ && taken() < max_in_flight &&
         out_.size() + writing_.size() < core_.max_buffered_answer_bytes()) {
    if (ordered && !parked_.empty()) return;  // answers must keep their order
    taking_since_ = Clock::now();
    taking_kind_ = RequestKind::kOther;
    taking_parked_ = false;
    if (!protocol_->HandleNext(*this)) {
      DoRead();  // no-op once reading stopped
      return;
    }
    if (!taking_parked_) Record(taking_kind_, taking_since_);
    request_started_ = Clock::time_point::max();
  }
}

// ---------------------------------------------------------------------------
// Change-feed subscriptions

void Session::Subscribe(uint64_t request_id, const SubscribeRequest& request) {
  const ServerOptions& o = core_.options();
  auto refuse = [&](ErrorCode code, std::string message) {
    protocol_->FeedError(request_id, code, message, applied_lsn(), *this);
  };
  if (o.feed == nullptr) {
    refuse(ErrorCode::kInvalidArgument, "this server keeps no change feed (canopyd --feed-window)");
    return;
  }
  const HierarchyIndex* index = loop_.index();
  if (index == nullptr) {
    refuse(ErrorCode::kNotReady, "no index loaded yet");
    return;
  }
  if (shutting_down_) {
    refuse(ErrorCode::kShuttingDown, "the server is stopping");
    return;
  }
  if (subscriptions_.size() >= o.max_subscriptions_per_connection) {
    refuse(ErrorCode::kOverloaded, "this connection has " + std::to_string(subscriptions_.size()) +
                                       " subscriptions; the limit is " +
                                       std::to_string(o.max_subscriptions_per_connection));
    return;
  }
  if (!core_.AddSubscription()) {
    refuse(ErrorCode::kOverloaded,
           "the server has " + std::to_string(o.max_subscriptions) + " subscriptions, its limit");
    return;
  }
  Result<std::unique_ptr<FeedSubscription>> sub =
      o.feed->Subscribe(request.from, request.filter, index);
  if (!sub.ok()) {
    core_.RemoveSubscriptions(1);
    refuse(ErrorCodeFor(sub.status()), sub.status().message());
    return;
  }
  if (subscriptions_.empty()) core_.AddFeedSession(id_, weak_from_this());
  const Lsn start = (*sub)->position();
  subscriptions_.push_back({request_id, std::move(sub).value()});
  protocol_->FeedBatch(request_id, start, {}, *this);  // where it starts
  Log(LogLevel::kDebug, "subscription " + std::to_string(request_id) + " from " + start.ToString());
}

void Session::PollFeeds() {
  if (closed_ || subscriptions_.empty()) return;
  const size_t max_batch = std::max<uint32_t>(core_.options().max_feed_batch_transactions, 1);
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    Status ended;
    while (out_.size() + writing_.size() < core_.max_buffered_answer_bytes()) {
      ended =
          it->feed->Next(&feed_batch_, std::chrono::milliseconds(0), max_batch, kFeedMessageBytes);
      if (!ended.ok() || feed_batch_.empty()) break;
      protocol_->FeedBatch(it->request_id, it->feed->position(), feed_batch_, *this);
    }
    if (ended.ok()) {
      ++it;
      continue;
    }
    protocol_->FeedError(
        it->request_id,
        ended.code() == StatusCode::kOutOfRange ? ErrorCode::kOutOfRange : ErrorCode::kShuttingDown,
        ended.message(), applied_lsn(), *this);
    Log(LogLevel::kInfo,
        "subscription " + std::to_string(it->request_id) + " ended: " + ended.message());
    it = subscriptions_.erase(it);
    core_.RemoveSubscriptions(1);
  }
  feed_batch_.clear();
  if (subscriptions_.empty()) core_.RemoveFeedSession(id_);
}

void Session::EndSubscriptions(ErrorCode code, std::string_view message) {
  if (subscriptions_.empty()) return;
  if (code != ErrorCode::kOk) {
    for (const Subscription& s : subscriptions_) {
      protocol_->FeedError(s.request_id, code, message, applied_lsn(), *this);
    }
  }
  core_.RemoveSubscriptions(subscriptions_.size());
  subscriptions_.clear();
  core_.RemoveFeedSession(id_);
}

// ---------------------------------------------------------------------------
// min_lsn waits

void Session::Park(std::span<const uint8_t> saved, Lsn min_lsn, uint32_t timeout_ms,
                   uint64_t request_id, bool nudge_source) {
  if (shutting_down_) {
    protocol_->FailParked(saved, request_id, ErrorCode::kShuttingDown, "the server is stopping",
                          applied_lsn(), *this);
    return;
  }
  const ServerOptions& o = core_.options();
  std::chrono::milliseconds timeout =
      timeout_ms == 0 ? o.default_wait : std::chrono::milliseconds(timeout_ms);
  timeout = std::min(timeout, o.max_wait);
  const uint64_t wait_id = core_.NextWaitId();
  if (!core_.waiters().Add(min_lsn, wait_id, weak_from_this())) {
    protocol_->FailParked(saved, request_id, ErrorCode::kOverloaded,
                          "too many requests are waiting for min_lsn", applied_lsn(), *this);
    return;
  }
  Parked& parked = parked_[wait_id];
  parked.saved.Assign(saved);
  parked.min_lsn = min_lsn;
  parked.request_id = request_id;
  parked.taken = taking_since_;
  parked.kind = taking_kind_;
  taking_parked_ = true;
  parked.timer = std::make_unique<asio::steady_timer>(socket_.get_executor());
  parked.timer->expires_after(timeout);
  parked.timer->async_wait([self = shared_from_this(), wait_id](const error_code& ec) {
    if (ec) return;  // cancelled: answered
    self->OnWaitTimeout(wait_id);
    self->Resume();
  });
  // The replication side may need a nudge to learn the source reached min_lsn.
  if (nudge_source && o.on_wait_for_lsn) o.on_wait_for_lsn(min_lsn, timeout);
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
  const HierarchyIndex* index = loop_.index();
  if (index == nullptr || index->applied_lsn() < parked.min_lsn) {
    // Woken by a hint ahead of this thread's index (or a swapped index): wait again.
    if (!core_.waiters().Add(parked.min_lsn, wait_id, weak_from_this())) {
      parked.timer->cancel();
      protocol_->FailParked(parked.saved.span(), parked.request_id, ErrorCode::kOverloaded,
                            "too many requests are waiting for min_lsn", applied_lsn(), *this);
      Record(parked.kind, parked.taken);
      parked_.erase(it);
      return;
    }
    if (core_.applied_lsn() >= parked.min_lsn && core_.waiters().Remove(parked.min_lsn, wait_id)) {
      index = loop_.index();
    } else {
      return;
    }
    if (index == nullptr) return;  // unreachable: applied_lsn() > 0 means an index
  }
  parked.timer->cancel();
  // Out of the map first: an ordered protocol may take the next request at once.
  Parked done = std::move(parked);
  parked_.erase(it);
  protocol_->AnswerParked(done.saved.span(), done.request_id, *index, *this);
  Record(done.kind, done.taken);
}

void Session::OnWaitTimeout(uint64_t wait_id) {
  if (closed_) return;
  auto it = parked_.find(wait_id);
  if (it == parked_.end()) return;
  core_.waiters().Remove(it->second.min_lsn, wait_id);
  const Lsn applied = applied_lsn();
  if (applied >= it->second.min_lsn) {  // applied, the wake-up just has not run yet
    AnswerParked(wait_id);
    return;
  }
  Parked done = std::move(it->second);
  parked_.erase(it);
  protocol_->FailParked(done.saved.span(), done.request_id, ErrorCode::kStale,
                        "min_lsn " + done.min_lsn.ToString() +
                            " not applied before the timeout; applied " + applied.ToString(),
                        applied, *this);
  Record(done.kind, done.taken);
}

void Session::ShutdownNow() {
  if (closed_ || shutting_down_) return;
  shutting_down_ = true;
  std::unordered_map<uint64_t, Parked> parked;
  parked.swap(parked_);
  for (auto& [wait_id, p] : parked) {
    core_.waiters().Remove(p.min_lsn, wait_id);
    p.timer->cancel();
    protocol_->FailParked(p.saved.span(), p.request_id, ErrorCode::kShuttingDown,
                          "the server is stopping", applied_lsn(), *this);
    Record(p.kind, p.taken);
  }
  EndSubscriptions(ErrorCode::kShuttingDown, "the server is stopping");
  Resume();  // an outstanding read stays: it becomes the drain once we linger
}

// ---------------------------------------------------------------------------
// Writing

void Session::DoWrite() {
  if (closed_ || !writing_.empty() || out_.empty()) return;
  writing_.swap(out_);
  writing_answers_ = out_answers_;
  out_answers_ = 0;
  write_deadline_ = Clock::now() + core_.options().write_timeout;
  asio::async_write(
      socket_, asio::buffer(writing_),
      [self = shared_from_this()](const error_code& ec, size_t n) { self->OnWrite(ec, n); });
}

void Session::OnWrite(const error_code& ec, size_t /*bytes*/) {
  write_deadline_ = Clock::time_point::max();
  writing_.clear();
  writing_answers_ = 0;
  if (writing_.capacity() > kOutputKeepBytes) std::vector<uint8_t>().swap(writing_);
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
  PollFeeds();
  DoWrite();
  MaybeFinish();
}

void Session::MaybeFinish() {
  if (closed_ || lingering_ || !writing_.empty() || !out_.empty()) return;
  // After a fatal error parked requests are dropped; otherwise they finish first.
  const bool done = closing_ || ((read_closed_ || shutting_down_) && parked_.empty());
  if (!done) return;
  EndSubscriptions(ErrorCode::kOk, {});  // the client is gone or the server stops
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
  if (protocol_->has_partial()) {
    // From the request's first bytes, not from the last read: a trickle of
    // bytes does not keep a request alive.
    if (request_started_ == Clock::time_point::max()) request_started_ = Clock::now();
    read_deadline_ = request_started_ + o.read_timeout;
    read_deadline_what_ = "read timeout (incomplete request)";
    return;
  }
  request_started_ = Clock::time_point::max();
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
  Log(routine ? LogLevel::kDebug : LogLevel::kInfo, std::string(what) + ": " + ec.message());
  Close();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  Log(LogLevel::kDebug, "connection closed");
  watchdog_.cancel();
  for (auto& [wait_id, parked] : parked_) {
    core_.waiters().Remove(parked.min_lsn, wait_id);
    parked.timer->cancel();
  }
  parked_.clear();
  EndSubscriptions(ErrorCode::kOk, {});
  out_.clear();  // writing_ stays until its handler runs: the write may still hold it
  out_answers_ = 0;
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
  core_.Unregister(id_);
}

}  // namespace canopy::net::internal
