// async_client_test.cc — canopy::net::AsyncClient against an in-process
// Server: answers equal the engine's own for every call, many pipelined calls
// complete exactly once each (matched by request id, in any order), min_lsn
// waits, backpressure, and the interrupted cases — server stopped mid-flight,
// server restarted, client destroyed (also from its own handler) with calls
// outstanding. Every wait is bounded by Eventually()/future timeouts that only
// stop a hung test; nothing asserts on timing.
#include "canopy/net/async_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.h"

namespace canopy::net {
namespace {

using testing::AddGroup;
using testing::AllQueryShapes;
using testing::Eventually;
using testing::ExpectSameAnswer;
using testing::ExpectSameCounts;
using testing::ServerTest;
using testing::TestWorld;

constexpr auto kBound = std::chrono::seconds(60);  // only stops a hung test

template <typename T>
T Get(std::future<T>& f) {
  EXPECT_EQ(f.wait_for(kBound), std::future_status::ready) << "a call never completed";
  return f.get();
}
template <typename T>
T Get(std::future<T>&& f) {
  return Get(f);
}

// Counts completions per call, to prove "exactly once".
class Tally {
 public:
  explicit Tally(size_t calls) : per_call_(calls) {}
  void Record(size_t call, const Status& status) {
    per_call_[call].fetch_add(1, std::memory_order_relaxed);
    (status.ok() ? ok_ : failed_).fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!status.ok()) codes_.push_back(status.code());
    }
    // Last: a waiter may destroy the tally as soon as it sees the count.
    total_.fetch_add(1, std::memory_order_release);
  }
  bool WaitFor(size_t n) {
    return Eventually([&] { return total_.load(std::memory_order_acquire) >= n; }, kBound);
  }
  // Every one of the first `n` calls completed exactly once.
  void ExpectEachOnce(size_t n) const {
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(per_call_[i].load(), 1) << "call " << i;
    }
    EXPECT_EQ(total_.load(), n);
  }
  size_t ok() const { return ok_.load(); }
  size_t failed() const { return failed_.load(); }
  std::vector<StatusCode> codes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_;
  }

 private:
  std::vector<std::atomic<int>> per_call_;
  std::atomic<size_t> ok_{0};
  std::atomic<size_t> failed_{0};
  std::atomic<size_t> total_{0};
  mutable std::mutex mu_;
  std::vector<StatusCode> codes_;
};

// A request that the server parks until the index reaches `lsn`.
Request Parked(Lsn lsn, uint64_t payload) {
  Request r;
  r.min_lsn = lsn;
  r.timeout_ms = 60'000;
  r.body = PingRequest{payload};
  return r;
}

class AsyncClientTest : public ServerTest {
 protected:
  const TestWorld& world() const { return *world_; }
};

// Tests that advance the index get their own (the shared one stays untouched).
class AsyncClientOwnIndexTest : public ServerTest {
 protected:
  void SetUp() override {
    own_index_ = std::make_unique<HierarchyIndex>();
    ASSERT_TRUE(
        own_index_->Apply(canopy::testing::LoadTransaction(world_->forest, Lsn(1000))).ok());
  }
  void TearDown() override {
    server_.reset();
    own_index_.reset();
  }
  void StartOwnServer(ServerOptions options) {
    auto server = Server::Start(std::move(options), Server::Borrow(*own_index_));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void StartOwnServer() { StartOwnServer(testing::TestServerOptions()); }
  std::unique_ptr<HierarchyIndex> own_index_;
};

TEST_F(AsyncClientTest, EveryQueryKindMatchesTheEngine) {
  StartServer();
  AsyncClient client(ClientOpts());
  std::vector<int64_t> ids = world().SampleNamespaceIds();
  for (int64_t p : world().SampleProjectIds(10)) ids.push_back(p);
  const auto& chain = world().forest.named.chain_21;
  const int64_t top = chain.size() > 3 ? chain[3] : 0;
  std::vector<IdQuery> queries;
  for (int64_t id : ids) {
    for (const IdQuery& q : AllQueryShapes(id, top)) queries.push_back(q);
  }
  // Pipelined in windows of 1,000 calls.
  size_t compared = 0;
  for (size_t begin = 0; begin < queries.size(); begin += 1000) {
    const size_t end = std::min(queries.size(), begin + 1000);
    std::vector<std::future<Result<QueryAnswer>>> answers;
    for (size_t i = begin; i < end; ++i) answers.push_back(client.Query(queries[i]));
    for (size_t i = begin; i < end; ++i) {
      Result<QueryAnswer> got = Get(answers[i - begin]);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      const IdQuery& q = queries[i];
      QueryAnswer want = index().Query(q);
      EXPECT_EQ(got->lsn, want.lsn);
      ExpectSameAnswer(got->answer, want.answer,
                       std::string(QueryKindName(q.kind)) + "(" + std::to_string(q.id) + ")");
      ++compared;
    }
  }
  EXPECT_GT(compared, 1000u);
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.outstanding(), 0u);
  EXPECT_EQ(client.server_hello().version, kProtocolVersion);

  // Paged: limit + cursor, as the engine pages.
  const int64_t huge = world().forest.named.huge_group_id;
  IdQuery paged{.kind = QueryKind::kSelfAndDescendants, .id = huge, .limit = 37};
  Result<QueryAnswer> page = Get(client.Query(paged));
  ASSERT_TRUE(page.ok());
  ExpectSameAnswer(page->answer, index().Query(paged).answer, "first page");
}

TEST_F(AsyncClientTest, BatchCountsPathsResolveRunnersStatusPingMatchTheEngine) {
  StartServer();
  AsyncClient client(ClientOpts());
  const std::vector<int64_t> ns_ids = world().SampleNamespaceIds();
  const std::vector<int64_t> project_ids = world().SampleProjectIds();
  std::vector<IdQuery> queries;
  for (int64_t id : world().SampleNamespaceIds(20)) {
    for (const IdQuery& q : AllQueryShapes(id, 0)) queries.push_back(q);
  }
  // Everything in flight at once, then checked.
  auto batch = client.QueryBatch(queries);
  auto many = client.QueryMany(IdQuery{.kind = QueryKind::kSelfAndAncestors}, ns_ids);
  auto counts = client.CountsMany(ns_ids);
  auto one_count = client.Counts(world().forest.named.gitlab_org_id);
  auto no_count = client.Counts(99'999'999);
  auto ns_paths = client.FullPaths(Table::kNamespaces, ns_ids);
  auto project_paths = client.FullPaths(Table::kProjects, project_ids);
  auto one_path = client.FullPath(Table::kNamespaces, world().forest.named.gitlab_org_id);
  auto runners = client.RunnersOfGroups(ns_ids);
  auto status = client.GetStatus();
  auto ping = client.Ping(4242);
  auto unresolved = client.Resolve("no/such/path");

  ReadView view = index().Read();
  Result<BatchAnswer> b = Get(batch);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  BatchAnswer want_batch = index().QueryBatch(queries);
  EXPECT_EQ(b->lsn, want_batch.lsn);
  ASSERT_EQ(b->answers.size(), want_batch.answers.size());
  for (size_t i = 0; i < queries.size(); ++i)
    ExpectSameAnswer(b->answers[i], want_batch.answers[i], "batch member");

  Result<BatchAnswer> m = Get(many);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->answers.size(), ns_ids.size());
  for (size_t i = 0; i < ns_ids.size(); ++i) {
    ExpectSameAnswer(m->answers[i],
                     index().Query({.kind = QueryKind::kSelfAndAncestors, .id = ns_ids[i]}).answer,
                     "many");
  }

  auto c = Get(counts);
  ASSERT_TRUE(c.ok());
  ASSERT_NO_FATAL_FAILURE(ExpectSameCounts(c->value, ns_ids, view));
  auto oc = Get(one_count);
  ASSERT_TRUE(oc.ok());
  EXPECT_EQ(oc->value.projects, view.Counts(world().forest.named.gitlab_org_id)->projects);
  EXPECT_EQ(Get(no_count).status().code(), StatusCode::kNotFound);

  std::vector<std::string> all_paths;
  auto np = Get(ns_paths);
  ASSERT_TRUE(np.ok());
  ASSERT_EQ(np->value.size(), ns_ids.size());
  for (size_t i = 0; i < ns_ids.size(); ++i) {
    Result<std::string> want = view.NamespaceFullPath(ns_ids[i]);
    ASSERT_EQ(np->value[i].ok(), want.ok()) << ns_ids[i];
    if (want.ok()) {
      EXPECT_EQ(*np->value[i], *want);
      all_paths.push_back(*want);
    }
  }
  auto pp = Get(project_paths);
  ASSERT_TRUE(pp.ok());
  ASSERT_EQ(pp->value.size(), project_ids.size());
  for (size_t i = 0; i < project_ids.size(); ++i) {
    Result<std::string> want = view.ProjectFullPath(project_ids[i]);
    ASSERT_EQ(pp->value[i].ok(), want.ok()) << project_ids[i];
    if (want.ok()) {
      EXPECT_EQ(*pp->value[i], *want);
      all_paths.push_back(*want);
    }
  }
  auto op = Get(one_path);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->value, *view.NamespaceFullPath(world().forest.named.gitlab_org_id));

  all_paths.push_back("no/such/path");
  auto resolved = Get(client.ResolveMany(all_paths));
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
  auto single = Get(client.Resolve(all_paths.front()));
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->value.id, view.Resolve(all_paths.front())->id);
  EXPECT_EQ(Get(unresolved).status().code(), StatusCode::kNotFound);

  std::vector<int64_t> runners_want;
  view.RunnersOfGroups(ns_ids, &runners_want);
  auto r = Get(runners);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, runners_want);
  EXPECT_EQ(r->lsn, view.lsn());

  auto s = Get(status);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const IndexStats stats = index().Stats();
  EXPECT_EQ(s->applied_lsn, stats.applied_lsn);
  EXPECT_EQ(s->index.namespaces, stats.namespaces);
  EXPECT_EQ(s->index.projects, stats.projects);
  EXPECT_GE(s->connections, 1u);

  auto p = Get(ping);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, index().applied_lsn());
}

TEST_F(AsyncClientTest, WorksOverTheUnixSocket) {
  ServerOptions options = testing::TestServerOptions();
  options.unix_path = testing::TempSocketPath("async");
  StartServer(options);
  AsyncClient client(testing::UnixClientOptions(options.unix_path));
  ASSERT_TRUE(Get(client.Connect()).ok());
  const int64_t id = world().forest.named.gitlab_org_id;
  IdQuery q{.kind = QueryKind::kSelfAndDescendants, .id = id};
  Result<QueryAnswer> got = Get(client.Query(q));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameAnswer(got->answer, index().Query(q).answer, "unix");
}

TEST_F(AsyncClientTest, ThousandPipelinedCallsCompleteOnceEachWithTheirIds) {
  StartServer();
  constexpr size_t kCalls = 1000;
  const std::vector<int64_t> ids = world().SampleNamespaceIds(100);
  Tally tally(kCalls);
  std::vector<uint64_t> sent_ids(kCalls);
  std::vector<uint64_t> got_ids(kCalls);  // each written by its own call's handler only
  std::atomic<size_t> wrong{0};
  {
    AsyncClient client(ClientOpts());
    for (size_t i = 0; i < kCalls; ++i) {
      if (i % 2 == 0) {
        // Generic form: the answer carries the request id the call returned.
        Request r;
        r.body = PingRequest{i};
        sent_ids[i] = client.Call(r, [&, i](Result<Response> resp) {
          if (resp.ok()) {
            got_ids[i] = resp->request_id;
            const Pong* pong = std::get_if<Pong>(&resp->body);
            if (pong == nullptr || pong->payload != i) wrong.fetch_add(1);
          }
          tally.Record(i, resp.status());
        });
      } else {
        const IdQuery q{.kind = QueryKind::kSelfAndAncestors, .id = ids[i % ids.size()]};
        client.Query(q, {}, [&, i, q](Result<QueryAnswer> a) {
          if (a.ok() && a->answer.ids != index().Query(q).answer.ids) wrong.fetch_add(1);
          tally.Record(i, a.status());
        });
      }
    }
    ASSERT_TRUE(tally.WaitFor(kCalls));
    EXPECT_EQ(client.outstanding(), 0u);
  }  // the destructor would run any late (duplicate) completion: there must be none
  tally.ExpectEachOnce(kCalls);
  EXPECT_EQ(tally.ok(), kCalls);
  EXPECT_EQ(wrong.load(), 0u);
  for (size_t i = 0; i < kCalls; i += 2) EXPECT_EQ(got_ids[i], sent_ids[i]) << i;
  std::set<uint64_t> distinct;
  for (size_t i = 0; i < kCalls; i += 2) distinct.insert(sent_ids[i]);
  EXPECT_EQ(distinct.size(), kCalls / 2) << "request ids are distinct";

  // Calls from several threads at once on one client.
  AsyncClient shared(ClientOpts());
  std::vector<std::thread> threads;
  std::atomic<size_t> answered{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::future<Result<Lsn>>> pings;
      for (int i = 0; i < 200; ++i)
        pings.push_back(shared.Ping(static_cast<uint64_t>(t * 1000 + i)));
      for (auto& p : pings) {
        if (Get(p).ok()) answered.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), 800u);
}

// A window of 32 calls started together — here from a handler, so all 32 are
// accepted in one turn of the event loop — leaves in one write (the old
// write-at-accept wrote the first call alone, then the other 31: two writes).
// Rounds: the last answer of one window starts the next. Deterministic: no
// timing decides what goes into a write.
TEST_F(AsyncClientTest, AWindowOf32StartedTogetherLeavesInOneWrite) {
  StartServer();
  AsyncClient client(ClientOpts());
  ASSERT_TRUE(Get(client.Connect()).ok());
  const std::vector<int64_t> ids = world().SampleNamespaceIds(100);
  constexpr size_t kWindow = 32;
  constexpr size_t kRounds = 20;
  const ClientStats before = client.stats();
  std::promise<void> finished;
  std::atomic<size_t> wrong{0};
  size_t answered = 0;  // I/O thread only
  size_t round = 0;     // I/O thread only
  std::function<void()> start_round = [&] {
    for (size_t k = 0; k < kWindow; ++k) {
      const IdQuery q{.kind = QueryKind::kSelfAndAncestors,
                      .id = ids[(round * kWindow + k) % ids.size()]};
      client.Query(q, {}, [&, q](Result<QueryAnswer> a) {
        if (!a.ok() || a->answer.ids != index().Query(q).answer.ids) wrong.fetch_add(1);
        if (++answered % kWindow != 0) return;
        if (++round < kRounds) {
          start_round();
        } else {
          finished.set_value();
        }
      });
    }
  };
  client.Ping(0, [&](Result<Lsn>) { start_round(); });
  std::future<void> done = finished.get_future();
  ASSERT_EQ(done.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(wrong.load(), 0u);
  const uint64_t want_requests = 1 + kRounds * kWindow;  // the ping + the windows
  ASSERT_TRUE(Eventually(
      [&] { return client.stats().requests_written - before.requests_written == want_requests; },
      kBound));
  const ClientStats after = client.stats();
  const uint64_t writes = after.writes - before.writes;
  std::cout << "async, windows of 32 from a handler: " << want_requests << " requests in " << writes
            << " writes\n";
  EXPECT_EQ(writes, 1 + kRounds) << "one write per window (and one for the ping)";
  EXPECT_GE(want_requests - 1, 16 * (writes - 1));
}

// The same windows from a caller's thread (futures): what goes into a write
// depends on how fast the I/O thread wakes, so this only reports the number.
TEST_F(AsyncClientTest, WindowsFromACallerThreadAreCounted) {
  StartServer();
  AsyncClient client(ClientOpts());
  ASSERT_TRUE(Get(client.Connect()).ok());
  const std::vector<int64_t> ids = world().SampleNamespaceIds(100);
  constexpr size_t kWindow = 32;
  constexpr size_t kRounds = 20;
  const ClientStats before = client.stats();
  for (size_t round = 0; round < kRounds; ++round) {
    std::vector<std::future<Result<QueryAnswer>>> window;
    for (size_t k = 0; k < kWindow; ++k) {
      window.push_back(client.Query(
          {.kind = QueryKind::kSelfAndAncestors, .id = ids[(round * kWindow + k) % ids.size()]}));
    }
    for (auto& f : window) ASSERT_TRUE(Get(f).ok());
  }
  ASSERT_TRUE(Eventually(
      [&] {
        return client.stats().requests_written - before.requests_written == kRounds * kWindow;
      },
      kBound));
  const uint64_t writes = client.stats().writes - before.writes;
  std::cout << "async, windows of 32 from the caller's thread: " << kRounds * kWindow
            << " requests in " << writes << " writes\n";
  EXPECT_GE(writes, kRounds);
}

TEST_F(AsyncClientOwnIndexTest, MinLsnWaitIsAnsweredAfterTheIndexAdvances) {
  ServerOptions options = testing::TestServerOptions();
  options.lsn_poll_interval = std::chrono::milliseconds(0);  // only NotifyApplied wakes
  StartOwnServer(options);
  AsyncClient client(ClientOpts());
  const int64_t parent = world_->forest.named.small_group_id;
  const int64_t new_id = 50'000'000;
  auto waiting = client.Query({.kind = QueryKind::kDescendants, .id = parent},
                              {.min_lsn = Lsn(2000), .wait = std::chrono::milliseconds(60'000)});
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == 1; }, kBound));
  // Answered while the other waits: matched by request id, not by order.
  Result<Lsn> pong = Get(client.Ping(7));
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(*pong, Lsn(1000));
  EXPECT_EQ(waiting.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  ASSERT_TRUE(own_index_->Apply(AddGroup(Lsn(2000), new_id, parent)).ok());
  server_->NotifyApplied(Lsn(2000));
  Result<QueryAnswer> answer = Get(waiting);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  ASSERT_TRUE(answer->answer.status.ok());
  EXPECT_GE(answer->lsn, Lsn(2000));
  const std::vector<int64_t>& ids = answer->answer.ids;
  EXPECT_NE(std::find(ids.begin(), ids.end(), new_id), ids.end()) << "the write is visible";

  // Not applied within its wait: STALE -> kTimeout, and the connection stays up.
  Result<QueryAnswer> stale =
      Get(client.Query({.kind = QueryKind::kAncestors, .id = parent},
                       {.min_lsn = Lsn(1'000'000), .wait = std::chrono::milliseconds(50)}));
  EXPECT_EQ(stale.status().code(), StatusCode::kTimeout) << stale.status().ToString();
  EXPECT_TRUE(Get(client.Ping(1)).ok());
}

TEST_F(AsyncClientOwnIndexTest, RefusesCallsBeyondMaxOutstanding) {
  StartOwnServer();
  AsyncClient client(ClientOpts(), {.max_outstanding = 4});
  std::vector<std::future<Result<Response>>> parked;
  for (uint64_t i = 0; i < 4; ++i) parked.push_back(client.Call(Parked(Lsn(3000), i)));
  EXPECT_EQ(client.outstanding(), 4u);
  // Refused at once (not queued), still through its handler / future.
  Result<Lsn> refused = Get(client.Ping(9));
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << refused.status().ToString();

  Transaction advance;
  advance.commit_lsn = Lsn(3000);
  ASSERT_TRUE(own_index_->Apply(std::move(advance)).ok());
  server_->NotifyApplied(Lsn(3000));
  for (auto& f : parked) {
    Result<Response> r = Get(f);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->error, ErrorCode::kOk);
    EXPECT_EQ(r->lsn, Lsn(3000));
  }
  EXPECT_EQ(client.outstanding(), 0u);
  EXPECT_TRUE(Get(client.Ping(10)).ok());
}

TEST_F(AsyncClientOwnIndexTest, ServerStoppedMidFlightFailsEveryOutstandingCallOnce) {
  StartOwnServer();
  constexpr size_t kParked = 50;
  constexpr size_t kMaxFlood = 200'000;
  Tally tally(kParked + kMaxFlood);
  std::atomic<size_t> issued{0};
  std::atomic<size_t> parked_answered{0};
  AsyncClient client(ClientOpts());
  for (size_t i = 0; i < kParked; ++i) {
    client.Call(Parked(Lsn(1'000'000), i), [&, i](Result<Response> r) {
      // A parked call can only end in an error: SHUTTING_DOWN or a lost connection.
      const Status s = r.ok() ? ToStatus(r->error, r->message) : r.status();
      if (s.ok()) parked_answered.fetch_add(1);
      tally.Record(i, s);
    });
  }
  issued = kParked;
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == kParked; }, kBound));

  // More calls keep coming while the server stops.
  std::atomic<bool> stop_flood{false};
  std::thread flood([&] {
    const int64_t id = world_->forest.named.gitlab_org_id;
    for (size_t i = kParked; i < kParked + kMaxFlood && !stop_flood.load(); ++i) {
      client.Query({.kind = QueryKind::kSelfAndDescendants, .id = id}, {},
                   [&, i](Result<QueryAnswer> a) { tally.Record(i, a.status()); });
      issued.fetch_add(1);
      if (i % 64 == 0) std::this_thread::yield();
    }
  });
  ASSERT_TRUE(Eventually([&] { return issued.load() > kParked + 100; }, kBound));
  server_->Stop();
  stop_flood = true;
  flood.join();

  ASSERT_TRUE(tally.WaitFor(issued.load()));
  tally.ExpectEachOnce(issued.load());
  EXPECT_EQ(parked_answered.load(), 0u) << "a parked call must fail, not be answered";
  EXPECT_GE(tally.failed(), kParked);
  for (StatusCode code : tally.codes()) {
    EXPECT_TRUE(code == StatusCode::kUnavailable || code == StatusCode::kResourceExhausted)
        << StatusCodeName(code);
  }

  // The client survives: calls keep completing (with errors: nobody listens).
  Result<Lsn> after = Get(client.Ping(1));
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable) << after.status().ToString();
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.outstanding(), 0u);
}

TEST_F(AsyncClientOwnIndexTest, ParkedCallsGetShuttingDownAsUnavailable) {
  StartOwnServer();
  AsyncClient client(ClientOpts());
  auto parked =
      client.Query({.kind = QueryKind::kAncestors, .id = 1},
                   {.min_lsn = Lsn(1'000'000), .wait = std::chrono::milliseconds(60'000)});
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == 1; }, kBound));
  server_->Stop();
  Result<QueryAnswer> r = Get(parked);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST_F(AsyncClientTest, ReconnectsOnTheNextCallAfterTheServerRestarts) {
  ServerOptions options = testing::TestServerOptions();
  options.tcp_listen.clear();
  options.unix_path = testing::TempSocketPath("async-reconnect");
  StartServer(options);
  AsyncClient client(testing::UnixClientOptions(options.unix_path));
  ASSERT_TRUE(Get(client.Ping(1)).ok());
  EXPECT_TRUE(client.connected());

  server_.reset();  // stops it
  Result<Lsn> down = Get(client.Ping(2));
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();

  StartServer(options);  // the same socket path
  Result<Lsn> back = Get(client.Ping(3));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(client.connected());

  // Close(): the next call connects again.
  client.Close();
  EXPECT_FALSE(client.connected());
  EXPECT_TRUE(Get(client.Ping(4)).ok());
}

TEST_F(AsyncClientTest, WithoutReconnectCallsFailUntilConnect) {
  ServerOptions options = testing::TestServerOptions();
  options.tcp_listen.clear();
  options.unix_path = testing::TempSocketPath("async-noreconnect");
  StartServer(options);
  ClientOptions client_options = testing::UnixClientOptions(options.unix_path);
  client_options.reconnect = false;
  AsyncClient client(client_options);
  ASSERT_TRUE(Get(client.Ping(1)).ok());  // the first connection is made on demand
  client.Close();
  EXPECT_EQ(Get(client.Ping(2)).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(Get(client.Connect()).ok());
  EXPECT_TRUE(Get(client.Ping(3)).ok());
}

TEST_F(AsyncClientTest, ConnectErrorsAreValues) {
  // A port nobody listens on: a server started and stopped.
  StartServer();
  const uint16_t port = server_->tcp_port();
  server_.reset();
  AsyncClient client(testing::TcpClientOptions(port));
  Status s = Get(client.Connect());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(Get(client.Ping()).status().code(), StatusCode::kUnavailable);

  // A server that wants a token the client does not have.
  ServerOptions options = testing::TestServerOptions();
  options.token = "secret";
  StartServer(options);
  AsyncClient no_token(ClientOpts());
  Result<Lsn> refused = Get(no_token.Ping());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition)
      << refused.status().ToString();
  ClientOptions with_token = ClientOpts();
  with_token.token = "secret";
  AsyncClient good(with_token);
  EXPECT_TRUE(Get(good.Ping()).ok());

  // A bad Unix path fails the call, not the process.
  ClientOptions bad_path;
  bad_path.unix_path = std::string(300, 'x');
  AsyncClient bad(bad_path);
  EXPECT_FALSE(Get(bad.Ping()).ok());
}

// A TCP listener on 127.0.0.1 that answers Hello (when `answer_hello`) and
// then nothing: the client's deadlines are the only way out.
class SilentServer {
 public:
  explicit SilentServer(bool answer_hello) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (answer_hello) thread_ = std::thread([this] { Serve(); });
  }
  ~SilentServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    pollfd p{fd_, POLLIN, 0};
    while (!stop_ && ::poll(&p, 1, 50) == 0) {
    }
    if (stop_) return;
    const int conn = ::accept(fd_, nullptr, nullptr);
    if (conn < 0) return;
    internal::FrameReader reader(1 << 20);
    bool answered = false;
    while (!stop_) {
      pollfd c{conn, POLLIN, 0};
      if (::poll(&c, 1, 50) <= 0) continue;
      std::span<uint8_t> space = reader.PrepareWrite(4096);
      const ssize_t n = ::recv(conn, space.data(), space.size(), 0);
      if (n <= 0) break;
      reader.CommitWrite(static_cast<size_t>(n));
      internal::FrameReader::Next next = reader.NextFrame();
      if (answered || next.state != internal::FrameReader::State::kFrame) continue;
      internal::DecodedRequest hello = internal::DecodeRequest(next.frame, {});
      flatbuffers::FlatBufferBuilder b;
      internal::EncodeHelloReply(
          hello.request_id, Lsn(1),
          HelloReply{.version = kProtocolVersion, .server_version = "silent"}, &b);
      EXPECT_EQ(::send(conn, b.GetBufferPointer(), b.GetSize(), MSG_NOSIGNAL),
                static_cast<ssize_t>(b.GetSize()));
      answered = true;  // and never anything else
    }
    ::close(conn);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(AsyncClientTimeoutTest, DeadlinesAreValues) {
  {  // Connected (the kernel's backlog) but the handshake is never answered.
    SilentServer silent(/*answer_hello=*/false);
    ClientOptions options = testing::TcpClientOptions(silent.port());
    options.connect_timeout = std::chrono::milliseconds(100);
    AsyncClient client(options);
    Result<Lsn> r = Get(client.Ping(1));
    EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  }
  {  // Handshake answered, calls never.
    SilentServer silent(/*answer_hello=*/true);
    ClientOptions options = testing::TcpClientOptions(silent.port());
    options.io_timeout = std::chrono::milliseconds(100);
    AsyncClient client(options);
    ASSERT_TRUE(Get(client.Connect()).ok());
    auto a = client.Ping(1);
    auto b = client.Query({.kind = QueryKind::kAncestors, .id = 1});
    Result<Lsn> ra = Get(a);
    Result<QueryAnswer> rb = Get(b);
    // Each timed out (kTimeout) or was dropped with the connection after
    // another one did (kUnavailable) — never answered, never twice.
    EXPECT_FALSE(ra.ok());
    EXPECT_FALSE(rb.ok());
    EXPECT_TRUE(ra.status().code() == StatusCode::kTimeout ||
                rb.status().code() == StatusCode::kTimeout);
    EXPECT_FALSE(client.connected());
    EXPECT_EQ(client.outstanding(), 0u);
  }
}

TEST_F(AsyncClientOwnIndexTest, DestroyingTheClientCompletesOutstandingCalls) {
  StartOwnServer();
  constexpr size_t kParked = 20;
  constexpr size_t kPings = 500;
  Tally tally(kParked + kPings);
  std::atomic<size_t> parked_unavailable{0};
  {
    AsyncClient client(ClientOpts());
    for (size_t i = 0; i < kParked; ++i) {
      client.Call(Parked(Lsn(1'000'000), i), [&, i](Result<Response> r) {
        if (!r.ok() && r.status().code() == StatusCode::kUnavailable) parked_unavailable++;
        tally.Record(i, r.status());
      });
    }
    ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == kParked; }, kBound));
    for (size_t i = kParked; i < kParked + kPings; ++i) {
      client.Ping(i, [&, i](Result<Lsn> r) { tally.Record(i, r.status()); });
    }
  }                                        // destroyed with calls queued, in flight and parked
  tally.ExpectEachOnce(kParked + kPings);  // all completed before the destructor returned
  EXPECT_EQ(parked_unavailable.load(), kParked);
  EXPECT_TRUE(Eventually([&] { return server_->waiting_requests() == 0; }, kBound));
  ExpectServerHealthy();
}

TEST_F(AsyncClientOwnIndexTest, DestroyingTheClientFromItsOwnHandlerIsSafe) {
  StartOwnServer();
  constexpr size_t kParked = 10;
  Tally tally(kParked + 1);
  auto client = std::make_unique<AsyncClient>(ClientOpts());
  AsyncClient* raw = client.get();
  std::mutex mu;
  std::unique_ptr<AsyncClient> owned = std::move(client);
  for (size_t i = 0; i < kParked; ++i) {
    raw->Call(Parked(Lsn(1'000'000), i),
              [&, i](Result<Response> r) { tally.Record(i, r.status()); });
  }
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == kParked; }, kBound));
  raw->Ping(0, [&](Result<Lsn> r) {
    std::unique_ptr<AsyncClient> dying;
    {
      std::lock_guard<std::mutex> lock(mu);
      dying = std::move(owned);
    }
    dying.reset();  // on the client's own I/O thread
    tally.Record(kParked, r.status());
  });
  ASSERT_TRUE(tally.WaitFor(kParked + 1));
  tally.ExpectEachOnce(kParked + 1);
  EXPECT_EQ(tally.ok(), 1u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(owned, nullptr);
}

TEST_F(AsyncClientTest, HandlersMayStartCallsAndClose) {
  StartServer();
  AsyncClient client(ClientOpts());
  constexpr int kChain = 200;
  std::promise<int> finished;
  std::function<void(int, Result<Lsn>)> next = [&](int i, Result<Lsn> r) {
    if (!r.ok() || i == kChain) {
      client.Close();  // from the I/O thread: takes effect after this handler
      finished.set_value(r.ok() ? i : -1);
      return;
    }
    client.Ping(static_cast<uint64_t>(i + 1), [&, i](Result<Lsn> r2) { next(i + 1, r2); });
  };
  client.Ping(0, [&](Result<Lsn> r) { next(0, r); });
  std::future<int> done = finished.get_future();
  EXPECT_EQ(Get(done), kChain);
  EXPECT_TRUE(Eventually([&] { return !client.connected(); }, kBound));
  EXPECT_TRUE(Get(client.Ping(1)).ok());  // and the next call reconnects
}

TEST_F(AsyncClientTest, AThrowingHandlerDoesNotHurtTheClient) {
  StartServer();
  AsyncClient client(ClientOpts());
  std::atomic<int> ran{0};
  client.Ping(1, [&](Result<Lsn>) {
    ran++;
    throw std::runtime_error("handler failure");
  });
  Result<Lsn> next = Get(client.Ping(2));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace canopy::net
