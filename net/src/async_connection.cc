#include "async_connection.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <span>
#include <utility>
#include <variant>

#include "codec.h"
#include "typed_answers.h"

namespace canopy::net::internal {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// A write carries queued requests up to about this many bytes.
constexpr size_t kWriteBatchBytes = 64 * 1024;
// Buffers that grew past this are released so one huge request does not pin memory.
constexpr size_t kKeepBufferBytes = 1u << 20;

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
      resolver_(ioc_),
      watchdog_(ioc_),
      reader_(options_.max_frame_bytes, kReadChunk) {
  where_ = options_.unix_path.empty() ? options_.host + ":" + std::to_string(options_.port)
                                      : options_.unix_path;
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
  if (request.request_id == 0) request.request_id = next_id_.fetch_add(1);
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
    if (state_ == State::kDisconnected && !may_connect_) {
      Complete(call.done,
               Status::Unavailable("not connected (the connection ended and reconnect is off; "
                                   "call Connect())"));
      return;
    }
    queue_.push_back(std::move(call));
    if (state_ == State::kDisconnected) {
      StartConnect();
    } else if (state_ == State::kReady) {
      StartWrite();
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
    if (state_ == State::kReady) {
      InvokeNoThrow(done, Status::Ok());
      return;
    }
    connect_waiters_.push_back(std::move(done));
    if (state_ == State::kDisconnected) StartConnect();
  });
}

void AsyncConnection::CloseNow() noexcept {
  Guarded([&] {
    FailConnection(Status::Unavailable("closed by the client"));
    may_connect_ = options_.reconnect;
  });
}

void AsyncConnection::StartConnect() {
  state_ = State::kConnecting;
  const uint64_t gen = ++gen_;
  connect_deadline_ = Clock::now() + options_.connect_timeout;
  ArmWatchdog();
  endpoints_.clear();
  last_connect_error_ = asio::error::host_not_found;
  if (!options_.unix_path.empty()) {
    asio::local::stream_protocol::endpoint endpoint;
    try {
      endpoint = asio::local::stream_protocol::endpoint(options_.unix_path);
    } catch (const std::exception& e) {  // a path too long for sockaddr_un
      FailConnection(
          Status::InvalidArgument("bad unix_path '" + options_.unix_path + "': " + e.what()));
      return;
    }
    endpoints_.emplace_back(endpoint);
    ConnectTo(gen, 0);
    return;
  }
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (!ec) {  // numeric: no resolver round trip (and no resolver thread)
    endpoints_.emplace_back(asio::ip::tcp::endpoint(address, options_.port));
    ConnectTo(gen, 0);
    return;
  }
  resolver_.async_resolve(
      options_.host, std::to_string(options_.port), asio::ip::tcp::resolver::numeric_service,
      [this, gen](const error_code& rec, const asio::ip::tcp::resolver::results_type& results) {
        Guarded([&] {
          if (gen != gen_) return;
          if (rec) {
            FailConnection(
                Status::Unavailable("cannot resolve " + options_.host + ": " + rec.message()));
            return;
          }
          for (const auto& entry : results) endpoints_.emplace_back(entry.endpoint());
          ConnectTo(gen, 0);
        });
      });
}

// Tries endpoints_[i], then the next ones.
void AsyncConnection::ConnectTo(uint64_t gen, size_t i) {
  if (i >= endpoints_.size()) {
    FailConnection(
        Status::Unavailable("cannot connect to " + where_ + ": " + last_connect_error_.message()));
    return;
  }
  socket_ = std::make_shared<Socket>(ioc_);
  socket_->async_connect(endpoints_[i], [this, gen, i, socket = socket_](const error_code& ec) {
    Guarded([&] {
      if (gen != gen_) return;
      if (ec) {
        last_connect_error_ = ec;
        error_code ignored;
        socket->close(ignored);
        ConnectTo(gen, i + 1);
        return;
      }
      OnConnected(gen);
    });
  });
}

void AsyncConnection::OnConnected(uint64_t gen) {
  if (options_.unix_path.empty()) {
    error_code ignored;
    socket_->set_option(asio::ip::tcp::no_delay(true), ignored);
  }
  reader_.Reset();
  state_ = State::kHandshaking;
  StartRead(gen);
  // Hello first, alone: calls are written once it is answered, so a refused
  // handshake fails them with the server's reason.
  Request hello;
  hello.request_id = next_id_.fetch_add(1);
  hello.body = HelloRequest{kProtocolVersion, options_.token, options_.client_name};
  hello_id_ = hello.request_id;
  write_buffer_.clear();
  AppendEncoded(hello);
  WriteBuffer(gen);
}

void AsyncConnection::AppendEncoded(const Request& request) {
  EncodeRequest(request, &builder_);
  const uint8_t* data = builder_.GetBufferPointer();
  write_buffer_.insert(write_buffer_.end(), data, data + builder_.GetSize());
  if (builder_.GetSize() > kKeepBufferBytes) builder_.Reset();
}

// Moves queued calls into in_flight_ and writes them, one batch at a time.
void AsyncConnection::StartWrite() {
  if (writing_ || state_ != State::kReady || queue_.empty()) return;
  write_buffer_.clear();
  const Clock::time_point now = Clock::now();
  while (!queue_.empty() && write_buffer_.size() < kWriteBatchBytes) {
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
    AppendEncoded(call.request);
  }
  if (write_buffer_.empty()) return;
  WriteBuffer(gen_);
  ArmWatchdog();
}

void AsyncConnection::WriteBuffer(uint64_t gen) {
  writing_ = true;
  asio::async_write(
      *socket_, asio::buffer(write_buffer_),
      [this, gen, socket = socket_](const error_code& ec, size_t) {
        Guarded([&] {
          if (gen != gen_) return;
          writing_ = false;
          if (write_buffer_.capacity() > kKeepBufferBytes) {
            std::vector<uint8_t>().swap(write_buffer_);
          }
          if (ec) {
            FailConnection(Status::Unavailable("connection lost while sending: " + ec.message()));
            return;
          }
          StartWrite();
        });
      });
}

void AsyncConnection::StartRead(uint64_t gen) {
  std::span<uint8_t> space = reader_.PrepareWrite(kReadChunk);
  socket_->async_read_some(asio::buffer(space.data(), space.size()),
                           [this, gen, socket = socket_](const error_code& ec, size_t n) {
                             Guarded([&] { OnRead(gen, ec, n); });
                           });
}

void AsyncConnection::OnRead(uint64_t gen, const error_code& ec, size_t n) {
  if (gen != gen_) return;
  if (ec) {
    const std::string why = ec == asio::error::eof ? "closed by the server" : ec.message();
    FailConnection(Status::Unavailable("connection lost: " + why));
    return;
  }
  reader_.CommitWrite(n);
  for (;;) {
    FrameReader::Next next = reader_.NextFrame();
    if (next.state == FrameReader::State::kNeedMore) break;
    if (next.state != FrameReader::State::kFrame) {
      FailConnection(Status::DataLoss("malformed frame from the server"));
      return;
    }
    Result<Response> r = DecodeResponse(next.frame);
    if (!r.ok()) {
      FailConnection(r.status());
      return;
    }
    Dispatch(std::move(r).value());
    if (gen != gen_) return;  // that answer ended the connection
  }
  StartRead(gen);
}

void AsyncConnection::Dispatch(Response response) {
  if (response.request_id == 0) {  // a connection-level error; the server closes
    FailConnection(response.error != ErrorCode::kOk
                       ? ToStatus(response.error, response.message)
                       : Status::DataLoss("an answer without a request id"));
    return;
  }
  if (state_ == State::kHandshaking) {
    if (response.request_id != hello_id_) {
      FailConnection(Status::DataLoss("an answer before the handshake's"));
      return;
    }
    if (response.error != ErrorCode::kOk) {
      FailConnection(ToStatus(response.error, response.message));
      return;
    }
    if (HelloReply* reply = std::get_if<HelloReply>(&response.body)) {
      std::lock_guard<std::mutex> lock(hello_mu_);
      hello_ = *reply;
    }
    state_ = State::kReady;
    connected_.store(true, std::memory_order_release);
    std::vector<std::function<void(Status)>> waiters;
    waiters.swap(connect_waiters_);
    for (auto& waiter : waiters) InvokeNoThrow(waiter, Status::Ok());
    StartWrite();
    return;
  }
  auto it = in_flight_.find(response.request_id);
  if (it == in_flight_.end()) return;  // not (or no longer) ours: ignore it
  Completion done = std::move(it->second.done);
  in_flight_.erase(it);
  Complete(done, std::move(response));
}

AsyncConnection::Abandoned AsyncConnection::Disconnect() {
  ++gen_;
  if (socket_ != nullptr) {
    error_code ignored;
    if (!in_flight_.empty() && options_.unix_path.empty()) {
      // Abandoning calls: reset (RST) rather than FIN. A FIN reads as a
      // half-close to the server, which then keeps parked min_lsn requests
      // until their waits end; a reset makes it drop them at once.
      socket_->set_option(asio::socket_base::linger(true, 0), ignored);
    } else {
      socket_->shutdown(asio::socket_base::shutdown_both, ignored);
    }
    socket_->close(ignored);
    socket_.reset();  // its pending operations hold it until they complete
  }
  resolver_.cancel();
  const bool had_connection = state_ != State::kDisconnected;
  state_ = State::kDisconnected;
  connected_.store(false, std::memory_order_release);
  writing_ = false;
  reader_.Reset();
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
  if (state_ == State::kConnecting || state_ == State::kHandshaking) {
    if (now >= connect_deadline_) {
      FailConnection(Status::Timeout("connecting to " + where_ + " timed out"));
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
