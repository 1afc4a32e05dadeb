#include "server_core.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "session.h"

namespace canopy::net::internal {
namespace {

DecoderLimits MakeDecoderLimits(const ServerOptions& o) {
  DecoderLimits limits;
  limits.max_batch_queries = o.max_batch_queries;
  limits.max_ids = o.max_ids_per_request;
  limits.max_paths = o.max_ids_per_request;
  return limits;
}

HandlerLimits MakeHandlerLimits(const ServerOptions& o) {
  HandlerLimits limits;
  limits.max_ids_per_page = o.max_ids_per_page == 0 ? 1 : o.max_ids_per_page;
  limits.max_response_bytes = o.max_response_frame_bytes;
  return limits;
}

std::chrono::milliseconds WatchdogInterval(const ServerOptions& o) {
  const std::chrono::milliseconds shortest =
      std::min({o.read_timeout, o.write_timeout, o.idle_timeout});
  return std::clamp<std::chrono::milliseconds>(shortest / 4, std::chrono::milliseconds(5),
                                               std::chrono::milliseconds(500));
}

}  // namespace

ServerCore::ServerCore(ServerOptions options)
    : options_(std::move(options)),
      decoder_limits_(MakeDecoderLimits(options_)),
      handler_limits_(MakeHandlerLimits(options_)),
      watchdog_interval_(WatchdogInterval(options_)),
      max_buffered_answer_bytes_(
          std::max<size_t>(size_t{1} << 20, options_.max_request_frame_bytes)),
      waiters_(options_.max_waiting),
      token_(options_.token),
      ready_max_lag_bytes_(options_.ready_max_lag_bytes) {}

bool ServerCore::AddSubscription() {
  uint64_t n = subscriptions_.load(std::memory_order_relaxed);
  do {
    if (n >= options_.max_subscriptions) return false;
  } while (!subscriptions_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  return true;
}

void ServerCore::RemoveSubscriptions(size_t n) {
  subscriptions_.fetch_sub(n, std::memory_order_relaxed);
}

void ServerCore::AddFeedSession(uint64_t id, std::weak_ptr<Session> session) {
  std::lock_guard<std::mutex> lock(feed_sessions_mu_);
  feed_sessions_[id] = std::move(session);
}

void ServerCore::RemoveFeedSession(uint64_t id) {
  std::lock_guard<std::mutex> lock(feed_sessions_mu_);
  feed_sessions_.erase(id);
}

void ServerCore::StartFeed() {
  if (options_.feed == nullptr) return;
  feed_listener_ = options_.feed->AddListener([this] {
    std::lock_guard<std::mutex> lock(feed_sessions_mu_);
    for (auto& [id, weak] : feed_sessions_) {
      if (std::shared_ptr<Session> session = weak.lock()) session->WakeFeed();
    }
  });
}

void ServerCore::StopFeed() {
  if (options_.feed != nullptr && feed_listener_ != 0)
    options_.feed->RemoveListener(feed_listener_);
  feed_listener_ = 0;
}

std::string ServerCore::token() const {
  std::lock_guard<std::mutex> lock(token_mu_);
  return token_;
}

Status ServerCore::SetToken(std::string token) {
  if (options_.token.empty()) {
    return Status::FailedPrecondition("the server was started without a token");
  }
  if (token.empty()) return Status::InvalidArgument("empty token");
  std::lock_guard<std::mutex> lock(token_mu_);
  token_ = std::move(token);
  return Status();
}

std::shared_ptr<const HierarchyIndex> ServerCore::index() const {
  std::lock_guard<std::mutex> lock(index_mu_);
  return index_;
}

void ServerCore::SetIndex(std::shared_ptr<const HierarchyIndex> index) {
  const Lsn applied = index != nullptr ? index->applied_lsn() : Lsn();
  std::shared_ptr<const HierarchyIndex> old;
  {
    std::lock_guard<std::mutex> lock(index_mu_);
    old = std::exchange(index_, std::move(index));
    index_generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  // Let idle loops drop the old index now rather than at their next request.
  for (IoLoop* loop : loops_) {
    boost::asio::post(loop->context(), [loop] { (void)loop->index(); });
  }
  Wake(applied);
}

Lsn ServerCore::applied_lsn() const {
  std::shared_ptr<const HierarchyIndex> index = this->index();
  return index != nullptr ? index->applied_lsn() : Lsn();
}

uint64_t ServerCore::requests_served() const {
  uint64_t total = 0;
  for (const IoLoop* loop : loops_) total += loop->answers();
  return total;
}

void IoLoop::Refresh(uint64_t generation) {
  std::shared_ptr<const HierarchyIndex> fresh = core_.index();
  // A SetIndex between the generation load and here is seen at the next call.
  index_ = std::move(fresh);
  generation_ = generation;
}

void ServerCore::Wake(Lsn applied) {
  if (waiters_.size() == 0) return;
  std::vector<Waiter> ready;
  waiters_.TakeReady(applied, &ready);
  for (Waiter& w : ready) {
    if (std::shared_ptr<Session> session = w.session.lock()) session->Wake(w.wait_id);
  }
}

bool ServerCore::Register(uint64_t id, const std::shared_ptr<Session>& session) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  if (sessions_.size() >= options_.max_connections) return false;
  sessions_.emplace(id, session);
  session_count_.store(sessions_.size(), std::memory_order_relaxed);
  return true;
}

void ServerCore::Unregister(uint64_t id) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  sessions_.erase(id);
  session_count_.store(sessions_.size(), std::memory_order_relaxed);
  if (sessions_.empty()) sessions_cv_.notify_all();
}

std::vector<std::shared_ptr<Session>> ServerCore::LiveSessions() {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard<std::mutex> lock(sessions_mu_);
  out.reserve(sessions_.size());
  for (auto& [id, weak] : sessions_) {
    if (std::shared_ptr<Session> s = weak.lock()) out.push_back(std::move(s));
  }
  return out;
}

bool ServerCore::WaitForNoSessions(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(sessions_mu_);
  return sessions_cv_.wait_for(lock, timeout, [&] { return sessions_.empty(); });
}

void ServerCore::Log(LogLevel level, std::string_view message, std::vector<LogField> fields) const {
  if (!options_.log) return;
  LogRecord record;
  record.level = level;
  record.component = "server";
  record.message = message;
  record.fields = std::move(fields);
  options_.log(record);
}

void ServerCore::FillMetrics(ServerMetrics* metrics) const {
  *metrics = ServerMetrics();
  metrics->listening = listening_;
  for (const IoLoop* loop : loops_) {
    const LoopMetrics& m = loop->metrics();
    for (size_t l = 0; l < kListenerKinds; ++l) {
      for (size_t k = 0; k < kRequestKinds; ++k) metrics->requests[l][k] += m.requests(l, k);
      for (size_t b = 0; b < kLatencyBucketCount; ++b) {
        metrics->latency[l][b] += m.latency_bucket(l, b);
      }
      metrics->latency_sum_ns[l] += m.latency_sum_ns(l);
    }
  }
  metrics->connections = session_count();
  metrics->waiting_requests = waiters_.size();
}

void ServerCore::FillStatus(ServerStatus* status) const {
  if (options_.replication_status) status->replication = options_.replication_status();
  status->connections = session_count();
  status->requests_served = requests_served();
  status->waiting_requests = waiters_.size();
  status->server_version = options_.server_version;
}

}  // namespace canopy::net::internal
