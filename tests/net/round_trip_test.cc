// round_trip_test.cc — every request kind over TCP and over the Unix socket,
// compared with the engine's own in-process answer on the same index.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

#include "net_test_util.h"

namespace canopy::net {
namespace {

using testing::AllQueryShapes;
using testing::ExpectSameAnswer;
using testing::ExpectSameCounts;
using testing::TestWorld;

enum class Transport { kTcp, kUnix };

class RoundTripTest : public ::testing::TestWithParam<Transport> {
 protected:
  static void SetUpTestSuite() {
    world_ = new TestWorld(TestWorld::Make());
    ServerOptions options = testing::TestServerOptions();
    unix_path_ = new std::string(testing::TempSocketPath("roundtrip"));
    options.unix_path = *unix_path_;
    auto server = Server::Start(options, Server::Borrow(*world_->index));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete world_;
    delete unix_path_;
    server_ = nullptr;
  }

  Client MakeClient() const {
    return Client(GetParam() == Transport::kTcp ? testing::TcpClientOptions(server_->tcp_port())
                                                : testing::UnixClientOptions(*unix_path_));
  }

  const HierarchyIndex& index() const { return *world_->index; }

  static TestWorld* world_;
  static Server* server_;
  static std::string* unix_path_;
};

TestWorld* RoundTripTest::world_ = nullptr;
Server* RoundTripTest::server_ = nullptr;
std::string* RoundTripTest::unix_path_ = nullptr;

TEST_P(RoundTripTest, EveryQueryKindMatchesTheEngine) {
  Client client = MakeClient();
  ASSERT_TRUE(client.Connect().ok());
  std::vector<int64_t> ids = world_->SampleNamespaceIds();
  for (int64_t p : world_->SampleProjectIds(10))
    ids.push_back(p);  // project kinds take project ids
  const int64_t top = world_->forest.named.chain_21.empty() ? 0 : world_->forest.named.chain_21[3];
  size_t compared = 0;
  for (int64_t id : ids) {
    for (const IdQuery& q : AllQueryShapes(id, top)) {
      Result<QueryAnswer> got = client.Query(q);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      QueryAnswer want = index().Query(q);
      EXPECT_EQ(got->lsn, want.lsn);
      ExpectSameAnswer(got->answer, want.answer,
                       std::string(QueryKindName(q.kind)) + "(" + std::to_string(id) + ")");
      ++compared;
    }
  }
  EXPECT_GT(compared, 1000u);
}

TEST_P(RoundTripTest, PagesWithLimitAndCursor) {
  Client client = MakeClient();
  const int64_t huge = world_->forest.named.huge_group_id;
  ASSERT_NE(huge, 0);
  IdQuery q{.kind = QueryKind::kSelfAndDescendants, .id = huge, .limit = 37};
  std::vector<int64_t> all;
  for (int page = 0; page < 10'000; ++page) {
    Result<QueryAnswer> got = client.Query(q);
    ASSERT_TRUE(got.ok());
    ExpectSameAnswer(got->answer, index().Query(q).answer, "page " + std::to_string(page));
    all.insert(all.end(), got->answer.ids.begin(), got->answer.ids.end());
    if (!got->answer.more) break;
    q.after_id = got->answer.ids.back();
  }
  IdQuery whole{.kind = QueryKind::kSelfAndDescendants, .id = huge};
  EXPECT_EQ(all, index().Query(whole).answer.ids);

  Result<QueryAnswer> assembled = client.QueryAll(whole, 100);
  ASSERT_TRUE(assembled.ok());
  EXPECT_EQ(assembled->answer.ids, all);
}

// IdOrder::kAny travels: the server answers the ascending answer's ids, each
// once, and (somewhere) out of ascending order, which it would never do
// without the field; after_id with it is refused, alone and in a batch.
TEST_P(RoundTripTest, AnyIdOrderIsTheSameSetAndHasNoCursor) {
  Client client = MakeClient();
  ASSERT_TRUE(client.Connect().ok());
  std::vector<IdQuery> queries;
  for (int64_t id : world_->SampleNamespaceIds()) {
    for (QueryKind kind :
         {QueryKind::kSelfAndDescendants, QueryKind::kDescendants, QueryKind::kSelfAndHierarchy,
          QueryKind::kAllProjectIds, QueryKind::kAllUnarchivedProjectIds,
          QueryKind::kRunnersOfGroup, QueryKind::kRunnersOfGroupAndAncestors}) {
      for (bool pns : {false, true}) {
        queries.push_back({.kind = kind, .id = id, .include_project_namespaces = pns});
      }
    }
  }
  for (int64_t p : world_->SampleProjectIds(10)) {
    queries.push_back({.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = p});
  }
  size_t unsorted = 0;
  for (IdQuery q : queries) {
    const std::string what = std::string(QueryKindName(q.kind)) + "(" + std::to_string(q.id) + ")";
    const IdAnswer want = index().Query(q).answer;
    q.id_order = IdOrder::kAny;
    Result<QueryAnswer> got = client.Query(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->answer.status.code(), want.status.code()) << what;
    std::vector<int64_t> ids = got->answer.ids;
    unsorted += !std::is_sorted(ids.begin(), ids.end());
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, want.ids) << what << ": not the same ids, each once";
    EXPECT_EQ(got->answer.total, want.total) << what;
    EXPECT_EQ(got->answer.more, want.more) << what;
  }
  EXPECT_GT(unsorted, 0u) << "every answer came sorted: id_order did not reach the server";

  const int64_t org = world_->forest.named.gitlab_org_id;
  IdQuery cursor{
      .kind = QueryKind::kDescendants, .id = org, .after_id = 0, .id_order = IdOrder::kAny};
  Result<QueryAnswer> bad = client.Query(cursor);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->answer.status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(bad->answer.ids.empty());
  const IdQuery fine{.kind = QueryKind::kDescendants, .id = org, .id_order = IdOrder::kAny};
  Result<BatchAnswer> batch = client.QueryBatch(std::vector<IdQuery>{fine, cursor});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->answers.size(), 2u);
  EXPECT_TRUE(batch->answers[0].status.ok());
  EXPECT_EQ(batch->answers[1].status.code(), StatusCode::kInvalidArgument);

  // A limit takes that many of the ids and says more.
  const IdAnswer all = index().Query({.kind = QueryKind::kDescendants, .id = org}).answer;
  ASSERT_GT(all.ids.size(), 10u);
  IdQuery limited = fine;
  limited.limit = 10;
  Result<QueryAnswer> page = client.Query(limited);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->answer.ids.size(), 10u);
  EXPECT_TRUE(page->answer.more);
  EXPECT_EQ(page->answer.total, all.total);
  for (int64_t id : page->answer.ids) {
    EXPECT_TRUE(std::binary_search(all.ids.begin(), all.ids.end(), id)) << id;
  }
  // QueryAll: one unsorted page when it fits, the ascending pages when not.
  for (uint32_t page_size : {100'000u, 7u}) {
    Result<QueryAnswer> whole = client.QueryAll(fine, page_size);
    ASSERT_TRUE(whole.ok());
    ASSERT_TRUE(whole->answer.status.ok()) << whole->answer.status.ToString();
    std::vector<int64_t> ids = whole->answer.ids;
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, all.ids) << "page size " << page_size;
    EXPECT_EQ(whole->answer.total, all.total);
  }
}

TEST_P(RoundTripTest, BatchesMatchTheEngine) {
  Client client = MakeClient();
  std::vector<IdQuery> queries;
  for (int64_t id : world_->SampleNamespaceIds(30)) {
    for (const IdQuery& q : AllQueryShapes(id, 0)) queries.push_back(q);
  }
  Result<BatchAnswer> got = client.QueryBatch(queries);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  BatchAnswer want = index().QueryBatch(queries);
  EXPECT_EQ(got->lsn, want.lsn);
  ASSERT_EQ(got->answers.size(), want.answers.size());
  for (size_t i = 0; i < queries.size(); ++i)
    ExpectSameAnswer(got->answers[i], want.answers[i], "member");

  // The N+1 helper: one kind for many ids.
  std::vector<int64_t> ids = world_->SampleNamespaceIds(20);
  Result<BatchAnswer> many = client.QueryMany(IdQuery{.kind = QueryKind::kSelfAndAncestors}, ids);
  ASSERT_TRUE(many.ok());
  ASSERT_EQ(many->answers.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ExpectSameAnswer(many->answers[i],
                     index().Query({.kind = QueryKind::kSelfAndAncestors, .id = ids[i]}).answer,
                     "many");
  }

  Result<BatchAnswer> empty = client.QueryBatch({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->answers.empty());
}

TEST_P(RoundTripTest, CountsPathsResolveRunnersMatchTheEngine) {
  Client client = MakeClient();
  const std::vector<int64_t> ns_ids = world_->SampleNamespaceIds();
  const std::vector<int64_t> project_ids = world_->SampleProjectIds();
  ReadView view = index().Read();

  auto counts = client.CountsMany(ns_ids);
  ASSERT_TRUE(counts.ok());
  ASSERT_NO_FATAL_FAILURE(ExpectSameCounts(counts->value, ns_ids, view));
  Result<Answer<SubtreeCounts>> one = client.Counts(world_->forest.named.gitlab_org_id);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->value.projects, view.Counts(world_->forest.named.gitlab_org_id)->projects);
  EXPECT_EQ(client.Counts(99'999'999).status().code(), StatusCode::kNotFound);

  auto ns_paths = client.FullPaths(Table::kNamespaces, ns_ids);
  ASSERT_TRUE(ns_paths.ok());
  std::vector<std::string> all_paths;
  for (size_t i = 0; i < ns_ids.size(); ++i) {
    Result<std::string> want = view.NamespaceFullPath(ns_ids[i]);
    ASSERT_EQ(ns_paths->value[i].ok(), want.ok()) << ns_ids[i];
    if (want.ok()) {
      EXPECT_EQ(*ns_paths->value[i], *want);
      all_paths.push_back(*want);
    }
  }
  auto project_paths = client.FullPaths(Table::kProjects, project_ids);
  ASSERT_TRUE(project_paths.ok());
  for (size_t i = 0; i < project_ids.size(); ++i) {
    Result<std::string> want = view.ProjectFullPath(project_ids[i]);
    ASSERT_EQ(project_paths->value[i].ok(), want.ok()) << project_ids[i];
    if (want.ok()) {
      EXPECT_EQ(*project_paths->value[i], *want);
      all_paths.push_back(*want);
    }
  }
  all_paths.push_back("no/such/path");
  all_paths.push_back("");
  auto resolved = client.ResolveMany(all_paths);
  ASSERT_TRUE(resolved.ok());
  ASSERT_EQ(resolved->value.size(), all_paths.size());
  for (size_t i = 0; i < all_paths.size(); ++i) {
    Result<ResolvedPath> want = view.Resolve(all_paths[i]);
    ASSERT_EQ(resolved->value[i].ok(), want.ok()) << all_paths[i];
    if (want.ok()) {
      EXPECT_EQ(resolved->value[i]->table, want->table);
      EXPECT_EQ(resolved->value[i]->id, want->id);
    }
  }
  Result<Answer<ResolvedPath>> single = client.Resolve(all_paths.front());
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(client.Resolve("no/such/path").status().code(), StatusCode::kNotFound);
  Result<Answer<std::string>> path = client.FullPath(Table::kNamespaces, ns_ids.front());
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->value, *view.NamespaceFullPath(ns_ids.front()));

  std::vector<int64_t> runners_want;
  view.RunnersOfGroups(ns_ids, &runners_want);
  auto runners = client.RunnersOfGroups(ns_ids);
  ASSERT_TRUE(runners.ok());
  EXPECT_EQ(runners->value, runners_want);
  EXPECT_EQ(runners->lsn, view.lsn());
}

TEST_P(RoundTripTest, StatusPingAndUnknownIds) {
  Client client = MakeClient();
  Result<ServerStatus> status = client.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  const IndexStats stats = index().Stats();
  EXPECT_EQ(status->applied_lsn, stats.applied_lsn);
  EXPECT_EQ(status->index.namespaces, stats.namespaces);
  EXPECT_EQ(status->index.projects, stats.projects);
  EXPECT_EQ(status->index.runner_links, stats.runner_links);
  EXPECT_EQ(status->index.orphan_namespaces, stats.orphan_namespaces);
  EXPECT_GE(status->connections, 1u);
  EXPECT_FALSE(status->server_version.empty());

  Result<Lsn> ping = client.Ping(12345);
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(*ping, index().applied_lsn());

  Result<QueryAnswer> unknown = client.Query({.kind = QueryKind::kAncestors, .id = 99'999'999});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->answer.status.code(), StatusCode::kNotFound);
  Result<QueryAnswer> bad = client.Query(
      {.kind = QueryKind::kAncestors, .id = world_->forest.named.gitlab_org_id, .after_id = 1});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->answer.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.server_hello().version, kProtocolVersion);
}

// ---- pipelined writes: the batching is the client's deterministic behaviour ----

// A query per id, spread over kinds.
std::vector<IdQuery> WindowQueries(const std::vector<int64_t>& ids, size_t n) {
  std::vector<IdQuery> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(IdQuery{.kind = i % 2 ? QueryKind::kSelfAndAncestors : QueryKind::kRunnersOfGroup,
                          .id = ids[i % ids.size()]});
  }
  return out;
}

// A caller keeping 32 requests in flight (Receive one, Send one) puts at least
// 16 requests in every write. Flushing on every Receive() (the old client)
// writes one request per write here, so this fails for it; the counts depend
// only on the sequence of calls, not on timing.
TEST_P(RoundTripTest, SlidingWindowOf32WritesAtLeast16RequestsPerWrite) {
  Client client = MakeClient();
  ASSERT_TRUE(client.Connect().ok());
  const std::vector<IdQuery> queries = WindowQueries(world_->SampleNamespaceIds(), 32 * 40);
  constexpr size_t kWindow = 32;
  const ClientStats before = client.stats();
  std::vector<uint64_t> ids;
  size_t sent = 0;
  auto send_next = [&] {
    Request r;
    r.body = queries[sent++];
    Result<uint64_t> id = client.Send(r);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ids.push_back(*id);
  };
  while (sent < kWindow) send_next();
  for (size_t received = 0; received < queries.size(); ++received) {
    Result<Response> r = client.Receive();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->request_id, ids[received]);
    const IdPage* page = std::get_if<IdPage>(&r->body);
    ASSERT_NE(page, nullptr);
    EXPECT_EQ(page->ids, index().Query(queries[received]).answer.ids);
    if (sent < queries.size()) send_next();
    ASSERT_LE(client.outstanding(), kWindow);
  }
  EXPECT_EQ(client.outstanding(), 0u);
  const ClientStats after = client.stats();
  const uint64_t writes = after.writes - before.writes;
  const uint64_t requests = after.requests_written - before.requests_written;
  EXPECT_EQ(requests, queries.size());
  ASSERT_GT(writes, 0u);
  std::cout << "sliding window 32: " << requests << " requests in " << writes << " writes ("
            << static_cast<double>(requests) / static_cast<double>(writes) << " per write)\n";
  EXPECT_GE(requests, 16 * writes) << "fewer than 16 requests per write";
  EXPECT_EQ(after.connects, 1u);
}

// Send x 32 then Receive x 32: one write for all 32.
TEST_P(RoundTripTest, SendThenReceiveWritesTheWholeWindowOnce) {
  Client client = MakeClient();
  ASSERT_TRUE(client.Connect().ok());
  const std::vector<IdQuery> queries = WindowQueries(world_->SampleNamespaceIds(), 32);
  for (int round = 0; round < 5; ++round) {
    const ClientStats before = client.stats();
    for (const IdQuery& q : queries) {
      Request r;
      r.body = q;
      ASSERT_TRUE(client.Send(r).ok());
    }
    EXPECT_EQ(client.stats().writes, before.writes) << "Send() only queues";
    for (const IdQuery& q : queries) {
      Result<Response> r = client.Receive();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(std::get<IdPage>(r->body).ids, index().Query(q).answer.ids);
    }
    const ClientStats after = client.stats();
    EXPECT_EQ(after.writes - before.writes, 1u);
    EXPECT_EQ(after.requests_written - before.requests_written, queries.size());
  }
}

// The window helper: every answer once, with its request's index, >= 16 per write.
TEST_P(RoundTripTest, PipelineHelperKeepsAWindowAndMatchesAnswersToRequests) {
  Client client = MakeClient();
  std::vector<IdQuery> queries = WindowQueries(world_->SampleNamespaceIds(), 1000);
  std::vector<Request> requests;
  for (const IdQuery& q : queries) {
    Request r;
    r.body = q;
    requests.push_back(r);
  }
  // A min_lsn request already satisfied, and a ping, among them.
  requests[10].min_lsn = index().applied_lsn();
  requests[11].body = PingRequest{11};
  ASSERT_TRUE(client.Connect().ok());
  const ClientStats before = client.stats();
  std::vector<int> seen(requests.size(), 0);
  Status s = client.Pipeline(requests, 32, [&](size_t i, Response r) {
    ASSERT_LT(i, requests.size());
    ++seen[i];
    if (i == 11) {
      EXPECT_EQ(std::get<Pong>(r.body).payload, 11u);
      return;
    }
    EXPECT_EQ(std::get<IdPage>(r.body).ids, index().Query(queries[i]).answer.ids) << i;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << i;
  EXPECT_EQ(client.outstanding(), 0u);
  const ClientStats after = client.stats();
  const uint64_t writes = after.writes - before.writes;
  EXPECT_EQ(after.requests_written - before.requests_written, requests.size());
  EXPECT_GE(after.requests_written - before.requests_written, 16 * writes);
  std::cout << "Pipeline(window 32): " << requests.size() << " requests in " << writes
            << " writes\n";
  EXPECT_TRUE(client.Ping().ok());  // the connection is in a clean state afterwards
}

INSTANTIATE_TEST_SUITE_P(Transports, RoundTripTest,
                         ::testing::Values(Transport::kTcp, Transport::kUnix),
                         [](const auto& info) {
                           return info.param == Transport::kTcp ? "Tcp" : "Unix";
                         });

}  // namespace
}  // namespace canopy::net
