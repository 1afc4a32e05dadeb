// net/src/session.h — one client connection of the server (Beast's
// "session"): reads requests, answers them, writes the answers back. What the
// bytes mean is its WireProtocol's business (FlatBuffers or RESP); the
// session owns the socket, flow control, min_lsn parking, deadlines and the
// polite close, the same for both.
//
// LIFECYCLE
//   Start() -> do_read/on_read loop -> ... -> Close() (error, timeout, bad
//   request, client EOF once everything is answered, or server shutdown; the
//   last three after a linger: FIN, then input drained until EOF). The
//   session is owned by the shared_ptrs its pending handlers hold; the
//   server's registry holds only weak references.
//
// THREADING (thread-per-core)
//   A session lives on one I/O thread (its IoLoop's io_context, which one
//   thread runs) from accept to close: every private member is touched on
//   that thread only, without locks or strands. Start(), BeginShutdown(),
//   ForceClose(), Reject() and Wake() may be called from any thread: they
//   post to the loop.
//
// OUTPUT
//   Answers are encoded straight into one output buffer; when no write is in
//   progress, everything ready leaves in one write, and the buffer being
//   written and the one being filled swap. No per-answer allocation in steady
//   state.
//
// FLOW CONTROL
//   in_flight = requests parked on min_lsn + answers buffered or being
//   written. Requests are taken from the input only while in_flight <
//   max_in_flight (for an ordered protocol, RESP and HTTP: parked requests
//   only, as Redis clients write a whole pipeline before reading) and the
//   answers buffered or being written hold fewer than
//   ServerCore::max_buffered_answer_bytes() (so a few small requests asking
//   for big answers cannot pile up answers either: at most that + one answer);
//   a read is issued only when no complete request is buffered and there is
//   room. So a client that pipelines without reading fills its
//   own socket buffers, not the server's memory; the write timeout then ends
//   it. An ordered protocol (RESP) takes no request while one is parked.
//
// TIMEOUTS (deadlines checked by one watchdog timer; one timer per parked request)
//   a started request must complete within read_timeout; nothing in flight
//   and nothing received for idle_timeout closes; a write must finish within
//   write_timeout (each up to one watchdog interval late); a parked request is
//   answered STALE at its wait timeout.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "frame.h"
#include "metrics.h"
#include "wire_protocol.h"

namespace canopy::net::internal {

class ServerCore;
class IoLoop;

using Socket = boost::asio::generic::stream_protocol::socket;

class Session final : public std::enable_shared_from_this<Session>, private SessionContext {
 public:
  // REQUIRES: socket belongs to loop's io_context. `listener`: where the
  // connection came in (for the request counters).
  Session(ServerCore& core, IoLoop& loop, Socket socket, uint64_t id, ListenerKind listener,
          std::unique_ptr<WireProtocol> protocol);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t id() const { return id_; }

  void Start();
  // Stop reading, answer parked requests SHUTTING_DOWN, finish what was read,
  // flush, close.
  void BeginShutdown();
  // Close now.
  void ForceClose();
  // Sends one connection-level error and closes: for a connection the
  // server turns away (e.g. OVERLOADED at max_connections).
  void Reject(ErrorCode code, std::string message);
  // The wait list released request `wait_id` (its LSN may be applied).
  void Wake(uint64_t wait_id);
  // The change feed moved: poll this session's subscriptions (posts once
  // until the poll has run).
  void WakeFeed();

 private:
  struct Parked {
    AlignedBytes saved;  // the request's bytes, kept for answering later (8-byte aligned)
    Lsn min_lsn;
    uint64_t request_id = 0;
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::chrono::steady_clock::time_point taken;  // for the latency histogram
    RequestKind kind = RequestKind::kOther;
  };

  // SessionContext
  std::vector<uint8_t>& output() override { return out_; }
  void AnswerAdded() override;
  const HierarchyIndex* index() override;
  const ServerOptions& options() const override;
  const StatusSource* status_source() const override;
  std::string token() const override;
  uint64_t ready_max_lag_bytes() const override;
  uint64_t connection_id() const override { return id_; }
  void Park(std::span<const uint8_t> saved, Lsn min_lsn, uint32_t timeout_ms, uint64_t request_id,
            bool nudge_source) override;
  void CloseAfterOutput(std::string_view why) override;
  void Log(LogLevel level, std::string_view message) const override;
  void NoteRequest(RequestKind kind) override { taking_kind_ = kind; }
  void Subscribe(uint64_t request_id, const SubscribeRequest& request) override;

  // Sends what the subscriptions have, while the output has room; ends the
  // ones that fell behind the window.
  void PollFeeds();
  // Ends every subscription with `code` (shutdown), or silently (close).
  void EndSubscriptions(ErrorCode code, std::string_view message);

  // Counts one answered request taken at `taken`.
  void Record(RequestKind kind, std::chrono::steady_clock::time_point taken);

  void DoRead();
  void OnRead(const boost::system::error_code& ec, size_t bytes);
  void ProcessBuffered();
  void OnWaitTimeout(uint64_t wait_id);
  void AnswerParked(uint64_t wait_id);
  void ShutdownNow();
  Lsn applied_lsn();

  void DoWrite();
  void OnWrite(const boost::system::error_code& ec, size_t bytes);
  // After in_flight dropped: resume taking requests / reading; maybe finish.
  void Resume();
  void MaybeFinish();

  // Polite close: FIN after the queued answers, then discard input until the
  // peer closes (or a short deadline), so that closing with unread input
  // does not turn into a reset that destroys the answers in flight.
  void StartLinger();
  void DoDrain();

  void ArmReadDeadline();
  void ArmWatchdog();
  void OnWatchdog();
  void Fail(const boost::system::error_code& ec, const char* what);
  void Close();

  // A live subscription counts as in flight (the connection is not idle).
  size_t in_flight() const {
    return parked_.size() + out_answers_ + writing_answers_ + subscriptions_.size();
  }

  ServerCore& core_;
  IoLoop& loop_;
  const uint64_t id_;
  const ListenerKind listener_;
  Socket socket_;
  const std::string peer_;  // the client's "address:port", or "unix" (for log records)
  std::unique_ptr<WireProtocol> protocol_;
  // Deadlines are plain time points checked by one watchdog timer per
  // session (every watchdog_interval), not a timer per operation: arming and
  // cancelling Asio timers per request cost more than the query itself.
  using Clock = std::chrono::steady_clock;
  boost::asio::steady_timer watchdog_;
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  const char* read_deadline_what_ = "read";
  Clock::time_point request_started_ = Clock::time_point::max();  // first bytes of a partial one

  std::vector<uint8_t> out_;      // answers not yet being written
  size_t out_answers_ = 0;        // how many answers out_ holds
  std::vector<uint8_t> writing_;  // the write in progress
  size_t writing_answers_ = 0;
  std::unordered_map<uint64_t, Parked> parked_;
  struct Subscription {
    uint64_t request_id = 0;
    std::unique_ptr<FeedSubscription> feed;
  };
  std::vector<Subscription> subscriptions_;
  std::vector<SharedFeedTransaction> feed_batch_;  // reused by PollFeeds
  std::atomic<bool> feed_poll_posted_{false};
  std::array<uint8_t, 4096> drain_buffer_;  // input discarded while lingering

  // The request HandleNext is taking: when, what, and whether it was parked.
  Clock::time_point taking_since_;
  RequestKind taking_kind_ = RequestKind::kOther;
  bool taking_parked_ = false;

  bool reading_ = false;        // an async read is outstanding
  bool read_closed_ = false;    // EOF, or reading stopped for good
  bool closing_ = false;        // close once the output is flushed
  bool shutting_down_ = false;  // server Stop(): no new reads, no new waits
  bool lingering_ = false;      // FIN sent; draining input until EOF
  bool closed_ = false;
};

}  // namespace canopy::net::internal
