// canopyd — serves canopy's in-memory namespace hierarchy over TCP and/or a
// Unix socket (protocols: schemas/canopy.fbs, and Redis's RESP with
// docs/resp.md's commands; server: canopy/net/server.h).
//
//   canopyd [--listen HOST:PORT] [--unix PATH] [--resp-listen HOST:PORT] [--resp-unix PATH]
//           [--unix-mode OCTAL] [--unix-group NAME]
//           [--http-listen HOST:PORT [--ready-max-lag-bytes N]]
//           [--threads N] [--token-file FILE]
//           [--max-connections N] [--log-level debug|info|warning|error]
//           [--pg CONNINFO [--slot NAME] [--publication NAME] [--create-publication]
//            [--application-name NAME] [--fail-exit-after SECONDS]]
//   canopyd --version            prints "canopyd <version>" (canopy/version.h)
//
// SIGTERM / SIGINT: stop accepting, finish in-flight requests, close, exit 0.
// SIGHUP: re-read --token-file (new authentications need the new token;
// a token file that cannot be read keeps the old token), log it, go on.
// $NOTIFY_SOCKET (systemd Type=notify): READY=1 once the first snapshot is
// applied and the replica streams (without --pg: once listening), STOPPING=1
// on SIGTERM / SIGINT (sd_notify.h).
// Replication failed (an error retrying cannot heal, docs/operations.md):
// exit 4 — at once before the first snapshot is served, else after
// --fail-exit-after seconds of serving state `failed`.
//
// Thin on purpose: flags in, parts wired, nothing else. With --pg a
// canopy::cdc::Replica feeds the server (see ReplicaFeed below).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "canopy/hierarchy_index.h"
#include "canopy/net/server.h"
#include "canopy/version.h"
#ifdef CANOPY_HAVE_CDC
#include "canopy/cdc/replica.h"
#endif
#include "sd_notify.h"

namespace {

using canopy::net::LogLevel;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;
constexpr int kExitReplicationFailed = 4;

const char kUsage[] =
    "usage: canopyd [options]\n"
    "  --listen HOST:PORT      TCP listener (default 127.0.0.1:7433; \"none\" for no TCP)\n"
    "  --unix PATH             Unix domain socket listener\n"
    "  --resp-listen HOST:PORT Redis-protocol (RESP) TCP listener (a bare PORT: 127.0.0.1:PORT)\n"
    "  --resp-unix PATH        Redis-protocol Unix domain socket listener (docs/resp.md)\n"
    "  --http-listen HOST:PORT operators' HTTP endpoint: /metrics, /healthz, /readyz\n"
    "                          (off by default; a bare PORT: 127.0.0.1:PORT)\n"
    "  --ready-max-lag-bytes N /readyz is 503 while replication lags more than N bytes of\n"
    "                          WAL (default 67108864 = 64 MiB)\n"
    "  --unix-mode OCTAL       mode of the Unix socket files, e.g. 0660 (default: per umask)\n"
    "  --unix-group NAME       group of the Unix socket files (default: the process's)\n"
    "  --threads N             I/O threads, one event loop each (default: the cores available)\n"
    "  --token-file FILE       require Hello with this shared secret (first line of FILE)\n"
    "  --max-connections N     (default 4096)\n"
    "  --max-in-flight N       per connection (default 256)\n"
    "  --read-timeout-ms N     a started request must be complete within N ms (default 10000)\n"
    "  --idle-timeout-ms N     close a connection idle this long (default 300000)\n"
    "  --log-level LEVEL       debug, info, warning, error (default info)\n"
    "  --pg CONNINFO           replicate from PostgreSQL (libpq conninfo; PG* variables work)\n"
    "  --slot NAME             permanent replication slot (default: temporary)\n"
    "  --publication NAME      (default canopy)\n"
    "  --create-publication    create/extend the publication if needed\n"
    "  --fail-exit-after SECONDS  when replication fails (an error retrying cannot heal)\n"
    "                          after the first snapshot, keep serving state `failed` this\n"
    "                          long, then exit 4 (default 30; before it: exit 4 at once)\n"
    "  --application-name NAME PostgreSQL application_name of the replication connections\n"
    "                          (default canopyd-SLOT with --slot, else canopyd-PID)\n"
    "  --map KIND.KEY=VALUE    table/column mapping, e.g. namespaces.table=app.folders,\n"
    "                          namespaces.parent_id=parent (repeatable; see table_mapping.h)\n"
    "  --mapping FILE          mapping settings, one KIND.KEY=VALUE per line\n"
    "  --version               print \"canopyd <version>\" and exit\n"
    "  --help\n";

struct Flags {
  canopy::net::ServerOptions server;
  std::string token_file;
  LogLevel log_level = LogLevel::kInfo;
  // Replication (see StartReplication).
  std::string pg_conninfo;
  std::string slot;
  std::string publication = "canopy";
  bool create_publication = false;
  uint32_t fail_exit_after_seconds = 30;
  std::string application_name;  // empty: DefaultApplicationName
#ifdef CANOPY_HAVE_CDC
  canopy::cdc::TableMapping mapping;
#endif
};

std::mutex log_mu;
LogLevel min_level = LogLevel::kInfo;

void Log(LogLevel level, std::string_view message) {
  if (level < min_level) return;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::lock_guard<std::mutex> lock(log_mu);
  std::cerr << stamp << " " << canopy::net::LogLevelName(level) << " canopyd: " << message << "\n";
}

bool ParseUint(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 9) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  *out = v;
  return true;
}

// An octal file mode ("0660", "660"), at most 07777.
bool ParseOctalMode(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return false;
    v = v * 8 + static_cast<uint32_t>(c - '0');
  }
  if (v > 07777) return false;
  *out = v;
  return true;
}

// Returns an error message, or "" when the flags are good.
std::string ParseFlags(int argc, char** argv, Flags* flags) {
  flags->server.tcp_listen = "127.0.0.1:7433";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string* out) -> bool {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    uint32_t n = 0;
    if (arg == "--help" || arg == "-h") {
      return "help";
    } else if (arg == "--version") {
      return "version";
    } else if (arg == "--listen") {
      if (!value(&v)) return "--listen needs HOST:PORT";
      flags->server.tcp_listen = v == "none" ? "" : v;
    } else if (arg == "--unix") {
      if (!value(&flags->server.unix_path)) return "--unix needs a path";
    } else if (arg == "--resp-listen") {
      if (!value(&v)) return "--resp-listen needs HOST:PORT";
      flags->server.resp_tcp_listen =
          v.find(':') == std::string::npos ? "127.0.0.1:" + v : v;  // a bare port: loopback
    } else if (arg == "--http-listen") {
      if (!value(&v)) return "--http-listen needs HOST:PORT";
      flags->server.http_listen =
          v.find(':') == std::string::npos ? "127.0.0.1:" + v : v;  // a bare port: loopback
    } else if (arg == "--ready-max-lag-bytes") {
      if (!value(&v) || v.empty() || v.size() > 19 ||
          v.find_first_not_of("0123456789") != std::string::npos) {
        return "--ready-max-lag-bytes needs a number of bytes";
      }
      flags->server.ready_max_lag_bytes = std::stoull(v);
    } else if (arg == "--resp-unix") {
      if (!value(&flags->server.resp_unix_path)) return "--resp-unix needs a path";
    } else if (arg == "--unix-mode") {
      if (!value(&v) || !ParseOctalMode(v, &n)) return "--unix-mode needs an octal mode (0660)";
      flags->server.unix_mode = n;
    } else if (arg == "--unix-group") {
      if (!value(&flags->server.unix_group) || flags->server.unix_group.empty())
        return "--unix-group needs a group name";
    } else if (arg == "--read-timeout-ms") {
      if (!value(&v) || !ParseUint(v, &n) || n == 0)
        return "--read-timeout-ms needs a positive number";
      flags->server.read_timeout = std::chrono::milliseconds(n);
    } else if (arg == "--idle-timeout-ms") {
      if (!value(&v) || !ParseUint(v, &n) || n == 0)
        return "--idle-timeout-ms needs a positive number";
      flags->server.idle_timeout = std::chrono::milliseconds(n);
    } else if (arg == "--threads") {
      if (!value(&v) || !ParseUint(v, &n) || n == 0 || n > 256) return "--threads needs 1..256";
      flags->server.threads = static_cast<int>(n);
    } else if (arg == "--token-file") {
      if (!value(&flags->token_file)) return "--token-file needs a file";
    } else if (arg == "--max-connections") {
      if (!value(&v) || !ParseUint(v, &n) || n == 0)
        return "--max-connections needs a positive number";
      flags->server.max_connections = n;
    } else if (arg == "--max-in-flight") {
      if (!value(&v) || !ParseUint(v, &n) || n == 0)
        return "--max-in-flight needs a positive number";
      flags->server.max_in_flight = n;
    } else if (arg == "--log-level") {
      if (!value(&v)) return "--log-level needs a level";
      if (v == "debug")
        flags->log_level = LogLevel::kDebug;
      else if (v == "info")
        flags->log_level = LogLevel::kInfo;
      else if (v == "warning")
        flags->log_level = LogLevel::kWarning;
      else if (v == "error")
        flags->log_level = LogLevel::kError;
      else
        return "unknown log level '" + v + "'";
    } else if (arg == "--pg") {
      if (!value(&flags->pg_conninfo)) return "--pg needs a conninfo";
    } else if (arg == "--slot") {
      if (!value(&flags->slot)) return "--slot needs a name";
    } else if (arg == "--publication") {
      if (!value(&flags->publication)) return "--publication needs a name";
    } else if (arg == "--create-publication") {
      flags->create_publication = true;
    } else if (arg == "--fail-exit-after") {
      if (!value(&v) || !ParseUint(v, &n)) return "--fail-exit-after needs a number of seconds";
      flags->fail_exit_after_seconds = n;
    } else if (arg == "--application-name") {
      if (!value(&flags->application_name) || flags->application_name.empty())
        return "--application-name needs a name";
#ifdef CANOPY_HAVE_CDC
    } else if (arg == "--map") {
      if (!value(&v)) return "--map needs KIND.KEY=VALUE";
      if (canopy::Status s = flags->mapping.Set(v); !s.ok()) return s.message();
    } else if (arg == "--mapping") {
      if (!value(&v)) return "--mapping needs a file";
      std::ifstream in(v);
      if (!in) return "cannot read mapping file " + v;
      std::stringstream text;
      text << in.rdbuf();
      if (canopy::Status s = flags->mapping.SetAll(text.str()); !s.ok()) {
        return v + ": " + s.message();
      }
#endif
    } else {
      return "unknown argument '" + std::string(arg) + "'";
    }
  }
#ifndef CANOPY_HAVE_CDC
  if (!flags->pg_conninfo.empty()) {
    return "--pg: this canopyd was built without canopy::cdc (CANOPY_BUILD_CDC=OFF)";
  }
#endif
  if (flags->server.tcp_listen.empty() && flags->server.unix_path.empty() &&
      flags->server.resp_tcp_listen.empty() && flags->server.resp_unix_path.empty() &&
      flags->server.http_listen.empty()) {
    return "no listener: give --listen, --unix, --resp-listen, --resp-unix and/or --http-listen";
  }
  return "";
}

// Reads the token: the file's first line, without trailing whitespace.
canopy::Result<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return canopy::Status::InvalidArgument("cannot read token file " + path);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) return canopy::Status::InvalidArgument("token file " + path + " is empty");
  return token;
}

// SIGHUP: re-reads the token file, if canopyd has one, into the running
// server. canopyd logs to stderr only, so there is no log file to reopen.
void Reload(const std::string& token_file, canopy::net::Server* server) {
  if (token_file.empty()) {
    Log(LogLevel::kInfo, "received SIGHUP; reloaded nothing (no --token-file)");
    return;
  }
  canopy::Result<std::string> token = ReadToken(token_file);
  if (!token.ok()) {
    Log(LogLevel::kWarning, "received SIGHUP; keeping the old token: " + token.status().message());
    return;
  }
  if (canopy::Status s = server->SetToken(std::move(*token)); !s.ok()) {
    Log(LogLevel::kWarning, "received SIGHUP; keeping the old token: " + s.ToString());
    return;
  }
  Log(LogLevel::kInfo, "received SIGHUP; reloaded token file " + token_file);
}

// The replication side. Without --pg the server answers from an empty index
// (useful for smoke tests of the protocol); with --pg, canopy::cdc::Replica
// loads a snapshot and follows the slot, and the server is told about every
// index swap and applied position.
#ifdef CANOPY_HAVE_CDC

canopy::net::ServingState ToServingState(canopy::cdc::ReplicaState state) {
  switch (state) {
    case canopy::cdc::ReplicaState::kConnecting:
    case canopy::cdc::ReplicaState::kLoading:
      return canopy::net::ServingState::kLoading;
    case canopy::cdc::ReplicaState::kStreaming:
      return canopy::net::ServingState::kStreaming;
    case canopy::cdc::ReplicaState::kStale:
      return canopy::net::ServingState::kStale;
    case canopy::cdc::ReplicaState::kFailed:
      return canopy::net::ServingState::kFailed;
    case canopy::cdc::ReplicaState::kStopped:
      return canopy::net::ServingState::kUnknown;
  }
  return canopy::net::ServingState::kUnknown;
}

canopy::net::ReplicationReport ToReport(const canopy::cdc::ReplicaStatus& s) {
  canopy::net::ReplicationReport r;
  r.state = ToServingState(s.state);
  r.stage = s.stage;
  r.received_lsn = s.received_lsn;
  r.last_error = s.last_error;
  r.last_error_unix_ms = s.last_error_unix_ms;
  r.last_commit_unix_ms = s.last_commit_unix_ms;
  r.reconnects = s.reconnects;
  r.snapshots = s.snapshots;
  r.last_snapshot_seconds = s.snapshots > 0 ? s.last_snapshot_seconds : -1;
  for (const canopy::cdc::TableLoadProgress& t : s.tables) {
    r.tables.push_back({.table = t.table,
                        .rows = t.rows,
                        .estimated_rows = t.estimated_rows,
                        .rows_per_second = t.rows_per_second,
                        .eta_seconds = t.eta_seconds,
                        .done = t.done});
  }
  return r;
}

// One line per table: "namespaces 120000/300000 rows (40%), 410000 rows/s, ETA 0.4 s".
std::string ProgressLine(const canopy::cdc::TableLoadProgress& t) {
  std::ostringstream out;
  out << t.table << " " << t.rows;
  if (t.estimated_rows > 0) {
    out << "/" << t.estimated_rows << " rows ("
        << std::min<uint64_t>(100, t.rows * 100 / t.estimated_rows) << "%)";
  } else {
    out << " rows";
  }
  out << ", " << static_cast<uint64_t>(t.rows_per_second) << " rows/s";
  if (t.done) {
    out << ", done";
  } else if (t.eta_seconds >= 0) {
    out.setf(std::ios::fixed);
    out.precision(1);
    out << ", ETA " << t.eta_seconds << " s";
  }
  return out.str();
}

class ReplicaFeed {
 public:
  ReplicaFeed(canopy::cdc::ReplicaOptions options, std::chrono::seconds fail_exit_after)
      : fail_exit_after_(fail_exit_after), replica_(WithHooks(std::move(options))) {}

  // Replication failed and canopyd should exit (kExitReplicationFailed).
  bool failed() const { return failed_.load(); }
  ~ReplicaFeed() { Stop(); }

  // The server's hooks: replication state for Status replies, and a nudge
  // for requests parked on min_lsn. Set before the server starts.
  void Hook(canopy::net::ServerOptions* options) {
    options->replication_status = [this] { return ToReport(replica_.status()); };
    options->on_wait_for_lsn = [this](canopy::Lsn lsn, std::chrono::milliseconds wait) {
      replica_.RequestPosition(lsn, wait);
    };
  }

  // Starts replicating into `server` and shows snapshot-load progress until
  // the first snapshot is applied: a redrawn block when stderr is a
  // terminal, else a log line every 5 s. `on_streaming` (may be empty) is
  // called once, from a thread of the feed, when the first snapshot is
  // applied and the replica streams.
  canopy::Status Start(canopy::net::Server* server, std::function<void()> on_streaming) {
    server_.store(server);
    if (canopy::Status s = replica_.Start(); !s.ok()) return s;
    progress_ = std::thread([this] { ShowProgress(); });
    if (on_streaming) {
      streaming_watch_ = std::thread([this, f = std::move(on_streaming)] { WatchStreaming(f); });
    }
    return canopy::Status();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (progress_.joinable()) progress_.join();
    if (fail_exit_.joinable()) fail_exit_.join();
    if (streaming_watch_.joinable()) streaming_watch_.join();
    replica_.Stop();
    server_.store(nullptr);
  }

 private:
  canopy::cdc::ReplicaOptions WithHooks(canopy::cdc::ReplicaOptions options) {
    // Runs on the replica thread: a new index is served from now on, and
    // requests parked on min_lsn up to `applied` are answered.
    options.on_applied = [this](const std::shared_ptr<const canopy::HierarchyIndex>& index,
                                canopy::Lsn applied) {
      canopy::net::Server* server = server_.load();
      if (server == nullptr) return;
      if (served_ != index.get()) {
        served_ = index.get();
        server->SetIndex(index);
      }
      server->NotifyApplied(applied);
    };
    // Runs on the replica thread, once: the replica gave up. Before the first
    // snapshot there is nothing to serve: stop at once. Else keep serving
    // state `failed` (probes see it) for fail_exit_after_, then stop. The
    // stop goes through main's sigwait (SIGTERM to ourselves).
    options.on_failed = [this](const canopy::Status& error) {
      const bool served = served_ != nullptr;
      Log(LogLevel::kError, "replication failed (retrying cannot fix this): " + error.message());
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      fail_exit_ = std::thread([this, served] {
        std::unique_lock<std::mutex> lock(mu_);
        if (served) {
          Log(LogLevel::kError, "exiting in " + std::to_string(fail_exit_after_.count()) +
                                    " s (--fail-exit-after); serving state failed until then");
          cv_.wait_for(lock, fail_exit_after_, [&] { return stopping_; });
          if (stopping_) return;
        }
        failed_.store(true);
        kill(getpid(), SIGTERM);
      });
    };
    return options;
  }

  // Calls `f` once the replica first streams, unless Stop() comes first
  // (each wait is short so that Stop() is not held up).
  void WatchStreaming(const std::function<void()>& f) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      const canopy::Status s = replica_.WaitUntilStreaming(std::chrono::milliseconds(200));
      if (s.ok()) break;
      if (s.code() == canopy::StatusCode::kUnavailable) return;  // the replica stopped
    }
    f();
  }

  void ShowProgress() {
    const bool tty = isatty(STDERR_FILENO) == 1;
    const auto period = tty ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
    size_t drawn = 0;  // lines drawn last time (tty)
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, period, [&] { return stopping_; });
      if (stopping_) break;
      const canopy::cdc::ReplicaStatus s = replica_.status();
      if (s.state == canopy::cdc::ReplicaState::kLoading && !s.tables.empty()) {
        std::lock_guard<std::mutex> log_lock(log_mu);
        if (tty) {
          for (size_t i = 0; i < drawn; ++i) std::cerr << "\x1b[1A\x1b[2K";
          for (const auto& t : s.tables) std::cerr << "  loading " << ProgressLine(t) << "\n";
          drawn = s.tables.size();
        } else {
          for (const auto& t : s.tables)
            std::cerr << "canopyd: loading " << ProgressLine(t) << "\n";
        }
      }
      if (s.snapshots > 0) break;  // the replica logs later snapshots itself
    }
  }

  std::atomic<canopy::net::Server*> server_{nullptr};
  const canopy::HierarchyIndex* served_ = nullptr;  // replica thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread progress_;
  std::thread fail_exit_;  // started by on_failed
  const std::chrono::seconds fail_exit_after_;
  std::atomic<bool> failed_{false};
  std::thread streaming_watch_;
  canopy::cdc::Replica replica_;  // last: stopped (by Stop) before the rest goes
};

// The feed for --pg (null without it). Its hooks go into server options.
canopy::Result<std::unique_ptr<ReplicaFeed>> MakeReplication(Flags* flags) {
  if (flags->pg_conninfo.empty()) return std::unique_ptr<ReplicaFeed>();
  canopy::cdc::ReplicaOptions options;
  options.conninfo = flags->pg_conninfo;
  options.publication = flags->publication;
  options.create_publication = flags->create_publication;
  options.slot_name = flags->slot;
  options.mapping = flags->mapping;
  // Tells this canopyd's connections apart in pg_stat_replication /
  // pg_stat_activity when several replicate from one server.
  options.application_name = !flags->application_name.empty() ? flags->application_name
                             : !flags->slot.empty()           ? "canopyd-" + flags->slot
                                                    : "canopyd-" + std::to_string(::getpid());
  options.log = [](const std::string& line) { Log(LogLevel::kInfo, line); };
  options.log_warning = [](const std::string& line) { Log(LogLevel::kWarning, line); };
  if (canopy::Status s = options.mapping.Validate(); !s.ok()) return s;
  auto feed = std::make_unique<ReplicaFeed>(std::move(options),
                                            std::chrono::seconds(flags->fail_exit_after_seconds));
  feed->Hook(&flags->server);
  return feed;
}

#else  // !CANOPY_HAVE_CDC

// Without canopy::cdc, --pg is refused at flag parsing.
class ReplicaFeed {
 public:
  canopy::Status Start(canopy::net::Server*, std::function<void()>) { return canopy::Status(); }
  void Stop() {}
  bool failed() const { return false; }
};
canopy::Result<std::unique_ptr<ReplicaFeed>> MakeReplication(Flags*) {
  return std::unique_ptr<ReplicaFeed>();
}

#endif  // CANOPY_HAVE_CDC

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::string error = ParseFlags(argc, argv, &flags); !error.empty()) {
    if (error == "help") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (error == "version") {
      std::cout << "canopyd " << canopy::kVersion << "\n";
      return kExitOk;
    }
    std::cerr << "canopyd: " << error << "\n" << kUsage;
    return kExitUsage;
  }
  min_level = flags.log_level;
  if (!flags.token_file.empty()) {
    canopy::Result<std::string> token = ReadToken(flags.token_file);
    if (!token.ok()) {
      std::cerr << "canopyd: " << token.status().message() << "\n";
      return kExitUsage;
    }
    flags.server.token = *token;
  }
  flags.server.log = Log;

  // Block the signals handled here before any thread starts, so every
  // thread inherits the mask and only sigwait() below sees them.
  sigset_t handled_signals;
  sigemptyset(&handled_signals);
  sigaddset(&handled_signals, SIGINT);
  sigaddset(&handled_signals, SIGTERM);
  sigaddset(&handled_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // systemd readiness ($NOTIFY_SOCKET); declared before the replication,
  // whose thread may use it, so it outlives it.
  // Nothing follows STOPPING=1 (a snapshot completing during the stop).
  const canopyd::SdNotifier notifier = canopyd::SdNotifier::FromEnvironment();
  std::mutex notify_mu;
  bool notified_stopping = false;  // guarded by notify_mu
  auto notify = [&](std::string_view state) {
    std::lock_guard<std::mutex> lock(notify_mu);
    if (notified_stopping) return;
    notified_stopping = state == "STOPPING=1";
    if (canopy::Status s = notifier.Send(state); !s.ok()) {
      Log(LogLevel::kWarning, "sd_notify " + std::string(state) + ": " + s.ToString());
    }
  };

  auto replication = MakeReplication(&flags);
  if (!replication.ok()) {
    std::cerr << "canopyd: " << replication.status().message() << "\n";
    return kExitUsage;
  }
  // Without --pg the index stays empty (LSN 0/0); with it, there is no index
  // (NOT_READY) until the first snapshot is applied.
  std::shared_ptr<const canopy::HierarchyIndex> index;
  if (*replication == nullptr) index = std::make_shared<canopy::HierarchyIndex>();
  auto server = canopy::net::Server::Start(flags.server, index);
  if (!server.ok()) {
    Log(LogLevel::kError, server.status().ToString());
    return kExitFailure;
  }
  if (*replication != nullptr) {
    auto on_streaming = [&notify] {
      Log(LogLevel::kInfo, "first snapshot applied, streaming: ready");
      notify("READY=1");
    };
    if (canopy::Status s = (*replication)->Start(server->get(), on_streaming); !s.ok()) {
      Log(LogLevel::kError, s.ToString());
      (*server)->Stop();
      return kExitUsage;
    }
  }
  std::ostringstream where;
  if ((*server)->tcp_port() != 0) where << " tcp port " << (*server)->tcp_port();
  if (!(*server)->unix_path().empty()) where << " unix " << (*server)->unix_path();
  if ((*server)->resp_tcp_port() != 0) where << " resp tcp port " << (*server)->resp_tcp_port();
  if (!(*server)->resp_unix_path().empty()) where << " resp unix " << (*server)->resp_unix_path();
  if ((*server)->http_port() != 0) where << " http port " << (*server)->http_port();
  Log(LogLevel::kInfo, "serving on" + where.str() + " with " +
                           std::to_string((*server)->threads()) + " threads" +
                           (flags.server.token.empty() ? "" : ", token required"));
  // Without --pg the (empty) index is served at once.
  if (*replication == nullptr) notify("READY=1");

  // SIGHUP reloads and goes on; SIGTERM / SIGINT stop.
  int signal_number = 0;
  for (;;) {
    if (sigwait(&handled_signals, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) break;
    Reload(flags.token_file, server->get());
  }
  const bool replication_failed = *replication && (*replication)->failed();
  if (replication_failed) {
    Log(LogLevel::kError,
        "replication failed; stopping (exit " + std::to_string(kExitReplicationFailed) + ")");
  } else {
    Log(LogLevel::kInfo,
        std::string("received ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") + "; stopping");
  }
  notify("STOPPING=1");
  (*server)->Stop();
  if (*replication) (*replication)->Stop();
  if (replication_failed) return kExitReplicationFailed;
  Log(LogLevel::kInfo,
      "stopped; " + std::to_string((*server)->requests_served()) + " requests served");
  return kExitOk;
}
