// net/src/server_core.h — the state every listener and session of one server
// shares (options and limits, the served index, the min_lsn wait list, the
// session registry), and IoLoop: one I/O thread's own event loop and what its
// sessions read without crossing threads.
//
// THREAD SAFETY: options and limits are immutable after construction (the
// token clients must present is the exception: token_mu_ guards it); the
// served index is guarded by index_mu_ and versioned by an atomic generation
// (IoLoop caches it: the request path reads one atomic and takes no lock);
// the registry is guarded by sessions_mu_ (accept and close only). Every
// ServerCore method is thread-safe; an IoLoop's methods are for its own
// thread unless said otherwise.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "canopy/net/server.h"
#include "codec.h"
#include "lsn_wait_list.h"
#include "metrics.h"
#include "request_handler.h"

namespace canopy::net::internal {

class Session;
class IoLoop;

class ServerCore final : public StatusSource, public MetricsSource {
 public:
  explicit ServerCore(ServerOptions options);

  const ServerOptions& options() const { return options_; }
  const DecoderLimits& decoder_limits() const { return decoder_limits_; }
  const HandlerLimits& handler_limits() const { return handler_limits_; }
  // A session takes no new request while its unwritten answers hold this
  // many bytes: max(1 MiB, max_request_frame_bytes).
  size_t max_buffered_answer_bytes() const { return max_buffered_answer_bytes_; }
  // How often a session checks its read/write deadlines: a quarter of the
  // shortest timeout, within [5 ms, 500 ms].
  std::chrono::milliseconds watchdog_interval() const { return watchdog_interval_; }

  // The served index (takes index_mu_: not for the request path, where
  // IoLoop::index() is).
  std::shared_ptr<const HierarchyIndex> index() const;
  // Bumped by every SetIndex.
  uint64_t index_generation() const { return index_generation_.load(std::memory_order_acquire); }
  // Serves `index` from now on; each loop drops its reference to the old one
  // at its next request or at once if `loops` are given.
  void SetIndex(std::shared_ptr<const HierarchyIndex> index);
  // The served index's applied LSN (0 without one).
  Lsn applied_lsn() const;
  // The I/O loops, for SetIndex's refresh and the counters (set once by the
  // server before it starts serving).
  void set_loops(std::vector<IoLoop*> loops) { loops_ = std::move(loops); }

  LsnWaitList& waiters() { return waiters_; }
  uint64_t NextWaitId() { return next_wait_id_.fetch_add(1, std::memory_order_relaxed); }
  // Hands every waiter whose min_lsn <= applied back to its session.
  void Wake(Lsn applied);

  // Registry. Register() fails (returns false) at max_connections.
  bool Register(uint64_t id, const std::shared_ptr<Session>& session);
  void Unregister(uint64_t id);
  uint64_t NextSessionId() { return next_session_id_.fetch_add(1, std::memory_order_relaxed); }
  std::vector<std::shared_ptr<Session>> LiveSessions();
  size_t session_count() const { return session_count_.load(std::memory_order_relaxed); }
  // Waits until no session is registered; false on timeout.
  bool WaitForNoSessions(std::chrono::milliseconds timeout);

  // Answers sent, summed over the loops.
  uint64_t requests_served() const;

  // Change-feed subscriptions: the server-wide count (AddSubscription fails
  // at max_subscriptions), and the sessions that hold any, woken when the
  // feed moves (the feed's listener, registered by StartFeed).
  bool AddSubscription();
  void RemoveSubscriptions(size_t n);
  uint64_t subscriptions() const { return subscriptions_.load(std::memory_order_relaxed); }
  void AddFeedSession(uint64_t id, std::weak_ptr<Session> session);
  void RemoveFeedSession(uint64_t id);
  void StartFeed();  // with options().feed: listen to it
  void StopFeed();   // no listener call runs after it returns

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  void set_stopping() { stopping_.store(true, std::memory_order_release); }

  // A record of component "server" with `fields`.
  void Log(LogLevel level, std::string_view message, std::vector<LogField> fields = {}) const;

  // The token clients must present now (options().token until SetToken).
  std::string token() const;
  // See Server::SetToken.
  Status SetToken(std::string token);
  // See Server::SetReadyMaxLagBytes.
  uint64_t ready_max_lag_bytes() const {
    return ready_max_lag_bytes_.load(std::memory_order_relaxed);
  }
  void SetReadyMaxLagBytes(uint64_t bytes) {
    ready_max_lag_bytes_.store(bytes, std::memory_order_relaxed);
  }

  void FillStatus(ServerStatus* status) const override;
  // The loops' request counters summed (any thread; relaxed reads).
  void FillMetrics(ServerMetrics* metrics) const override;
  // Which listeners the server opened (set once by the server before it
  // starts serving).
  void set_listening(ListenerKind kind) { listening_[static_cast<size_t>(kind)] = true; }

 private:
  const ServerOptions options_;
  const DecoderLimits decoder_limits_;
  const HandlerLimits handler_limits_;
  const std::chrono::milliseconds watchdog_interval_;
  const size_t max_buffered_answer_bytes_;
  mutable std::mutex index_mu_;
  std::shared_ptr<const HierarchyIndex> index_;  // guarded by index_mu_
  std::atomic<uint64_t> index_generation_{0};
  std::vector<IoLoop*> loops_;
  std::array<bool, kListenerKinds> listening_{};
  LsnWaitList waiters_;
  std::atomic<uint64_t> next_wait_id_{1};
  std::atomic<uint64_t> next_session_id_{1};
  std::atomic<bool> stopping_{false};
  mutable std::mutex token_mu_;
  std::string token_;  // guarded by token_mu_
  std::atomic<uint64_t> ready_max_lag_bytes_;

  std::atomic<uint64_t> subscriptions_{0};
  std::mutex feed_sessions_mu_;
  std::unordered_map<uint64_t, std::weak_ptr<Session>> feed_sessions_;  // guarded by it
  uint64_t feed_listener_ = 0;

  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions_;  // guarded by sessions_mu_
  std::atomic<size_t> session_count_{0};
};

// One I/O thread: its io_context (run by exactly that thread), the index its
// sessions answer from, its counters.
class IoLoop {
 public:
  explicit IoLoop(ServerCore& core) : core_(core), ioc_(1) {}
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  boost::asio::io_context& context() { return ioc_; }

  // The index to answer from. One atomic load when nothing changed; after a
  // SetIndex, the new one is taken (under the core's lock) once. The pointer
  // stays valid on this thread until the next call.
  const HierarchyIndex* index() {
    const uint64_t generation = core_.index_generation();
    if (generation != generation_) Refresh(generation);
    return index_.get();
  }
  // Answers sent by this loop's sessions (any thread may read it).
  void CountAnswer() {
    answers_.store(answers_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t answers() const { return answers_.load(std::memory_order_relaxed); }
  // Request counters and latencies of this loop's sessions (written on this
  // loop's thread only; any thread may read them).
  LoopMetrics& metrics() { return metrics_; }
  const LoopMetrics& metrics() const { return metrics_; }

 private:
  void Refresh(uint64_t generation);

  ServerCore& core_;
  boost::asio::io_context ioc_;
  uint64_t generation_ = ~uint64_t{0};
  std::shared_ptr<const HierarchyIndex> index_;
  std::atomic<uint64_t> answers_{0};
  LoopMetrics metrics_;
};

}  // namespace canopy::net::internal
