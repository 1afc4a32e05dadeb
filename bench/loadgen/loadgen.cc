// canopy_loadgen — canopyd's FlatBuffers protocol under load, driven the way
// redis-benchmark drives Redis: C connections, each with P requests in
// flight. A connection writes its P pre-encoded request frames with one
// write(), reads until the P answers are in, and starts over. One thread,
// one epoll loop (as redis-benchmark), so the client costs about what
// redis-benchmark costs and the server is what is measured.
//
//   canopy_loadgen --unix /tmp/canopy.sock --connections 16 --pipeline 32 --seconds 3
//                  --expect-ids 6 ancestors 9970      (one command line)
//
// Every answer is decoded (canopy::net::internal::DecodeResponse: verified,
// copied out, as a client library would) and checked: its request id, no
// error, and the number of ids when --expect-ids is given. Any failure makes
// the exit status 1. Output: one line of key=value on stdout (see kNotes),
// which bench/serving's driver parses.
//
// Latency of a request: from just before its window's write() to the read()
// that completed its answer (redis-benchmark measures the same way).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>

#include "../bench_flags.h"
#include "canopy/net/protocol.h"
#include "canopy/testing/stats.h"
#include "codec.h"
#include "frame.h"

namespace canopy::bench::loadgen {
namespace {

using Clock = std::chrono::steady_clock;
using net::internal::DecodeResponse;
using net::internal::EncodeRequest;
using net::internal::FrameReader;

constexpr const char* kNotes = R"(QUERY:
  ancestors ID                self_and_ancestors (IdQuery)
  descendants ID              self_and_descendants, groups only
  projects ID                 all_project_ids
  counts ID                   Counts
  batch-ancestors ID,ID,...   one BatchQuery of self_and_ancestors
  ping                        Ping
Output (stdout, one line):
  requests=N seconds=S ops_per_s=X p50_us=X p99_us=X mean_us=X max_us=X errors=N writes=N
  requests_per_write=X bytes_out=N bytes_in=N connections=C pipeline=P
Exit status: 0 ok, 1 an error (connect, a failed or wrong answer), 2 usage)";

struct Flags {
  std::string unix_path;
  std::string tcp_host;
  uint16_t tcp_port = 0;
  int connections = 1;
  int pipeline = 1;
  double seconds = 3;
  uint64_t requests = 0;  // 0: by time
  int64_t expect_ids = -1;
  std::string token;
  double max_seconds = 60;
  std::vector<std::string> query;
  net::RequestBody body;  // QUERY's, from FinishFlags
};

bool ParseInt64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0') return false;
  *out = v;
  return true;
}

// The flags and QUERY, into `f` (which holds the defaults). A flag given
// twice takes the last value.
void AddFlags(CLI::App* app, Flags* f) {
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->get_formatter()->column_width(22);
  auto whole = [app](const std::string& name, auto& value, const std::string& description) {
    return AddWholeNumber(app, name, value, description);
  };
  CLI::Option* unix_path =
      app->add_option("--unix", f->unix_path, "canopyd's Unix socket")->type_name("PATH");
  CLI::Option* tcp =
      app->add_option_function<std::string>(
             "--tcp",
             [f](const std::string& value) {
               const size_t colon = value.rfind(':');
               int64_t port = 0;
               if (colon == std::string::npos || !ParseInt64(value.substr(colon + 1), &port) ||
                   port <= 0 || port > 65535) {
                 throw CLI::ValidationError("--tcp", "wants HOST:PORT");
               }
               f->tcp_host = value.substr(0, colon);
               f->tcp_port = static_cast<uint16_t>(port);
             },
             "canopyd's TCP listener (an IPv4 address)")
          ->type_name("HOST:PORT");
  unix_path->excludes(tcp);
  whole("--connections", f->connections, "connections (default 1)")
      ->type_name("C")
      ->check(CLI::Range(1, 4096));
  whole("--pipeline", f->pipeline,
        "requests in flight per connection, written with one write() (default 1)")
      ->type_name("P")
      ->check(CLI::Range(1, 4096));
  app->add_option("--seconds", f->seconds, "run this long, then drain (default 3)")->type_name("S");
  whole("--requests", f->requests, "or: stop after N requests in all (rounded up to whole windows)")
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max(), "1 OR MORE"));
  whole("--expect-ids", f->expect_ids,
        "every answer must hold N ids (summed over batch members; 4 per counts)");
  app->add_option("--token", f->token, "Hello token")->type_name("TOKEN");
  app->add_option("--max-seconds", f->max_seconds, "give up draining after this long (default 60)")
      ->type_name("S");
  app->add_option("QUERY", f->query, "what to ask (below)")->type_name("")->required();
  app->footer(kNotes);
}

// The request body of QUERY, or nullopt when it does not parse.
std::optional<net::RequestBody> ParseQuery(const std::vector<std::string>& q) {
  const std::string& verb = q[0];
  if (verb == "ping" && q.size() == 1) return net::RequestBody{net::PingRequest{}};
  if (q.size() != 2) return std::nullopt;
  if (verb == "batch-ancestors") {
    net::BatchRequest batch;
    size_t start = 0;
    while (start <= q[1].size()) {
      const size_t comma = std::min(q[1].find(',', start), q[1].size());
      int64_t id = 0;
      if (!ParseInt64(q[1].substr(start, comma - start), &id)) return std::nullopt;
      batch.queries.push_back(IdQuery{.kind = QueryKind::kSelfAndAncestors, .id = id});
      start = comma + 1;
    }
    return net::RequestBody{std::move(batch)};
  }
  int64_t id = 0;
  if (!ParseInt64(q[1], &id)) return std::nullopt;
  if (verb == "counts") return net::RequestBody{net::CountsRequest{{id}}};
  for (const auto& [name, kind] : {std::pair{"ancestors", QueryKind::kSelfAndAncestors},
                                   {"descendants", QueryKind::kSelfAndDescendants},
                                   {"projects", QueryKind::kAllProjectIds}}) {
    if (verb == name) return net::RequestBody{IdQuery{.kind = kind, .id = id}};
  }
  return std::nullopt;
}

// What CLI11 does not check: one of --unix and --tcp (CLI11 refuses both),
// the times above 0, and QUERY, which becomes f->body.
void FinishFlags(Flags* f) {
  if (f->unix_path.empty() && f->tcp_host.empty()) throw CLI::RequiredError("--unix or --tcp");
  if (!(f->seconds > 0)) throw CLI::ValidationError("--seconds", "needs a number above 0");
  if (!(f->max_seconds > 0)) throw CLI::ValidationError("--max-seconds", "needs a number above 0");
  std::optional<net::RequestBody> body = ParseQuery(f->query);
  if (!body) throw CLI::ValidationError("QUERY", "not a query (see --help)");
  f->body = std::move(*body);
}

// The ids an answer holds (4 per counts member), or an error message.
std::variant<uint64_t, std::string> IdsIn(const net::Response& r) {
  if (r.error != net::ErrorCode::kOk) {
    return std::string(net::ErrorCodeName(r.error)) + ": " + r.message;
  }
  if (const auto* page = std::get_if<net::IdPage>(&r.body)) {
    if (page->more) return std::string("answer cut into pages");
    return static_cast<uint64_t>(page->ids.size());
  }
  if (const auto* batch = std::get_if<net::BatchPages>(&r.body)) {
    uint64_t n = 0;
    for (const net::IdPage& m : batch->members) {
      if (m.status != net::ErrorCode::kOk) {
        return std::string("batch member: ") + net::ErrorCodeName(m.status) + ": " + m.message;
      }
      n += m.ids.size();
    }
    return n;
  }
  if (const auto* counts = std::get_if<net::CountsList>(&r.body)) {
    for (const net::CountsEntry& m : counts->members) {
      if (m.status != net::ErrorCode::kOk) {
        return std::string("counts member: ") + net::ErrorCodeName(m.status);
      }
    }
    return static_cast<uint64_t>(4 * counts->members.size());
  }
  if (std::holds_alternative<net::Pong>(r.body)) return uint64_t{0};
  return std::string("unexpected answer type");
}

void Fail(const std::string& message) {
  std::fprintf(stderr, "canopy_loadgen: %s\n", message.c_str());
  std::exit(1);
}

int Connect(const Flags& f) {
  int fd = -1;
  if (!f.unix_path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (f.unix_path.size() >= sizeof addr.sun_path) Fail("unix path too long");
    std::memcpy(addr.sun_path, f.unix_path.c_str(), f.unix_path.size() + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Fail("cannot connect to " + f.unix_path + ": " + std::strerror(errno));
    }
  } else {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(f.tcp_port);
    if (inet_pton(AF_INET, f.tcp_host.c_str(), &addr.sin_addr) != 1) {
      Fail("--tcp wants an IPv4 address: " + f.tcp_host);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Fail("cannot connect to " + f.tcp_host + ": " + std::strerror(errno));
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

// One frame of `body` with request id `id`.
std::vector<uint8_t> Encode(uint64_t id, net::RequestBody body) {
  flatbuffers::FlatBufferBuilder builder(256);
  EncodeRequest(net::Request{.request_id = id, .body = std::move(body)}, &builder);
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

void WriteAll(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Fail(std::string("write: ") + std::strerror(errno));
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
}

// Blocking Hello on a fresh connection (reads and writes time out after 10 s).
void SayHello(int fd, const Flags& f, FrameReader* reader) {
  const timeval limit{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  WriteAll(fd, Encode(1, net::HelloRequest{net::kProtocolVersion, f.token, "canopy_loadgen"}));
  for (int reads = 0; reads < 1000; ++reads) {
    FrameReader::Next next = reader->NextFrame();
    if (next.state == FrameReader::State::kFrame) {
      Result<net::Response> r = DecodeResponse(next.frame);
      if (!r.ok()) Fail("hello: " + r.status().ToString());
      if (r->error != net::ErrorCode::kOk) Fail("hello refused: " + r->message);
      return;
    }
    if (next.state != FrameReader::State::kNeedMore) Fail("hello: bad frame");
    std::span<uint8_t> space = reader->PrepareWrite(4096);
    const ssize_t n = read(fd, space.data(), space.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Fail("hello: connection closed");
    reader->CommitWrite(static_cast<size_t>(n));
  }
  Fail("hello: no answer");
}

struct Connection {
  int fd = -1;
  FrameReader reader{64u << 20, 64 * 1024};
  size_t written = 0;   // bytes of the current window written so far
  int answered = 0;     // answers of the current window received
  bool active = false;  // a window is out
  Clock::time_point window_start;
};

struct Totals {
  uint64_t requests = 0;  // answered
  uint64_t writes = 0;    // write() calls that sent bytes
  uint64_t bytes_out = 0, bytes_in = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<float> latencies_us;
  Clock::time_point last_answer;
};

int Run(const Flags& f) {
  // The window: P frames with request ids 1..P, back to back.
  std::vector<uint8_t> window;
  for (int i = 1; i <= f.pipeline; ++i) {
    std::vector<uint8_t> frame = Encode(static_cast<uint64_t>(i), f.body);
    window.insert(window.end(), frame.begin(), frame.end());
  }

  std::vector<Connection> conns(static_cast<size_t>(f.connections));
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) Fail("epoll_create1");
  for (size_t i = 0; i < conns.size(); ++i) {
    Connection& c = conns[i];
    c.fd = Connect(f);
    SayHello(c.fd, f, &c.reader);
    if (c.reader.has_partial()) Fail("hello: unexpected bytes after the answer");
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = i}};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) Fail("epoll_ctl");
  }

  Totals t;
  t.latencies_us.reserve(1 << 20);
  const Clock::time_point start = Clock::now();
  const Clock::time_point stop_at =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(f.seconds));
  const Clock::time_point give_up_at = start + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(f.max_seconds));
  uint64_t windows_started = 0;
  const uint64_t max_windows = f.requests == 0
                                   ? UINT64_MAX
                                   : (f.requests + static_cast<uint64_t>(f.pipeline) - 1) /
                                         static_cast<uint64_t>(f.pipeline);
  bool stopping = false;
  int active = 0;

  // Writes what is left of c's window (waits for EPOLLOUT while some is left).
  auto flush = [&](size_t i) {
    Connection& c = conns[i];
    while (c.written < window.size()) {
      const ssize_t n = write(c.fd, window.data() + c.written, window.size() - c.written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) Fail(std::string("write: ") + std::strerror(errno));
      c.written += static_cast<size_t>(n);
      ++t.writes;
      t.bytes_out += static_cast<uint64_t>(n);
    }
    epoll_event ev{
        .events = EPOLLIN | (c.written < window.size() ? uint32_t{EPOLLOUT} : uint32_t{0}),
        .data = {.u64 = i}};
    epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
  };
  auto start_window = [&](size_t i) {
    Connection& c = conns[i];
    if (stopping || windows_started >= max_windows) return;
    c.active = true;
    ++active;
    ++windows_started;
    c.written = 0;
    c.answered = 0;
    c.window_start = Clock::now();
    flush(i);
  };
  auto record_error = [&](const std::string& e) {
    if (t.errors++ == 0) t.first_error = e;
  };

  for (size_t i = 0; i < conns.size(); ++i) start_window(i);
  std::vector<epoll_event> events(conns.size());
  while (active > 0) {
    const Clock::time_point now = Clock::now();
    if (!stopping && (now >= stop_at && f.requests == 0)) stopping = true;
    if (now >= give_up_at) Fail("answers still missing after --max-seconds");
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail("epoll_wait");
    for (int e = 0; e < n; ++e) {
      const size_t i = events[e].data.u64;
      Connection& c = conns[i];
      if ((events[e].events & EPOLLOUT) != 0 && c.active) flush(i);
      if ((events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) continue;
      // Read what is there; every complete answer is checked and timed.
      for (int reads = 0; reads < 64; ++reads) {
        std::span<uint8_t> space = c.reader.PrepareWrite(64 * 1024);
        const ssize_t got = read(c.fd, space.data(), space.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (got <= 0) Fail("connection closed by the server");
        c.reader.CommitWrite(static_cast<size_t>(got));
        t.bytes_in += static_cast<uint64_t>(got);
        const Clock::time_point arrived = Clock::now();
        const float latency_us =
            std::chrono::duration<float, std::micro>(arrived - c.window_start).count();
        for (;;) {
          FrameReader::Next next = c.reader.NextFrame();
          if (next.state == FrameReader::State::kNeedMore) break;
          if (next.state != FrameReader::State::kFrame) Fail("malformed frame from the server");
          Result<net::Response> r = DecodeResponse(next.frame);
          if (!r.ok()) Fail("answer does not verify: " + r.status().ToString());
          if (!c.active) Fail("an answer nobody asked for");
          ++c.answered;
          if (r->request_id != static_cast<uint64_t>(c.answered)) {
            record_error("answer " + std::to_string(r->request_id) + " where " +
                         std::to_string(c.answered) + " was due");
          }
          std::variant<uint64_t, std::string> ids = IdsIn(r.value());
          if (const auto* message = std::get_if<std::string>(&ids)) {
            record_error(*message);
          } else if (f.expect_ids >= 0 &&
                     std::get<uint64_t>(ids) != static_cast<uint64_t>(f.expect_ids)) {
            record_error("answer with " + std::to_string(std::get<uint64_t>(ids)) +
                         " ids, expected " + std::to_string(f.expect_ids));
          }
          ++t.requests;
          t.latencies_us.push_back(latency_us);
          t.last_answer = arrived;
          if (c.answered == f.pipeline) {
            c.active = false;
            --active;
            if (!stopping && Clock::now() >= stop_at && f.requests == 0) stopping = true;
            start_window(i);
            break;
          }
        }
        if (!c.active || static_cast<size_t>(got) < space.size()) break;
      }
    }
  }
  for (Connection& c : conns) close(c.fd);
  close(ep);

  const double seconds =
      t.requests == 0 ? 0 : std::chrono::duration<double>(t.last_answer - start).count();
  double mean = 0;
  float max = 0;
  for (float v : t.latencies_us) {
    mean += v;
    max = std::max(max, v);
  }
  if (!t.latencies_us.empty()) mean /= static_cast<double>(t.latencies_us.size());
  const double p50 = testing::Percentile(t.latencies_us, 0.50);
  const double p99 = testing::Percentile(t.latencies_us, 0.99);
  std::printf(
      "requests=%" PRIu64
      " seconds=%.4f ops_per_s=%.1f p50_us=%.2f p99_us=%.2f mean_us=%.2f "
      "max_us=%.2f errors=%" PRIu64 " writes=%" PRIu64 " requests_per_write=%.2f bytes_out=%" PRIu64
      " bytes_in=%" PRIu64 " connections=%d pipeline=%d\n",
      t.requests, seconds, seconds > 0 ? static_cast<double>(t.requests) / seconds : 0.0, p50, p99,
      mean, static_cast<double>(max), t.errors, t.writes,
      t.writes > 0 ? static_cast<double>(windows_started * static_cast<uint64_t>(f.pipeline)) /
                         static_cast<double>(t.writes)
                   : 0.0,
      t.bytes_out, t.bytes_in, f.connections, f.pipeline);
  if (t.errors != 0) {
    std::fprintf(stderr, "canopy_loadgen: %" PRIu64 " bad answers; first: %s\n", t.errors,
                 t.first_error.c_str());
    return 1;
  }
  if (t.requests == 0) {
    std::fprintf(stderr, "canopy_loadgen: no answers\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace canopy::bench::loadgen

int main(int argc, char** argv) {
  namespace loadgen = canopy::bench::loadgen;
  CLI::App app(
      "canopy_loadgen: canopyd's FlatBuffers protocol under load, driven the way redis-benchmark "
      "drives Redis: C connections, each with P requests in flight",
      "canopy_loadgen");
  loadgen::Flags flags;
  loadgen::AddFlags(&app, &flags);
  if (auto status =
          canopy::bench::ParseCommandLine(app, argc, argv, [&] { loadgen::FinishFlags(&flags); })) {
    return *status;
  }
  return loadgen::Run(flags);
}
