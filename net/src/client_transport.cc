#include "client_transport.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <span>
#include <utility>
#include <variant>

#include "codec.h"

namespace canopy::net::internal {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Buffers that grew past this are released so one huge request does not pin memory.
constexpr size_t kKeepBufferBytes = 1u << 20;

void Release(std::vector<uint8_t>& buffer) {
  buffer.clear();
  if (buffer.capacity() > kKeepBufferBytes) std::vector<uint8_t>().swap(buffer);
}

}  // namespace

ClientTransport::ClientTransport(asio::io_context& ioc, const ClientOptions& options,
                                 Handlers handlers)
    : ioc_(ioc),
      options_(options),
      handlers_(std::move(handlers)),
      resolver_(ioc),
      reader_(options.max_frame_bytes, kReadChunk) {
  where_ = options_.unix_path.empty() ? options_.host + ":" + std::to_string(options_.port)
                                      : options_.unix_path;
}

ClientTransport::~ClientTransport() { Drop(false); }

ClientStats ClientTransport::stats() const {
  ClientStats s;
  s.connects = counters_.connects.load(std::memory_order_relaxed);
  s.writes = counters_.writes.load(std::memory_order_relaxed);
  s.requests_written = counters_.requests_written.load(std::memory_order_relaxed);
  s.bytes_written = counters_.bytes_written.load(std::memory_order_relaxed);
  s.reads = counters_.reads.load(std::memory_order_relaxed);
  s.responses_read = counters_.responses_read.load(std::memory_order_relaxed);
  return s;
}

void ClientTransport::Connect(std::function<void(Status)> done) {
  Drop(false);
  connect_done_ = std::move(done);
  state_ = State::kConnecting;
  const uint64_t gen = ++gen_;
  endpoints_.clear();
  last_connect_error_ = asio::error::host_not_found;
  if (!options_.unix_path.empty()) {
    asio::local::stream_protocol::endpoint endpoint;
    try {
      endpoint = asio::local::stream_protocol::endpoint(options_.unix_path);
    } catch (const std::exception& e) {  // a path too long for sockaddr_un
      Fail(Status::InvalidArgument("bad unix_path '" + options_.unix_path + "': " + e.what()));
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
        if (gen != gen_) return;
        if (rec) {
          Fail(Status::Unavailable("cannot resolve " + options_.host + ": " + rec.message()));
          return;
        }
        for (const auto& entry : results) endpoints_.emplace_back(entry.endpoint());
        ConnectTo(gen, 0);
      });
}

// Tries endpoints_[i], then the next ones.
void ClientTransport::ConnectTo(uint64_t gen, size_t i) {
  if (i >= endpoints_.size()) {
    Fail(Status::Unavailable("cannot connect to " + where_ + ": " + last_connect_error_.message()));
    return;
  }
  socket_ = std::make_shared<Socket>(ioc_);
  socket_->async_connect(endpoints_[i], [this, gen, i, socket = socket_](const error_code& ec) {
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
}

void ClientTransport::OnConnected(uint64_t gen) {
  if (options_.unix_path.empty()) {
    error_code ignored;
    socket_->set_option(asio::ip::tcp::no_delay(true), ignored);
  }
  reader_.Reset();
  state_ = State::kHandshaking;
  // Hello first, alone: calls are enqueued once it is answered, so a refused
  // handshake is reported with the server's reason.
  Request hello;
  hello.request_id = NextId();
  hello.body = HelloRequest{kProtocolVersion, options_.token, options_.client_name};
  hello_id_ = hello.request_id;
  Release(pending_);
  pending_requests_ = 0;
  EncodeRequest(hello, &builder_);
  const uint8_t* data = builder_.GetBufferPointer();
  pending_.insert(pending_.end(), data, data + builder_.GetSize());
  pending_requests_ = 1;
  StartRead(gen);
  StartWrite();
}

void ClientTransport::Enqueue(const Request& request) {
  EncodeRequest(request, &builder_);
  const uint8_t* data = builder_.GetBufferPointer();
  pending_.insert(pending_.end(), data, data + builder_.GetSize());
  ++pending_requests_;
  if (builder_.GetSize() > kKeepBufferBytes) builder_.Reset();
}

void ClientTransport::Flush() {
  if (state_ != State::kReady) return;
  StartWrite();
}

void ClientTransport::StartWrite() {
  if (writing_ || pending_.empty() || socket_ == nullptr) return;
  in_write_.swap(pending_);
  Release(pending_);
  in_write_requests_ = pending_requests_;
  pending_requests_ = 0;
  written_ = 0;
  writing_ = true;
  WriteSome(gen_);
}

// One write_some per step (one send syscall), so stats().writes counts what
// the kernel was asked to do.
void ClientTransport::WriteSome(uint64_t gen) {
  socket_->async_write_some(
      asio::buffer(in_write_.data() + written_, in_write_.size() - written_),
      [this, gen, socket = socket_](const error_code& ec, size_t n) {
        if (gen != gen_) return;
        if (ec) {
          Fail(Status::Unavailable("connection lost while sending: " + ec.message()));
          return;
        }
        counters_.writes.fetch_add(1, std::memory_order_relaxed);
        counters_.bytes_written.fetch_add(n, std::memory_order_relaxed);
        written_ += n;
        if (written_ < in_write_.size()) {
          WriteSome(gen);
          return;
        }
        counters_.requests_written.fetch_add(in_write_requests_, std::memory_order_relaxed);
        writing_ = false;
        Release(in_write_);
        in_write_requests_ = 0;
        if (!pending_.empty() && state_ == State::kReady) {
          StartWrite();
          return;
        }
        if (state_ == State::kReady && handlers_.on_idle) handlers_.on_idle();
      });
}

void ClientTransport::StartRead(uint64_t gen) {
  std::span<uint8_t> space = reader_.PrepareWrite(kReadChunk);
  socket_->async_read_some(
      asio::buffer(space.data(), space.size()),
      [this, gen, socket = socket_](const error_code& ec, size_t n) { OnRead(gen, ec, n); });
}

void ClientTransport::OnRead(uint64_t gen, const error_code& ec, size_t n) {
  if (gen != gen_) return;
  if (ec) {
    const std::string why = ec == asio::error::eof ? "closed by the server" : ec.message();
    Fail(Status::Unavailable("connection lost: " + why));
    return;
  }
  counters_.reads.fetch_add(1, std::memory_order_relaxed);
  reader_.CommitWrite(n);
  for (;;) {
    FrameReader::Next next = reader_.NextFrame();
    if (next.state == FrameReader::State::kNeedMore) break;
    if (next.state != FrameReader::State::kFrame) {
      Fail(Status::DataLoss("malformed frame from the server"));
      return;
    }
    Result<Response> r = DecodeResponse(next.frame);
    if (!r.ok()) {
      Fail(r.status());
      return;
    }
    counters_.responses_read.fetch_add(1, std::memory_order_relaxed);
    if (state_ == State::kHandshaking) {
      HandleHello(std::move(r).value());
    } else if (handlers_.on_response) {
      handlers_.on_response(std::move(r).value());
    }
    if (gen != gen_) return;  // that answer ended the connection
  }
  StartRead(gen);
}

void ClientTransport::HandleHello(Response response) {
  if (response.request_id == 0 || response.error != ErrorCode::kOk) {
    // A connection-level refusal (overloaded, ...) or the handshake's own error.
    Fail(response.error != ErrorCode::kOk ? ToStatus(response.error, response.message)
                                          : Status::DataLoss("an answer without a request id"));
    return;
  }
  if (response.request_id != hello_id_) {
    Fail(Status::DataLoss("an answer before the handshake's"));
    return;
  }
  if (HelloReply* reply = std::get_if<HelloReply>(&response.body)) hello_ = std::move(*reply);
  state_ = State::kReady;
  counters_.connects.fetch_add(1, std::memory_order_relaxed);
  std::function<void(Status)> done = std::move(connect_done_);
  connect_done_ = nullptr;
  if (done) done(Status::Ok());
}

void ClientTransport::Fail(Status why) {
  const bool connecting = state_ == State::kConnecting || state_ == State::kHandshaking;
  std::function<void(Status)> done = std::move(connect_done_);
  connect_done_ = nullptr;
  Drop(false);
  if (connecting) {
    if (done) done(std::move(why));
  } else if (handlers_.on_failure) {
    handlers_.on_failure(std::move(why));
  }
}

void ClientTransport::Close(bool abandoning) {
  connect_done_ = nullptr;
  Drop(abandoning);
}

void ClientTransport::Drop(bool abandoning) {
  ++gen_;
  if (socket_ != nullptr) {
    error_code ignored;
    if (abandoning && options_.unix_path.empty()) {
      socket_->set_option(asio::socket_base::linger(true, 0), ignored);
    } else {
      socket_->shutdown(asio::socket_base::shutdown_both, ignored);
    }
    socket_->close(ignored);
    socket_.reset();  // its pending operations hold it until they complete
  }
  resolver_.cancel();
  state_ = State::kDisconnected;
  writing_ = false;
  reader_.Reset();
  Release(pending_);
  Release(in_write_);
  pending_requests_ = 0;
  in_write_requests_ = 0;
  written_ = 0;
}

}  // namespace canopy::net::internal
