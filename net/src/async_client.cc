// canopy::net::AsyncClient: the public face of internal::AsyncConnection
// (async_connection.h, the connection and its I/O thread), with the typed calls
// built on it. Requests are made and answers converted by typed_answers.h, the
// same code the blocking Client uses.
#include "canopy/net/async_client.h"

#include <future>
#include <memory>
#include <optional>
#include <utility>

#include "async_connection.h"
#include "typed_answers.h"

namespace canopy::net {

// The owner's handle on the connection (declared in the public header).
class AsyncClient::Impl : public internal::AsyncConnection {
 public:
  using AsyncConnection::AsyncConnection;
};

namespace {

using Completion = internal::AsyncConnection::Completion;

Status OutOfMemory() { return Status::ResourceExhausted("out of memory"); }

// A callback-and-future pair: the future is ready when the callback runs.
template <typename T>
std::pair<AsyncClient::Callback<T>, std::future<Result<T>>> Promised() {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  std::future<Result<T>> future = promise->get_future();
  return {[promise](Result<T> r) { promise->set_value(std::move(r)); }, std::move(future)};
}

// Submits build() with a completion that converts the Response with
// `convert` and hands the result to `done`. Nothing throws out of it: out of
// memory while preparing the call completes `done` at once, inline, with
// kResourceExhausted (std::function and Asio allocate before they move).
template <typename T, typename Build, typename Convert>
void SubmitTyped(internal::AsyncConnection& connection, AsyncClient::Callback<T>&& done,
                 Build&& build, Convert convert) noexcept {
  std::optional<Request> request;
  try {
    request.emplace(build());
  } catch (...) {
    try {
      done(OutOfMemory());
    } catch (...) {  // NOLINT: the caller's handler threw; never out of here
    }
    return;
  }
  auto typed = [done = std::move(done), convert = std::move(convert)](Result<Response> r) mutable {
    if (!r.ok()) {
      done(r.status());
      return;
    }
    std::optional<Result<T>> value;
    try {
      value.emplace(convert(std::move(r).value()));
    } catch (...) {
      value.emplace(OutOfMemory());
    }
    done(std::move(*value));
  };
  Completion completion;
  try {
    completion = std::move(typed);
  } catch (...) {
    try {
      typed(Result<Response>(OutOfMemory()));
    } catch (...) {  // NOLINT: the caller's handler threw; never out of here
    }
    return;
  }
  connection.Submit(std::move(*request), std::move(completion));
}

}  // namespace

using internal::MakeRequest;

AsyncClient::AsyncClient(ClientOptions options, AsyncClientOptions async)
    : impl_(std::make_shared<Impl>(std::move(options), async)) {
  impl_->Start();
}

AsyncClient::~AsyncClient() {
  if (impl_) impl_->Shutdown();
}

void AsyncClient::Connect(std::function<void(Status)> done) { impl_->Connect(std::move(done)); }

std::future<Status> AsyncClient::Connect() {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  impl_->Connect([promise](Status s) { promise->set_value(std::move(s)); });
  return future;
}

void AsyncClient::Close() { impl_->Close(); }
bool AsyncClient::connected() const { return impl_->connected(); }
size_t AsyncClient::outstanding() const { return impl_->outstanding(); }
HelloReply AsyncClient::server_hello() const { return impl_->server_hello(); }

uint64_t AsyncClient::Call(Request request, Callback<Response> done) {
  return impl_->Submit(std::move(request), std::move(done));
}

std::future<Result<Response>> AsyncClient::Call(Request request) {
  auto [done, future] = Promised<Response>();
  Call(std::move(request), std::move(done));
  return std::move(future);
}

void AsyncClient::Query(const IdQuery& query, const CallOptions& call, Callback<QueryAnswer> done) {
  SubmitTyped<QueryAnswer>(
      *impl_, std::move(done), [&] { return MakeRequest(query, call); },
      [](Response r) { return internal::QueryAnswerFrom(std::move(r)); });
}

std::future<Result<QueryAnswer>> AsyncClient::Query(const IdQuery& query, const CallOptions& call) {
  auto [done, future] = Promised<QueryAnswer>();
  Query(query, call, std::move(done));
  return std::move(future);
}

void AsyncClient::QueryBatch(std::span<const IdQuery> queries, const CallOptions& call,
                             Callback<BatchAnswer> done) {
  const size_t n = queries.size();
  SubmitTyped<BatchAnswer>(
      *impl_, std::move(done),
      [&] {
        return MakeRequest(BatchRequest{{queries.begin(), queries.end()}}, call);
      },
      [n](Response r) { return internal::BatchAnswerFrom(std::move(r), n); });
}

std::future<Result<BatchAnswer>> AsyncClient::QueryBatch(std::span<const IdQuery> queries,
                                                         const CallOptions& call) {
  auto [done, future] = Promised<BatchAnswer>();
  QueryBatch(queries, call, std::move(done));
  return std::move(future);
}

void AsyncClient::QueryMany(const IdQuery& prototype, std::span<const int64_t> ids,
                            const CallOptions& call, Callback<BatchAnswer> done) {
  const size_t n = ids.size();
  SubmitTyped<BatchAnswer>(
      *impl_, std::move(done),
      [&] {
        BatchRequest batch{std::vector<IdQuery>(n, prototype)};
        for (size_t i = 0; i < n; ++i) batch.queries[i].id = ids[i];
        return MakeRequest(std::move(batch), call);
      },
      [n](Response r) { return internal::BatchAnswerFrom(std::move(r), n); });
}

std::future<Result<BatchAnswer>> AsyncClient::QueryMany(const IdQuery& prototype,
                                                        std::span<const int64_t> ids,
                                                        const CallOptions& call) {
  auto [done, future] = Promised<BatchAnswer>();
  QueryMany(prototype, ids, call, std::move(done));
  return std::move(future);
}

void AsyncClient::CountsMany(std::span<const int64_t> ids, const CallOptions& call,
                             Callback<Answer<std::vector<Result<SubtreeCounts>>>> done) {
  SubmitTyped<Answer<std::vector<Result<SubtreeCounts>>>>(
      *impl_, std::move(done),
      [&] {
        return MakeRequest(CountsRequest{{ids.begin(), ids.end()}}, call);
      },
      [](Response r) { return internal::CountsFrom(std::move(r)); });
}

std::future<Result<Answer<std::vector<Result<SubtreeCounts>>>>> AsyncClient::CountsMany(
    std::span<const int64_t> ids, const CallOptions& call) {
  auto [done, future] = Promised<Answer<std::vector<Result<SubtreeCounts>>>>();
  CountsMany(ids, call, std::move(done));
  return std::move(future);
}

void AsyncClient::Counts(int64_t ns, const CallOptions& call,
                         Callback<Answer<SubtreeCounts>> done) {
  SubmitTyped<Answer<SubtreeCounts>>(
      *impl_, std::move(done), [&] { return MakeRequest(CountsRequest{{ns}}, call); },
      [](Response r) {
        return internal::SingleMember(internal::CountsFrom(std::move(r)), "counts");
      });
}

std::future<Result<Answer<SubtreeCounts>>> AsyncClient::Counts(int64_t ns,
                                                               const CallOptions& call) {
  auto [done, future] = Promised<Answer<SubtreeCounts>>();
  Counts(ns, call, std::move(done));
  return std::move(future);
}

void AsyncClient::FullPaths(Table table, std::span<const int64_t> ids, const CallOptions& call,
                            Callback<Answer<std::vector<Result<std::string>>>> done) {
  SubmitTyped<Answer<std::vector<Result<std::string>>>>(
      *impl_, std::move(done),
      [&] {
        return MakeRequest(FullPathRequest{table, {ids.begin(), ids.end()}}, call);
      },
      [table](Response r) { return internal::FullPathsFrom(std::move(r), table); });
}

std::future<Result<Answer<std::vector<Result<std::string>>>>> AsyncClient::FullPaths(
    Table table, std::span<const int64_t> ids, const CallOptions& call) {
  auto [done, future] = Promised<Answer<std::vector<Result<std::string>>>>();
  FullPaths(table, ids, call, std::move(done));
  return std::move(future);
}

void AsyncClient::FullPath(Table table, int64_t id, const CallOptions& call,
                           Callback<Answer<std::string>> done) {
  SubmitTyped<Answer<std::string>>(
      *impl_, std::move(done),
      [&] {
        return MakeRequest(FullPathRequest{table, {id}}, call);
      },
      [table](Response r) {
        return internal::SingleMember(internal::FullPathsFrom(std::move(r), table), "full_path");
      });
}

std::future<Result<Answer<std::string>>> AsyncClient::FullPath(Table table, int64_t id,
                                                               const CallOptions& call) {
  auto [done, future] = Promised<Answer<std::string>>();
  FullPath(table, id, call, std::move(done));
  return std::move(future);
}

void AsyncClient::ResolveMany(std::span<const std::string> paths, const CallOptions& call,
                              Callback<Answer<std::vector<Result<ResolvedPath>>>> done) {
  SubmitTyped<Answer<std::vector<Result<ResolvedPath>>>>(
      *impl_, std::move(done),
      [&] {
        return MakeRequest(ResolveRequest{{paths.begin(), paths.end()}}, call);
      },
      [](Response r) { return internal::ResolvedFrom(std::move(r)); });
}

std::future<Result<Answer<std::vector<Result<ResolvedPath>>>>> AsyncClient::ResolveMany(
    std::span<const std::string> paths, const CallOptions& call) {
  auto [done, future] = Promised<Answer<std::vector<Result<ResolvedPath>>>>();
  ResolveMany(paths, call, std::move(done));
  return std::move(future);
}

void AsyncClient::Resolve(std::string_view full_path, const CallOptions& call,
                          Callback<Answer<ResolvedPath>> done) {
  SubmitTyped<Answer<ResolvedPath>>(
      *impl_, std::move(done),
      [&] { return MakeRequest(ResolveRequest{{std::string(full_path)}}, call); },
      [](Response r) {
        return internal::SingleMember(internal::ResolvedFrom(std::move(r)), "resolve");
      });
}

std::future<Result<Answer<ResolvedPath>>> AsyncClient::Resolve(std::string_view full_path,
                                                               const CallOptions& call) {
  auto [done, future] = Promised<Answer<ResolvedPath>>();
  Resolve(full_path, call, std::move(done));
  return std::move(future);
}

void AsyncClient::RunnersOfGroups(std::span<const int64_t> ids, const CallOptions& call,
                                  Callback<Answer<std::vector<int64_t>>> done) {
  SubmitTyped<Answer<std::vector<int64_t>>>(
      *impl_, std::move(done),
      [&] {
        return MakeRequest(RunnersOfGroupsRequest{{ids.begin(), ids.end()}}, call);
      },
      [](Response r) { return internal::RunnersFrom(std::move(r)); });
}

std::future<Result<Answer<std::vector<int64_t>>>> AsyncClient::RunnersOfGroups(
    std::span<const int64_t> ids, const CallOptions& call) {
  auto [done, future] = Promised<Answer<std::vector<int64_t>>>();
  RunnersOfGroups(ids, call, std::move(done));
  return std::move(future);
}

void AsyncClient::GetStatus(Callback<ServerStatus> done) {
  SubmitTyped<ServerStatus>(
      *impl_, std::move(done), [] { return MakeRequest(StatusRequest{}, {}); },
      [](Response r) { return internal::StatusFrom(std::move(r)); });
}

std::future<Result<ServerStatus>> AsyncClient::GetStatus() {
  auto [done, future] = Promised<ServerStatus>();
  GetStatus(std::move(done));
  return std::move(future);
}

void AsyncClient::Ping(uint64_t payload, Callback<Lsn> done) {
  SubmitTyped<Lsn>(
      *impl_, std::move(done), [&] { return MakeRequest(PingRequest{payload}, {}); },
      [payload](Response r) { return internal::PongFrom(r, payload); });
}

std::future<Result<Lsn>> AsyncClient::Ping(uint64_t payload) {
  auto [done, future] = Promised<Lsn>();
  Ping(payload, std::move(done));
  return std::move(future);
}

}  // namespace canopy::net
