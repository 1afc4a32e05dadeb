// net/src/typed_answers.h — the client side's typed view of the protocol:
// builds a Request from a body + CallOptions, and turns a Response into the
// value a typed call returns (QueryAnswer, BatchAnswer, Answer<...>), with the
// error mapping of protocol.h. Shared by Client (blocking) and AsyncClient, so
// both give the same answers and the same errors for the same Response.
//
// Each typed call of the public API is defined once, here, as a TypedCall:
// the Request to send plus the conversion of its Response. Client runs it
// with Call() and converts; AsyncClient submits the request and converts in
// the completion. Neither client builds a request body or reads a response
// body itself.
//
// THREAD SAFETY: free functions on values.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/net/client.h"
#include "canopy/net/protocol.h"
#include "canopy/query.h"
#include "canopy/status.h"

namespace canopy::net::internal {

// The server's default min_lsn wait, assumed when a request leaves it to the
// server (for client-side deadlines).
inline constexpr std::chrono::milliseconds kServerDefaultWait{5'000};

// A request with `body` and the min_lsn/wait of `call` (request_id 0: the
// client assigns one).
Request MakeRequest(RequestBody body, const CallOptions& call);

// How long the server may hold `request` before answering (its min_lsn wait):
// 0 without min_lsn.
std::chrono::milliseconds ServerWait(const Request& request);

// ---- Response -> typed answer. A transport-level error is never passed in:
// these see a Response that arrived. Errors: the Response's own error mapped
// with ToStatus(), kDataLoss for a body of the wrong type or size. ----

// IdQuery: an unknown id or an invalid argument is the answer's status, not
// an error (as in the engine).
Result<QueryAnswer> QueryAnswerFrom(Response response);
// BatchRequest of `expected_members` queries.
Result<BatchAnswer> BatchAnswerFrom(Response response, size_t expected_members);
Result<Answer<std::vector<Result<SubtreeCounts>>>> CountsFrom(Response response);
Result<Answer<std::vector<Result<std::string>>>> FullPathsFrom(Response response, Table table);
Result<Answer<std::vector<Result<ResolvedPath>>>> ResolvedFrom(Response response);
Result<Answer<std::vector<int64_t>>> RunnersFrom(Response response);
Result<ServerStatus> StatusFrom(Response response);
// The server's LSN; kDataLoss when the pong's payload is not `payload`.
Result<Lsn> PongFrom(const Response& response, uint64_t payload);

// The only member of a one-id answer (Counts, FullPath, Resolve): its error
// becomes the call's error. `what` names the call in the size-mismatch error.
template <typename T>
Result<Answer<T>> SingleMember(Result<Answer<std::vector<Result<T>>>> many, const char* what) {
  if (!many.ok()) return many.status();
  Answer<std::vector<Result<T>>>& all = many.value();
  if (all.value.size() != 1) return Status::DataLoss(std::string(what) + " answer size mismatch");
  if (!all.value[0].ok()) return all.value[0].status();
  return Answer<T>{all.lsn, std::move(all.value[0]).value()};
}

// ---- the typed calls: one definition each ----

// The request of one typed call and how its Response becomes the answer.
// `convert` sees only a Response that arrived (transport errors never reach
// it); it may throw only std::bad_alloc.
template <typename T>
struct TypedCall {
  Request request;
  std::function<Result<T>(Response)> convert;
};

using CountsMembers = Answer<std::vector<Result<SubtreeCounts>>>;
using PathMembers = Answer<std::vector<Result<std::string>>>;
using ResolvedMembers = Answer<std::vector<Result<ResolvedPath>>>;

TypedCall<QueryAnswer> QueryCall(const IdQuery& query, const CallOptions& call);
TypedCall<BatchAnswer> QueryBatchCall(std::span<const IdQuery> queries, const CallOptions& call);
TypedCall<BatchAnswer> QueryManyCall(const IdQuery& prototype, std::span<const int64_t> ids,
                                     const CallOptions& call);
TypedCall<CountsMembers> CountsManyCall(std::span<const int64_t> ids, const CallOptions& call);
TypedCall<Answer<SubtreeCounts>> CountsCall(int64_t ns, const CallOptions& call);
TypedCall<PathMembers> FullPathsCall(Table table, std::span<const int64_t> ids,
                                     const CallOptions& call);
TypedCall<Answer<std::string>> FullPathCall(Table table, int64_t id, const CallOptions& call);
TypedCall<ResolvedMembers> ResolveManyCall(std::span<const std::string> paths,
                                           const CallOptions& call);
TypedCall<Answer<ResolvedPath>> ResolveCall(std::string_view full_path, const CallOptions& call);
TypedCall<Answer<std::vector<int64_t>>> RunnersOfGroupsCall(std::span<const int64_t> ids,
                                                            const CallOptions& call);
TypedCall<ServerStatus> StatusCall(const CallOptions& call = {});
TypedCall<Lsn> PingCall(uint64_t payload, const CallOptions& call);

}  // namespace canopy::net::internal
