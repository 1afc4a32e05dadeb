// canopyd — serves canopy's in-memory namespace hierarchy over TCP and/or a
// Unix socket (protocol: schemas/canopy.fbs; server: canopy/net/server.h).
//
//   canopyd [--listen HOST:PORT] [--unix PATH] [--threads N] [--token-file FILE]
//           [--max-connections N] [--log-level debug|info|warning|error]
//           [--pg CONNINFO [--slot NAME] [--publication NAME] [--create-publication]]
//
// SIGTERM / SIGINT: stop accepting, finish in-flight requests, close, exit 0.
//
// Thin on purpose: flags in, parts wired, nothing else. Replication (--pg)
// is the one hook left to connect (see StartReplication below).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

#include "canopy/hierarchy_index.h"
#include "canopy/net/server.h"

namespace {

using canopy::net::LogLevel;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;

const char kUsage[] =
    "usage: canopyd [options]\n"
    "  --listen HOST:PORT      TCP listener (default 127.0.0.1:7433; \"none\" for no TCP)\n"
    "  --unix PATH             Unix domain socket listener\n"
    "  --threads N             I/O threads (default 2)\n"
    "  --token-file FILE       require Hello with this shared secret (first line of FILE)\n"
    "  --max-connections N     (default 4096)\n"
    "  --max-in-flight N       per connection (default 256)\n"
    "  --log-level LEVEL       debug, info, warning, error (default info)\n"
    "  --pg CONNINFO           replicate from PostgreSQL (libpq conninfo; PG* variables work)\n"
    "  --slot NAME             permanent replication slot (default: temporary)\n"
    "  --publication NAME      (default canopy)\n"
    "  --create-publication    create/extend the publication if needed\n"
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
    } else if (arg == "--listen") {
      if (!value(&v)) return "--listen needs HOST:PORT";
      flags->server.tcp_listen = v == "none" ? "" : v;
    } else if (arg == "--unix") {
      if (!value(&flags->server.unix_path)) return "--unix needs a path";
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
    } else {
      return "unknown argument '" + std::string(arg) + "'";
    }
  }
  if (flags->server.tcp_listen.empty() && flags->server.unix_path.empty()) {
    return "no listener: give --listen and/or --unix";
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

// The replication side. Without --pg the server answers from an empty index
// (useful for smoke tests of the protocol); with --pg, this is where
// canopy::cdc::Replica is wired in.
//
// TODO(lead): connect canopy::cdc::Replica here (apps/CMakeLists.txt links
// canopy::cdc when the target exists and defines CANOPY_HAVE_CDC):
//   1. ReplicaOptions{conninfo = flags.pg_conninfo, publication, create_publication,
//      slot_name = flags.slot, log = [](const std::string& l) { Log(LogLevel::kInfo, l); }};
//      replica->Start().
//   2. ServerOptions::replication_status = [&] { map replica->status() to
//      canopy::net::ReplicationReport: state (kLoading/kStreaming/kStale), stage,
//      received_lsn, last_error, tables -> TableLoad }  (set BEFORE Server::Start).
//   3. A small thread (or the replica's own hook, if it grows one): whenever
//      replica->index() returns a different pointer, server->SetIndex(it); after
//      each applied transaction, server->NotifyApplied(lsn). Without the
//      latter the server's 10 ms poller still wakes min_lsn waiters.
//   4. On SIGTERM: server->Stop() first (finishes requests), then replica->Stop().
class ReplicationFeed {
 public:
  virtual ~ReplicationFeed() = default;
  virtual void Stop() {}
};

canopy::Result<std::unique_ptr<ReplicationFeed>> StartReplication(const Flags& flags,
                                                                  canopy::net::Server& /*server*/) {
  if (flags.pg_conninfo.empty()) return std::unique_ptr<ReplicationFeed>();
  return canopy::Status::FailedPrecondition(
      "--pg is not wired to canopy::cdc::Replica in this build yet (see StartReplication in "
      "apps/canopyd/main.cc)");
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::string error = ParseFlags(argc, argv, &flags); !error.empty()) {
    if (error == "help") {
      std::cout << kUsage;
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

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Without replication the index stays empty (LSN 0/0).
  auto index = std::make_shared<canopy::HierarchyIndex>();
  auto server = canopy::net::Server::Start(flags.server, index);
  if (!server.ok()) {
    Log(LogLevel::kError, server.status().ToString());
    return kExitFailure;
  }
  auto replication = StartReplication(flags, **server);
  if (!replication.ok()) {
    Log(LogLevel::kError, replication.status().ToString());
    (*server)->Stop();
    return kExitUsage;
  }
  std::ostringstream where;
  if ((*server)->tcp_port() != 0) where << " tcp port " << (*server)->tcp_port();
  if (!(*server)->unix_path().empty()) where << " unix " << (*server)->unix_path();
  Log(LogLevel::kInfo, "serving on" + where.str() + " with " +
                           std::to_string(flags.server.threads) + " threads" +
                           (flags.server.token.empty() ? "" : ", token required"));

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log(LogLevel::kInfo,
      std::string("received ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") + "; stopping");
  (*server)->Stop();
  if (*replication) (*replication)->Stop();
  Log(LogLevel::kInfo,
      "stopped; " + std::to_string((*server)->requests_served()) + " requests served");
  return kExitOk;
}
