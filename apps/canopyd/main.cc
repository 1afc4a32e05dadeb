// canopyd — serves canopy's in-memory namespace hierarchy over TCP and/or a
// Unix socket (protocols: schemas/canopy.fbs, and Redis's RESP with
// docs/resp.md's commands; server: canopy/net/server.h).
//
//   canopyd [--config FILE] [--listen HOST:PORT] [--unix PATH] [--resp-listen HOST:PORT]
//           [--resp-unix PATH] [--unix-mode OCTAL] [--unix-group NAME]
//           [--http-listen HOST:PORT [--ready-max-lag-bytes N] [--ready-max-lag-seconds S]]
//           [--threads N] [--token-file FILE] [--max-connections N]
//           [--log-level debug|info|warning|error] [--log-format text|json] [--log-file PATH]
//           [--pg CONNINFO [--slot NAME] [--publication NAME] [--create-publication]
//            [--application-name NAME] [--fail-exit-after SECONDS]
//            [--feed-window N [--feed-window-mb MB] [--feed-window-seconds S]
//             [--feed-columns TABLE.COLUMN,...]]]
//   canopyd --version            prints "canopyd <version>" (canopy/version.h)
//
// Settings (CLI11): every flag can also come from the environment
// (CANOPY_ + the flag's name in capitals, '-' as '_': CANOPY_LISTEN,
// CANOPY_TOKEN_FILE) and from the config file of --config / CANOPY_CONFIG
// (`name = value` lines, TOML-like: `listen = "127.0.0.1:7433"`,
// `map = ["a=b", "c=d"]`). A flag wins over the environment, the
// environment over the file, the file over the default. (CLI11 itself
// would let the file win over the environment; LoadSettings reads the file
// after the flags and environment are parsed, so it only fills what they
// left unset.)
//
// Logs: one line per record (canopy/log.h), text or JSON (log_format.h), to
// stderr or --log-file; millisecond UTC timestamps; components "canopyd",
// "server" (with the connection's peer) and "replica" (with slot and lsn).
//
// SIGTERM / SIGINT: stop accepting, finish in-flight requests, close, exit 0.
// SIGHUP: re-read the settings (the config file; flags and environment
// still win) and apply the reloadable ones — --log-level, --log-format,
// --log-file (reopened on every SIGHUP, for logrotate), --token-file (read
// again on every SIGHUP; a token file that cannot be read keeps the old
// token), --ready-max-lag-bytes, --fail-exit-after. Any other changed
// setting is logged as needing a restart and keeps its running value. A
// config file that cannot be read or parsed keeps every setting as it was.
// $NOTIFY_SOCKET (systemd Type=notify): READY=1 once the first snapshot is
// applied and the replica streams (without --pg: once listening), STOPPING=1
// on SIGTERM / SIGINT (sd_notify.h).
// Exit codes: 2 bad settings, 3 failure (e.g. a listener cannot bind),
// 4 replication failed (an error retrying cannot heal, docs/operations.md)
// — at once before the first snapshot is served, else after
// --fail-exit-after seconds of serving state `failed`.
//
// Thin on purpose: settings in, parts wired, nothing else. With --pg a
// canopy::cdc::Replica feeds the server (see ReplicaFeed below).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/log.h"
#include "canopy/net/server.h"
#include "canopy/version.h"
#ifdef CANOPY_HAVE_CDC
#include "canopy/cdc/replica.h"
#endif
#include "log_format.h"
#include "sd_notify.h"

namespace {

using canopy::LogField;
using canopy::LogLevel;
using canopy::LogRecord;
using canopyd::LogFormat;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;
constexpr int kExitReplicationFailed = 4;

const char kUsage[] =
    "usage: canopyd [options]\n"
    "  --config FILE           read settings from FILE: `name = value` lines, names as the\n"
    "                          flags without \"--\" (listen = \"127.0.0.1:7433\"; repeatable\n"
    "                          ones as arrays: map = [\"a=b\", \"c=d\"]). Reloaded on SIGHUP.\n"
    "  --listen HOST:PORT      TCP listener (default 127.0.0.1:7433; \"none\" for no TCP)\n"
    "  --unix PATH             Unix domain socket listener\n"
    "  --resp-listen HOST:PORT Redis-protocol (RESP) TCP listener (a bare PORT: 127.0.0.1:PORT)\n"
    "  --resp-unix PATH        Redis-protocol Unix domain socket listener (docs/resp.md)\n"
    "  --http-listen HOST:PORT operators' HTTP endpoint: /metrics, /healthz, /readyz\n"
    "                          (off by default; a bare PORT: 127.0.0.1:PORT)\n"
    "  --ready-max-lag-bytes N /readyz is 503 while replication lags more than N bytes of\n"
    "                          WAL (default 67108864 = 64 MiB; reloadable)\n"
    "  --ready-max-lag-seconds S  ... or while the newest applied transaction committed more\n"
    "                          than S seconds ago and more WAL is pending (default 0: off)\n"
    "  --unix-mode OCTAL       mode of the Unix socket files, e.g. 0660 (default: per umask)\n"
    "  --unix-group NAME       group of the Unix socket files (default: the process's)\n"
    "  --threads N             I/O threads, one event loop each (default: the cores available)\n"
    "  --token-file FILE       require Hello with this shared secret (first line of FILE;\n"
    "                          read again on SIGHUP)\n"
    "  --max-connections N     (default 4096)\n"
    "  --max-in-flight N       per connection (default 256)\n"
    "  --read-timeout-ms N     a started request must be complete within N ms (default 10000)\n"
    "  --idle-timeout-ms N     close a connection idle this long (default 300000)\n"
    "  --log-level LEVEL       debug, info, warning, error (default info; reloadable)\n"
    "  --log-format FORMAT     text or json: one line per record (default text; reloadable)\n"
    "  --log-file PATH         append the log to PATH, reopened on SIGHUP (default: stderr)\n"
    "  --pg CONNINFO           replicate from PostgreSQL (libpq conninfo; PG* variables work)\n"
    "  --slot NAME             permanent replication slot (default: temporary)\n"
    "  --publication NAME      (default canopy)\n"
    "  --create-publication    create/extend the publication if needed\n"
    "  --fail-exit-after SECONDS  when replication fails (an error retrying cannot heal)\n"
    "                          after the first snapshot, keep serving state `failed` this\n"
    "                          long, then exit 4 (default 30; before it: exit 4 at once;\n"
    "                          reloadable)\n"
    "  --application-name NAME PostgreSQL application_name of the replication connections\n"
    "                          (default canopyd-SLOT with --slot, else canopyd-PID)\n"
    "  --feed-window N         keep the last N committed transactions as a change feed that\n"
    "                          clients subscribe to (docs/feed.md; default 0: no feed)\n"
    "  --feed-window-mb MB     ... and at most MB MiB of them (default 256)\n"
    "  --feed-window-seconds S ... and none older than S seconds (default 3600)\n"
    "  --feed-columns LIST     published columns canopy does not keep that the feed carries,\n"
    "                          e.g. projects.description (TABLE.COLUMN,...; replaces the\n"
    "                          mapping's KIND.carried lists)\n"
    "  --map KIND.KEY=VALUE    table/column mapping, e.g. namespaces.table=app.folders,\n"
    "                          namespaces.parent_id=parent (repeatable; see table_mapping.h;\n"
    "                          applied after --mapping)\n"
    "  --mapping FILE          mapping settings, one KIND.KEY=VALUE per line\n"
    "  --version               print \"canopyd <version>\" and exit\n"
    "  --help\n"
    "Every flag but --version and --help can also be set with CANOPY_<NAME> in the\n"
    "environment (CANOPY_LISTEN, CANOPY_TOKEN_FILE, CANOPY_CONFIG, ...). A flag wins over\n"
    "the environment, the environment over the config file. SIGHUP re-reads the config\n"
    "file and the token file and reopens the log file.\n";

// Everything canopyd is told, from flags, environment and config file.
struct Settings {
  canopy::net::ServerOptions server;  // its token is filled in from token_file
  std::string config_file;
  std::string token_file;
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  std::string log_file;  // empty: stderr
  // Replication (see MakeReplication).
  std::string pg_conninfo;
  std::string slot;
  std::string publication = "canopy";
  bool create_publication = false;
  uint32_t fail_exit_after_seconds = 30;
  std::string application_name;  // empty: canopyd-SLOT or canopyd-PID
  // The change feed's window (docs/feed.md): 0 transactions = no feed.
  uint32_t feed_window = 0;
  uint32_t feed_window_mb = 256;
  uint32_t feed_window_seconds = 3600;
#ifdef CANOPY_HAVE_CDC
  canopy::cdc::TableMapping mapping;
#endif
  // Each setting given (by flag, environment or file) with its value as
  // given: what a reload compares.
  std::map<std::string, std::string> given;
};

// The settings a SIGHUP applies; any other change needs a restart.
const std::set<std::string, std::less<>> kReloadable = {
    "log-level", "log-format", "log-file", "token-file", "ready-max-lag-bytes", "fail-exit-after"};

// ---------------------------------------------------------------------------
// Logging

// Where canopyd's records go: one line each, stderr or a file. Any thread.
class Logger {
 public:
  void Configure(LogLevel min_level, LogFormat format) {
    min_level_.store(min_level);
    format_.store(format);
  }
  bool Enabled(LogLevel level) const { return level >= min_level_.load(); }
  LogFormat format() const { return format_.load(); }

  // Appends to `path` from now on ("" = stderr), closing the file before.
  // The same path again reopens it (logrotate moved it away). On error the
  // old destination stays.
  canopy::Status Open(const std::string& path) {
    int fd = STDERR_FILENO;
    if (!path.empty()) {
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
      if (fd < 0) {
        return canopy::Status::InvalidArgument("cannot open log file " + path + ": " +
                                               std::strerror(errno));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ != STDERR_FILENO) ::close(fd_);
    fd_ = fd;
    to_file_ = !path.empty();
    return canopy::Status();
  }

  // A terminal gets the redrawn snapshot progress instead of log lines.
  bool ToTerminal() const {
    std::lock_guard<std::mutex> lock(mu_);
    return !to_file_ && format_.load() == LogFormat::kText && isatty(STDERR_FILENO) == 1;
  }

  void Write(const LogRecord& record) {
    if (!Enabled(record.level)) return;
    const std::string line =
        canopyd::FormatLogLine(format_.load(), record, std::chrono::system_clock::now());
    std::lock_guard<std::mutex> lock(mu_);
    WriteAll(line);
  }

  // Raw text for the terminal's progress block (ToTerminal() only).
  void WriteRaw(std::string_view text) {
    std::lock_guard<std::mutex> lock(mu_);
    WriteAll(text);
  }

 private:
  void WriteAll(std::string_view text) {  // REQUIRES mu_
    while (!text.empty()) {
      const ssize_t n = ::write(fd_, text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // nowhere left to say it
      text.remove_prefix(static_cast<size_t>(n));
    }
  }

  std::atomic<LogLevel> min_level_{LogLevel::kInfo};
  std::atomic<LogFormat> format_{LogFormat::kText};
  mutable std::mutex mu_;
  int fd_ = STDERR_FILENO;  // guarded by mu_
  bool to_file_ = false;    // guarded by mu_
};

Logger logger;

// A record of canopyd itself.
void Log(LogLevel level, std::string message, std::vector<LogField> fields = {}) {
  if (!logger.Enabled(level)) return;
  logger.Write(LogRecord{.level = level,
                         .component = "canopyd",
                         .message = std::move(message),
                         .fields = std::move(fields)});
}

// ---------------------------------------------------------------------------
// Settings

// "--token-file" -> "CANOPY_TOKEN_FILE".
std::string EnvName(std::string_view flag) {
  std::string name = "CANOPY_";
  for (char c : flag.substr(2)) {
    name.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return name;
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

// A bare port means loopback.
std::string WithLoopbackHost(const std::string& listen) {
  if (listen.empty() || listen.find(':') != std::string::npos) return listen;
  std::string address = "127.0.0.1:";
  address += listen;
  return address;
}

struct Loaded {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  Settings settings;
};

// Fills the options not given by flag or environment from the config file.
// Names as the flags without "--" ('_' may stand for '-').
canopy::Status ApplyConfigFile(const std::string& path, CLI::App* app) {
  std::ifstream probe(path);
  if (!probe) {
    return canopy::Status::InvalidArgument("cannot read config file " + path + ": " +
                                           std::strerror(errno));
  }
  std::string where = "config file ";
  where += path;
  where += ": ";
  CLI::ConfigTOML format;
  std::vector<CLI::ConfigItem> items;
  try {
    items = format.from_file(path);
  } catch (const CLI::Error& e) {
    return canopy::Status::InvalidArgument(where + e.what());
  }
  for (const CLI::ConfigItem& item : items) {
    if (!item.parents.empty()) {
      if (item.name != "++") continue;  // reported once, at the section's start
      return canopy::Status::InvalidArgument(where + "sections ([" + item.parents.front() +
                                             "]) are not supported; settings are top-level");
    }
    std::string name = item.name;
    std::replace(name.begin(), name.end(), '_', '-');
    CLI::Option* option = app->get_option_no_throw("--" + name);
    if (option == nullptr || !option->get_configurable()) {
      return canopy::Status::InvalidArgument(where + "unknown setting '" + item.name + "'");
    }
    if (option->count() > 0) continue;  // a flag or the environment gave it
    try {
      if (option->get_expected_min() == 0) {
        option->add_result(format.to_flag(item));
      } else {
        option->add_result(item.inputs);
      }
      option->run_callback();
    } catch (const CLI::Error& e) {
      return canopy::Status::InvalidArgument(where + e.what());
    }
  }
  return canopy::Status();
}

// Parses flags, environment and config file into settings. Errors:
// kInvalidArgument with a message for the operator.
canopy::Result<Loaded> LoadSettings(int argc, char** argv) {
  Loaded loaded;
  Settings& s = loaded.settings;
  canopy::net::ServerOptions& server = s.server;
  std::string listen = server.tcp_listen;
  std::string resp_listen;
  std::string http_listen;
  std::string unix_mode;
  std::string log_level = "info";
  std::string log_format = "text";
  uint32_t threads = 0;
  uint32_t read_timeout_ms = static_cast<uint32_t>(server.read_timeout.count());
  uint32_t idle_timeout_ms = static_cast<uint32_t>(server.idle_timeout.count());
  bool version = false;
#ifdef CANOPY_HAVE_CDC
  std::vector<std::string> maps;
  std::string mapping_file;
  std::string feed_columns;
#endif

  CLI::App app("canopyd", "canopyd");
  app.set_help_flag("-h,--help");
  const CLI::Validator non_empty(
      [](std::string& value) { return value.empty() ? std::string("needs a value") : ""; }, "NAME");
  auto add = [&app](const std::string& flag, auto& target) {
    return app.add_option(flag, target)->envname(EnvName(flag));
  };
  add("--config", s.config_file)->configurable(false);
  add("--listen", listen);
  add("--unix", server.unix_path);
  add("--resp-listen", resp_listen);
  add("--resp-unix", server.resp_unix_path);
  add("--http-listen", http_listen);
  add("--ready-max-lag-bytes", server.ready_max_lag_bytes);
  add("--ready-max-lag-seconds", server.ready_max_lag_seconds)->check(CLI::NonNegativeNumber);
  add("--unix-mode", unix_mode);
  add("--unix-group", server.unix_group)->check(non_empty);
  add("--threads", threads)->check(CLI::Range(1, 256));
  add("--token-file", s.token_file);
  add("--max-connections", server.max_connections)->check(CLI::PositiveNumber);
  add("--max-in-flight", server.max_in_flight)->check(CLI::PositiveNumber);
  add("--read-timeout-ms", read_timeout_ms)->check(CLI::PositiveNumber);
  add("--idle-timeout-ms", idle_timeout_ms)->check(CLI::PositiveNumber);
  add("--log-level", log_level)->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  add("--log-format", log_format)->check(CLI::IsMember({"text", "json"}));
  add("--log-file", s.log_file);
  add("--pg", s.pg_conninfo);
  add("--slot", s.slot);
  add("--publication", s.publication);
  app.add_flag("--create-publication", s.create_publication)
      ->envname(EnvName("--create-publication"));
  add("--fail-exit-after", s.fail_exit_after_seconds);
  add("--application-name", s.application_name)->check(non_empty);
  add("--feed-window", s.feed_window);
  add("--feed-window-mb", s.feed_window_mb)->check(CLI::PositiveNumber);
  add("--feed-window-seconds", s.feed_window_seconds)->check(CLI::PositiveNumber);
#ifdef CANOPY_HAVE_CDC
  // One mapping per --map (a config file gives an array).
  add("--map", maps)->allow_extra_args(false);
  add("--mapping", mapping_file);
  add("--feed-columns", feed_columns);
#endif
  app.add_flag("--version", version)->configurable(false);

  try {
    app.parse(argc, argv);
    if (version) {
      loaded.action = Loaded::Action::kVersion;
      return loaded;
    }
    if (!s.config_file.empty()) {
      if (canopy::Status st = ApplyConfigFile(s.config_file, &app); !st.ok()) return st;
    }
  } catch (const CLI::CallForHelp&) {
    loaded.action = Loaded::Action::kHelp;
    return loaded;
  } catch (const CLI::Error& e) {
    return canopy::Status::InvalidArgument(e.what());
  }

  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0) continue;
    const std::string name = option->get_name().substr(2);  // without "--"
    if (name == "help" || name == "version" || name == "config") continue;
    std::string value;
    for (const std::string& result : option->results()) {
      if (!value.empty()) value += ", ";
      value += result;
    }
    s.given[name] = value;
  }

  server.tcp_listen = listen == "none" ? "" : listen;
  server.resp_tcp_listen = WithLoopbackHost(resp_listen);
  server.http_listen = WithLoopbackHost(http_listen);
  if (!unix_mode.empty()) {
    uint32_t mode = 0;
    if (!ParseOctalMode(unix_mode, &mode)) {
      return canopy::Status::InvalidArgument("--unix-mode needs an octal mode (0660)");
    }
    server.unix_mode = mode;
  }
  server.threads = static_cast<int>(threads);
  server.read_timeout = std::chrono::milliseconds(read_timeout_ms);
  server.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
  s.log_level = log_level == "debug"     ? LogLevel::kDebug
                : log_level == "warning" ? LogLevel::kWarning
                : log_level == "error"   ? LogLevel::kError
                                         : LogLevel::kInfo;
  s.log_format = log_format == "json" ? LogFormat::kJson : LogFormat::kText;
#ifdef CANOPY_HAVE_CDC
  if (!mapping_file.empty()) {
    std::ifstream in(mapping_file);
    if (!in) return canopy::Status::InvalidArgument("cannot read mapping file " + mapping_file);
    std::stringstream text;
    text << in.rdbuf();
    if (canopy::Status st = s.mapping.SetAll(text.str()); !st.ok()) {
      return canopy::Status::InvalidArgument(mapping_file + ": " + st.message());
    }
  }
  for (const std::string& map : maps) {
    if (canopy::Status st = s.mapping.Set(map); !st.ok()) {
      return canopy::Status::InvalidArgument(st.message());
    }
  }
  if (!feed_columns.empty()) {
    if (canopy::Status st = s.mapping.SetCarriedColumns(feed_columns); !st.ok()) {
      return canopy::Status::InvalidArgument("--feed-columns: " + st.message());
    }
  }
  if (s.feed_window == 0 && s.mapping.CarriesColumns()) {
    // (Replica::Start refuses it too; this names the flags.)
    return canopy::Status::InvalidArgument(
        "--feed-columns (carried columns) need --feed-window: only the change feed carries them");
  }
#else
  if (!s.pg_conninfo.empty()) {
    return canopy::Status::InvalidArgument(
        "--pg: this canopyd was built without canopy::cdc (CANOPY_BUILD_CDC=OFF)");
  }
#endif
  if (server.tcp_listen.empty() && server.unix_path.empty() && server.resp_tcp_listen.empty() &&
      server.resp_unix_path.empty() && server.http_listen.empty()) {
    return canopy::Status::InvalidArgument(
        "no listener: give --listen, --unix, --resp-listen, --resp-unix and/or --http-listen");
  }
  return loaded;
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
  ReplicaFeed(canopy::cdc::ReplicaOptions options, uint32_t fail_exit_after_seconds)
      : fail_exit_after_seconds_(fail_exit_after_seconds),
        replica_(WithHooks(std::move(options))) {}

  // Replication failed and canopyd should exit (kExitReplicationFailed).
  bool failed() const { return failed_.load(); }
  ~ReplicaFeed() { Stop(); }

  // --fail-exit-after changed (SIGHUP); a running countdown takes the new
  // value, counted from when replication failed.
  void SetFailExitAfter(uint32_t seconds) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fail_exit_after_seconds_ = seconds;
    }
    cv_.notify_all();
  }

  // The server's hooks: replication state for Status replies, and a nudge
  // for requests parked on min_lsn. Set before the server starts.
  void Hook(canopy::net::ServerOptions* options) {
    options->replication_status = [this] { return ToReport(replica_.status()); };
    options->on_wait_for_lsn = [this](canopy::Lsn lsn, std::chrono::milliseconds wait) {
      replica_.RequestPosition(lsn, wait);
    };
    options->feed = replica_.feed();  // null without --feed-window
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
        const auto failed_at = std::chrono::steady_clock::now();
        std::unique_lock<std::mutex> lock(mu_);
        if (served) {
          Log(LogLevel::kError, "exiting in " + std::to_string(fail_exit_after_seconds_) +
                                    " s (--fail-exit-after); serving state failed until then");
          // The deadline is read again after every wake: SIGHUP may change it.
          while (!stopping_) {
            const auto deadline = failed_at + std::chrono::seconds(fail_exit_after_seconds_);
            if (std::chrono::steady_clock::now() >= deadline) break;
            cv_.wait_until(lock, deadline);
          }
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
    const bool tty = logger.ToTerminal();
    const auto period = tty ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
    size_t drawn = 0;  // lines drawn last time (tty)
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, period, [&] { return stopping_; });
      if (stopping_) break;
      const canopy::cdc::ReplicaStatus s = replica_.status();
      if (s.state == canopy::cdc::ReplicaState::kLoading && !s.tables.empty()) {
        if (tty) {
          std::string block;
          for (size_t i = 0; i < drawn; ++i) block += "\x1b[1A\x1b[2K";
          for (const auto& t : s.tables) {
            block += "  loading ";
            block += ProgressLine(t);
            block += "\n";
          }
          logger.WriteRaw(block);
          drawn = s.tables.size();
        } else {
          for (const auto& t : s.tables) {
            Log(LogLevel::kInfo, "loading " + ProgressLine(t), {{"table", t.table}});
          }
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
  std::thread fail_exit_;             // started by on_failed
  uint32_t fail_exit_after_seconds_;  // guarded by mu_
  std::atomic<bool> failed_{false};
  std::thread streaming_watch_;
  canopy::cdc::Replica replica_;  // last: stopped (by Stop) before the rest goes
};

// The feed for --pg (null without it). Its hooks go into server options.
canopy::Result<std::unique_ptr<ReplicaFeed>> MakeReplication(Settings* settings) {
  if (settings->pg_conninfo.empty()) return std::unique_ptr<ReplicaFeed>();
  canopy::cdc::ReplicaOptions options;
  options.conninfo = settings->pg_conninfo;
  options.publication = settings->publication;
  options.create_publication = settings->create_publication;
  options.slot_name = settings->slot;
  options.mapping = settings->mapping;
  // Tells this canopyd's connections apart in pg_stat_replication /
  // pg_stat_activity when several replicate from one server.
  options.application_name = !settings->application_name.empty() ? settings->application_name
                             : !settings->slot.empty()           ? "canopyd-" + settings->slot
                                                       : "canopyd-" + std::to_string(::getpid());
  options.log = [](const LogRecord& record) { logger.Write(record); };
  options.feed.max_transactions = settings->feed_window;
  options.feed.max_bytes = size_t{settings->feed_window_mb} << 20;
  options.feed.max_age = std::chrono::seconds(settings->feed_window_seconds);
  if (canopy::Status s = options.mapping.Validate(); !s.ok()) return s;
  auto feed = std::make_unique<ReplicaFeed>(std::move(options), settings->fail_exit_after_seconds);
  feed->Hook(&settings->server);
  return feed;
}

#else  // !CANOPY_HAVE_CDC

// Without canopy::cdc, --pg is refused at flag parsing.
class ReplicaFeed {
 public:
  canopy::Status Start(canopy::net::Server*, std::function<void()>) { return canopy::Status(); }
  void Stop() {}
  bool failed() const { return false; }
  void SetFailExitAfter(uint32_t) {}
};
canopy::Result<std::unique_ptr<ReplicaFeed>> MakeReplication(Settings*) {
  return std::unique_ptr<ReplicaFeed>();
}

#endif  // CANOPY_HAVE_CDC

// SIGHUP: loads the settings again (the config file may have changed; flags
// and environment are as at start) and applies the reloadable ones to the
// running parts. `running` becomes what runs now. Never exits.
void Reload(int argc, char** argv, Settings* running, canopy::net::Server* server,
            ReplicaFeed* feed) {
  canopy::Result<Loaded> loaded = LoadSettings(argc, argv);
  if (!loaded.ok()) {
    // logrotate may have moved the file away all the same.
    if (canopy::Status s = logger.Open(running->log_file); !s.ok()) {
      Log(LogLevel::kError, "received SIGHUP; " + s.message());
    }
    Log(LogLevel::kError,
        "received SIGHUP; keeping every setting as it was: " + loaded.status().message());
    return;
  }
  Settings& next = loaded.value().settings;

  // The log first, so that the rest goes where it should.
  if (canopy::Status s = logger.Open(next.log_file); !s.ok()) {
    Log(LogLevel::kError, "received SIGHUP; keeping the log file: " + s.message());
  } else {
    running->log_file = next.log_file;
  }
  logger.Configure(next.log_level, next.log_format);
  running->log_level = next.log_level;
  running->log_format = next.log_format;

  // Settings that only a restart applies: said, not applied. (Values are
  // not logged: --pg may hold a password.)
  std::set<std::string> names;
  for (const auto& [name, value] : running->given) names.insert(name);
  for (const auto& [name, value] : next.given) names.insert(name);
  for (const std::string& name : names) {
    if (kReloadable.contains(name)) continue;
    const auto before = running->given.find(name);
    const auto after = next.given.find(name);
    const bool had = before != running->given.end();
    const bool has = after != next.given.end();
    if (had == has && (!had || before->second == after->second)) continue;
    Log(LogLevel::kWarning,
        "received SIGHUP; setting " + name +
            " changed: it needs a restart (the running value stays)",
        {{"setting", name}});
  }
  for (const std::string& name : kReloadable) {
    if (auto it = next.given.find(name); it != next.given.end()) {
      running->given[name] = it->second;
    } else {
      running->given.erase(name);
    }
  }

  if (next.server.ready_max_lag_bytes != running->server.ready_max_lag_bytes) {
    server->SetReadyMaxLagBytes(next.server.ready_max_lag_bytes);
    running->server.ready_max_lag_bytes = next.server.ready_max_lag_bytes;
    Log(LogLevel::kInfo, "received SIGHUP; ready-max-lag-bytes is now " +
                             std::to_string(next.server.ready_max_lag_bytes));
  }
  if (next.fail_exit_after_seconds != running->fail_exit_after_seconds) {
    if (feed != nullptr) feed->SetFailExitAfter(next.fail_exit_after_seconds);
    running->fail_exit_after_seconds = next.fail_exit_after_seconds;
    Log(LogLevel::kInfo, "received SIGHUP; fail-exit-after is now " +
                             std::to_string(next.fail_exit_after_seconds) + " s");
  }

  // The token file is read again even when its name did not change.
  if (next.token_file.empty()) {
    Log(LogLevel::kInfo,
        running->token_file.empty()
            ? "received SIGHUP; reloaded settings (no --token-file)"
            : "received SIGHUP; token-file removed: it needs a restart (the old token stays)");
    return;
  }
  canopy::Result<std::string> token = ReadToken(next.token_file);
  if (!token.ok()) {
    Log(LogLevel::kWarning, "received SIGHUP; keeping the old token: " + token.status().message());
    return;
  }
  if (canopy::Status s = server->SetToken(std::move(*token)); !s.ok()) {
    Log(LogLevel::kWarning, "received SIGHUP; keeping the old token: " + s.ToString());
    return;
  }
  running->token_file = next.token_file;
  Log(LogLevel::kInfo, "received SIGHUP; reloaded token file " + next.token_file);
}

int Run(int argc, char** argv) {
  canopy::Result<Loaded> loaded = LoadSettings(argc, argv);
  if (!loaded.ok()) {
    std::cerr << "canopyd: " << loaded.status().message() << "\n"
              << "(canopyd --help lists the settings)\n";
    return kExitUsage;
  }
  if (loaded->action == Loaded::Action::kHelp) {
    std::cout << kUsage;
    return kExitOk;
  }
  if (loaded->action == Loaded::Action::kVersion) {
    std::cout << "canopyd " << canopy::kVersion << "\n";
    return kExitOk;
  }
  Settings running = std::move(loaded.value().settings);
  logger.Configure(running.log_level, running.log_format);
  if (canopy::Status s = logger.Open(running.log_file); !s.ok()) {
    std::cerr << "canopyd: " << s.message() << "\n";
    return kExitUsage;
  }
  if (!running.token_file.empty()) {
    canopy::Result<std::string> token = ReadToken(running.token_file);
    if (!token.ok()) {
      Log(LogLevel::kError, token.status().message());
      return kExitUsage;
    }
    running.server.token = *token;
  }
  running.server.log = [](const LogRecord& record) { logger.Write(record); };

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

  auto replication = MakeReplication(&running);
  if (!replication.ok()) {
    Log(LogLevel::kError, replication.status().message());
    return kExitUsage;
  }
  // Without --pg the index stays empty (LSN 0/0); with it, there is no index
  // (NOT_READY) until the first snapshot is applied.
  std::shared_ptr<const canopy::HierarchyIndex> index;
  if (*replication == nullptr) index = std::make_shared<canopy::HierarchyIndex>();
  auto server = canopy::net::Server::Start(running.server, index);
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
                           (running.server.token.empty() ? "" : ", token required"));
  if (!running.config_file.empty()) {
    Log(LogLevel::kDebug, "settings from " + running.config_file,
        {{"config", running.config_file}});
  }
  // Without --pg the (empty) index is served at once.
  if (*replication == nullptr) notify("READY=1");

  // SIGHUP reloads and goes on; SIGTERM / SIGINT stop.
  int signal_number = 0;
  for (;;) {
    if (sigwait(&handled_signals, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) break;
    Reload(argc, argv, &running, server->get(), replication->get());
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

}  // namespace

// No exception leaves main: CLI11's are caught in LoadSettings; anything
// else (say std::bad_alloc) is reported as a failure.
int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "canopyd: " << e.what() << "\n";
    return kExitFailure;
  }
}
