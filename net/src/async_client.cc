// canopy::net::AsyncClient: the public face of internal::AsyncConnection
// (async_connection.h: the calls and the I/O thread, on the ClientTransport the
// blocking Client uses too), with the typed calls built on it. Each typed call
// is typed_answers.h's one definition (request + conversion), the same the
// blocking Client runs.
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

// Future form of a callback-form call: `start` gets the callback.
template <typename T, typename Start>
std::future<Result<T>> AsFuture(Start&& start) {
  auto [done, future] = Promised<T>();
  start(std::move(done));
  return std::move(future);
}

// Submits the typed call made by build() (typed_answers.h) with a completion
// that converts its Response and hands the result to `done`. Nothing throws
// out of it: out of memory while preparing the call completes `done` at once,
// inline, with kResourceExhausted (std::function and Asio allocate before
// they move).
template <typename T, typename Build>
void SubmitTyped(internal::AsyncConnection& connection, AsyncClient::Callback<T>&& done,
                 Build&& build) noexcept {
  std::optional<internal::TypedCall<T>> call;
  try {
    call.emplace(build());
  } catch (...) {
    try {
      done(OutOfMemory());
    } catch (...) {  // NOLINT: the caller's handler threw; never out of here
    }
    return;
  }
  auto typed = [done = std::move(done),
                convert = std::move(call->convert)](Result<Response> r) mutable {
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
  connection.Submit(std::move(call->request), std::move(completion));
}

}  // namespace

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
ClientStats AsyncClient::stats() const { return impl_->stats(); }

uint64_t AsyncClient::Call(Request request, Callback<Response> done) {
  return impl_->Submit(std::move(request), std::move(done));
}

std::future<Result<Response>> AsyncClient::Call(Request request) {
  return AsFuture<Response>(
      [&](Callback<Response> done) { Call(std::move(request), std::move(done)); });
}

// Each typed call: the callback form submits the one definition in
// typed_answers.h; the future form wraps the callback form.
#define CANOPY_ASYNC_FUTURE(T, call_expr) AsFuture<T>([&](Callback<T> done_) { call_expr; })

void AsyncClient::Query(const IdQuery& query, const CallOptions& call, Callback<QueryAnswer> done) {
  SubmitTyped<QueryAnswer>(*impl_, std::move(done),
                           [&] { return internal::QueryCall(query, call); });
}
std::future<Result<QueryAnswer>> AsyncClient::Query(const IdQuery& query, const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(QueryAnswer, Query(query, call, std::move(done_)));
}

void AsyncClient::QueryBatch(std::span<const IdQuery> queries, const CallOptions& call,
                             Callback<BatchAnswer> done) {
  SubmitTyped<BatchAnswer>(*impl_, std::move(done),
                           [&] { return internal::QueryBatchCall(queries, call); });
}
std::future<Result<BatchAnswer>> AsyncClient::QueryBatch(std::span<const IdQuery> queries,
                                                         const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(BatchAnswer, QueryBatch(queries, call, std::move(done_)));
}

void AsyncClient::QueryMany(const IdQuery& prototype, std::span<const int64_t> ids,
                            const CallOptions& call, Callback<BatchAnswer> done) {
  SubmitTyped<BatchAnswer>(*impl_, std::move(done),
                           [&] { return internal::QueryManyCall(prototype, ids, call); });
}
std::future<Result<BatchAnswer>> AsyncClient::QueryMany(const IdQuery& prototype,
                                                        std::span<const int64_t> ids,
                                                        const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(BatchAnswer, QueryMany(prototype, ids, call, std::move(done_)));
}

void AsyncClient::CountsMany(std::span<const int64_t> ids, const CallOptions& call,
                             Callback<internal::CountsMembers> done) {
  SubmitTyped<internal::CountsMembers>(*impl_, std::move(done),
                                       [&] { return internal::CountsManyCall(ids, call); });
}
std::future<Result<internal::CountsMembers>> AsyncClient::CountsMany(std::span<const int64_t> ids,
                                                                     const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(internal::CountsMembers, CountsMany(ids, call, std::move(done_)));
}

void AsyncClient::Counts(int64_t ns, const CallOptions& call,
                         Callback<Answer<SubtreeCounts>> done) {
  SubmitTyped<Answer<SubtreeCounts>>(*impl_, std::move(done),
                                     [&] { return internal::CountsCall(ns, call); });
}
std::future<Result<Answer<SubtreeCounts>>> AsyncClient::Counts(int64_t ns,
                                                               const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(Answer<SubtreeCounts>, Counts(ns, call, std::move(done_)));
}

void AsyncClient::FullPaths(Table table, std::span<const int64_t> ids, const CallOptions& call,
                            Callback<internal::PathMembers> done) {
  SubmitTyped<internal::PathMembers>(*impl_, std::move(done),
                                     [&] { return internal::FullPathsCall(table, ids, call); });
}
std::future<Result<internal::PathMembers>> AsyncClient::FullPaths(Table table,
                                                                  std::span<const int64_t> ids,
                                                                  const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(internal::PathMembers, FullPaths(table, ids, call, std::move(done_)));
}

void AsyncClient::FullPath(Table table, int64_t id, const CallOptions& call,
                           Callback<Answer<std::string>> done) {
  SubmitTyped<Answer<std::string>>(*impl_, std::move(done),
                                   [&] { return internal::FullPathCall(table, id, call); });
}
std::future<Result<Answer<std::string>>> AsyncClient::FullPath(Table table, int64_t id,
                                                               const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(Answer<std::string>, FullPath(table, id, call, std::move(done_)));
}

void AsyncClient::ResolveMany(std::span<const std::string> paths, const CallOptions& call,
                              Callback<internal::ResolvedMembers> done) {
  SubmitTyped<internal::ResolvedMembers>(*impl_, std::move(done),
                                         [&] { return internal::ResolveManyCall(paths, call); });
}
std::future<Result<internal::ResolvedMembers>> AsyncClient::ResolveMany(
    std::span<const std::string> paths, const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(internal::ResolvedMembers, ResolveMany(paths, call, std::move(done_)));
}

void AsyncClient::Resolve(std::string_view full_path, const CallOptions& call,
                          Callback<Answer<ResolvedPath>> done) {
  SubmitTyped<Answer<ResolvedPath>>(*impl_, std::move(done),
                                    [&] { return internal::ResolveCall(full_path, call); });
}
std::future<Result<Answer<ResolvedPath>>> AsyncClient::Resolve(std::string_view full_path,
                                                               const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(Answer<ResolvedPath>, Resolve(full_path, call, std::move(done_)));
}

void AsyncClient::RunnersOfGroups(std::span<const int64_t> ids, const CallOptions& call,
                                  Callback<Answer<std::vector<int64_t>>> done) {
  SubmitTyped<Answer<std::vector<int64_t>>>(
      *impl_, std::move(done), [&] { return internal::RunnersOfGroupsCall(ids, call); });
}
std::future<Result<Answer<std::vector<int64_t>>>> AsyncClient::RunnersOfGroups(
    std::span<const int64_t> ids, const CallOptions& call) {
  return CANOPY_ASYNC_FUTURE(Answer<std::vector<int64_t>>,
                             RunnersOfGroups(ids, call, std::move(done_)));
}

void AsyncClient::GetStatus(Callback<ServerStatus> done) {
  SubmitTyped<ServerStatus>(*impl_, std::move(done), [] { return internal::StatusCall(); });
}
std::future<Result<ServerStatus>> AsyncClient::GetStatus() {
  return CANOPY_ASYNC_FUTURE(ServerStatus, GetStatus(std::move(done_)));
}

void AsyncClient::Ping(uint64_t payload, Callback<Lsn> done) {
  SubmitTyped<Lsn>(*impl_, std::move(done), [&] { return internal::PingCall(payload, {}); });
}
std::future<Result<Lsn>> AsyncClient::Ping(uint64_t payload) {
  return CANOPY_ASYNC_FUTURE(Lsn, Ping(payload, std::move(done_)));
}

#undef CANOPY_ASYNC_FUTURE

}  // namespace canopy::net
