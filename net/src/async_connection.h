// net/src/async_connection.h — the engine under canopy::net::AsyncClient: one
// connection to canopyd driven by one private I/O thread (Asio), carrying many
// calls at once and matching answers to calls by request id. The connection
// itself (connect, Hello, framing, writes, reads) is the ClientTransport that
// the blocking Client uses too (client_transport.h); this class adds the
// calls: queueing, deadlines, completions, reconnect rules.
//
//   auto connection = std::make_shared<AsyncConnection>(options, async_options);
//   connection->Start();                                  // the I/O thread
//   connection->Submit(request, [](Result<Response> r) { ... });   // any thread
//   ...
//   connection->Shutdown();                               // fails what is left, joins
//
// A call's life: Submit (caller thread: takes a slot of max_outstanding and
// posts the call) -> Accept (I/O thread: queue_, connecting first if needed)
// -> StartWrite (encoded into the transport's write buffer, moved to
// in_flight_ with its deadline) -> Dispatch (the answer with its request id)
// -> Complete. A dropped connection (error, EOF, bad frame, timeout, Close)
// completes every queued and in-flight call at once (Disconnect + FailAll).
//
// WRITE GATHERING: Accept does not write at once; it schedules one write for
// the end of the current turn of the event loop (a posted op, at most one
// scheduled), so every call accepted before it — calls posted from other
// threads meanwhile, or started by the handlers of one read's answers — go
// out together; while a write is under way, calls queue and the next write
// takes them all (up to kWriteBatchBytes).
//
// THREAD SAFETY: Submit, Connect, Close and the accessors may be called from
// any thread (Close blocks until done unless called on the I/O thread).
// Everything in the "I/O thread only" block is touched by the I/O thread
// alone: public methods reach it only through asio::post. Fields shared with
// callers are atomics (the transport's id sequence and counters, outstanding_,
// connected_) or guarded by hello_mu_. Every Asio handler of the transport
// captures its connection generation and does nothing once that connection
// was dropped, so an operation of a dropped connection never touches the
// next connection. stats() reads the transport's atomic counters.
//
// INVARIANTS (I/O thread): a call is in exactly one of queue_ (accepted, not
// written), in_flight_ (written, not answered) or completed; Complete() is the
// only place a call's handler runs, so it runs once. outstanding_ counts calls
// accepted and not completed (incremented by Submit, decremented by Complete
// just before the handler runs).
//
// LIFETIME: the I/O thread holds a shared_ptr to the connection until
// io_context::run() returns, so a handler may destroy the owner (Shutdown from
// the I/O thread detaches instead of joining).
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "canopy/net/async_client.h"
#include "canopy/net/client.h"
#include "canopy/net/protocol.h"
#include "canopy/status.h"
#include "client_transport.h"

namespace canopy::net::internal {

class AsyncConnection : public std::enable_shared_from_this<AsyncConnection> {
 public:
  // Runs exactly once per accepted call, on the I/O thread.
  using Completion = std::function<void(Result<Response>)>;

  AsyncConnection(ClientOptions options, AsyncClientOptions async);
  AsyncConnection(const AsyncConnection&) = delete;
  AsyncConnection& operator=(const AsyncConnection&) = delete;

  // Starts the I/O thread. REQUIRES: owned by a shared_ptr; called once. If the
  // thread cannot start, every later call completes inline with kInternal.
  void Start() noexcept;
  // Completes everything outstanding with kUnavailable, lets the I/O thread
  // finish and joins it (detaches it when called on it). Calls made after
  // this began (from handlers) complete with kUnavailable.
  void Shutdown() noexcept;

  // ---- any thread ----
  // Accepts `request` (request_id 0: a fresh one, returned) unless
  // max_outstanding calls are outstanding (kResourceExhausted, posted).
  uint64_t Submit(Request request, Completion done) noexcept;
  void Connect(std::function<void(Status)> done) noexcept;
  void Close() noexcept;
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  size_t outstanding() const { return outstanding_.load(std::memory_order_acquire); }
  HelloReply server_hello() const;
  ClientStats stats() const { return transport_.stats(); }

 private:
  using Clock = std::chrono::steady_clock;
  using State = ClientTransport::State;

  struct PendingCall {
    Request request;
    Completion done;
  };
  struct InFlightCall {
    Completion done;
    Clock::time_point deadline;
  };
  // Everything a dropped connection leaves behind.
  struct Abandoned {
    std::unordered_map<uint64_t, InFlightCall> in_flight;
    std::deque<PendingCall> queue;
    std::vector<std::function<void(Status)>> waiters;
  };
  // Posted operations, as named function objects so that a failed post (out
  // of memory: Asio allocates before it moves the handler) still has them.
  struct AcceptOp {
    AsyncConnection* connection;
    PendingCall call;
    void operator()() { connection->Accept(std::move(call)); }
  };
  struct ConnectOp {
    AsyncConnection* connection;
    std::function<void(Status)> done;
    void operator()() { connection->ConnectNow(std::move(done)); }
  };
  struct RefuseOp {
    Completion done;
    Status why;
    void operator()();
  };

  void Run() noexcept;
  void PostRefusal(Completion done, Status why) noexcept;

  // ---- I/O thread ----
  void Complete(Completion& done, Result<Response> result) noexcept;
  // Runs an Asio handler's body; an exception drops the connection.
  template <typename Body>
  void Guarded(Body&& body) noexcept;
  void Accept(PendingCall call) noexcept;
  void ConnectNow(std::function<void(Status)> done) noexcept;
  void CloseNow() noexcept;
  void StartConnect();
  void OnConnected(Status status);
  void ScheduleWrite();
  void StartWrite();
  void Dispatch(Response response);
  // Ends the connection (if any) and takes out every queued and in-flight call
  // and Connect() waiter, so state is final before any handler runs.
  Abandoned Disconnect();
  void FailAll(Abandoned& abandoned, const Status& why);
  void FailConnection(const Status& why);
  void FailConnectionNoThrow(const Status& why) noexcept;
  void ArmWatchdog();
  void OnWatchdog();

  // ---- immutable once Start() ran ----
  const ClientOptions options_;
  const AsyncClientOptions async_;
  std::chrono::milliseconds watchdog_interval_{100};
  bool started_ = false;
  std::string start_error_;

  // ---- shared with callers ----
  std::atomic<size_t> outstanding_{0};
  std::atomic<bool> connected_{false};
  mutable std::mutex hello_mu_;
  HelloReply hello_;  // guarded by hello_mu_

  // ---- I/O thread only ----
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::steady_timer watchdog_;
  // The connection (its NextId() is also safe from any thread: an atomic).
  ClientTransport transport_;
  bool active_ = false;  // connecting or connected (the transport may have failed already)
  bool write_scheduled_ = false;
  bool watchdog_armed_ = false;
  bool shutting_down_ = false;
  bool may_connect_ = true;  // false after a loss when reconnect is off
  Clock::time_point connect_deadline_;
  std::deque<PendingCall> queue_;
  std::unordered_map<uint64_t, InFlightCall> in_flight_;
  std::vector<std::function<void(Status)>> connect_waiters_;

  std::thread thread_;  // joined or detached by Shutdown()
};

}  // namespace canopy::net::internal
