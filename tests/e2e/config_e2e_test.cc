// config_e2e_test.cc — canopyd's settings and logs as an operator meets
// them, with real processes (canopyd, the canopy CLI, jq) and, for the
// fault run, the cdc_pg_cluster PostgreSQL:
//   * --config FILE: its settings take effect; a flag wins over the file,
//     a CANOPY_* environment variable wins over the file, a flag over the
//     environment; repeatable settings (map) as an array; a bad file (an
//     unknown setting, a bad value, a section, a missing file) exits 2
//     naming the problem; the file the Debian package installs is valid.
//   * SIGHUP with a changed file: the log level changes (debug records
//     appear and disappear), same pid, still answering; a changed listener
//     is reported as needing a restart and keeps running; a file that no
//     longer parses keeps the settings (an error is logged, no exit);
//     --log-file is reopened (logrotate moved it away: a new file gets the
//     records).
//   * --log-format json through faults (a killed walsender, a wrong token,
//     garbage on the FlatBuffers, RESP and HTTP listeners): every line is one
//     JSON object with ts/level/component/msg, as jq reads it; the wrong
//     token's record names the peer, replica records name slot and lsn.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e_util.h"
#include "pg_fixture.h"

namespace canopy::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

// Connects to 127.0.0.1:port, sends `bytes`, and waits (bounded) for the
// server to close. True if it closed.
bool SendGarbage(int port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool closed = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(15);
    while (!closed && std::chrono::steady_clock::now() < deadline) {
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 100) != 1) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      closed = n <= 0;
    }
  }
  ::close(fd);
  return closed;
}

class ConfigE2E : public DaemonTest {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    sock_ = dir_.path() + "/canopyd.sock";
    log_path_ = dir_.path() + "/stderr.log";
    config_ = dir_.path() + "/canopyd.conf";
  }

  // canopyd without --pg (an empty index), with `args`.
  void Spawn(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {CANOPYD_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    daemon_ = std::make_unique<DaemonProcess>();
    ASSERT_TRUE(daemon_->Start(argv, log_path_)) << "cannot spawn " << CANOPYD_PATH;
  }

  // Waits until the file at `path` contains `text` (bounded).
  bool WaitForText(const std::string& path, const std::string& text,
                   milliseconds timeout = seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadFile(path).find(text) != std::string::npos) return true;
      if (daemon_ && daemon_->Poll().has_value()) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // `canopy status` on the Unix socket `socket` (with `token_file` if given).
  ProgramRun StatusOn(const std::string& socket, const std::string& token_file = "") {
    std::vector<std::string> argv = {CANOPY_CLI_PATH, "--unix", socket};
    if (!token_file.empty()) {
      argv.push_back("--token-file");
      argv.push_back(token_file);
    }
    argv.push_back("--json");
    argv.push_back("status");
    return RunProgram(argv);
  }

  // Starts canopyd (no --pg) with `args`, returns the Unix socket its
  // "serving on" record names, and stops it again.
  std::string ServedSocket(const std::vector<std::string>& args) {
    log_path_ = dir_.path() + "/stderr-" + std::to_string(++runs_) + ".log";
    Spawn(args);
    EXPECT_TRUE(WaitForText(log_path_, "serving on")) << daemon_->Log();
    std::smatch m;
    const std::string log = daemon_->Log();
    std::string socket;
    if (std::regex_search(log, m, std::regex(" unix (\\S+) with"))) socket = m[1].str();
    const ProcessExit e = daemon_->Stop(SIGTERM);
    EXPECT_TRUE(e.exited && e.code == kExitOk) << e.Describe() << "\n" << log;
    return socket;
  }

  std::string config_;
  int runs_ = 0;
};

TEST_F(ConfigE2E, ConfigFileSettingsTakeEffect) {
  const std::string token = dir_.path() + "/token";
  const std::string log_file = dir_.path() + "/canopyd.log";
  WriteFile(token, "file-token\n");
  WriteFile(config_,
            "# canopyd's settings\n"
            "listen = \"none\"\n"
            "unix = \"" +
                sock_ +
                "\"\n"
                "token-file = \"" +
                token +
                "\"\n"
                "log_file = \"" +
                log_file +
                "\"   # '_' stands for '-'\n"
                "log-format = \"json\"\n"
                "create-publication = false\n");
  ASSERT_NO_FATAL_FAILURE(Spawn({"--config", config_}));
  ASSERT_TRUE(WaitForText(log_file, "serving on")) << ReadFile(log_file) << daemon_->Log();
  // The token from the file is required.
  ProgramRun r = StatusOn(sock_, token);
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();
  r = StatusOn(sock_);
  EXPECT_NE(r.code(), kExitOk) << "no token needed: " << r.Describe();
  // The log went to the file, as JSON; nothing to stderr.
  const std::string log = ReadFile(log_file);
  EXPECT_EQ(log.rfind("{\"ts\":\"", 0), 0u) << log;
  EXPECT_NE(log.find("token required"), std::string::npos) << log;
  EXPECT_EQ(daemon_->Log(), "");
}

TEST_F(ConfigE2E, FlagBeatsEnvironmentBeatsFile) {
  const std::string file_sock = dir_.path() + "/file.sock";
  const std::string env_sock = dir_.path() + "/env.sock";
  const std::string flag_sock = dir_.path() + "/flag.sock";
  WriteFile(config_, "listen = \"none\"\nunix = \"" + file_sock + "\"\n");
  EXPECT_EQ(ServedSocket({"--config", config_}), file_sock);
  EXPECT_EQ(ServedSocket({"--config", config_, "--unix", flag_sock}), flag_sock);
  {
    ScopedEnv env("CANOPY_UNIX", env_sock);
    EXPECT_EQ(ServedSocket({"--config", config_}), env_sock);
    EXPECT_EQ(ServedSocket({"--config", config_, "--unix", flag_sock}), flag_sock);
  }
  // The config file itself from the environment.
  {
    ScopedEnv env("CANOPY_CONFIG", config_);
    EXPECT_EQ(ServedSocket({}), file_sock);
  }
  // A bad flag is refused even when the file is good.
  const ProgramRun r = RunProgram({CANOPYD_PATH, "--config", config_, "--threads", "0"});
  EXPECT_EQ(r.code(), kExitUsage) << r.Describe();
}

TEST_F(ConfigE2E, BadConfigFileExits2) {
  struct Case {
    std::string text;
    std::string want;  // in stderr
  };
  const std::vector<Case> cases = {
      {"listen = \"none\"\nbogus = 1\n", "unknown setting 'bogus'"},
      {"listen = \"none\"\nunix = \"/tmp/x.sock\"\nthreads = \"many\"\n", "--threads"},
      {"listen = \"none\"\nlog-level = \"loud\"\n", "--log-level"},
      {"[server]\nlisten = \"none\"\n", "sections ([server]) are not supported"},
      {"config = \"/etc/other.conf\"\n", "unknown setting 'config'"},
      // map is an array; the second element is read (and refused).
      {"unix = \"/tmp/x.sock\"\nmap = [\"namespaces.parent_id=parent\", \"nonsense\"]\n",
       "nonsense"},
      // Carried columns: a malformed item; carried columns without the feed.
      {"unix = \"/tmp/x.sock\"\nfeed-window = 10\nfeed-columns = \"description\"\n",
       "--feed-columns: carried column 'description' is not TABLE.COLUMN"},
      {"unix = \"/tmp/x.sock\"\nfeed-columns = \"projects.description\"\n", "need --feed-window"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    WriteFile(config_, c.text);
    const ProgramRun r = RunProgram({CANOPYD_PATH, "--config", config_}, seconds(10));
    EXPECT_EQ(r.code(), kExitUsage) << r.Describe();
    EXPECT_NE(r.err.find(c.want), std::string::npos) << r.Describe();
    EXPECT_EQ(r.out, "");
  }
  const ProgramRun r =
      RunProgram({CANOPYD_PATH, "--config", dir_.path() + "/missing.conf"}, seconds(10));
  EXPECT_EQ(r.code(), kExitUsage) << r.Describe();
  EXPECT_NE(r.err.find("cannot read config file"), std::string::npos) << r.Describe();
  // A good array of mappings is accepted (the process starts and serves).
  WriteFile(config_, "listen = \"none\"\nunix = \"" + sock_ +
                         "\"\nmap = [\"namespaces.parent_id=parent\", "
                         "\"namespaces.table=namespaces\"]\n");
  EXPECT_EQ(ServedSocket({"--config", config_}), sock_);
}

// The file the Debian package installs as /etc/canopy/canopyd.conf is
// valid (its listeners replaced: the test must not bind the real ports).
TEST_F(ConfigE2E, PackagedConfigFileIsValid) {
  const std::string packaged = std::string(CANOPY_SOURCE_DIR) + "/apps/packaging/canopyd.conf";
  ASSERT_TRUE(Exists(packaged));
  EXPECT_EQ(ServedSocket(
                {"--config", packaged, "--unix", sock_, "--listen", "none", "--http-listen", ""}),
            sock_);
}

TEST_F(ConfigE2E, SighupReloadsTheConfigFile) {
  const std::string log_file = dir_.path() + "/canopyd.log";
  const std::string other_sock = dir_.path() + "/other.sock";
  auto config = [&](const std::string& level, const std::string& socket,
                    const std::string& more = "") {
    WriteFile(config_, "listen = \"none\"\nunix = \"" + socket + "\"\nlog-file = \"" + log_file +
                           "\"\nlog-level = \"" + level + "\"\n" + more);
  };
  auto count = [&](const std::string& text) {
    const std::string log = ReadFile(log_file);
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  };
  // A CLI connection opens and closes: debug records of the server.
  const std::string debug_record = " debug server: connection ";
  config("info", sock_);
  ASSERT_NO_FATAL_FAILURE(Spawn({"--config", config_}));
  const pid_t pid = daemon_->pid();
  ASSERT_TRUE(WaitForText(log_file, "serving on")) << ReadFile(log_file);
  ProgramRun r = StatusOn(sock_);
  ASSERT_EQ(r.code(), kExitOk) << r.Describe();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(count(debug_record), 0u) << ReadFile(log_file);

  // debug: the next connection's end is logged.
  config("debug", sock_);
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitForText(log_file, "received SIGHUP; reloaded")) << ReadFile(log_file);
  r = StatusOn(sock_);
  ASSERT_EQ(r.code(), kExitOk) << r.Describe();
  ASSERT_TRUE(WaitForText(log_file, debug_record)) << ReadFile(log_file);
  EXPECT_NE(ReadFile(log_file).find("peer=unix"), std::string::npos) << ReadFile(log_file);

  // Back to info, a listener change (needs a restart: the old socket keeps
  // serving, the new one is not created), and two more reloadable settings.
  config("info", other_sock, "ready-max-lag-bytes = 1234\nfail-exit-after = 7\n");
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitForText(log_file, "setting unix changed: it needs a restart"))
      << ReadFile(log_file);
  ASSERT_TRUE(WaitForText(log_file, "reloaded settings")) << ReadFile(log_file);
  EXPECT_NE(ReadFile(log_file).find("ready-max-lag-bytes is now 1234"), std::string::npos)
      << ReadFile(log_file);
  EXPECT_NE(ReadFile(log_file).find("fail-exit-after is now 7 s"), std::string::npos)
      << ReadFile(log_file);
  EXPECT_EQ(ReadFile(log_file).find("setting ready-max-lag-bytes changed"), std::string::npos)
      << "a reloadable setting reported as needing a restart";
  const size_t debug_before = count(debug_record);
  r = StatusOn(sock_);
  ASSERT_EQ(r.code(), kExitOk) << r.Describe();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(count(debug_record), debug_before) << ReadFile(log_file);
  EXPECT_FALSE(Exists(other_sock));

  // A file that no longer parses: an error, the settings stay, no exit.
  WriteFile(config_, "listen = \"none\"\nlog-level = \"loud\"\n");
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitForText(log_file, "keeping every setting as it was")) << ReadFile(log_file);
  EXPECT_NE(ReadFile(log_file).find(" error canopyd: received SIGHUP; keeping every setting"),
            std::string::npos)
      << ReadFile(log_file);
  EXPECT_FALSE(daemon_->Poll().has_value()) << "canopyd ended on a bad config file";
  r = StatusOn(sock_);
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();

  // logrotate: the file moved away; SIGHUP opens a new one, which gets the
  // records from then on.
  config("info", sock_);
  const std::string rotated = log_file + ".1";
  ASSERT_EQ(std::rename(log_file.c_str(), rotated.c_str()), 0);
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitForText(log_file, "received SIGHUP")) << ReadFile(rotated);
  const size_t rotated_size = ReadFile(rotated).size();
  EXPECT_EQ(daemon_->pid(), pid);
  EXPECT_EQ(::kill(pid, 0), 0);
  const ProcessExit e = daemon_->Stop(SIGTERM);
  EXPECT_TRUE(e.exited && e.code == kExitOk) << e.Describe();
  EXPECT_NE(ReadFile(log_file).find("received SIGTERM; stopping"), std::string::npos)
      << ReadFile(log_file);
  EXPECT_EQ(ReadFile(rotated).size(), rotated_size) << "records still go to the moved file";
  // Everything went to the file, nothing to stderr.
  EXPECT_EQ(daemon_->Log(), "");
}

// Every line of `path` through jq (a real process): one JSON object per
// line, each with ts (UTC, milliseconds), level, component and msg. Returns
// jq's compact summary of each record, one per line.
std::vector<std::string> CheckJsonLog(const std::string& path) {
  const std::string filter =
      "if (.ts | type) == \"string\" and "
      "(.ts | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\\\.[0-9]{3}Z$\")) and "
      "(.level | IN(\"debug\", \"info\", \"warning\", \"error\")) and "
      "(.component | type) == \"string\" and (.msg | type) == \"string\" "
      "then {component, level, msg, peer: (.peer // \"\"), listener: (.listener // \"\"), slot: "
      "(.slot // \"\"), "
      "lsn: (.lsn // \"\")} "
      "else error(\"not a log record: \\(tojson)\") end";
  const ProgramRun jq = RunProgram({CANOPY_JQ, "-e", "-c", filter, path}, seconds(30));
  EXPECT_EQ(jq.code(), 0) << jq.Describe();
  std::vector<std::string> out;
  std::istringstream lines(jq.out);
  for (std::string line; std::getline(lines, line);) out.push_back(line);
  // One object per input line: none split over lines, no two on one.
  size_t input_lines = 0;
  std::istringstream input(ReadFile(path));
  for (std::string line; std::getline(input, line);) ++input_lines;
  EXPECT_EQ(out.size(), input_lines)
      << "jq read " << out.size() << " records from " << input_lines << " lines";
  return out;
}

TEST_F(ConfigE2E, JsonLogsThroughFaults) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_json_log", /*load=*/false));
  log_path_ = dir_.path() + "/stderr.log";
  const std::string token = dir_.path() + "/token";
  const std::string wrong_token = dir_.path() + "/wrong.token";
  WriteFile(token, "right-token\n");
  WriteFile(wrong_token, "wrong-token\n");
  cli_options_ = {"--token-file", token};
  const std::string slot = "canopy_e2e_json_slot";
  ASSERT_NO_FATAL_FAILURE(
      StartDaemon("127.0.0.1:0", nullptr,
                  {"--log-format", "json", "--token-file", token, "--slot", slot, "--resp-listen",
                   "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-level", "debug"}));
  std::smatch m;
  const std::string started = daemon_->Log();
  ASSERT_TRUE(std::regex_search(started, m,
                                std::regex("serving on tcp port ([0-9]+) .*resp tcp "
                                           "port ([0-9]+) http port ([0-9]+)")))
      << started;
  const int fb_port = std::stoi(m[1].str());
  const int resp_port = std::stoi(m[2].str());
  const int http_port = std::stoi(m[3].str());

  // The walsender killed: a session ends (a warning of the replica),
  // streaming again after.
  ASSERT_EQ(sql_->Value("SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots "
                        "WHERE database = current_database() AND active_pid IS NOT NULL"),
            "1");
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (daemon_->Log().find("session ended") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_NE(daemon_->Log().find("session ended"), std::string::npos) << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(WaitForState("streaming", seconds(30), nullptr));

  // A wrong token over TCP.
  ProgramRun r = RunProgram({CANOPY_CLI_PATH, "--server", "127.0.0.1:" + std::to_string(fb_port),
                             "--token-file", wrong_token, "status"});
  EXPECT_NE(r.code(), kExitOk) << r.Describe();
  // Garbage on every kind of TCP listener: each closes the connection.
  EXPECT_TRUE(SendGarbage(fb_port, std::string("\xff\xff\xff\x7fnot a frame\n\x01\x02", 17)));
  EXPECT_TRUE(SendGarbage(resp_port, "*zz\r\n\x01\x02 not resp\r\n"));
  EXPECT_TRUE(SendGarbage(http_port, "BREW /pot \x01\x02 HTCPCP/1.0\r\n\r\n"));
  // Still serving.
  r = Cli({"--json", "status"});
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();
  const ProcessExit e = daemon_->Stop(SIGTERM);
  EXPECT_TRUE(e.exited && e.code == kExitOk) << e.Describe();

  const std::vector<std::string> records = CheckJsonLog(log_path_);
  ASSERT_FALSE(records.empty());
  bool auth_failure_with_peer = false;
  bool replica_with_slot_and_lsn = false;
  bool session_ended_warning = false;
  std::set<std::string> listeners_with_trouble;  // non-debug records naming a TCP peer
  for (const std::string& record : records) {
    const std::string component = JsonField(record, "component").value_or("");
    const std::string msg = JsonField(record, "msg").value_or("");
    const std::string peer = JsonField(record, "peer").value_or("");
    if (component == "server" && msg.find("wrong or missing token") != std::string::npos &&
        peer.rfind("127.0.0.1:", 0) == 0) {
      auth_failure_with_peer = true;
    }
    if (component == "server" && JsonField(record, "level") != "debug" &&
        peer.rfind("127.0.0.1:", 0) == 0) {
      listeners_with_trouble.insert(JsonField(record, "listener").value_or(""));
    }
    if (component == "replica" && JsonField(record, "slot") == slot &&
        Lsn::Parse(JsonField(record, "lsn").value_or("")).has_value()) {
      replica_with_slot_and_lsn = true;
    }
    if (component == "replica" && JsonField(record, "level") == "warning" &&
        msg.find("session ended") != std::string::npos) {
      session_ended_warning = true;
    }
  }
  const std::string log = daemon_->Log();
  std::cerr << "[e2e] " << records.size() << " JSON records, all read by jq\n";
  EXPECT_TRUE(auth_failure_with_peer) << log;
  EXPECT_TRUE(replica_with_slot_and_lsn) << log;
  EXPECT_TRUE(session_ended_warning) << log;
  // The wrong token and the garbage on each listener, with the peer.
  EXPECT_EQ(listeners_with_trouble, (std::set<std::string>{"fb_tcp", "resp_tcp", "http"})) << log;
  EXPECT_EQ(log.find("canopy replica:"), std::string::npos) << "a doubled prefix\n" << log;
}

}  // namespace
}  // namespace canopy::e2e
