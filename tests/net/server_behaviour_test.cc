// server_behaviour_test.cc — the server under bad input and load: bad frames,
// unknown requests, clients that stop reading, many connections, pipelining,
// tokens, versions, limits, stop and reconnect. After each abuse the server
// must still answer a well-behaved client. (min_lsn: min_lsn_test.cc.)
//
// No timing assertions: waits are bounded (so a bug fails instead of
// hanging) but never required to be fast.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.h"

namespace canopy::net {
namespace {

using testing::Eventually;
using testing::Ping;
using testing::RawConnection;
using testing::ServerTest;
using testing::TestWorld;
using Outcome = RawConnection::Outcome;

// ---- bad frames: an error frame, then only that connection closes ----

TEST_F(ServerTest, GarbageClosesOnlyThatConnection) {
  StartServer();
  Client bystander(ClientOpts());
  ASSERT_TRUE(bystander.Ping().ok());
  std::mt19937_64 rng(99);
  for (int round = 0; round < 20; ++round) {
    RawConnection raw = Raw();
    std::vector<uint8_t> junk = testing::LengthPrefix(static_cast<uint32_t>(16 + rng() % 100));
    for (int i = 0; i < 200; ++i) junk.push_back(static_cast<uint8_t>(rng()));
    ASSERT_TRUE(raw.Send(junk));
    RawConnection::Read r = raw.ReadResponse();
    ASSERT_EQ(r.outcome, Outcome::kFrame);
    EXPECT_EQ(r.response.error, ErrorCode::kFailedVerification);
    EXPECT_EQ(r.response.request_id, 0u);
    EXPECT_TRUE(raw.WaitClosed());
  }
  ASSERT_TRUE(bystander.Ping().ok());  // the same connection as before
  ExpectServerHealthy();
}

TEST_F(ServerTest, OversizedAndZeroLengthFrames) {
  ServerOptions options = testing::TestServerOptions();
  options.max_request_frame_bytes = 1024;
  StartServer(options);
  {
    RawConnection raw = Raw();
    ASSERT_TRUE(raw.Send(testing::LengthPrefix(1u << 30)));
    RawConnection::Read r = raw.ReadResponse();
    ASSERT_EQ(r.outcome, Outcome::kFrame);
    EXPECT_EQ(r.response.error, ErrorCode::kTooLarge);
    EXPECT_TRUE(raw.WaitClosed());
  }
  {
    RawConnection raw = Raw();
    ASSERT_TRUE(raw.Send(testing::LengthPrefix(0)));
    RawConnection::Read r = raw.ReadResponse();
    ASSERT_EQ(r.outcome, Outcome::kFrame);
    EXPECT_EQ(r.response.error, ErrorCode::kMalformedFrame);
    EXPECT_TRUE(raw.WaitClosed());
  }
  {  // A request within limits on a fresh connection still works, pipelined after a good one.
    Request big;
    big.request_id = 1;
    big.body = CountsRequest{std::vector<int64_t>(500, 1)};  // ~4 KiB > 1 KiB
    RawConnection raw = Raw();
    ASSERT_TRUE(raw.Send(Ping(7)));
    ASSERT_TRUE(raw.Send(big));
    RawConnection::Read first = raw.ReadResponse();
    ASSERT_EQ(first.outcome, Outcome::kFrame);
    EXPECT_EQ(first.response.request_id, 7u);
    RawConnection::Read second = raw.ReadResponse();
    ASSERT_EQ(second.outcome, Outcome::kFrame);
    EXPECT_EQ(second.response.error, ErrorCode::kTooLarge);
    EXPECT_TRUE(raw.WaitClosed());
  }
  ExpectServerHealthy();
}

TEST_F(ServerTest, TruncatedFrameThenHangUp) {
  StartServer();
  std::vector<uint8_t> frame = testing::EncodeFrame(Ping(1));
  for (size_t cut : {size_t{1}, size_t{3}, size_t{4}, frame.size() / 2, frame.size() - 1}) {
    RawConnection raw = Raw();
    ASSERT_TRUE(raw.Send(std::vector<uint8_t>(frame.begin(), frame.begin() + cut)));
    raw.ShutdownWrite();  // EOF mid-frame: nothing to answer, just close
    EXPECT_TRUE(raw.WaitClosed());
  }
  ExpectServerHealthy();
}

TEST_F(ServerTest, TruncatedFrameTimesOut) {
  ServerOptions options = testing::TestServerOptions();
  options.read_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  std::vector<uint8_t> frame = testing::EncodeFrame(Ping(1));
  RawConnection raw = Raw();
  ASSERT_TRUE(raw.Send(std::vector<uint8_t>(frame.begin(), frame.begin() + 10)));
  EXPECT_TRUE(raw.WaitClosed());  // the server gave up on the frame
  ExpectServerHealthy();
}

TEST_F(ServerTest, ATrickleOfBytesDoesNotKeepAFrameAlive) {
  ServerOptions options = testing::TestServerOptions();
  options.read_timeout = std::chrono::milliseconds(300);
  StartServer(options);
  Request big;
  big.request_id = 1;
  big.body = CountsRequest{std::vector<int64_t>(2000, 1)};  // ~16 KiB: never completes below
  const std::vector<uint8_t> frame = testing::EncodeFrame(big);
  RawConnection raw = Raw();
  bool closed = false;
  for (size_t i = 0; i < 400 && !closed; ++i) {  // one byte per 10 ms: 4 s at most
    closed = !raw.Send(std::vector<uint8_t>{frame[i]});
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    closed = closed || server_->connections() == 0;
  }
  EXPECT_TRUE(closed) << "the server kept a trickling frame for 4 s";
  EXPECT_TRUE(raw.WaitClosed());
  EXPECT_TRUE(Logged("read timeout (incomplete request)"));
  // The record names the connection: which listener, and the client's address.
  EXPECT_TRUE(Logged("listener=fb_tcp peer=127.0.0.1:"));
  ExpectServerHealthy();
}

TEST_F(ServerTest, IdleConnectionsAreClosed) {
  ServerOptions options = testing::TestServerOptions();
  options.idle_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  RawConnection raw = Raw();
  ASSERT_TRUE(raw.Send(Ping(1)));
  ASSERT_EQ(raw.ReadResponse().outcome, Outcome::kFrame);
  EXPECT_TRUE(raw.WaitClosed());
  // The client reconnects on its own after the server dropped it.
  Client client(ClientOpts());
  ASSERT_TRUE(client.Ping().ok());
  ASSERT_TRUE(Eventually([&] { return server_->connections() == 0; }));
  EXPECT_TRUE(client.Ping().ok());
}

TEST_F(ServerTest, UnknownRequestTypesKeepTheConnection) {
  StartServer();
  RawConnection raw = Raw();
  flatbuffers::FlatBufferBuilder b;
  auto ping = fb::CreatePing(b, 1);
  fb::RequestBuilder rb(b);
  rb.add_request_id(41);
  rb.add_body_type(static_cast<fb::RequestBody>(77));
  rb.add_body(ping.Union());
  b.FinishSizePrefixed(rb.Finish(), fb::RequestIdentifier());
  ASSERT_TRUE(
      raw.Send(std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())));
  flatbuffers::FlatBufferBuilder none;
  none.FinishSizePrefixed(fb::CreateRequest(none, 42), fb::RequestIdentifier());
  ASSERT_TRUE(raw.Send(
      std::vector<uint8_t>(none.GetBufferPointer(), none.GetBufferPointer() + none.GetSize())));
  flatbuffers::FlatBufferBuilder bad_kind;
  auto q = fb::CreateIdQuery(bad_kind, static_cast<fb::QueryKind>(250), 1);
  bad_kind.FinishSizePrefixed(
      fb::CreateRequest(bad_kind, 43, 0, 0, fb::RequestBody::IdQuery, q.Union()),
      fb::RequestIdentifier());
  ASSERT_TRUE(raw.Send(std::vector<uint8_t>(bad_kind.GetBufferPointer(),
                                            bad_kind.GetBufferPointer() + bad_kind.GetSize())));
  ASSERT_TRUE(raw.Send(Ping(44)));

  RawConnection::Read r = raw.ReadResponse();
  ASSERT_EQ(r.outcome, Outcome::kFrame);
  EXPECT_EQ(r.response.request_id, 41u);
  EXPECT_EQ(r.response.error, ErrorCode::kUnknownRequest);
  r = raw.ReadResponse();
  ASSERT_EQ(r.outcome, Outcome::kFrame);
  EXPECT_EQ(r.response.request_id, 42u);
  EXPECT_EQ(r.response.error, ErrorCode::kUnknownRequest);
  r = raw.ReadResponse();
  ASSERT_EQ(r.outcome, Outcome::kFrame);
  EXPECT_EQ(r.response.request_id, 43u);
  EXPECT_EQ(r.response.error, ErrorCode::kInvalidArgument);
  r = raw.ReadResponse();
  ASSERT_EQ(r.outcome, Outcome::kFrame);
  EXPECT_EQ(r.response.request_id, 44u);
  EXPECT_EQ(r.response.error, ErrorCode::kOk);
}

// ---- flow control ----

TEST_F(ServerTest, AClientThatStopsReadingIsCutOffAndOthersAreServed) {
  ServerOptions options = testing::TestServerOptions();
  options.write_timeout = std::chrono::milliseconds(300);
  options.max_in_flight = 8;
  StartServer(options);
  RawConnection hog = Raw();
  hog.ShrinkReceiveBuffer();
  // Each answer is ~huge-group-sized; never read any of them.
  Request big;
  big.body = IdQuery{.kind = QueryKind::kSelfAndDescendants,
                     .id = world_->forest.named.huge_group_id,
                     .include_project_namespaces = true};
  std::vector<uint8_t> burst;
  for (uint64_t i = 1; i <= 200; ++i) {
    big.request_id = i;
    std::vector<uint8_t> f = testing::EncodeFrame(big);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  std::thread writer([&] { (void)hog.Send(burst); });  // may block: the server stops reading
  // Meanwhile the server answers everyone else.
  for (int i = 0; i < 20; ++i) ExpectServerHealthy();
  // The hog's connection is dropped by the write timeout (its writes stalled).
  ASSERT_TRUE(Eventually([&] { return server_->connections() == 0; }));
  EXPECT_TRUE(Logged("write: Connection timed out")) << "closed for another reason";
  hog.ShutdownWrite();
  writer.join();
  ExpectServerHealthy();
}

TEST_F(ServerTest, PipelinedAnswersComeInOrderEvenWithATinyInFlightLimit) {
  for (uint32_t in_flight : {1u, 4u, 256u}) {
    ServerOptions options = testing::TestServerOptions();
    options.max_in_flight = in_flight;
    StartServer(options);
    Client client(ClientOpts());
    ASSERT_TRUE(client.Connect().ok());
    const std::vector<int64_t> ids = world_->SampleNamespaceIds(200);
    std::vector<IdQuery> sent;
    const int kRequests = 2000;
    for (int i = 0; i < kRequests; ++i) {
      Request r;
      IdQuery q{.kind = static_cast<QueryKind>(i % kQueryKindCount), .id = ids[i % ids.size()]};
      r.body = q;
      Result<uint64_t> id = client.Send(r);
      ASSERT_TRUE(id.ok()) << id.status().ToString();
      sent.push_back(q);
    }
    EXPECT_EQ(client.outstanding(), static_cast<size_t>(kRequests));
    uint64_t first_id = 0;
    for (int i = 0; i < kRequests; ++i) {
      Result<Response> r = client.Receive();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (i == 0) first_id = r->request_id;
      ASSERT_EQ(r->request_id, first_id + static_cast<uint64_t>(i)) << "answers out of order";
      const IdPage* page = std::get_if<IdPage>(&r->body);
      ASSERT_NE(page, nullptr);
      QueryAnswer want = index().Query(sent[i]);
      EXPECT_EQ(page->ids, want.answer.ids);
    }
    EXPECT_EQ(client.outstanding(), 0u);
    server_.reset();
  }
}

TEST_F(ServerTest, ManyConcurrentConnections) {
  const size_t limit = testing::RaiseFileLimit();
  // Two descriptors per connection (client and server side) plus headroom.
  const size_t connections = std::min<size_t>(1000, (limit - 64) / 2);
  ServerOptions options = testing::TestServerOptions();
  options.max_connections = static_cast<uint32_t>(connections + 10);
  StartServer(options);
  const int kThreads = 4;
  std::atomic<size_t> ok{0};
  std::atomic<size_t> connected{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Client> clients;
      const size_t mine =
          connections / kThreads + (static_cast<size_t>(t) < connections % kThreads ? 1 : 0);
      for (size_t i = 0; i < mine; ++i) {
        clients.emplace_back(ClientOpts());
        if (clients.back().Connect().ok()) connected.fetch_add(1);
      }
      // Everyone is connected at once before anyone asks.
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const int64_t id = world_->forest.named.chain_21_leaf_id;
      for (Client& c : clients) {
        Result<QueryAnswer> a = c.Query({.kind = QueryKind::kSelfAndAncestors, .id = id});
        if (a.ok() && a->answer.ids.size() == 21) ok.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return connected.load() == connections; }))
      << connected.load() << " of " << connections << " connected";
  EXPECT_EQ(server_->connections(), connections);
  release.store(true);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), connections);
  ASSERT_TRUE(Eventually([&] { return server_->connections() == 0; }));
  ExpectServerHealthy();
}

TEST_F(ServerTest, ConnectionLimitTurnsAwayTheExtraClient) {
  ServerOptions options = testing::TestServerOptions();
  options.max_connections = 3;
  StartServer(options);
  std::vector<Client> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(ClientOpts());
    ASSERT_TRUE(clients.back().Connect().ok());
  }
  Client extra(ClientOpts());
  Status s = extra.Connect();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("overloaded"), std::string::npos) << s.ToString();
  clients.pop_back();
  ASSERT_TRUE(Eventually([&] { return server_->connections() == 2; }));
  EXPECT_TRUE(extra.Connect().ok());
}

// ---- handshake ----

TEST_F(ServerTest, TokenIsRequiredWhenConfigured) {
  ServerOptions options = testing::TestServerOptions();
  options.token = "s3cret";
  StartServer(options);
  Client anonymous(ClientOpts());
  Status s = anonymous.Connect();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("unauthorized"), std::string::npos);

  ClientOptions with_token = ClientOpts();
  with_token.token = "s3cret";
  Client trusted(with_token);
  ASSERT_TRUE(trusted.Connect().ok());
  EXPECT_TRUE(trusted.Ping().ok());

  RawConnection raw = Raw();  // no Hello at all
  ASSERT_TRUE(raw.Send(Ping(5)));
  RawConnection::Read r = raw.ReadResponse();
  ASSERT_EQ(r.outcome, Outcome::kFrame);
  EXPECT_EQ(r.response.error, ErrorCode::kUnauthorized);
  EXPECT_EQ(r.response.request_id, 5u);
  EXPECT_TRUE(raw.WaitClosed());
}

// SetToken (canopyd's SIGHUP): new handshakes need the new token, a
// connection already authenticated goes on; no token cannot be added or
// removed.
TEST_F(ServerTest, SetTokenReplacesTheTokenForNewHandshakes) {
  ServerOptions options = testing::TestServerOptions();
  options.token = "old-token";
  StartServer(options);
  ClientOptions old_token = ClientOpts();
  old_token.token = "old-token";
  Client before(old_token);
  ASSERT_TRUE(before.Connect().ok());

  ASSERT_TRUE(server_->SetToken("new-token").ok());
  Client stale(old_token);
  Status s = stale.Connect();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("unauthorized"), std::string::npos) << s.ToString();
  ClientOptions new_token = ClientOpts();
  new_token.token = "new-token";
  Client fresh(new_token);
  ASSERT_TRUE(fresh.Connect().ok());
  EXPECT_TRUE(fresh.Ping().ok());
  EXPECT_TRUE(before.Ping().ok());  // authenticated before: stays

  EXPECT_EQ(server_->SetToken("").code(), StatusCode::kInvalidArgument);
  Client still(new_token);
  EXPECT_TRUE(still.Connect().ok());

  auto open = Server::Start(testing::TestServerOptions(), nullptr);
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  EXPECT_EQ((*open)->SetToken("x").code(), StatusCode::kFailedPrecondition);
}

TEST_F(ServerTest, UnsupportedVersionGetsAClearError) {
  StartServer();
  RawConnection raw = Raw();
  Request hello;
  hello.request_id = 1;
  hello.body = HelloRequest{99, "", "from the future"};
  ASSERT_TRUE(raw.Send(hello));
  RawConnection::Read r = raw.ReadResponse();
  ASSERT_EQ(r.outcome, Outcome::kFrame);
  EXPECT_EQ(r.response.error, ErrorCode::kUnsupportedVersion);
  EXPECT_NE(r.response.message.find("version 99"), std::string::npos) << r.response.message;
  EXPECT_TRUE(raw.WaitClosed());
}

// ---- limits, readiness, stop, reconnect ----

TEST_F(ServerTest, PageCapAndAnswerSizeLimit) {
  ServerOptions options = testing::TestServerOptions();
  options.max_ids_per_page = 50;
  options.max_response_frame_bytes = 64 * 1024;
  StartServer(options);
  Client client(ClientOpts());
  const int64_t huge = world_->forest.named.huge_group_id;
  IdQuery q{.kind = QueryKind::kSelfAndDescendants, .id = huge};
  Result<QueryAnswer> page = client.Query(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->answer.ids.size(), 50u);
  EXPECT_TRUE(page->answer.more);
  Result<QueryAnswer> all = client.QueryAll(q, 1000);  // capped to 50 per page by the server
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->answer.ids, index().Query(q).answer.ids);
  // In any order the cap cuts too (more = true, no cursor); QueryAll then
  // pages in ascending order.
  IdQuery any = q;
  any.id_order = IdOrder::kAny;
  page = client.Query(any);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->answer.ids.size(), 50u);
  EXPECT_TRUE(page->answer.more);
  all = client.QueryAll(any, 1000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->answer.ids, index().Query(q).answer.ids);

  std::vector<IdQuery> batch(500, q);  // 500 pages of 50 ids: ~200 KiB > 64 KiB
  Result<BatchAnswer> too_big = client.QueryBatch(batch);
  EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted) << too_big.status().ToString();
  EXPECT_TRUE(client.Ping().ok());  // the connection survives a refused answer
}

TEST_F(ServerTest, NotReadyUntilAnIndexIsSet) {
  auto server = Server::Start(testing::TestServerOptions(), nullptr);
  ASSERT_TRUE(server.ok());
  server_ = std::move(server).value();
  Client client(ClientOpts());
  EXPECT_TRUE(client.Ping().ok());
  Result<QueryAnswer> early = client.Query({.kind = QueryKind::kAncestors, .id = 1});
  EXPECT_EQ(early.status().code(), StatusCode::kUnavailable) << early.status().ToString();
  Result<ServerStatus> status = client.GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->applied_lsn, Lsn(0));
  server_->SetIndex(Server::Borrow(index()));
  EXPECT_TRUE(client.Query({.kind = QueryKind::kAncestors, .id = 1}).ok());
}

TEST_F(ServerTest, ReplicationStatusIsReported) {
  ServerOptions options = testing::TestServerOptions();
  options.replication_status = [] {
    ReplicationReport r;
    r.state = ServingState::kLoading;
    r.stage = "copy";
    r.received_lsn = Lsn(5000);
    r.tables.push_back({"public.namespaces", 100, 400, 50.0, 6.0, false});
    return r;
  };
  StartServer(options);
  Client client(ClientOpts());
  Result<ServerStatus> s = client.GetStatus();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->replication.state, ServingState::kLoading);
  EXPECT_EQ(s->replication.stage, "copy");
  EXPECT_EQ(s->lag_bytes, 5000u - index().applied_lsn().value);
  ASSERT_EQ(s->replication.tables.size(), 1u);
  EXPECT_EQ(s->replication.tables[0].rows, 100u);
}

TEST_F(ServerTest, StopFinishesInFlightWorkAndClosesEveryone) {
  StartServer();
  std::vector<Client> idle;
  for (int i = 0; i < 20; ++i) {
    idle.emplace_back(ClientOpts());
    ASSERT_TRUE(idle.back().Connect().ok());
  }
  Client busy(ClientOpts());
  for (int i = 0; i < 500; ++i) {
    Request r;
    r.body = IdQuery{.kind = QueryKind::kDescendants, .id = world_->forest.named.gitlab_org_id};
    ASSERT_TRUE(busy.Send(r).ok());
  }
  ASSERT_TRUE(busy.Flush().ok());
  server_->Stop();
  // Everything the server answered arrives complete; then the connection ends.
  int answered = 0;
  for (;;) {
    Result<Response> r = busy.Receive();
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
      break;
    }
    EXPECT_TRUE(r->error == ErrorCode::kOk || r->error == ErrorCode::kShuttingDown);
    ++answered;
  }
  EXPECT_LE(answered, 500);
  std::cout << "answered " << answered << " of 500 before the connection closed\n";
  for (Client& c : idle) EXPECT_FALSE(c.Ping().ok());
  EXPECT_FALSE(RawConnection::Tcp(server_->tcp_port()).has_value()) << "still accepting";
}

TEST_F(ServerTest, ClientReconnectsAfterAServerRestart) {
  ServerOptions options = testing::TestServerOptions();
  options.tcp_listen.clear();
  options.unix_path = testing::TempSocketPath("reconnect");
  StartServer(options);
  Client client(testing::UnixClientOptions(options.unix_path));
  ASSERT_TRUE(client.Ping().ok());
  server_.reset();  // stop; the socket file goes away
  StartServer(options);
  EXPECT_TRUE(client.Ping().ok());  // the old connection is dead: reconnect + retry
  server_.reset();
  EXPECT_EQ(client.Ping().status().code(), StatusCode::kUnavailable);
}

TEST_F(ServerTest, ListenErrorsAreReported) {
  StartServer();
  ServerOptions clash = testing::TestServerOptions();
  clash.tcp_listen = "127.0.0.1:" + std::to_string(server_->tcp_port());
  auto second = Server::Start(clash, Server::Borrow(index()));
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  ServerOptions bad = testing::TestServerOptions();
  bad.tcp_listen = "no-port";
  EXPECT_EQ(Server::Start(bad, nullptr).status().code(), StatusCode::kInvalidArgument);
  bad.tcp_listen.clear();
  EXPECT_EQ(Server::Start(bad, nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace canopy::net
