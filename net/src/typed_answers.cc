#include "typed_answers.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <variant>

namespace canopy::net::internal {
namespace {

Status PageStatus(const IdPage& page) {
  if (page.status == ErrorCode::kOk) return Status::Ok();
  return Status(ToStatusCode(page.status),
                page.message.empty() ? ErrorCodeName(page.status) : page.message);
}

IdAnswer ToIdAnswer(IdPage page) {
  IdAnswer a;
  a.status = PageStatus(page);
  a.ids = std::move(page.ids);
  a.total = page.total;
  a.more = page.more;
  return a;
}

Status MemberStatus(ErrorCode code, std::string_view what) {
  if (code == ErrorCode::kOk) return Status::Ok();
  return Status(ToStatusCode(code), std::string(ErrorCodeName(code)) + ": " + std::string(what));
}

template <typename T>
Result<T*> BodyAs(Response& r) {
  if (r.error != ErrorCode::kOk) return ToStatus(r.error, r.message);
  if (T* body = std::get_if<T>(&r.body)) return body;
  return Status::DataLoss("unexpected response body");
}

}  // namespace

Request MakeRequest(RequestBody body, const CallOptions& call) {
  Request r;
  r.min_lsn = call.min_lsn;
  r.timeout_ms = static_cast<uint32_t>(std::max<int64_t>(call.wait.count(), 0));
  r.body = std::move(body);
  return r;
}

std::chrono::milliseconds ServerWait(const Request& request) {
  if (request.min_lsn.value == 0) return std::chrono::milliseconds(0);
  return request.timeout_ms != 0 ? std::chrono::milliseconds(request.timeout_ms)
                                 : kServerDefaultWait;
}

Result<QueryAnswer> QueryAnswerFrom(Response resp) {
  IdPage* page = std::get_if<IdPage>(&resp.body);
  const bool member_error =
      resp.error == ErrorCode::kUnknownId || resp.error == ErrorCode::kInvalidArgument;
  if (page == nullptr || (resp.error != ErrorCode::kOk && !member_error)) {
    if (resp.error != ErrorCode::kOk) return ToStatus(resp.error, resp.message);
    return Status::DataLoss("unexpected response body");
  }
  return QueryAnswer{resp.lsn, ToIdAnswer(std::move(*page))};
}

Result<BatchAnswer> BatchAnswerFrom(Response resp, size_t expected_members) {
  Result<BatchPages*> pages = BodyAs<BatchPages>(resp);
  if (!pages.ok()) return pages.status();
  if ((*pages)->members.size() != expected_members)
    return Status::DataLoss("batch answer size mismatch");
  BatchAnswer out;
  out.lsn = resp.lsn;
  out.answers.reserve(expected_members);
  for (IdPage& page : (*pages)->members) out.answers.push_back(ToIdAnswer(std::move(page)));
  return out;
}

Result<Answer<std::vector<Result<SubtreeCounts>>>> CountsFrom(Response resp) {
  Result<CountsList*> list = BodyAs<CountsList>(resp);
  if (!list.ok()) return list.status();
  Answer<std::vector<Result<SubtreeCounts>>> out{resp.lsn, {}};
  out.value.reserve((*list)->members.size());
  for (const CountsEntry& e : (*list)->members) {
    if (e.status == ErrorCode::kOk) {
      out.value.emplace_back(e.counts);
    } else {
      out.value.emplace_back(MemberStatus(e.status, "namespace " + std::to_string(e.id)));
    }
  }
  return out;
}

Result<Answer<std::vector<Result<std::string>>>> FullPathsFrom(Response resp, Table table) {
  Result<PathList*> list = BodyAs<PathList>(resp);
  if (!list.ok()) return list.status();
  Answer<std::vector<Result<std::string>>> out{resp.lsn, {}};
  out.value.reserve((*list)->members.size());
  for (PathEntry& e : (*list)->members) {
    if (e.status == ErrorCode::kOk) {
      out.value.emplace_back(std::move(e.path));
    } else {
      out.value.emplace_back(MemberStatus(
          e.status,
          (table == Table::kProjects ? "project " : "namespace ") + std::to_string(e.id)));
    }
  }
  return out;
}

Result<Answer<std::vector<Result<ResolvedPath>>>> ResolvedFrom(Response resp) {
  Result<ResolvedList*> list = BodyAs<ResolvedList>(resp);
  if (!list.ok()) return list.status();
  Answer<std::vector<Result<ResolvedPath>>> out{resp.lsn, {}};
  out.value.reserve((*list)->members.size());
  for (const ResolvedEntry& e : (*list)->members) {
    if (e.status == ErrorCode::kOk) {
      out.value.emplace_back(e.resolved);
    } else {
      out.value.emplace_back(MemberStatus(e.status, "path '" + e.path + "'"));
    }
  }
  return out;
}

Result<Answer<std::vector<int64_t>>> RunnersFrom(Response resp) {
  Result<IdPage*> page = BodyAs<IdPage>(resp);
  if (!page.ok()) return page.status();
  return Answer<std::vector<int64_t>>{resp.lsn, std::move((*page)->ids)};
}

Result<ServerStatus> StatusFrom(Response resp) {
  Result<ServerStatus*> status = BodyAs<ServerStatus>(resp);
  if (!status.ok()) return status.status();
  return std::move(**status);
}

Result<Lsn> PongFrom(const Response& resp, uint64_t payload) {
  if (resp.error != ErrorCode::kOk) return ToStatus(resp.error, resp.message);
  const Pong* pong = std::get_if<Pong>(&resp.body);
  if (pong == nullptr) return Status::DataLoss("unexpected response body");
  if (pong->payload != payload) return Status::DataLoss("pong payload mismatch");
  return resp.lsn;
}

// ---- the typed calls ----

TypedCall<QueryAnswer> QueryCall(const IdQuery& query, const CallOptions& call) {
  return {MakeRequest(query, call), [](Response r) { return QueryAnswerFrom(std::move(r)); }};
}

TypedCall<BatchAnswer> QueryBatchCall(std::span<const IdQuery> queries, const CallOptions& call) {
  const size_t n = queries.size();
  return {MakeRequest(BatchRequest{{queries.begin(), queries.end()}}, call),
          [n](Response r) { return BatchAnswerFrom(std::move(r), n); }};
}

TypedCall<BatchAnswer> QueryManyCall(const IdQuery& prototype, std::span<const int64_t> ids,
                                     const CallOptions& call) {
  const size_t n = ids.size();
  BatchRequest batch{std::vector<IdQuery>(n, prototype)};
  for (size_t i = 0; i < n; ++i) batch.queries[i].id = ids[i];
  return {MakeRequest(std::move(batch), call),
          [n](Response r) { return BatchAnswerFrom(std::move(r), n); }};
}

TypedCall<CountsMembers> CountsManyCall(std::span<const int64_t> ids, const CallOptions& call) {
  return {MakeRequest(CountsRequest{{ids.begin(), ids.end()}}, call),
          [](Response r) { return CountsFrom(std::move(r)); }};
}

TypedCall<Answer<SubtreeCounts>> CountsCall(int64_t ns, const CallOptions& call) {
  return {MakeRequest(CountsRequest{{ns}}, call),
          [](Response r) { return SingleMember(CountsFrom(std::move(r)), "counts"); }};
}

TypedCall<PathMembers> FullPathsCall(Table table, std::span<const int64_t> ids,
                                     const CallOptions& call) {
  return {MakeRequest(FullPathRequest{table, {ids.begin(), ids.end()}}, call),
          [table](Response r) { return FullPathsFrom(std::move(r), table); }};
}

TypedCall<Answer<std::string>> FullPathCall(Table table, int64_t id, const CallOptions& call) {
  return {MakeRequest(FullPathRequest{table, {id}}, call), [table](Response r) {
            return SingleMember(FullPathsFrom(std::move(r), table), "full_path");
          }};
}

TypedCall<ResolvedMembers> ResolveManyCall(std::span<const std::string> paths,
                                           const CallOptions& call) {
  return {MakeRequest(ResolveRequest{{paths.begin(), paths.end()}}, call),
          [](Response r) { return ResolvedFrom(std::move(r)); }};
}

TypedCall<Answer<ResolvedPath>> ResolveCall(std::string_view full_path, const CallOptions& call) {
  return {MakeRequest(ResolveRequest{{std::string(full_path)}}, call),
          [](Response r) { return SingleMember(ResolvedFrom(std::move(r)), "resolve"); }};
}

TypedCall<Answer<std::vector<int64_t>>> RunnersOfGroupsCall(std::span<const int64_t> ids,
                                                            const CallOptions& call) {
  return {MakeRequest(RunnersOfGroupsRequest{{ids.begin(), ids.end()}}, call),
          [](Response r) { return RunnersFrom(std::move(r)); }};
}

TypedCall<ServerStatus> StatusCall(const CallOptions& call) {
  return {MakeRequest(StatusRequest{}, call), [](Response r) { return StatusFrom(std::move(r)); }};
}

TypedCall<Lsn> PingCall(uint64_t payload, const CallOptions& call) {
  return {MakeRequest(PingRequest{payload}, call),
          [payload](Response r) { return PongFrom(r, payload); }};
}

}  // namespace canopy::net::internal
