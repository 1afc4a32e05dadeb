// net/src/client_transport.h — the one connection implementation under both
// canopy::net::Client (blocking) and canopy::net::AsyncClient: connect over TCP
// or a Unix socket, say Hello (version, token), encode requests into one write
// buffer, write it, read and decode answers with FrameReader. It is an Asio
// object driven by an io_context its owner runs: the blocking Client runs its
// private io_context from the calling thread with a deadline; the AsyncClient
// runs one on its I/O thread. What differs between the two clients is only
// *when* they run the loop and *what* they do with an answer (see client.cc,
// async_connection.cc); the bytes on the wire are made here.
//
//   ClientTransport transport(ioc, options, {.on_response = ..., .on_failure = ...});
//   transport.Connect([](Status s) { ... });   // OK once Hello is answered
//   transport.Enqueue(request);                // encoded into the write buffer
//   transport.Enqueue(other);
//   transport.Flush();                         // one write carries both
//
// CONTRACT
//   Connect(done): resolves the host (numeric hosts skip the resolver), tries
//     each endpoint in turn, sets TCP_NODELAY, writes Hello as the first frame
//     and starts the read loop. `done` runs once (never after Close()): OK when the Hello
//     reply is OK (server_hello() then holds it), else the error — kUnavailable
//     (resolve/connect failed, connection lost, a connection-level error such
//     as "overloaded"), kFailedPrecondition (unauthorized, unsupported
//     version), kInvalidArgument (unix_path too long), kDataLoss (bad frame).
//     No timeout here: the owner enforces connect_timeout/io_timeout by
//     calling Close() when its deadline passes (state() says where it is).
//   Enqueue(request): REQUIRES state() == kReady. Encodes the frame into the
//     pending write buffer; nothing is written until Flush().
//   Flush(): starts writing everything pending unless a write is under way;
//     when a write finishes, whatever was enqueued meanwhile is written next,
//     all of it in one write; on_idle runs when nothing is left to write.
//     A write is a loop of write_some calls (one send syscall each); stats()
//     counts them, so "requests per write" is requests_written / writes.
//   Answers: the read loop runs while connected (its buffer is FrameReader's,
//     max_frame_bytes from the options). Each frame after the Hello reply is
//     decoded and handed to on_response in arrival order — including
//     connection-level errors (request id 0), which the owner interprets.
//   Failures after the handshake (read/write error, EOF, undecodable frame)
//     call on_failure once with kUnavailable / kDataLoss; the transport is
//     then disconnected. Close() never calls on_failure or a pending
//     Connect's `done` (the owner knows it closed).
//   Close(abandoning): drops the connection; with `abandoning` on TCP it
//     resets (RST) instead of FIN so that the server drops parked min_lsn
//     requests at once (a FIN reads as a half-close, which keeps them).
//   Handlers run from the io_context; each captures the connection generation
//   and does nothing once that connection was dropped, so a late completion
//   never touches the next connection. A handler may call Close() or
//   Connect() (re-entrancy is handled by the generation check).
//
// THREAD SAFETY: thread-compatible; everything, including the handlers, runs
// on the thread running the io_context. stats() may be read from any thread
// (relaxed atomics).
#pragma once

#include <atomic>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "canopy/fb/canopy_generated.h"
#include "canopy/net/client.h"
#include "canopy/net/protocol.h"
#include "canopy/status.h"
#include "frame.h"

namespace canopy::net::internal {

// Bytes of encoded requests a client gathers into one write at most (the
// blocking Client writes when this much is pending; the AsyncClient moves
// calls into a write up to this size).
inline constexpr size_t kWriteBatchBytes = 64 * 1024;

class ClientTransport {
 public:
  enum class State : uint8_t { kDisconnected, kConnecting, kHandshaking, kReady };

  struct Handlers {
    std::function<void(Response)> on_response;  // every answer after Hello's, arrival order
    std::function<void(Status)> on_failure;     // the connection broke (not Close())
    std::function<void()> on_idle;              // a write finished, nothing left pending
  };

  ClientTransport(boost::asio::io_context& ioc, const ClientOptions& options, Handlers handlers);
  ~ClientTransport();
  ClientTransport(const ClientTransport&) = delete;
  ClientTransport& operator=(const ClientTransport&) = delete;

  void Connect(std::function<void(Status)> done);
  void Close(bool abandoning = false);

  void Enqueue(const Request& request);
  void Flush();

  State state() const { return state_; }
  bool ready() const { return state_ == State::kReady; }
  bool writing() const { return writing_; }
  size_t pending_bytes() const { return pending_.size(); }
  size_t pending_requests() const { return pending_requests_; }
  const HelloReply& server_hello() const { return hello_; }
  const std::string& where() const { return where_; }
  ClientStats stats() const;

  // Request ids: one sequence per client, shared by Hello and the calls.
  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

 private:
  using Socket = boost::asio::generic::stream_protocol::socket;

  void ConnectTo(uint64_t gen, size_t i);
  void OnConnected(uint64_t gen);
  void StartWrite();
  void WriteSome(uint64_t gen);
  void StartRead(uint64_t gen);
  void OnRead(uint64_t gen, const boost::system::error_code& ec, size_t n);
  void HandleHello(Response response);
  // Ends the connection after an error: `done` of a pending Connect, else on_failure.
  void Fail(Status why);
  void Drop(bool abandoning);

  boost::asio::io_context& ioc_;
  const ClientOptions& options_;
  Handlers handlers_;
  std::string where_;
  boost::asio::ip::tcp::resolver resolver_;
  std::shared_ptr<Socket> socket_;  // shared with its pending operations
  std::vector<boost::asio::generic::stream_protocol::endpoint> endpoints_;
  boost::system::error_code last_connect_error_;
  std::function<void(Status)> connect_done_;
  State state_ = State::kDisconnected;
  uint64_t gen_ = 0;  // bumped by every Connect and every drop
  uint64_t hello_id_ = 0;
  HelloReply hello_;
  std::atomic<uint64_t> next_id_{1};

  FrameReader reader_;
  flatbuffers::FlatBufferBuilder builder_{1024};
  std::vector<uint8_t> pending_;  // encoded, not yet handed to a write
  size_t pending_requests_ = 0;
  std::vector<uint8_t> in_write_;  // the write under way
  size_t in_write_requests_ = 0;
  size_t written_ = 0;  // bytes of in_write_ already sent
  bool writing_ = false;

  struct Counters {
    std::atomic<uint64_t> connects{0};
    std::atomic<uint64_t> writes{0};
    std::atomic<uint64_t> requests_written{0};
    std::atomic<uint64_t> bytes_written{0};
    std::atomic<uint64_t> reads{0};
    std::atomic<uint64_t> responses_read{0};
  };
  Counters counters_;
};

}  // namespace canopy::net::internal
