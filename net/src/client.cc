// canopy::net::Client: blocking calls on the shared ClientTransport
// (client_transport.h), driven by a private io_context that the calling thread
// runs with a deadline (run_one_until), so every wait has a timeout and nothing
// blocks without one. Answers the transport reads are kept in arrival order
// until Receive() hands them out; the typed calls are typed_answers.h's.
#include "canopy/net/client.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "client_transport.h"
#include "typed_answers.h"

namespace canopy::net {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)),
        ioc_(1),
        transport_(ioc_, options_,
                   {.on_response = [this](Response r) { arrived_.push_back(std::move(r)); },
                    .on_failure =
                        [this](Status why) {
                          if (!failure_) failure_ = std::move(why);
                        },
                    .on_idle = [this] { idle_ = true; }}) {}

  ~Impl() { Close(); }

  bool connected() const { return transport_.ready(); }

  Status Connect() {
    Close();
    std::optional<Status> result;
    transport_.Connect([&result](Status s) { result = std::move(s); });
    const Clock::time_point deadline = Clock::now() + options_.connect_timeout;
    if (!RunUntil([&] { return result.has_value(); }, deadline)) {
      Close();
      return Status::Timeout("connecting to " + transport_.where() + " timed out");
    }
    if (!result->ok()) {
      Close();
      return *result;
    }
    return Status::Ok();
  }

  void Close() {
    transport_.Close();
    // Let the cancelled operations' handlers run while what they capture lives.
    ioc_.restart();
    ioc_.poll();
    arrived_.clear();
    failure_.reset();
    waiting_ids_.clear();
    queued_waits_ = 0;
    outstanding_ = 0;
    longest_wait_ = {};
  }

  Result<uint64_t> Send(Request request) {
    if (!connected()) {
      if (Status s = Connect(); !s.ok()) return s;
    }
    if (request.request_id == 0) request.request_id = transport_.NextId();
    transport_.Enqueue(request);
    ++outstanding_;
    const std::chrono::milliseconds wait = internal::ServerWait(request);
    if (wait.count() > 0) {
      waiting_ids_.insert(request.request_id);
      ++queued_waits_;
    }
    longest_wait_ = std::max(longest_wait_, wait);
    if (transport_.pending_bytes() >= internal::kWriteBatchBytes) {
      if (Status s = Flush(); !s.ok()) return s;
    }
    return request.request_id;
  }

  Status Flush() {
    if (transport_.pending_requests() == 0) return Status::Ok();
    if (!connected()) return Status::Unavailable("not connected");
    idle_ = false;
    transport_.Flush();
    queued_waits_ = 0;  // everything queued is in the write
    // The read loop keeps running meanwhile: a server that answers while we
    // write must not be able to block us (and itself) on full socket buffers.
    const bool finished =
        RunUntil([&] { return idle_ || failure_.has_value(); }, Clock::now() + options_.io_timeout);
    if (!finished) {
      Close();
      return Status::Timeout("sending to the server timed out");
    }
    if (!idle_) {
      Status why = *failure_;
      Close();
      return why;
    }
    return Status::Ok();
  }

  Result<Response> Receive() {
    if (ShouldFlushBeforeReceive()) {
      if (Status s = Flush(); !s.ok()) return s;
    }
    const Clock::time_point deadline = Clock::now() + options_.io_timeout + longest_wait_;
    if (Status s = WaitForArrival(deadline); !s.ok()) {
      if (s.code() == StatusCode::kTimeout) Close();
      return s;
    }
    Response r = std::move(arrived_.front());
    arrived_.pop_front();
    if (outstanding_ > 0 && r.request_id != 0) --outstanding_;
    if (!waiting_ids_.empty()) waiting_ids_.erase(r.request_id);
    if (outstanding_ == 0) longest_wait_ = {};
    return r;
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
    if (request.request_id == 0) request.request_id = transport_.NextId();
    const bool was_connected = connected();
    Result<Response> r = CallOnce(request);
    if (!r.ok() && may_retry && was_connected && r.status().code() == StatusCode::kUnavailable) {
      Close();
      r = CallOnce(std::move(request));
    }
    return r;
  }

  Status Pipeline(std::span<const Request> requests, size_t window,
                  const std::function<void(size_t, Response)>& on_answer) {
    window = std::max<size_t>(window, 1);
    std::unordered_map<uint64_t, size_t> index_of;
    index_of.reserve(std::min(requests.size(), window) * 2);
    size_t next = 0;
    size_t answered = 0;
    while (answered < requests.size()) {
      while (next < requests.size() && index_of.size() < window) {
        Request request = requests[next];
        if (request.request_id == 0) request.request_id = transport_.NextId();
        const uint64_t id = request.request_id;
        Result<uint64_t> sent = Send(std::move(request));
        if (!sent.ok()) return sent.status();
        index_of.emplace(id, next);
        ++next;
      }
      Result<Response> r = Receive();
      if (!r.ok()) return r.status();
      auto it = index_of.find(r->request_id);
      if (it == index_of.end()) {
        Status why = r->error != ErrorCode::kOk
                         ? ToStatus(r->error, r->message)
                         : Status::DataLoss("an answer to a request not sent");
        Close();
        return why;
      }
      const size_t index = it->second;
      index_of.erase(it);
      ++answered;
      on_answer(index, std::move(r).value());
    }
    return Status::Ok();
  }

  Result<Lsn> Subscribe(Lsn from, const FeedFilter& filter) {
    Request request;
    request.body = SubscribeRequest{from, filter};
    Result<Response> r = Call(std::move(request));
    if (!r.ok()) return r.status();
    if (r->error != ErrorCode::kOk) return ToStatus(r->error, r->message);
    if (!std::holds_alternative<FeedBatch>(r->body)) {
      return Status::DataLoss("the server did not answer Subscribe with a FeedBatch");
    }
    return r->lsn;
  }

  Result<Answer<std::vector<FeedTransaction>>> NextFeed(std::chrono::milliseconds timeout) {
    // A timeout leaves the connection (and the subscription) as it is.
    if (Status s = WaitForArrival(Clock::now() + timeout); !s.ok()) return s;
    Response r = std::move(arrived_.front());
    arrived_.pop_front();
    if (r.error != ErrorCode::kOk) return ToStatus(r.error, r.message);
    FeedBatch* batch = std::get_if<FeedBatch>(&r.body);
    if (batch == nullptr) return Status::DataLoss("a feed message without a FeedBatch");
    return Answer<std::vector<FeedTransaction>>{r.lsn, std::move(batch->transactions)};
  }

  template <typename T>
  Result<T> Run(internal::TypedCall<T> call) {
    Result<Response> r = Call(std::move(call.request));
    if (!r.ok()) return r.status();
    return call.convert(std::move(r).value());
  }

  size_t outstanding() const { return outstanding_; }
  const HelloReply& hello() const { return transport_.server_hello(); }
  ClientStats stats() const { return transport_.stats(); }

 private:
  // Receive() writes the queued requests when the answers surely coming for
  // requests already written are fewer than the requests queued (or there
  // are none). min_lsn requests do not count as surely coming: the server may
  // park them, and the queued requests must not wait behind them. Otherwise
  // it reads first: the queue grows and leaves in one write. Depends only on
  // the sequence of calls, never on timing.
  bool ShouldFlushBeforeReceive() const {
    const size_t queued = transport_.pending_requests();
    if (queued == 0) return false;
    const size_t owed = outstanding_ > queued ? outstanding_ - queued : 0;
    const size_t waits_owed =
        waiting_ids_.size() > queued_waits_ ? waiting_ids_.size() - queued_waits_ : 0;
    const size_t sure = owed > waits_owed ? owed - waits_owed : 0;
    return sure == 0 || queued >= sure;
  }

  // Runs the connection until an answer has arrived. Errors: the
  // connection's failure (then closed), kUnavailable (not connected),
  // kTimeout at `deadline` (the caller decides whether to close).
  Status WaitForArrival(Clock::time_point deadline) {
    while (arrived_.empty()) {
      if (failure_) {
        Status why = *failure_;
        Close();
        return why;
      }
      if (!connected()) return Status::Unavailable("not connected");
      if (!RunOne(deadline) && arrived_.empty()) {
        return Status::Timeout("no answer from the server in time");
      }
    }
    return Status::Ok();
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
  asio::io_context ioc_;  // before transport_: destroyed after it
  internal::ClientTransport transport_;
  std::deque<Response> arrived_;              // read, not yet handed out by Receive()
  std::optional<Status> failure_;             // the connection broke; reported after arrived_
  bool idle_ = true;                          // the last write finished
  std::unordered_set<uint64_t> waiting_ids_;  // min_lsn requests outstanding
  size_t queued_waits_ = 0;                   // of which not yet written
  size_t outstanding_ = 0;
  std::chrono::milliseconds longest_wait_{0};
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
Result<Lsn> Client::Subscribe(Lsn from, const FeedFilter& filter) {
  return impl_->Subscribe(from, filter);
}
Result<Answer<std::vector<FeedTransaction>>> Client::NextFeed(std::chrono::milliseconds timeout) {
  return impl_->NextFeed(timeout);
}
Result<uint64_t> Client::Send(Request request) { return impl_->Send(std::move(request)); }
Status Client::Flush() { return impl_->Flush(); }
Result<Response> Client::Receive() { return impl_->Receive(); }
size_t Client::outstanding() const { return impl_->outstanding(); }
ClientStats Client::stats() const { return impl_->stats(); }

Status Client::Pipeline(std::span<const Request> requests, size_t window,
                        const std::function<void(size_t, Response)>& on_answer) {
  return impl_->Pipeline(requests, window, on_answer);
}

Result<QueryAnswer> Client::Query(const IdQuery& query, const CallOptions& call) {
  return impl_->Run(internal::QueryCall(query, call));
}

Result<BatchAnswer> Client::QueryBatch(std::span<const IdQuery> queries, const CallOptions& call) {
  return impl_->Run(internal::QueryBatchCall(queries, call));
}

Result<BatchAnswer> Client::QueryMany(const IdQuery& prototype, std::span<const int64_t> ids,
                                      const CallOptions& call) {
  return impl_->Run(internal::QueryManyCall(prototype, ids, call));
}

Result<QueryAnswer> Client::QueryAll(IdQuery query, uint32_t page_size, const CallOptions& call) {
  if (!IsAscendingKind(query.kind)) return Query(query, call);
  query.limit = page_size;
  query.after_id.reset();
  if (query.id_order == IdOrder::kAny) {
    // One unsorted page if the answer fits in it; the cursor below needs
    // ascending order, so a longer answer is asked again that way.
    Result<QueryAnswer> one = Query(query, call);
    if (!one.ok() || !one->answer.status.ok() || !one->answer.more) return one;
    query.id_order = IdOrder::kAscending;
  }
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
  return impl_->Run(internal::CountsManyCall(ids, call));
}

Result<Answer<SubtreeCounts>> Client::Counts(int64_t ns, const CallOptions& call) {
  return impl_->Run(internal::CountsCall(ns, call));
}

Result<Answer<std::vector<Result<std::string>>>> Client::FullPaths(Table table,
                                                                   std::span<const int64_t> ids,
                                                                   const CallOptions& call) {
  return impl_->Run(internal::FullPathsCall(table, ids, call));
}

Result<Answer<std::string>> Client::FullPath(Table table, int64_t id, const CallOptions& call) {
  return impl_->Run(internal::FullPathCall(table, id, call));
}

Result<Answer<std::vector<Result<ResolvedPath>>>> Client::ResolveMany(
    std::span<const std::string> paths, const CallOptions& call) {
  return impl_->Run(internal::ResolveManyCall(paths, call));
}

Result<Answer<ResolvedPath>> Client::Resolve(std::string_view full_path, const CallOptions& call) {
  return impl_->Run(internal::ResolveCall(full_path, call));
}

Result<Answer<std::vector<int64_t>>> Client::RunnersOfGroups(std::span<const int64_t> ids,
                                                             const CallOptions& call) {
  return impl_->Run(internal::RunnersOfGroupsCall(ids, call));
}

Result<ServerStatus> Client::GetStatus(const CallOptions& call) {
  return impl_->Run(internal::StatusCall(call));
}

Result<Lsn> Client::Ping(uint64_t payload, const CallOptions& call) {
  return impl_->Run(internal::PingCall(payload, call));
}

}  // namespace canopy::net
