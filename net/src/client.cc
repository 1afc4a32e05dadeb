// canopy::net::Client: blocking calls built on a private io_context that the
// calling thread runs with a deadline (run_one_until), so every wait has a
// timeout and nothing blocks without one.
#include "canopy/net/client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <utility>

#include "codec.h"
#include "frame.h"
#include "typed_answers.h"

namespace canopy::net {
namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes of pipelined requests buffered before Send() writes them out.
constexpr size_t kSendBufferFlushBytes = 64 * 1024;
constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)), ioc_(1), reader_(options_.max_frame_bytes, kReadChunk) {}

  ~Impl() { Close(); }

  bool connected() const { return socket_.has_value() && socket_->is_open(); }

  Status Connect() {
    Close();
    const Clock::time_point deadline = Clock::now() + options_.connect_timeout;
    socket_.emplace(ioc_);
    std::vector<asio::generic::stream_protocol::endpoint> endpoints;
    std::string where;
    if (!options_.unix_path.empty()) {
      where = options_.unix_path;
      endpoints.emplace_back(asio::local::stream_protocol::endpoint(options_.unix_path));
    } else {
      where = options_.host + ":" + std::to_string(options_.port);
      asio::ip::tcp::resolver resolver(ioc_);
      error_code ec;
      auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                      asio::ip::tcp::resolver::numeric_service, ec);
      if (ec) return Status::Unavailable("cannot resolve " + options_.host + ": " + ec.message());
      for (const auto& entry : results) endpoints.emplace_back(entry.endpoint());
    }
    error_code connect_ec = asio::error::host_not_found;
    for (const auto& endpoint : endpoints) {
      bool done = false;
      socket_->async_connect(endpoint, [&](const error_code& ec) {
        done = true;
        connect_ec = ec;
      });
      if (!RunUntil([&] { return done; }, deadline)) {
        Close();
        return Status::Timeout("connecting to " + where + " timed out");
      }
      if (!connect_ec) break;
      error_code ignored;
      socket_->close(ignored);
    }
    if (connect_ec) {
      Close();
      return Status::Unavailable("cannot connect to " + where + ": " + connect_ec.message());
    }
    if (options_.unix_path.empty()) {
      error_code ignored;
      socket_->set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    reader_.Reset();
    read_error_.clear();
    outstanding_ = 0;
    longest_wait_ = {};

    Request hello;
    hello.body = HelloRequest{kProtocolVersion, options_.token, options_.client_name};
    Result<Response> r = CallOnce(std::move(hello));
    if (!r.ok()) {
      Close();
      return r.status();
    }
    if (r->error != ErrorCode::kOk) {
      Close();
      return ToStatus(r->error, r->message);
    }
    if (const HelloReply* reply = std::get_if<HelloReply>(&r->body)) hello_ = *reply;
    return Status::Ok();
  }

  void Close() {
    if (socket_.has_value()) {
      error_code ignored;
      socket_->shutdown(asio::socket_base::shutdown_both, ignored);
      socket_->close(ignored);
      // Let the cancelled operations' handlers run while what they capture lives.
      ioc_.restart();
      ioc_.poll();
      socket_.reset();
    }
    reading_ = false;
    send_buffer_.clear();
    outstanding_ = 0;
  }

  Result<uint64_t> Send(Request request) {
    if (!connected()) {
      if (Status s = Connect(); !s.ok()) return s;
    }
    if (request.request_id == 0) request.request_id = next_id_++;
    EncodeRequestInto(request);
    ++outstanding_;
    longest_wait_ = std::max(longest_wait_, internal::ServerWait(request));
    if (send_buffer_.size() >= kSendBufferFlushBytes) {
      if (Status s = Flush(); !s.ok()) return s;
    }
    return request.request_id;
  }

  Status Flush() {
    if (send_buffer_.empty()) return Status::Ok();
    if (!connected()) return Status::Unavailable("not connected");
    bool done = false;
    error_code write_ec;
    std::vector<uint8_t> buffer = std::move(send_buffer_);
    send_buffer_.clear();
    asio::async_write(*socket_, asio::buffer(buffer), [&](const error_code& ec, size_t) {
      done = true;
      write_ec = ec;
    });
    // Keep reading meanwhile: a server that answers while we write must not
    // be able to block us (and itself) on full socket buffers.
    draining_ = true;
    StartRead();
    const bool finished = RunUntil([&] { return done; }, Clock::now() + options_.io_timeout);
    draining_ = false;
    if (!finished) {
      Close();
      return Status::Timeout("sending to the server timed out");
    }
    if (write_ec) {
      Close();
      return Status::Unavailable("connection lost while sending: " + write_ec.message());
    }
    return Status::Ok();
  }

  Result<Response> Receive() {
    if (Status s = Flush(); !s.ok()) return s;
    const Clock::time_point deadline = Clock::now() + options_.io_timeout + longest_wait_;
    for (;;) {
      if (!reading_) {
        internal::FrameReader::Next next = reader_.NextFrame();
        if (next.state == internal::FrameReader::State::kFrame) {
          Result<Response> r = internal::DecodeResponse(next.frame);
          if (!r.ok()) {
            Close();
            return r.status();
          }
          if (outstanding_ > 0 && r->request_id != 0) --outstanding_;
          if (outstanding_ == 0) longest_wait_ = {};
          return r;
        }
        if (next.state != internal::FrameReader::State::kNeedMore) {
          Close();
          return Status::DataLoss("malformed frame from the server");
        }
        if (read_error_) {
          const std::string why =
              read_error_ == asio::error::eof ? "closed by the server" : read_error_.message();
          Close();
          read_error_.clear();
          return Status::Unavailable("connection lost: " + why);
        }
        if (!connected()) return Status::Unavailable("not connected");
        StartRead();
      }
      if (!RunOne(deadline)) {
        Close();
        return Status::Timeout("no answer from the server in time");
      }
    }
  }

  Result<Response> CallOnce(Request request) {
    Result<uint64_t> id = Send(std::move(request));
    if (!id.ok()) return id.status();
    for (;;) {
      Result<Response> r = Receive();
      if (!r.ok()) return r;
      if (r->request_id == *id || r->request_id == 0) return r;
      // An answer to something pipelined earlier: Call() REQUIRES none, skip it.
    }
  }

  Result<Response> Call(Request request) {
    const bool may_retry = options_.reconnect && outstanding_ == 0;
    if (request.request_id == 0) request.request_id = next_id_++;
    const bool was_connected = connected();
    Result<Response> r = CallOnce(request);
    if (!r.ok() && may_retry && was_connected && r.status().code() == StatusCode::kUnavailable) {
      Close();
      r = CallOnce(std::move(request));
    }
    return r;
  }

  size_t outstanding() const { return outstanding_; }
  const HelloReply& hello() const { return hello_; }

 private:
  void EncodeRequestInto(const Request& request) {
    internal::EncodeRequest(request, &builder_);
    const uint8_t* data = builder_.GetBufferPointer();
    send_buffer_.insert(send_buffer_.end(), data, data + builder_.GetSize());
    if (builder_.GetSize() > (1u << 20)) builder_.Reset();
  }

  void StartRead() {
    if (reading_ || !connected() || read_error_) return;
    std::span<uint8_t> space = reader_.PrepareWrite(kReadChunk);
    reading_ = true;
    socket_->async_read_some(asio::buffer(space.data(), space.size()),
                             [this](const error_code& ec, size_t n) {
                               reading_ = false;
                               if (ec) {
                                 if (ec != asio::error::operation_aborted) read_error_ = ec;
                                 return;
                               }
                               reader_.CommitWrite(n);
                               if (draining_) StartRead();
                             });
  }

  // Runs at most one handler; false once the deadline has passed. Callers
  // always have an operation pending while they wait, so this never spins.
  bool RunOne(Clock::time_point deadline) {
    if (ioc_.stopped()) ioc_.restart();
    ioc_.run_one_until(deadline);
    return Clock::now() < deadline;
  }

  template <typename Done>
  bool RunUntil(Done done, Clock::time_point deadline) {
    while (!done()) {
      if (!RunOne(deadline)) return done();
    }
    return true;
  }

  ClientOptions options_;
  asio::io_context ioc_;
  std::optional<asio::generic::stream_protocol::socket> socket_;
  internal::FrameReader reader_;
  flatbuffers::FlatBufferBuilder builder_{1024};
  std::vector<uint8_t> send_buffer_;
  bool reading_ = false;
  bool draining_ = false;
  error_code read_error_;
  uint64_t next_id_ = 1;
  size_t outstanding_ = 0;
  std::chrono::milliseconds longest_wait_{0};
  HelloReply hello_;
};

// ---------------------------------------------------------------------------

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Status Client::Connect() { return impl_->Connect(); }
void Client::Close() { impl_->Close(); }
bool Client::connected() const { return impl_->connected(); }
const HelloReply& Client::server_hello() const { return impl_->hello(); }
Result<Response> Client::Call(Request request) { return impl_->Call(std::move(request)); }
Result<uint64_t> Client::Send(Request request) { return impl_->Send(std::move(request)); }
Status Client::Flush() { return impl_->Flush(); }
Result<Response> Client::Receive() { return impl_->Receive(); }
size_t Client::outstanding() const { return impl_->outstanding(); }

using internal::MakeRequest;

Result<QueryAnswer> Client::Query(const IdQuery& query, const CallOptions& call) {
  Result<Response> r = Call(MakeRequest(query, call));
  if (!r.ok()) return r.status();
  return internal::QueryAnswerFrom(std::move(r).value());
}

Result<BatchAnswer> Client::QueryBatch(std::span<const IdQuery> queries, const CallOptions& call) {
  Result<Response> r = Call(MakeRequest(BatchRequest{{queries.begin(), queries.end()}}, call));
  if (!r.ok()) return r.status();
  return internal::BatchAnswerFrom(std::move(r).value(), queries.size());
}

Result<BatchAnswer> Client::QueryMany(const IdQuery& prototype, std::span<const int64_t> ids,
                                      const CallOptions& call) {
  std::vector<IdQuery> queries(ids.size(), prototype);
  for (size_t i = 0; i < ids.size(); ++i) queries[i].id = ids[i];
  return QueryBatch(queries, call);
}

Result<QueryAnswer> Client::QueryAll(IdQuery query, uint32_t page_size, const CallOptions& call) {
  if (!IsAscendingKind(query.kind)) return Query(query, call);
  query.limit = page_size;
  query.after_id.reset();
  QueryAnswer all;
  for (;;) {
    Result<QueryAnswer> page = Query(query, call);
    if (!page.ok()) return page;
    all.lsn = page->lsn;
    all.answer.status = page->answer.status;
    all.answer.total = page->answer.total;
    if (!page->answer.status.ok()) return all;
    all.answer.ids.insert(all.answer.ids.end(), page->answer.ids.begin(), page->answer.ids.end());
    if (!page->answer.more || page->answer.ids.empty()) return all;
    query.after_id = page->answer.ids.back();
  }
}

Result<Answer<std::vector<Result<SubtreeCounts>>>> Client::CountsMany(std::span<const int64_t> ids,
                                                                      const CallOptions& call) {
  Result<Response> r = Call(MakeRequest(CountsRequest{{ids.begin(), ids.end()}}, call));
  if (!r.ok()) return r.status();
  return internal::CountsFrom(std::move(r).value());
}

Result<Answer<SubtreeCounts>> Client::Counts(int64_t ns, const CallOptions& call) {
  return internal::SingleMember(CountsMany(std::span<const int64_t>(&ns, 1), call), "counts");
}

Result<Answer<std::vector<Result<std::string>>>> Client::FullPaths(Table table,
                                                                   std::span<const int64_t> ids,
                                                                   const CallOptions& call) {
  Result<Response> r = Call(MakeRequest(FullPathRequest{table, {ids.begin(), ids.end()}}, call));
  if (!r.ok()) return r.status();
  return internal::FullPathsFrom(std::move(r).value(), table);
}

Result<Answer<std::string>> Client::FullPath(Table table, int64_t id, const CallOptions& call) {
  return internal::SingleMember(FullPaths(table, std::span<const int64_t>(&id, 1), call),
                                "full_path");
}

Result<Answer<std::vector<Result<ResolvedPath>>>> Client::ResolveMany(
    std::span<const std::string> paths, const CallOptions& call) {
  Result<Response> r = Call(MakeRequest(ResolveRequest{{paths.begin(), paths.end()}}, call));
  if (!r.ok()) return r.status();
  return internal::ResolvedFrom(std::move(r).value());
}

Result<Answer<ResolvedPath>> Client::Resolve(std::string_view full_path, const CallOptions& call) {
  const std::string path(full_path);
  return internal::SingleMember(ResolveMany(std::span<const std::string>(&path, 1), call),
                                "resolve");
}

Result<Answer<std::vector<int64_t>>> Client::RunnersOfGroups(std::span<const int64_t> ids,
                                                             const CallOptions& call) {
  Result<Response> r = Call(MakeRequest(RunnersOfGroupsRequest{{ids.begin(), ids.end()}}, call));
  if (!r.ok()) return r.status();
  return internal::RunnersFrom(std::move(r).value());
}

Result<ServerStatus> Client::GetStatus() {
  Result<Response> r = Call(MakeRequest(StatusRequest{}, {}));
  if (!r.ok()) return r.status();
  return internal::StatusFrom(std::move(r).value());
}

Result<Lsn> Client::Ping(uint64_t payload, const CallOptions& call) {
  Result<Response> r = Call(MakeRequest(PingRequest{payload}, call));
  if (!r.ok()) return r.status();
  return internal::PongFrom(*r, payload);
}

}  // namespace canopy::net
