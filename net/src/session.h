// net/src/session.h — one client connection of the server (Beast's
// "session"): reads frames, answers them, writes the answers back in order.
//
// LIFECYCLE
//   Start() -> do_read/on_read loop -> ... -> Close() (error, timeout, bad
//   frame, client EOF once everything is answered, or server shutdown; the
//   last three after a linger: FIN, then input drained until EOF). The
//   session is owned by the shared_ptrs its pending handlers hold; the
//   server's registry holds only weak references.
//
// FLOW CONTROL
//   in_flight = requests parked on min_lsn + answers queued or being written.
//   Frames are taken from the read buffer only while in_flight <
//   max_in_flight; a read is issued only when no complete frame is buffered
//   and there is room. So a client that pipelines without reading fills its
//   own socket buffers, not the server's memory; the write timeout then ends it.
//
// TIMEOUTS (deadlines checked by one watchdog timer; one timer per parked request)
//   a started frame must complete within read_timeout; nothing in flight and
//   nothing received for idle_timeout closes; a write must finish within
//   write_timeout (each up to one watchdog interval late); a parked request is
//   answered STALE at its wait timeout.
//
// THREAD SAFETY: every private member is touched only on the session's
// strand. Start(), BeginShutdown(), ForceClose() and Wake() may be called from
// any thread: they post to the strand.
#pragma once

#include <array>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "frame.h"
#include "request_handler.h"

namespace canopy::net::internal {

class ServerCore;

using Socket = boost::asio::generic::stream_protocol::socket;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // REQUIRES: socket's executor is a strand.
  Session(ServerCore& core, Socket socket, uint64_t id);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t id() const { return id_; }

  void Start();
  // Stop reading, answer parked requests SHUTTING_DOWN, finish what was read,
  // flush, close.
  void BeginShutdown();
  // Close now.
  void ForceClose();
  // Sends one error frame (request_id 0) and closes: for a connection the
  // server turns away (e.g. OVERLOADED at max_connections).
  void Reject(ErrorCode code, std::string message);
  // The wait list released request `wait_id` (its LSN may be applied).
  void Wake(uint64_t wait_id);

 private:
  struct Parked {
    AlignedBytes frame;  // the verified request frame, kept for answering later
    Lsn min_lsn;
    uint64_t request_id = 0;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  void DoRead();
  void OnRead(const boost::system::error_code& ec, size_t bytes);
  void ProcessBuffered();
  void HandleFrame(std::span<const uint8_t> frame);
  void HandleHello(const fb::Request& request, uint64_t request_id);
  void Park(std::span<const uint8_t> frame, const fb::Request& request, uint64_t request_id);
  void OnWaitTimeout(uint64_t wait_id);
  void AnswerParked(uint64_t wait_id);
  void ShutdownNow();

  void QueueBuilder();
  void QueueError(uint64_t request_id, ErrorCode code, std::string_view message);
  // Sends an error frame, stops reading, closes once it is written.
  void CloseAfter(uint64_t request_id, ErrorCode code, std::string_view message);
  void DoWrite();
  void OnWrite(const boost::system::error_code& ec, size_t bytes);
  // After in_flight dropped: resume taking frames / reading; maybe finish.
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

  size_t in_flight() const { return parked_.size() + outbox_.size() + writing_.size(); }

  ServerCore& core_;
  const uint64_t id_;
  Socket socket_;
  const Socket::executor_type strand_;
  // Deadlines are plain time points checked by one watchdog timer per
  // session (every watchdog_interval), not a timer per operation: arming and
  // cancelling Asio timers per request cost more than the query itself.
  using Clock = std::chrono::steady_clock;
  boost::asio::steady_timer watchdog_;
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  const char* read_deadline_what_ = "read";
  Clock::time_point frame_started_ = Clock::time_point::max();  // first bytes of a partial frame

  FrameReader reader_;
  RequestHandler handler_;
  flatbuffers::FlatBufferBuilder builder_;
  std::deque<std::vector<uint8_t>> outbox_;    // answers not yet being written
  std::vector<std::vector<uint8_t>> writing_;  // answers of the write in progress
  std::unordered_map<uint64_t, Parked> parked_;
  std::array<uint8_t, 4096> drain_buffer_;  // input discarded while lingering

  bool reading_ = false;        // an async read is outstanding
  bool read_closed_ = false;    // EOF, or reading stopped for good
  bool closing_ = false;        // close once the outbox is flushed
  bool shutting_down_ = false;  // server Stop(): no new reads, no new waits
  bool lingering_ = false;      // FIN sent; draining input until EOF
  bool closed_ = false;
  bool authenticated_ = false;  // Hello seen (or no token required)
};

}  // namespace canopy::net::internal
