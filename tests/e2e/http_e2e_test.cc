// End-to-end proof of canopyd's operators' HTTP endpoint (--http-listen:
// /metrics, /healthz, /readyz; docs/operations.md) with real tools: curl for
// the requests and promtool (Debian package prometheus) for the metrics text.
// PostgreSQL 15 holds GitLab-shaped tables; canopyd replicates them. Checks:
//   * /metrics passes `promtool check metrics` (parse and lint) with a loaded
//     index and before any snapshot, has every documented series, and its
//     numbers agree with the database (rows per table) and with what was
//     asked (request counters by listener and kind, the latency histogram);
//   * /healthz is 200 "ok"; /readyz is 503 with the reason while no snapshot
//     can be loaded (the mapped table does not exist yet: the replica retries),
//     and turns 200 once the table appears and the replica streams;
//   * unknown paths 404, POST/DELETE/HEAD 405, a GET with a body 400;
//   * with --token-file: /metrics without or with a wrong bearer token 401,
//     with the right one 200; /healthz and /readyz need none;
//   * hostile peers on raw sockets (garbage, a head over the limit, a
//     half-sent request, pipelined requests, HTTP/1.0): a 4xx or a closed
//     connection, never a crash, and the server answers curl afterwards.
// No timing assertions: every wait is bounded only to fail instead of hanging.
// Labels: e2e, cdc.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "e2e_util.h"

namespace canopy::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Sends `bytes` on a fresh connection to 127.0.0.1:port, half-closes (unless
// `half_close` is false: then closes after reading), and returns everything
// the server sent until it closed (bounded by `timeout`).
std::string RawExchange(int port, std::string_view bytes, bool half_close = true,
                        milliseconds timeout = seconds(10)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "<socket failed>";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close first (e.g. after a 431)
    sent += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      if (!half_close && !got.empty()) break;  // answered; we close
      continue;
    }
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return got;
}

size_t Count(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The value of the sample `series` (name plus labels exactly as written).
std::optional<double> MetricValue(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

struct Reply {
  int code = 0;  // 0: no answer
  std::string body;
  std::string detail;  // for messages
};

class HttpE2E : public DaemonTest {
 protected:
  void SetUp() override {
    for (const char* tool : {"/usr/bin/curl", "/usr/bin/promtool"}) {
      ASSERT_EQ(::access(tool, X_OK), 0)
          << tool << " is missing: install curl and prometheus (CANOPY_TEST_PACKAGES in "
          << "scripts/lib/common.sh)";
    }
    port_ = FreeTcpPort();
    ASSERT_NE(port_, 0);
  }

  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + Id(port_) + path; }

  // curl [options] URL: the status code and the body.
  Reply Curl(const std::string& path, const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time", "20", "-w",
                                     "\n%{http_code}"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(Url(path));
    ProgramRun r = RunProgram(argv, seconds(30));
    Reply reply;
    reply.detail = r.Describe();
    const size_t nl = r.out.rfind('\n');
    if (r.code() != 0 || nl == std::string::npos) return reply;
    reply.code = std::atoi(r.out.c_str() + nl + 1);
    reply.body = r.out.substr(0, nl);
    return reply;
  }

  // GET /metrics, checked by promtool; returns the text.
  std::string CheckedMetrics(const std::vector<std::string>& curl_options = {}) {
    Reply r = Curl("/metrics", curl_options);
    EXPECT_EQ(r.code, 200) << r.detail;
    const std::string path = dir_.path() + "/metrics-" + Id(++files_) + ".txt";
    {
      std::ofstream out(path, std::ios::binary);
      out << r.body;
    }
    ProgramRun check =
        RunProgram({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + path}, seconds(60));
    EXPECT_EQ(check.code(), 0) << "promtool check metrics: " << check.Describe() << "\n"
                               << r.body.substr(0, 4000);
    EXPECT_EQ(check.out + check.err, "") << "promtool has remarks";
    return r.body;
  }

  // Polls /readyz until it answers `code` (bounded); returns the last reply.
  Reply WaitForReadyz(int code, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Reply r;
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::optional<ProcessExit> e = daemon_->Poll()) {
        ADD_FAILURE() << "canopyd ended: " << e->Describe();
        return r;
      }
      r = Curl("/readyz");
      if (r.code == code) return r;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "/readyz never answered " << code << "; last: " << r.code << " " << r.body
                  << " " << r.detail;
    return r;
  }

  void ExpectServing() {
    Reply health = Curl("/healthz");
    EXPECT_EQ(health.code, 200) << health.detail;
    EXPECT_EQ(health.body, "ok\n");
    ASSERT_FALSE(daemon_->Poll().has_value()) << "canopyd ended";
  }

  int port_ = 0;
  int files_ = 0;
};

// The series docs/operations.md lists (a histogram by its three parts).
const std::vector<std::string> kSeries = {
    "canopy_build_info{",
    "canopy_replica_state{state=\"streaming\"}",
    "canopy_replica_state{state=\"loading\"}",
    "canopy_replication_applied_lsn ",
    "canopy_replication_received_lsn ",
    "canopy_replication_lag_bytes ",
    "canopy_replication_lag_seconds ",
    "canopy_replication_last_commit_timestamp_seconds ",
    "canopy_replication_reconnects_total ",
    "canopy_snapshots_total ",
    "canopy_snapshot_last_duration_seconds ",
    "canopy_snapshot_rows{table=",
    "canopy_snapshot_estimated_rows{table=",
    "canopy_snapshot_table_done{table=",
    "canopy_index_loaded ",
    "canopy_index_rows{table=\"namespaces\"}",
    "canopy_index_rows{table=\"projects\"}",
    "canopy_index_rows{table=\"runner_links\"}",
    "canopy_index_orphans{table=\"namespaces\"}",
    "canopy_index_orphans{table=\"projects\"}",
    "canopy_index_cycles_refused_total ",
    "canopy_index_unknown_deletes_total ",
    "canopy_index_transactions_applied_total ",
    "canopy_index_row_changes_applied_total ",
    "canopy_index_publishes_total ",
    "canopy_index_publish_wait_seconds_total ",
    "canopy_index_publish_wait_max_seconds ",
    "canopy_index_memory_bytes ",
    "canopy_process_resident_memory_bytes ",
    "canopy_open_connections ",
    "canopy_waiting_requests ",
    "canopy_requests_total{listener=\"fb_unix\",kind=\"status\"}",
    "canopy_requests_total{listener=\"http\",kind=\"metrics\"}",
    "canopy_request_duration_seconds_bucket{listener=\"fb_unix\",le=\"+Inf\"}",
    "canopy_request_duration_seconds_sum{listener=\"fb_unix\"}",
    "canopy_request_duration_seconds_count{listener=\"fb_unix\"}",
};

TEST_F(HttpE2E, MetricsHealthAndReadyWhileStreaming) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_http_e2e_metrics"));
  ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr, {"--http-listen", Id(port_)}));
  ExpectServing();
  Reply ready = WaitForReadyz(200, seconds(60));
  EXPECT_EQ(ready.body, "ok\n");

  // Some requests of known kinds on the FlatBuffers Unix listener.
  const std::string ns = sql_->Value("SELECT min(id) FROM namespaces");
  for (int i = 0; i < 3; ++i) {
    ProgramRun r = Cli({"ancestors", ns});
    ASSERT_EQ(r.code(), 0) << r.Describe();
  }
  const std::string before = CheckedMetrics();
  const std::string text = CheckedMetrics();
  for (const std::string& series : kSeries) {
    EXPECT_NE(text.find("\n" + series), std::string::npos) << "no series " << series;
  }
  EXPECT_NE(text.find("# TYPE canopy_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE canopy_request_duration_seconds histogram"), std::string::npos);

  // The numbers mean what they say.
  EXPECT_EQ(MetricValue(text, "canopy_replica_state{state=\"streaming\"}"), 1.0);
  EXPECT_EQ(MetricValue(text, "canopy_replica_state{state=\"loading\"}"), 0.0);
  EXPECT_EQ(MetricValue(text, "canopy_index_loaded"), 1.0);
  EXPECT_EQ(MetricValue(text, "canopy_index_rows{table=\"namespaces\"}"),
            std::strtod(sql_->Value("SELECT count(*) FROM namespaces").c_str(), nullptr));
  EXPECT_EQ(MetricValue(text, "canopy_index_rows{table=\"projects\"}"),
            std::strtod(sql_->Value("SELECT count(*) FROM projects").c_str(), nullptr));
  EXPECT_EQ(MetricValue(text, "canopy_index_rows{table=\"runner_links\"}"),
            std::strtod(sql_->Value("SELECT count(*) FROM ci_runner_namespaces").c_str(), nullptr));
  EXPECT_GT(MetricValue(text, "canopy_replication_applied_lsn").value_or(0), 0);
  EXPECT_GE(MetricValue(text, "canopy_snapshots_total").value_or(0), 1);
  EXPECT_GT(MetricValue(text, "canopy_index_memory_bytes").value_or(0), 0);
  EXPECT_GT(MetricValue(text, "canopy_process_resident_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GE(MetricValue(text, "canopy_open_connections").value_or(0), 1);  // this one
  EXPECT_GE(MetricValue(text, "canopy_requests_total{listener=\"fb_unix\",kind=\"id_query\"}")
                .value_or(0),
            3);
  // The previous scrape is counted by this one.
  EXPECT_EQ(
      MetricValue(text, "canopy_requests_total{listener=\"http\",kind=\"metrics\"}").value_or(0),
      MetricValue(before, "canopy_requests_total{listener=\"http\",kind=\"metrics\"}").value_or(0) +
          1);
  const double count =
      MetricValue(text, "canopy_request_duration_seconds_count{listener=\"fb_unix\"}").value_or(0);
  EXPECT_EQ(
      MetricValue(text, "canopy_request_duration_seconds_bucket{listener=\"fb_unix\",le=\"+Inf\"}"),
      count);
  EXPECT_GE(count, 3);

  // Methods and paths.
  Reply missing = Curl("/nope");
  EXPECT_EQ(missing.code, 404) << missing.detail;
  Reply post = Curl("/metrics", {"-X", "POST", "-d", "x=1"});
  EXPECT_EQ(post.code, 405) << post.detail;
  Reply del = Curl("/healthz", {"-X", "DELETE"});
  EXPECT_EQ(del.code, 405) << del.detail;
  Reply head = Curl("/healthz", {"-I"});
  EXPECT_NE(head.body.find("405"), std::string::npos) << head.body << head.detail;
  const std::string get_with_body =
      RawExchange(port_, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(get_with_body.rfind("HTTP/1.1 400 ", 0), 0u) << get_with_body;
  Reply query = Curl("/healthz?verbose=1");
  EXPECT_EQ(query.code, 200) << query.detail;
  ExpectServing();
}

TEST_F(HttpE2E, ReadyzIs503UntilASnapshotIsLoaded) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_http_e2e_ready"));
  // A transaction holds projects locked (an ACCESS EXCLUSIVE lock gives it a
  // transaction id): the slot's creation waits for it to end, and the COPY
  // would wait for the lock, so canopyd stays loading until it goes.
  ASSERT_TRUE(sql_->Exec("BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE;"));
  ASSERT_NO_FATAL_FAILURE(SpawnDaemon("none", {"--http-listen", "127.0.0.1:" + Id(port_)}));
  // At first (the replica not started yet, connecting, or copying) 503, with a reason.
  Reply ready = WaitForReadyz(503, seconds(60));
  EXPECT_NE(ready.body, "\n");
  EXPECT_NE(ready.body, "ok\n");
  // Then, for as long as the lock holds, the reason says the snapshot is on its way.
  std::this_thread::sleep_for(seconds(2));
  const Reply loading = Curl("/readyz");
  EXPECT_EQ(loading.code, 503) << loading.detail;
  EXPECT_TRUE(loading.body == "connecting to the source\n" ||
              loading.body.rfind("loading snapshot (", 0) == 0)
      << loading.body;
  ExpectServing();
  // Metrics before any index: still valid, and saying so.
  const std::string text = CheckedMetrics();
  EXPECT_EQ(MetricValue(text, "canopy_index_loaded"), 0.0);
  EXPECT_EQ(MetricValue(text, "canopy_replica_state{state=\"loading\"}"), 1.0) << text;
  EXPECT_EQ(MetricValue(text, "canopy_replica_state{state=\"streaming\"}"), 0.0);
  EXPECT_EQ(MetricValue(text, "canopy_snapshot_table_done{table=\"projects\"}").value_or(0), 0.0);

  // The lock goes: the replica loads and streams.
  ASSERT_TRUE(sql_->Exec("COMMIT"));
  ready = WaitForReadyz(200, seconds(90));
  EXPECT_EQ(ready.body, "ok\n");
  const std::string loaded = CheckedMetrics();
  EXPECT_EQ(MetricValue(loaded, "canopy_index_loaded"), 1.0);
  EXPECT_EQ(MetricValue(loaded, "canopy_index_rows{table=\"namespaces\"}"),
            std::strtod(sql_->Value("SELECT count(*) FROM namespaces").c_str(), nullptr));
  EXPECT_EQ(MetricValue(loaded, "canopy_index_rows{table=\"projects\"}"),
            std::strtod(sql_->Value("SELECT count(*) FROM projects").c_str(), nullptr));
}

TEST_F(HttpE2E, TokenAndHostilePeers) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_http_e2e_token", /*load=*/false));
  const std::string token_file = dir_.path() + "/token";
  {
    std::ofstream out(token_file);
    out << "s3cret-token\n";
  }
  cli_options_ = {"--token-file", token_file};
  ASSERT_NO_FATAL_FAILURE(StartDaemon(
      "none", nullptr, {"--token-file", token_file, "--http-listen", "127.0.0.1:" + Id(port_)}));

  // Auth: /metrics wants the bearer token; the probes do not.
  Reply none = Curl("/metrics");
  EXPECT_EQ(none.code, 401) << none.detail;
  Reply wrong = Curl("/metrics", {"-H", "Authorization: Bearer s3cret-tokeN"});
  EXPECT_EQ(wrong.code, 401) << wrong.detail;
  Reply basic = Curl("/metrics", {"-u", "user:s3cret-token"});
  EXPECT_EQ(basic.code, 401) << basic.detail;
  Reply unknown = Curl("/nope");
  EXPECT_EQ(unknown.code, 401) << unknown.detail;  // what exists is not told without the token
  const std::string text = CheckedMetrics({"-H", "Authorization: Bearer s3cret-token"});
  EXPECT_EQ(MetricValue(text, "canopy_replica_state{state=\"streaming\"}"), 1.0);
  EXPECT_EQ(Curl("/healthz").code, 200);
  Reply ready = WaitForReadyz(200, seconds(60));
  EXPECT_EQ(ready.body, "ok\n");

  // Hostile peers: each gets a 4xx or a closed connection; the server lives on.
  const std::string garbage =
      RawExchange(port_, std::string("\x16\x03\x01\x02\x00\x01\x00\xff", 8) + "garbage\r\n\r\n");
  EXPECT_TRUE(garbage.empty() || garbage.rfind("HTTP/1.1 400 ", 0) == 0) << garbage;
  ExpectServing();
  const std::string bad_version = RawExchange(port_, "GET /healthz HTTP/9.9\r\n\r\n");
  EXPECT_TRUE(bad_version.empty() || bad_version.rfind("HTTP/1.1 400 ", 0) == 0) << bad_version;
  const std::string huge_head =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(256 * 1024, 'a') + "\r\n\r\n";
  const std::string huge = RawExchange(port_, huge_head);
  EXPECT_TRUE(huge.empty() || huge.rfind("HTTP/1.1 431 ", 0) == 0) << huge.substr(0, 200);
  ExpectServing();
  const std::string long_target =
      RawExchange(port_, "GET /" + std::string(128 * 1024, 'x') + " HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(long_target.empty() || long_target.rfind("HTTP/1.1 431 ", 0) == 0)
      << long_target.substr(0, 200);
  EXPECT_EQ(RawExchange(port_, "GET /metr"), "");  // half a request, then EOF
  const std::string nul = RawExchange(port_, std::string(4096, '\0'));
  EXPECT_TRUE(nul.empty() || nul.rfind("HTTP/1.1 400 ", 0) == 0) << nul.substr(0, 200);
  ExpectServing();

  // Pipelined requests are answered in order on one connection; HTTP/1.0 closes.
  const std::string pipelined = RawExchange(
      port_,
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nAuthorization: "
      "Bearer s3cret-token\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Count(pipelined, "HTTP/1.1 200 OK\r\n"), 2u) << pipelined;
  EXPECT_EQ(Count(pipelined, "HTTP/1.1 404 Not Found\r\n"), 1u) << pipelined;
  EXPECT_LT(pipelined.find("200 OK"), pipelined.find("404 Not Found")) << pipelined;
  const std::string http10 =
      RawExchange(port_, "GET /healthz HTTP/1.0\r\n\r\n", /*half_close=*/false);
  EXPECT_EQ(http10.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << http10;
  EXPECT_NE(http10.find("Connection: close\r\n"), std::string::npos) << http10;
  ExpectServing();
  // And it was all counted, without anything crashing.
  const std::string after = CheckedMetrics({"-H", "Authorization: Bearer s3cret-token"});
  EXPECT_GE(
      MetricValue(after, "canopy_requests_total{listener=\"http\",kind=\"healthz\"}").value_or(0),
      5);
  EXPECT_GE(
      MetricValue(after, "canopy_requests_total{listener=\"http\",kind=\"other\"}").value_or(0), 3);
}

}  // namespace
}  // namespace canopy::e2e
