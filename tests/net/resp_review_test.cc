// resp_review_test.cc — review findings on canopyd's Redis-protocol (RESP)
// listener and thread-per-core serving: each test pins a behaviour the
// review found wrong (and fails until it is fixed) or an edge the other
// tests leave uncovered (ordering at shutdown, TOOLARGE after a RESP3
// attribute, an index swapped under a parked command). The reply reader is
// resp_test_util.h's.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "resp_test_util.h"

namespace canopy::net {
namespace {

using testing::Eventually;
using testing::Reply;
using testing::RespConnection;
using testing::RespServerTest;

class RespReviewTest : public RespServerTest {};

// docs/resp.md: LIMIT N answers "at most N ids greater than AFTER"; a client
// pages until a page is shorter than N. A LIMIT above the server's
// max_ids_per_page once came back cut at max_ids_per_page without saying so,
// and the client stopped paging and lost ids. It must answer the full N ids,
// or refuse, never a short page while more ids exist.
TEST_F(RespReviewTest, LimitAboveMaxIdsPerPageIsNeverASilentShortPage) {
  ServerOptions options = testing::TestServerOptions();
  options.max_ids_per_page = 5;
  StartResp(options);
  RespConnection c = Connect();
  const int64_t g = forest().named.gitlab_org_id;
  const std::vector<int64_t> all = Engine({.kind = QueryKind::kDescendants, .id = g});
  ASSERT_GT(all.size(), 20u);
  // Page through with LIMIT 10 as a client would: stop at the first short page.
  std::vector<int64_t> paged;
  int64_t after = 0;
  for (int page = 0; page < 1000; ++page) {
    std::optional<Reply> r =
        c.Call({"DESCENDANTS", std::to_string(g), "LIMIT", "10", "AFTER", std::to_string(after)});
    ASSERT_TRUE(r.has_value());
    if (r->type == '-') {  // refusing is fine (docs/resp.md: LIMIT <= max_ids_per_page)
      EXPECT_TRUE(r->text.rfind("TOOLARGE", 0) == 0 || r->text.rfind("ERR invalid LIMIT", 0) == 0)
          << r->text;
      EXPECT_NE(r->text.find("1..5"), std::string::npos) << "names the maximum: " << r->text;
      return;
    }
    ASSERT_EQ(r->type, '*');
    const std::vector<int64_t> ids = r->Ints();
    paged.insert(paged.end(), ids.begin(), ids.end());
    if (ids.size() < 10) break;
    after = ids.back();
  }
  EXPECT_EQ(paged.size(), all.size()) << "a LIMIT 10 page came back with fewer ids while more "
                                         "existed: the client stopped paging and lost ids";
}

// session.h FLOW CONTROL: "a client that pipelines without reading fills its
// own socket buffers, not the server's memory". max_in_flight counts answers,
// not bytes, and a small RESP batch command can ask for a large answer
// (MPROJECTS id id id ...: ~7 bytes in, the whole subtree's ids out, up to
// max_response_frame_bytes = 64 MiB each). A client that sends
// max_in_flight such commands and reads nothing makes the server buffer
// max_in_flight x answer bytes (here 256 x 256 KiB = 64 MiB for ~22 KiB
// sent; with the defaults, up to 256 x 64 MiB per connection). Taking
// requests should also stop once the unwritten output passes a byte bound.
TEST_F(RespReviewTest, UnreadAnswersAreBoundedInBytesNotOnlyInCount) {
  ServerOptions options = testing::TestServerOptions();
  ASSERT_EQ(options.max_in_flight, 256u);
  StartResp(options);
  // The group with the most projects: the largest answer per id asked.
  int64_t g = 0;
  uint64_t most = 0;
  {
    ReadView view = index().Read();
    for (int64_t id : view.ListNamespaceIds()) {
      Result<SubtreeCounts> counts = view.Counts(id);
      if (counts.ok() && counts->projects > most) {
        most = counts->projects;
        g = id;
      }
    }
  }
  const std::vector<int64_t> projects = Engine({.kind = QueryKind::kAllProjectIds, .id = g});
  size_t answer_bytes = 0;
  for (int64_t id : projects) answer_bytes += 3 + std::to_string(id).size();
  ASSERT_GT(answer_bytes, 1000u);
  const size_t repeat = (256u << 10) / answer_bytes + 1;  // ~256 KiB per answer
  std::vector<std::string> command = {"MPROJECTS"};
  for (size_t i = 0; i < repeat; ++i) command.push_back(std::to_string(g));
  const std::string one = RespConnection::Encode(command);
  std::string pipeline;
  for (uint32_t i = 0; i < options.max_in_flight; ++i) pipeline += one;

  std::optional<testing::RawConnection> raw = testing::RawConnection::Tcp(server_->resp_tcp_port());
  ASSERT_TRUE(raw.has_value());
  raw->ShrinkReceiveBuffer();
  const uint64_t before = server_->requests_served();
  ASSERT_TRUE(raw->Send(std::vector<uint8_t>(pipeline.begin(), pipeline.end())));
  // Never read. The kernel's buffers take a few MiB at most (the client's
  // receive buffer is 4 KiB, the server's send buffer autotunes to <= 4 MiB);
  // what the server took beyond that is in its own memory.
  constexpr size_t kBound = 24u << 20;
  auto buffered = [&] { return (server_->requests_served() - before) * repeat * answer_bytes; };
  // Bounded wait: a server without a byte bound passes kBound within a
  // second or two; one with it stays below for good (the wait then ends).
  const bool over = Eventually([&] { return buffered() > kBound; }, std::chrono::seconds(5));
  EXPECT_FALSE(over) << "the server took " << server_->requests_served() - before
                     << " commands of ~" << (repeat * answer_bytes >> 10)
                     << " KiB answer each from a client that read nothing: ~" << (buffered() >> 20)
                     << " MiB of answers buffered for " << (pipeline.size() >> 10)
                     << " KiB of requests";
}

// Server::Stop() posts the acceptor's close to the first loop, then (with no
// session to wait for) stops the loops at once: the close may never run. The
// listening socket then stays open after Stop() returns, so connections are
// accepted by the kernel into a backlog nobody serves, and the port stays
// bound until the Server object is destroyed.
TEST_F(RespReviewTest, StopClosesTheListeningSockets) {
  int still_listening = 0;
  constexpr int kRounds = 200;
  for (int i = 0; i < kRounds; ++i) {
    ServerOptions options = testing::TestServerOptions();
    options.resp_tcp_listen = "127.0.0.1:0";
    auto server = Server::Start(options, Server::Borrow(index()));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    const uint16_t ports[] = {(*server)->tcp_port(), (*server)->resp_tcp_port()};
    {  // Serving for real: both accept loops ran and answered.
      Client client(testing::TcpClientOptions(ports[0]));
      ASSERT_TRUE(client.Ping().ok());
      RespConnection c(ports[1]);
      ASSERT_EQ(c.Call({"PING"})->text, "PONG");
    }
    ASSERT_TRUE(Eventually([&] { return (*server)->connections() == 0; }));
    (*server)->Stop();
    for (uint16_t port : ports) {
      // A connect that succeeds means a socket still listens on the port.
      if (testing::RawConnection::Tcp(port).has_value()) ++still_listening;
    }
  }
  EXPECT_EQ(still_listening, 0) << still_listening << " of " << 2 * kRounds
                                << " listeners still accepted connections after Stop()";
}

// An edge no other test covers: Stop() with a RESP command parked on MINLSN
// and commands pipelined behind it answers them in order (-SHUTDOWN first,
// then the rest, a MINLSN one behind it -SHUTDOWN too), then closes.
TEST_F(RespReviewTest, StopAnswersAParkedCommandAndTheOnesBehindItInOrder) {
  StartResp();
  RespConnection c = Connect();
  const std::string g = std::to_string(forest().named.small_group_id);
  ASSERT_TRUE(
      c.Send(RespConnection::Encode({"ANCESTORS", g, "MINLSN", "FF/0", "WAITMS", "60000"}) +
             RespConnection::Encode({"ECHO", "one"}) +
             RespConnection::Encode({"DESCENDANTS", g, "MINLSN", "FF/0", "WAITMS", "60000"}) +
             RespConnection::Encode({"ECHO", "two"})));
  ASSERT_TRUE(Eventually([&] { return server_->waiting_requests() == 1; }));
  std::thread stopper([&] { server_->Stop(); });
  std::optional<Reply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("SHUTDOWN", 0), 0u) << r->text;
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "one");
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("SHUTDOWN", 0), 0u) << r->text;
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "two");
  EXPECT_TRUE(c.WaitClosed());
  stopper.join();
}

// An edge no other test covers: TOOLARGE after the RESP3 lsn attribute was
// written rolls the output back to before the attribute (one error reply, no
// dangling attribute), in the middle of a pipeline.
TEST_F(RespReviewTest, TooLargeAfterAnAttributeLeavesOneWellFormedErrorReply) {
  ServerOptions options = testing::TestServerOptions();
  options.max_ids_per_page = 5;
  StartResp(options);
  RespConnection c = Connect();
  ASSERT_EQ(c.Call({"HELLO", "3"})->type, '%');
  ASSERT_EQ(c.Call({"ATTRIBUTES", "ON"})->text, "OK");
  const std::string g = std::to_string(forest().named.gitlab_org_id);
  ASSERT_TRUE(c.Send(
      RespConnection::Encode({"ECHO", "before"}) + RespConnection::Encode({"DESCENDANTS", g}) +
      RespConnection::Encode({"MANCESTORS", g, g}) +
      RespConnection::Encode({"MDESCENDANTS", g, g}) + RespConnection::Encode({"ECHO", "after"})));
  std::optional<Reply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "before");
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, '-');
  EXPECT_EQ(r->text.rfind("TOOLARGE", 0), 0u) << r->text;
  EXPECT_TRUE(r->attribute.empty());
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->type, '*');
  EXPECT_EQ(r->elements.size(), 2u);
  ASSERT_EQ(r->attribute.size(), 2u);
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("TOOLARGE", 0), 0u) << r->text;
  EXPECT_TRUE(r->attribute.empty());
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "after");
}

// An edge no other test covers (for the loops' raw index pointers): a command
// parked on MINLSN is answered from an index swapped in by SetIndex while it
// waits, after the old index was destroyed (ASan/TSan builds check the
// lifetimes).
TEST_F(RespReviewTest, AParkedCommandIsAnsweredFromAnIndexSwappedInWhileItWaits) {
  auto first = std::make_shared<HierarchyIndex>();
  ASSERT_TRUE(first->Apply(canopy::testing::LoadTransaction(forest(), Lsn(1000))).ok());
  ServerOptions options = testing::TestServerOptions();
  options.resp_tcp_listen = "127.0.0.1:0";
  auto server = Server::Start(options, first);
  ASSERT_TRUE(server.ok());
  RespConnection c((*server)->resp_tcp_port());
  const int64_t parent = forest().named.small_group_id;
  // A query first, so the connection's loop has cached the first index.
  ASSERT_EQ(c.Call({"ANCESTORS", std::to_string(parent)})->type, '*');
  ASSERT_TRUE(c.Send(RespConnection::Encode({"DESCENDANTS", std::to_string(parent), "MINLSN",
                                             Lsn(2000).ToString(), "WAITMS", "60000"}) +
                     RespConnection::Encode({"ECHO", "behind"})));
  ASSERT_TRUE(Eventually([&] { return (*server)->waiting_requests() == 1; }));
  auto second = std::make_shared<HierarchyIndex>();
  ASSERT_TRUE(second->Apply(canopy::testing::LoadTransaction(forest(), Lsn(1500))).ok());
  ASSERT_TRUE(second->Apply(testing::AddGroup(Lsn(2000), 60'000'000, parent)).ok());
  std::weak_ptr<HierarchyIndex> old = first;
  first.reset();
  (*server)->SetIndex(std::move(second));
  std::optional<Reply> answer = c.Read();
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->type, '*') << answer->text;
  const std::vector<int64_t> ids = answer->Ints();
  EXPECT_NE(std::find(ids.begin(), ids.end(), 60'000'000), ids.end());
  std::optional<Reply> echo = c.Read();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->text, "behind");
  EXPECT_TRUE(Eventually([&] { return old.expired(); })) << "a loop still holds the old index";
  std::optional<Reply> lsn = c.Call({"LASTLSN"});
  ASSERT_TRUE(lsn.has_value());
  EXPECT_EQ(lsn->text, Lsn(2000).ToString());
}

}  // namespace
}  // namespace canopy::net
