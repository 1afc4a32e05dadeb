// min_lsn_test.cc — read-your-writes: a request with min_lsn waits (without
// holding a server thread) until the index applies that LSN, woken by
// NotifyApplied or by the poller, or is answered STALE with the current LSN
// after its timeout, or SHUTTING_DOWN when the server stops.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.h"

namespace canopy::net {
namespace {

using testing::AddGroup;
using testing::Eventually;
using testing::Ping;
using testing::ServerTest;

class MinLsnTest : public ServerTest {
 protected:
  // Each test applies to its own fresh index (the shared one stays untouched).
  void SetUp() override {
    own_index_ = std::make_unique<HierarchyIndex>();
    ASSERT_TRUE(
        own_index_->Apply(canopy::testing::LoadTransaction(world_->forest, Lsn(1000))).ok());
  }
  void StartOwnServer(ServerOptions options) {
    auto server = Server::Start(std::move(options), Server::Borrow(*own_index_));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    server_.reset();
    own_index_.reset();
  }
  std::unique_ptr<HierarchyIndex> own_index_;
};

TEST_F(MinLsnTest, WaitsThenAnswersOnNotify) {
  ServerOptions options = testing::TestServerOptions();
  options.lsn_poll_interval = std::chrono::milliseconds(0);  // only NotifyApplied wakes
  StartOwnServer(options);
  const int64_t parent = world_->forest.named.small_group_id;
  const int64_t new_id = 50'000'000;
  Client client(ClientOpts());
  ASSERT_TRUE(client.Connect().ok());
  Request r;
  r.min_lsn = Lsn(2000);
  r.timeout_ms = 60'000;
  r.body = IdQuery{.kind = QueryKind::kDescendants, .id = parent};
  ASSERT_TRUE(client.Send(r).ok());
  ASSERT_TRUE(client.Send(Ping(0)).ok());  // answered at once, overtaking the parked one
  ASSERT_TRUE(client.Flush().ok());
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == 1; }));
  Result<Response> pong = client.Receive();
  ASSERT_TRUE(pong.ok());
  EXPECT_TRUE(std::holds_alternative<Pong>(pong->body));

  ASSERT_TRUE(own_index_->Apply(AddGroup(Lsn(2000), new_id, parent)).ok());
  server_->NotifyApplied(Lsn(2000));
  Result<Response> answer = client.Receive();
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->error, ErrorCode::kOk);
  EXPECT_GE(answer->lsn, Lsn(2000));
  const std::vector<int64_t>& ids = std::get<IdPage>(answer->body).ids;
  EXPECT_NE(std::find(ids.begin(), ids.end(), new_id), ids.end()) << "the write is visible";
  EXPECT_EQ(server_->waiting_requests(), 0u);
}

TEST_F(MinLsnTest, WaitsThenAnswersByPolling) {
  ServerOptions options = testing::TestServerOptions();
  options.lsn_poll_interval = std::chrono::milliseconds(5);
  StartOwnServer(options);
  Client client(ClientOpts());
  std::vector<uint64_t> sent;
  for (int i = 0; i < 10; ++i) {  // several waiters on different LSNs
    Request r;
    r.min_lsn = Lsn(1500 + 10 * static_cast<uint64_t>(i));
    r.timeout_ms = 60'000;
    r.body = PingRequest{static_cast<uint64_t>(i)};
    Result<uint64_t> id = client.Send(r);
    ASSERT_TRUE(id.ok());
  }
  ASSERT_TRUE(client.Flush().ok());
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == 10; }));
  Transaction advance;
  advance.commit_lsn = Lsn(1600);  // an empty transaction just moves the LSN
  ASSERT_TRUE(own_index_->Apply(std::move(advance)).ok());
  for (int i = 0; i < 10; ++i) {
    Result<Response> r = client.Receive();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->error, ErrorCode::kOk);
    EXPECT_EQ(r->lsn, Lsn(1600));
  }
}

TEST_F(MinLsnTest, TimesOutWithStaleAndTheCurrentLsn) {
  ServerOptions options = testing::TestServerOptions();
  StartOwnServer(options);
  Client client(ClientOpts());
  Request r;
  r.min_lsn = Lsn(1'000'000);
  r.timeout_ms = 100;
  r.body = IdQuery{.kind = QueryKind::kAncestors, .id = world_->forest.named.chain_21_leaf_id};
  Result<Response> resp = client.Call(r);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->error, ErrorCode::kStale);
  EXPECT_EQ(resp->lsn, own_index_->applied_lsn());
  EXPECT_EQ(server_->waiting_requests(), 0u);

  Result<QueryAnswer> typed =
      client.Query({.kind = QueryKind::kAncestors, .id = 1},
                   {.min_lsn = Lsn(1'000'000), .wait = std::chrono::milliseconds(50)});
  EXPECT_EQ(typed.status().code(), StatusCode::kTimeout) << typed.status().ToString();
  // An LSN already applied answers at once.
  Result<QueryAnswer> now =
      client.Query({.kind = QueryKind::kAncestors, .id = 1}, {.min_lsn = Lsn(1000)});
  EXPECT_TRUE(now.ok());
}

TEST_F(MinLsnTest, WaitersFromManyConnectionsWithConcurrentWrites) {
  ServerOptions options = testing::TestServerOptions();
  options.lsn_poll_interval = std::chrono::milliseconds(50);
  StartOwnServer(options);
  const int kClients = 8, kPerClient = 20;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      Client client(ClientOpts());
      for (int i = 0; i < kPerClient; ++i) {
        Request r;
        r.min_lsn = Lsn(1000 + static_cast<uint64_t>((c * kPerClient + i) % 100) + 1);
        r.timeout_ms = 60'000;
        r.body = IdQuery{.kind = QueryKind::kSelfAndAncestors, .id = 1};
        if (!client.Send(r).ok()) return;
      }
      for (int i = 0; i < kPerClient; ++i) {
        Result<Response> resp = client.Receive();
        if (resp.ok() && resp->error == ErrorCode::kOk) answered.fetch_add(1);
      }
    });
  }
  std::thread writer([&] {
    for (uint64_t lsn = 1001; lsn <= 1100; ++lsn) {
      Transaction t;
      t.commit_lsn = Lsn(lsn);
      (void)own_index_->Apply(std::move(t));
      server_->NotifyApplied(Lsn(lsn));
      std::this_thread::yield();
    }
  });
  writer.join();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(answered.load(), kClients * kPerClient);
}

TEST_F(MinLsnTest, StopAnswersWaitersShuttingDown) {
  StartOwnServer(testing::TestServerOptions());
  Client client(ClientOpts());
  Request r;
  r.min_lsn = Lsn(1'000'000);
  r.timeout_ms = 60'000;
  r.body = PingRequest{1};
  ASSERT_TRUE(client.Send(r).ok());
  ASSERT_TRUE(client.Flush().ok());
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == 1; }));
  std::thread stopper([&] { server_->Stop(); });
  Result<Response> resp = client.Receive();
  stopper.join();
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->error, ErrorCode::kShuttingDown);
  Result<Response> after = client.Receive();
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace canopy::net
