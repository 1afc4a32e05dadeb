// feed_server_test.cc — change-feed subscriptions over the FlatBuffers
// protocol (Subscribe, FeedBatch; ServerOptions::feed) against a real
// Server and Client, on an in-memory ChangeFeed: the values survive the
// wire, the errors are clear, a subscriber that does not keep up loses its
// subscription and nothing else, limits hold, Stop ends subscriptions.
// (The feed behind a replica of PostgreSQL: tests/e2e/feed_e2e_test.cc.)
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "canopy/change_feed.h"
#include "server_fixture.h"

namespace canopy::net::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint64_t kStart = 1'000'000;

FeedChange Rename(int64_t id, std::string name, std::vector<int64_t> subtrees) {
  NamespaceRow before{
      .id = id, .parent_id = 1, .type = NamespaceType::kGroup, .name = "old", .path = "p"};
  NamespaceRow after = before;
  after.name = std::move(name);
  after.present = kAllColumns & ~NamespaceRow::kPath;  // one column unknown
  return FeedChange{
      Table::kNamespaces, ChangeOp::kUpdate, id, before, after, std::move(subtrees), {}};
}

class FeedServerTest : public ServerTest {
 protected:
  void StartWithFeed(FeedOptions feed_options, ServerOptions options = TestServerOptions()) {
    feed_ = ChangeFeed::Create(feed_options, Lsn(kStart));
    options.feed = feed_;
    StartServer(std::move(options));
  }
  // Reads feed messages until the position reaches `lsn`; the transactions.
  std::vector<FeedTransaction> ReadUntil(Client& client, Lsn lsn) {
    std::vector<FeedTransaction> all;
    for (int i = 0; i < 1000; ++i) {
      auto batch = client.NextFeed(seconds(10));
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok()) break;
      for (auto& t : batch->value) all.push_back(std::move(t));
      if (batch->lsn >= lsn) break;
    }
    return all;
  }
  std::shared_ptr<ChangeFeed> feed_;
};

TEST_F(FeedServerTest, TransactionsCrossTheWireWholeInOrderOnce) {
  StartWithFeed({.max_transactions = 1000});
  Client client(ClientOpts());
  Result<Lsn> start = client.Subscribe(Lsn());
  ASSERT_TRUE(start.ok()) << start.status().ToString();
  EXPECT_EQ(*start, Lsn(kStart));
  std::vector<FeedTransaction> sent;
  sent.push_back({Lsn(kStart + 10), 1764979200123, {Rename(5, "five \"quoted\"", {1, 5})}});
  sent.push_back(
      {Lsn(kStart + 20),
       1764979200456,
       {FeedChange{Table::kProjects,
                   ChangeOp::kDelete,
                   77,
                   ProjectRow{.id = 77,
                              .namespace_id = 5,
                              .project_namespace_id = std::nullopt,
                              .name = "proj",
                              .path = "proj",
                              .archived = true},
                   std::monostate{},
                   {1, 5}},
        FeedChange{Table::kRunnerLinks,
                   ChangeOp::kInsert,
                   9,
                   std::monostate{},
                   RunnerLinkRow{.id = 9, .runner_id = 3, .namespace_id = 5},
                   {1, 5}},
        FeedChange{
            Table::kRunnerLinks, ChangeOp::kTruncate, 0, std::monostate{}, std::monostate{}, {}}}});
  for (const auto& t : sent) feed_->Append(t);
  std::vector<FeedTransaction> got = ReadUntil(client, Lsn(kStart + 20));
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].commit_lsn, sent[i].commit_lsn);
    EXPECT_EQ(got[i].commit_unix_ms, sent[i].commit_unix_ms);
    ASSERT_EQ(got[i].changes.size(), sent[i].changes.size());
    for (size_t c = 0; c < got[i].changes.size(); ++c) {
      const FeedChange& a = got[i].changes[c];
      const FeedChange& b = sent[i].changes[c];
      EXPECT_EQ(a.table, b.table);
      EXPECT_EQ(a.op, b.op);
      EXPECT_EQ(a.id, b.id);
      EXPECT_EQ(a.subtrees, b.subtrees);
      // Compared through their JSON: every field the wire carries.
      std::string ja, jb;
      AppendFeedChangeJson(got[i], a, &ja);
      AppendFeedChangeJson(sent[i], b, &jb);
      EXPECT_EQ(ja, jb);
    }
  }
  const auto& after = std::get<NamespaceRow>(got[0].changes[0].after);
  EXPECT_EQ(after.name, "five \"quoted\"");
  EXPECT_FALSE(after.present & NamespaceRow::kPath);  // unknown stays unknown
  // A position-only advance arrives as a message with no transactions' changes.
  feed_->Append({Lsn(kStart + 30), 0, {}});
  got = ReadUntil(client, Lsn(kStart + 30));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].changes.empty());
}

TEST_F(FeedServerTest, FiltersApplyOnTheServer) {
  StartWithFeed({.max_transactions = 1000});
  const int64_t inside = world_->forest.named.gitlab_org_id;
  Client client(ClientOpts());
  FeedFilter filter;
  filter.subtree = inside;
  filter.columns[static_cast<size_t>(Table::kNamespaces)] = NamespaceRow::kName;
  ASSERT_TRUE(client.Subscribe(Lsn(), filter).ok());
  feed_->Append({Lsn(kStart + 1), 1, {Rename(5, "elsewhere", {inside + 1'000'000})}});
  feed_->Append({Lsn(kStart + 2), 2, {Rename(6, "inside", {inside, 6})}});
  std::vector<FeedTransaction> got = ReadUntil(client, Lsn(kStart + 2));
  size_t changes = 0;
  for (const auto& t : got) {
    for (const auto& c : t.changes) {
      ++changes;
      EXPECT_EQ(c.id, 6);
      EXPECT_EQ(std::get<NamespaceRow>(c.after).present, NamespaceRow::kName);
    }
  }
  EXPECT_EQ(changes, 1u);
}

TEST_F(FeedServerTest, BadSubscriptionsGetClearErrors) {
  StartWithFeed({.max_transactions = 3});
  for (uint64_t i = 1; i <= 10; ++i) feed_->Append({Lsn(kStart + i), 1, {Rename(5, "n", {5})}});
  Client client(ClientOpts());
  Result<Lsn> old = client.Subscribe(Lsn(kStart + 1));
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange) << old.status().ToString();
  EXPECT_NE(old.status().message().find(feed_->oldest().ToString()), std::string::npos)
      << old.status().message();
  Result<Lsn> future = client.Subscribe(Lsn(kStart + 1000));
  EXPECT_EQ(future.status().code(), StatusCode::kInvalidArgument) << future.status().ToString();
  FeedFilter unknown;
  unknown.subtree = 987'654'321;
  EXPECT_EQ(client.Subscribe(Lsn(), unknown).status().code(), StatusCode::kNotFound);
  ExpectServerHealthy();
}

// Carried values (a published column the index does not keep) cross the
// wire with NULL, empty and text kept apart; a projection asks for them by
// name; a name the feed does not carry is refused.
TEST_F(FeedServerTest, CarriedValuesCrossTheWireAndTheirProjection) {
  FeedOptions options{.max_transactions = 100};
  options.carried_columns[static_cast<size_t>(Table::kProjects)] = {"description", "star_count"};
  StartWithFeed(options);
  Client all(ClientOpts()), projected(ClientOpts());
  ASSERT_TRUE(all.Subscribe(Lsn()).ok());
  FeedFilter wants;
  ASSERT_TRUE(ParseFeedColumns("projects.description", &wants).ok());
  ASSERT_TRUE(projected.Subscribe(Lsn(), wants).ok());
  FeedFilter typo;
  ASSERT_TRUE(ParseFeedColumns("projects.descripton", &typo).ok());
  Result<Lsn> refused = Client(ClientOpts()).Subscribe(Lsn(), typo);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("descripton"), std::string::npos)
      << refused.status().message();

  ProjectRow row{.id = 9, .namespace_id = 5, .name = "p", .path = "p"};
  FeedChange change{Table::kProjects, ChangeOp::kInsert, 9, std::monostate{}, row, {5}, {}};
  change.carried = {{"description", std::string()}, {"star_count", std::nullopt}};
  feed_->Append({Lsn(kStart + 1), 1, {change}});
  change.op = ChangeOp::kUpdate;
  change.before = row;
  change.carried = {{"description", std::string(5000, 'd')}};
  feed_->Append({Lsn(kStart + 2), 2, {change}});

  std::vector<FeedTransaction> got = ReadUntil(all, Lsn(kStart + 2));
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].changes.at(0).carried.size(), 2u);
  EXPECT_EQ(got[0].changes[0].carried[0].column, "description");
  EXPECT_EQ(got[0].changes[0].carried[0].text, std::optional<std::string>(""));
  EXPECT_EQ(got[0].changes[0].carried[1].column, "star_count");
  EXPECT_FALSE(got[0].changes[0].carried[1].text.has_value());
  got = ReadUntil(projected, Lsn(kStart + 2));
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].changes.at(0).carried.size(), 1u);  // star_count not wanted
  EXPECT_EQ(got[0].changes[0].carried[0].column, "description");
  ASSERT_EQ(got[1].changes.size(), 1u);  // sent description: passes
  ASSERT_EQ(got[1].changes[0].carried.size(), 1u);
  EXPECT_EQ(got[1].changes[0].carried[0].text, std::string(5000, 'd'));
  EXPECT_EQ(std::get<ProjectRow>(got[1].changes[0].after).present, ColumnMask{0});
  ExpectServerHealthy();
}

TEST(FeedServerWithoutFeed, SubscribeSaysThereIsNoFeed) {
  TestWorld world = TestWorld::Make();
  auto server = Server::Start(TestServerOptions(), Server::Borrow(*world.index));
  ASSERT_TRUE(server.ok());
  Client client(TcpClientOptions((*server)->tcp_port()));
  Result<Lsn> r = client.Subscribe(Lsn());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no change feed"), std::string::npos) << r.status().message();
}

TEST_F(FeedServerTest, ThousandsOfSubscriptionsOnOneConnectionAreRefusedOneByOne) {
  ServerOptions options = TestServerOptions();
  options.max_subscriptions_per_connection = 2;
  options.max_in_flight = 4096;
  StartWithFeed({.max_transactions = 100}, options);
  Client client(ClientOpts());
  std::vector<Request> requests(2000);
  for (Request& r : requests) r.body = SubscribeRequest{};
  size_t ok = 0, overloaded = 0;
  // Each accepted subscription answers once now; every refusal once.
  Status s = client.Pipeline(requests, 64, [&](size_t, Response r) {
    ok += r.error == ErrorCode::kOk;
    overloaded += r.error == ErrorCode::kOverloaded;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ok, 2u);
  EXPECT_EQ(overloaded, 1998u);
  ExpectServerHealthy();
}

TEST_F(FeedServerTest, ASubscriberThatFallsBehindLosesItsSubscriptionNotTheFeed) {
  ServerOptions options = TestServerOptions();
  options.max_feed_batch_transactions = 4;
  StartWithFeed({.max_transactions = 8}, options);
  Client slow(ClientOpts());
  ASSERT_TRUE(slow.Subscribe(Lsn()).ok());
  Client fast(ClientOpts());
  ASSERT_TRUE(fast.Subscribe(Lsn()).ok());
  // 200 transactions of ~64 KiB: more than the server buffers for a client
  // (1 MiB) plus the sockets hold, while `slow` reads nothing.
  const std::string big(64 * 1024, 'x');
  for (uint64_t i = 1; i <= 200; ++i) {
    feed_->Append({Lsn(kStart + i), 1, {Rename(5, big, {5})}});
    std::vector<FeedTransaction> got = ReadUntil(fast, Lsn(kStart + i));
    ASSERT_FALSE(got.empty()) << i;  // the reading subscriber keeps up
  }
  EXPECT_LE(feed_->retained_transactions(), 8u);  // bounded whatever `slow` does
  // `slow` finds what was buffered for it, then the end of its subscription.
  Status end;
  for (int i = 0; i < 200 && end.ok(); ++i) {
    auto batch = slow.NextFeed(seconds(10));
    if (!batch.ok()) end = batch.status();
  }
  EXPECT_EQ(end.code(), StatusCode::kOutOfRange) << end.ToString();
  // It names where to resume from (the oldest start when it fell behind).
  EXPECT_NE(end.message().find("oldest start is LSN"), std::string::npos) << end.message();
  ExpectServerHealthy();
}

// Big transactions are spread over several FeedBatch messages (about 1 MiB
// of transactions each; one bigger than that goes alone): no huge frame. All
// are in the window before the subscription starts, so every message is as
// full as the limit lets it be.
TEST_F(FeedServerTest, BigTransactionsAreSpreadOverMessagesOfAboutOneMiB) {
  StartWithFeed({.max_transactions = 100});
  const std::string big(300 * 1024, 'x');
  for (uint64_t i = 1; i <= 12; ++i) feed_->Append({Lsn(kStart + i), 1, {Rename(5, big, {5})}});
  const std::string huge(3 << 20, 'y');
  feed_->Append({Lsn(kStart + 13), 1, {Rename(5, huge, {5})}});
  Client client(ClientOpts());
  Result<Lsn> start = client.Subscribe(Lsn(kStart));  // from the window's start
  ASSERT_TRUE(start.ok()) << start.status().ToString();
  ASSERT_EQ(*start, Lsn(kStart));
  std::vector<size_t> per_message;  // transactions in each message that has some
  for (Lsn position; position < Lsn(kStart + 13);) {
    auto batch = client.NextFeed(seconds(10));
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    position = batch->lsn;
    if (!batch->value.empty()) per_message.push_back(batch->value.size());
  }
  // ~300 KiB each as the window counts them: 3 fit in 1 MiB, a 4th does not;
  // the 3 MiB one goes alone.
  EXPECT_EQ(per_message, (std::vector<size_t>{3, 3, 3, 3, 1}));
  ExpectServerHealthy();
}

TEST_F(FeedServerTest, StopEndsSubscriptions) {
  StartWithFeed({.max_transactions = 100});
  Client client(ClientOpts());
  ASSERT_TRUE(client.Subscribe(Lsn()).ok());
  server_->Stop();
  Status end;
  for (int i = 0; i < 10 && end.ok(); ++i) {
    auto batch = client.NextFeed(seconds(10));
    if (!batch.ok()) end = batch.status();
  }
  EXPECT_EQ(end.code(), StatusCode::kUnavailable) << end.ToString();
}

}  // namespace
}  // namespace canopy::net::testing
