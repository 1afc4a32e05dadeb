// http_server_test.cc — the server's operators' HTTP endpoint in process:
// /readyz's verdict for every replication state the replication side can
// report (a fake one here: loading, reconnecting with an error, stale,
// streaming within and over the lag limit, no index at all), the request
// counters of /metrics, and the session limits (max_connections) applying to
// HTTP connections too. Real curl and promtool against canopyd are in
// tests/e2e/http_e2e_test.cc.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "canopy/hierarchy_index.h"
#include "canopy/net/server.h"
#include "http_protocol.h"

namespace canopy::net {
namespace {

// Sends `request` on a new connection, half-closes, returns all the server sent.
std::string Exchange(uint16_t port, std::string_view request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "<socket>";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "<connect>";
  }
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  std::string got;
  char buf[8192];
  for (int i = 0; i < 100; ++i) {  // at most ~10 s
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return got;
}

std::string Get(uint16_t port, const std::string& path) {
  return Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n");
}

// The body of a response ("" if there is none).
std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(std::shared_ptr<const HierarchyIndex> index, uint64_t max_lag = 50,
             uint32_t max_connections = 4096) {
    ServerOptions options;
    options.tcp_listen = "";
    options.http_listen = "127.0.0.1:0";
    options.threads = 2;
    options.ready_max_lag_bytes = max_lag;
    options.max_connections = max_connections;
    options.replication_status = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return report_;
    };
    Result<std::unique_ptr<Server>> s = Server::Start(options, std::move(index));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    ASSERT_NE(server_->http_port(), 0);
  }

  void Report(ServingState state, std::string stage, uint64_t received = 0,
              std::string error = "") {
    std::lock_guard<std::mutex> lock(mu_);
    report_.state = state;
    report_.stage = std::move(stage);
    report_.received_lsn = Lsn(received);
    report_.last_error = std::move(error);
  }

  std::mutex mu_;
  ReplicationReport report_;  // guarded by mu_
  std::unique_ptr<Server> server_;
};

TEST_F(HttpServerTest, ReadyzFollowsTheReplicationState) {
  auto index = std::make_shared<HierarchyIndex>();
  Start(index, /*max_lag=*/50);
  const uint16_t port = server_->http_port();

  // Nothing reported yet (canopyd starts the replica after the listeners).
  std::string first = Get(port, "/readyz");
  EXPECT_EQ(first.rfind("HTTP/1.1 503 ", 0), 0u) << first;
  EXPECT_EQ(Body(first), "replication not started\n");

  Report(ServingState::kLoading, "connect");
  std::string r = Get(port, "/readyz");
  EXPECT_EQ(r.rfind("HTTP/1.1 503 ", 0), 0u) << r;
  EXPECT_EQ(Body(r), "connecting to the source\n");

  Report(ServingState::kLoading, "copy");
  EXPECT_EQ(Body(Get(port, "/readyz")), "loading snapshot (copy)\n");

  Report(ServingState::kLoading, "backoff", 0, "connection refused");
  EXPECT_EQ(Body(Get(port, "/readyz")), "reconnecting: connection refused\n");

  Report(ServingState::kStale, "copy");
  r = Get(port, "/readyz");
  EXPECT_EQ(r.rfind("HTTP/1.1 503 ", 0), 0u) << r;
  EXPECT_EQ(Body(r).rfind("stale: ", 0), 0u) << r;

  Report(ServingState::kFailed, "", 0, "publication canopy lacks projects.archived");
  r = Get(port, "/readyz");
  EXPECT_EQ(r.rfind("HTTP/1.1 503 ", 0), 0u) << r;
  EXPECT_EQ(Body(r), "failed: publication canopy lacks projects.archived\n");
  EXPECT_NE(Get(port, "/metrics").find("canopy_replica_state{state=\"failed\"} 1"),
            std::string::npos);

  // The index (LSN 0) is 100 bytes behind what the source reported: over 50.
  Report(ServingState::kStreaming, "stream", 100);
  r = Get(port, "/readyz");
  EXPECT_EQ(r.rfind("HTTP/1.1 503 ", 0), 0u) << r;
  EXPECT_EQ(Body(r), "lagging: 100 bytes of WAL behind (limit 50)\n");

  Report(ServingState::kStreaming, "stream", 50);
  r = Get(port, "/readyz");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_EQ(Body(r), "ok\n");

  // No index served (a re-snapshot not done, or before the first): not ready,
  // whatever the replica says.
  server_->SetIndex(nullptr);
  r = Get(port, "/readyz");
  EXPECT_EQ(r.rfind("HTTP/1.1 503 ", 0), 0u) << r;
  EXPECT_EQ(Body(Get(port, "/healthz")), "ok\n");
}

TEST_F(HttpServerTest, MetricsCountRequestsAndConnectionsAreLimited) {
  Start(std::make_shared<HierarchyIndex>(), 50, /*max_connections=*/2);
  const uint16_t port = server_->http_port();
  Report(ServingState::kStreaming, "stream");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Body(Get(port, "/healthz")), "ok\n");
  (void)Get(port, "/nope");
  const std::string m = Body(Get(port, "/metrics"));
  EXPECT_NE(m.find("\ncanopy_requests_total{listener=\"http\",kind=\"healthz\"} 3\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("\ncanopy_requests_total{listener=\"http\",kind=\"other\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("\ncanopy_request_duration_seconds_count{listener=\"http\"} 4\n"),
            std::string::npos)
      << m;
  // Listeners the server does not have are not reported.
  EXPECT_EQ(m.find("listener=\"fb_tcp\""), std::string::npos) << m;

  // Two idle connections hold the limit: a third is turned away with 503.
  // The server may still be closing the requests' connections above: wait
  // until it holds none, or one of the idle two could be turned away too.
  for (int i = 0; i < 200 && server_->connections() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server_->connections(), 0u);
  const auto open = [port] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  };
  const int a = open();
  const int b = open();
  for (int i = 0; i < 200 && server_->connections() != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server_->connections(), 2u);
  const std::string refused = Get(port, "/healthz");
  EXPECT_EQ(refused.rfind("HTTP/1.1 503 ", 0), 0u) << refused;
  ::close(a);
  ::close(b);
}

// A status source that reports fixed replication fields.
class FixedStatusSource : public internal::StatusSource {
 public:
  explicit FixedStatusSource(ReplicationReport report) : report_(std::move(report)) {}
  void FillStatus(ServerStatus* status) const override { status->replication = report_; }

 private:
  ReplicationReport report_;
};

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(HttpReadiness, LagInSecondsCountsOnlyWhileBehind) {
  ReplicationReport report;
  report.state = ServingState::kStreaming;
  report.last_commit_unix_ms = UnixMillisNow() - 5000;  // the newest applied commit, 5 s ago
  report.received_lsn = Lsn(100);
  FixedStatusSource source(report);
  // No index: applied 0 < received 100, so behind by about 5 s.
  ServerStatus behind = internal::CollectStatus(nullptr, &source);
  EXPECT_EQ(behind.lag_bytes, 100u);
  EXPECT_GE(behind.lag_seconds, 5.0);
  EXPECT_LT(behind.lag_seconds, 60.0);
  // Caught up: 0 whatever the age of the last commit (an idle source).
  report.received_lsn = Lsn();
  FixedStatusSource idle(report);
  EXPECT_EQ(internal::CollectStatus(nullptr, &idle).lag_seconds, 0.0);
  // A commit time from a clock ahead of this one: never negative.
  report.received_lsn = Lsn(100);
  report.last_commit_unix_ms = UnixMillisNow() + 60'000;
  FixedStatusSource ahead(report);
  EXPECT_EQ(internal::CollectStatus(nullptr, &ahead).lag_seconds, 0.0);
}

TEST(HttpReadiness, JudgedFromTheStatus) {
  ServerStatus s;
  EXPECT_FALSE(internal::JudgeReadiness(s, /*replicated=*/false, /*index_loaded=*/false, 10).ready);
  EXPECT_TRUE(internal::JudgeReadiness(s, false, true, 10).ready);  // no replication side
  s.replication.state = ServingState::kStreaming;
  s.lag_bytes = 11;
  const internal::Readiness lagging = internal::JudgeReadiness(s, true, true, 10);
  EXPECT_FALSE(lagging.ready);
  EXPECT_EQ(lagging.reason, "lagging: 11 bytes of WAL behind (limit 10)");
  s.lag_bytes = 10;
  EXPECT_TRUE(internal::JudgeReadiness(s, true, true, 10).ready);
  s.lag_seconds = 2.5;  // a seconds bound applies only when set
  EXPECT_TRUE(internal::JudgeReadiness(s, true, true, 10).ready);
  EXPECT_TRUE(internal::JudgeReadiness(s, true, true, 10, 2.5).ready);
  const internal::Readiness behind = internal::JudgeReadiness(s, true, true, 10, 2);
  EXPECT_FALSE(behind.ready);
  EXPECT_EQ(behind.reason.rfind("lagging: 2.5", 0), 0u) << behind.reason;
  s.replication.state = ServingState::kUnknown;
  EXPECT_FALSE(internal::JudgeReadiness(s, true, true, 10).ready);
}

}  // namespace
}  // namespace canopy::net
