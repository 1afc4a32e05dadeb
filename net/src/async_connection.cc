#include "async_connection.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <future>
#include <utility>

#include "typed_answers.h"

namespace canopy::net::internal {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Runs a caller's handler; nothing it throws gets out.
template <typename Fn, typename Arg>
void InvokeNoThrow(Fn& fn, Arg&& arg) noexcept {
  try {
    if (fn) fn(std::forward<Arg>(arg));
  } catch (...) {  // NOLINT: a handler's exception must not reach the event loop
  }
}

Status OutOfMemory() { return Status::ResourceExhausted("out of memory"); }
Status Destroyed() { return Status::Unavailable("the client was destroyed"); }

}  // namespace

AsyncConnection::AsyncConnection(ClientOptions options, AsyncClientOptions async)
    : options_(std::move(options)),
      async_(async),
      ioc_(1),
      work_(asio::make_work_guard(ioc_)),
      watchdog_(ioc_),
      transport_(ioc_, options_,
                 {.on_response = [this](Response r) { Guarded([&] { Dispatch(std::move(r)); }); },
                  .on_failure = [this](Status why) { Guarded([&] { FailConnection(why); }); },
                  .on_idle = [this] { Guarded([&] { StartWrite(); }); }}) {
  const auto shortest = std::min(options_.io_timeout, options_.connect_timeout);
  watchdog_interval_ = std::clamp<std::chrono::milliseconds>(
      shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(500));
}

void AsyncConnection::Start() noexcept {
  started_ = true;  // before the thread exists, so it is never a race
  try {
    thread_ = std::thread([self = shared_from_this()] { self->Run(); });
  } catch (const std::exception& e) {
    started_ = false;
    start_error_ = std::string("cannot start the client's I/O thread: ") + e.what();
  } catch (...) {
    started_ = false;
    start_error_ = "cannot start the client's I/O thread";
  }
}

void AsyncConnection::Run() noexcept {
  for (;;) {
    try {
      ioc_.run();  // returns once Shutdown() released the work guard and all is done
      return;
    } catch (...) {  // NOLINT: keep serving; handlers catch their own errors
    }
  }
}

void AsyncConnection::Shutdown() noexcept {
  if (!started_) return;
  try {
    asio::post(ioc_, [this] {
      shutting_down_ = true;
      FailConnectionNoThrow(Destroyed());
      error_code ignored;
      watchdog_.cancel(ignored);  // no re-arming from here on (shutting_down_)
      work_.reset();              // run() returns once the rest has run
    });
  } catch (...) {
    ioc_.stop();  // cannot even queue the shutdown: stop hard
  }
  if (ioc_.get_executor().running_in_this_thread()) {
    thread_.detach();  // from a handler: the thread ends by itself, holding *this
  } else {
    thread_.join();
  }
}

// ---- any thread ----

uint64_t AsyncConnection::Submit(Request request, Completion done) noexcept {
  if (request.request_id == 0) request.request_id = transport_.NextId();
  const uint64_t id = request.request_id;
  if (!started_) {
    InvokeNoThrow(done, Result<Response>(Status::Internal(start_error_)));
    return id;
  }
  // Backpressure: refuse (not queue) beyond max_outstanding.
  size_t n = outstanding_.load(std::memory_order_relaxed);
  do {
    if (n >= async_.max_outstanding) {
      PostRefusal(std::move(done),
                  Status::ResourceExhausted("too many calls outstanding (max_outstanding = " +
                                            std::to_string(async_.max_outstanding) + ")"));
      return id;
    }
  } while (!outstanding_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
  AcceptOp op{this, PendingCall{std::move(request), std::move(done)}};
  try {
    asio::post(ioc_, std::move(op));
  } catch (...) {
    // Out of memory: complete it here, inline, rather than never.
    outstanding_.fetch_sub(1, std::memory_order_acq_rel);
    InvokeNoThrow(op.call.done, Result<Response>(OutOfMemory()));
  }
  return id;
}

void AsyncConnection::RefuseOp::operator()() {
  InvokeNoThrow(done, Result<Response>(std::move(why)));
}

void AsyncConnection::PostRefusal(Completion done, Status why) noexcept {
  RefuseOp op{std::move(done), std::move(why)};
  try {
    asio::post(ioc_, std::move(op));
  } catch (...) {
    InvokeNoThrow(op.done, Result<Response>(OutOfMemory()));
  }
}

void AsyncConnection::Connect(std::function<void(Status)> done) noexcept {
  if (!started_) {
    InvokeNoThrow(done, Status::Internal(start_error_));
    return;
  }
  ConnectOp op{this, std::move(done)};
  try {
    asio::post(ioc_, std::move(op));
  } catch (...) {
    InvokeNoThrow(op.done, OutOfMemory());
  }
}

void AsyncConnection::Close() noexcept {
  if (!started_) return;
  try {
    if (ioc_.get_executor().running_in_this_thread()) {
      asio::post(ioc_, [this] { CloseNow(); });  // after the running handler
      return;
    }
    std::promise<void> closed;
    std::future<void> done = closed.get_future();
    asio::post(ioc_, [this, &closed] {
      CloseNow();
      closed.set_value();
    });
    done.wait();
  } catch (...) {  // NOLINT: Close is best effort when memory runs out
  }
}

HelloReply AsyncConnection::server_hello() const {
  std::lock_guard<std::mutex> lock(hello_mu_);
  return hello_;
}

// ---- I/O thread ----

void AsyncConnection::Complete(Completion& done, Result<Response> result) noexcept {
  outstanding_.fetch_sub(1, std::memory_order_acq_rel);
  InvokeNoThrow(done, std::move(result));
}

template <typename Body>
void AsyncConnection::Guarded(Body&& body) noexcept {
  try {
    body();
  } catch (const std::exception& e) {
    FailConnectionNoThrow(Status::Internal(std::string("client error: ") + e.what()));
  } catch (...) {
    FailConnectionNoThrow(Status::Internal("client error"));
  }
}

void AsyncConnection::Accept(PendingCall call) noexcept {
  Guarded([&] {
    if (shutting_down_) {
      Complete(call.done, Destroyed());
      return;
    }
    if (!active_ && !may_connect_) {
      Complete(call.done,
               Status::Unavailable("not connected (the connection ended and reconnect is off; "
                                   "call Connect())"));
      return;
    }
    queue_.push_back(std::move(call));
    if (!active_) {
      StartConnect();
    } else if (transport_.ready()) {
      ScheduleWrite();
    }
  });
}

void AsyncConnection::ConnectNow(std::function<void(Status)> done) noexcept {
  Guarded([&] {
    if (shutting_down_) {
      InvokeNoThrow(done, Destroyed());
      return;
    }
    may_connect_ = true;
    if (transport_.ready()) {
      InvokeNoThrow(done, Status::Ok());
      return;
    }
    connect_waiters_.push_back(std::move(done));
    if (!active_) StartConnect();
  });
}

void AsyncConnection::CloseNow() noexcept {
  Guarded([&] {
    FailConnection(Status::Unavailable("closed by the client"));
    may_connect_ = options_.reconnect;
  });
}

void AsyncConnection::StartConnect() {
  active_ = true;
  connect_deadline_ = Clock::now() + options_.connect_timeout;
  ArmWatchdog();
  // The transport reports the outcome once (possibly inline, e.g. a bad unix_path).
  transport_.Connect([this](Status status) { Guarded([&] { OnConnected(std::move(status)); }); });
}

void AsyncConnection::OnConnected(Status status) {
  if (!status.ok()) {
    FailConnection(status);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(hello_mu_);
    hello_ = transport_.server_hello();
  }
  connected_.store(true, std::memory_order_release);
  std::vector<std::function<void(Status)>> waiters;
  waiters.swap(connect_waiters_);
  for (auto& waiter : waiters) InvokeNoThrow(waiter, Status::Ok());
  StartWrite();
}

// Gathers: the write happens after every operation already posted ran.
void AsyncConnection::ScheduleWrite() {
  if (write_scheduled_) return;
  write_scheduled_ = true;
  asio::post(ioc_, [this] {
    Guarded([&] {
      write_scheduled_ = false;
      StartWrite();
    });
  });
}

// Moves queued calls into in_flight_ and hands them to the transport as one
// write (up to kWriteBatchBytes; the rest when it is done: on_idle).
void AsyncConnection::StartWrite() {
  if (!transport_.ready() || transport_.writing() || queue_.empty()) return;
  const Clock::time_point now = Clock::now();
  size_t added = 0;
  while (!queue_.empty() && transport_.pending_bytes() < kWriteBatchBytes) {
    PendingCall call = std::move(queue_.front());
    queue_.pop_front();
    const uint64_t id = call.request.request_id;
    const Clock::time_point deadline = now + options_.io_timeout + ServerWait(call.request);
    auto [it, inserted] = in_flight_.try_emplace(id, std::move(call.done), deadline);
    if (!inserted) {  // try_emplace left call.done alone
      Complete(call.done, Status::InvalidArgument("request id " + std::to_string(id) +
                                                  " is already in flight"));
      continue;
    }
    transport_.Enqueue(call.request);
    ++added;
  }
  if (added == 0) return;
  transport_.Flush();
  ArmWatchdog();
}

void AsyncConnection::Dispatch(Response response) {
  if (response.request_id == 0) {  // a connection-level error; the server closes
    FailConnection(response.error != ErrorCode::kOk
                       ? ToStatus(response.error, response.message)
                       : Status::DataLoss("an answer without a request id"));
    return;
  }
  auto it = in_flight_.find(response.request_id);
  if (it == in_flight_.end()) return;  // not (or no longer) ours: ignore it
  Completion done = std::move(it->second.done);
  in_flight_.erase(it);
  Complete(done, std::move(response));
}

AsyncConnection::Abandoned AsyncConnection::Disconnect() {
  // Abandoning calls: reset (RST) rather than FIN. A FIN reads as a
  // half-close to the server, which then keeps parked min_lsn requests until
  // their waits end; a reset makes it drop them at once.
  transport_.Close(/*abandoning=*/!in_flight_.empty());
  const bool had_connection = active_;
  active_ = false;
  connected_.store(false, std::memory_order_release);
  if (had_connection && !options_.reconnect) may_connect_ = false;
  // Handlers may start new calls: posted, they land only after this.
  Abandoned out;
  out.in_flight.swap(in_flight_);
  out.queue.swap(queue_);
  out.waiters.swap(connect_waiters_);
  return out;
}

void AsyncConnection::FailAll(Abandoned& abandoned, const Status& why) {
  for (auto& [id, call] : abandoned.in_flight) Complete(call.done, why);
  for (PendingCall& call : abandoned.queue) Complete(call.done, why);
  for (auto& waiter : abandoned.waiters) InvokeNoThrow(waiter, why);
}

void AsyncConnection::FailConnection(const Status& why) {
  Abandoned abandoned = Disconnect();
  FailAll(abandoned, why);
}

void AsyncConnection::FailConnectionNoThrow(const Status& why) noexcept {
  try {
    FailConnection(why);
  } catch (...) {  // NOLINT: nothing more can be done; Run() keeps serving
  }
}

// One timer checks every deadline (connect, each call) every
// watchdog_interval_ while anything is pending, instead of a timer per call.
void AsyncConnection::ArmWatchdog() {
  if (watchdog_armed_ || shutting_down_) return;
  watchdog_armed_ = true;
  watchdog_.expires_after(watchdog_interval_);
  watchdog_.async_wait([this](const error_code&) {
    Guarded([&] {
      watchdog_armed_ = false;
      if (!shutting_down_) OnWatchdog();
    });
  });
}

void AsyncConnection::OnWatchdog() {
  const Clock::time_point now = Clock::now();
  const State state = transport_.state();
  if (state == State::kConnecting || state == State::kHandshaking) {
    if (now >= connect_deadline_) {
      FailConnection(Status::Timeout("connecting to " + transport_.where() + " timed out"));
      return;
    }
    ArmWatchdog();
    return;
  }
  if (in_flight_.empty()) return;  // idle: re-armed by the next write
  std::vector<uint64_t> expired;
  for (const auto& [id, call] : in_flight_) {
    if (call.deadline <= now) expired.push_back(id);
  }
  if (expired.empty()) {
    ArmWatchdog();
    return;
  }
  // The late calls get kTimeout, the rest on the dropped connection kUnavailable.
  Abandoned abandoned = Disconnect();
  for (uint64_t id : expired) {
    auto it = abandoned.in_flight.find(id);
    Complete(it->second.done, Status::Timeout("no answer from the server in time"));
    abandoned.in_flight.erase(it);
  }
  FailAll(abandoned, Status::Unavailable("connection dropped: another call got no answer in time"));
}

}  // namespace canopy::net::internal
