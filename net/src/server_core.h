// net/src/server_core.h — the state every listener and session of one server
// shares: options and limits, the served index, the min_lsn wait list, the
// session registry and counters.
//
// THREAD SAFETY: options and limits are immutable after construction; the
// index pointer is an atomic shared_ptr; the registry is guarded by
// sessions_mu_; counters are atomics. Every method is thread-safe.
#pragma once

#include <atomic>
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
#include "request_handler.h"

namespace canopy::net::internal {

class Session;

class ServerCore final : public StatusSource {
 public:
  explicit ServerCore(ServerOptions options);

  const ServerOptions& options() const { return options_; }
  const DecoderLimits& decoder_limits() const { return decoder_limits_; }
  const HandlerLimits& handler_limits() const { return handler_limits_; }
  // How often a session checks its read/write deadlines: a quarter of the
  // shortest timeout, within [5 ms, 500 ms].
  std::chrono::milliseconds watchdog_interval() const { return watchdog_interval_; }

  std::shared_ptr<const HierarchyIndex> index() const {
    return index_.load(std::memory_order_acquire);
  }
  void SetIndex(std::shared_ptr<const HierarchyIndex> index);
  // The served index's applied LSN (0 without one).
  Lsn applied_lsn() const;

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

  void CountRequest() { requests_served_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t requests_served() const { return requests_served_.load(std::memory_order_relaxed); }

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  void set_stopping() { stopping_.store(true, std::memory_order_release); }

  void Log(LogLevel level, std::string_view message) const;

  void FillStatus(ServerStatus* status) const override;

 private:
  const ServerOptions options_;
  const DecoderLimits decoder_limits_;
  const HandlerLimits handler_limits_;
  const std::chrono::milliseconds watchdog_interval_;
  std::atomic<std::shared_ptr<const HierarchyIndex>> index_;
  LsnWaitList waiters_;
  std::atomic<uint64_t> next_wait_id_{1};
  std::atomic<uint64_t> next_session_id_{1};
  std::atomic<uint64_t> requests_served_{0};
  std::atomic<bool> stopping_{false};

  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions_;  // guarded by sessions_mu_
  std::atomic<size_t> session_count_{0};
};

}  // namespace canopy::net::internal
