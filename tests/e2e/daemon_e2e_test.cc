// daemon_e2e_test.cc — canopyd as a service manager sees it, as a real
// process replicating from the cdc_pg_cluster PostgreSQL:
//   * SIGHUP re-reads --token-file: same process, still answering, the old
//     token refused and the new one accepted; a token file that cannot be
//     used keeps the token; SIGHUP without --token-file does not stop it;
//     SIGTERM still exits 0.
//   * $NOTIFY_SOCKET (systemd's readiness protocol, a datagram Unix socket
//     bound by the test): READY=1 arrives once, and only when the first
//     snapshot is in (status says streaming, every namespace loaded);
//     STOPPING=1 arrives after SIGTERM, and canopyd exits 0. The same through
//     an abstract socket name ("@...") for a canopyd without --pg.
//   * --application-name (and its default) in pg_stat_replication.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <optional>
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
constexpr int kExitUnauthorized = 6;  // canopy: a wrong or missing token

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// A datagram Unix socket the test listens on, as systemd's notify socket.
// `name` is a path, or "@name" for the abstract namespace.
class NotifySocket {
 public:
  explicit NotifySocket(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name_.size() >= sizeof(addr.sun_path)) return;
    std::memcpy(addr.sun_path, name_.data(), name_.size());
    const bool abstract = name_[0] == '@';
    if (abstract) addr.sun_path[0] = '\0';
    const socklen_t len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (abstract ? 0 : 1));
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    if (bound_ && name_[0] != '@') ::unlink(name_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool ok() const { return bound_; }
  const std::string& name() const { return name_; }

  // The next datagram, or nullopt after `timeout`.
  std::optional<std::string> Receive(milliseconds timeout) {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

class DaemonE2E : public DaemonTest {
 protected:
  // SIGTERM: STOPPING=1 on `notify`, then exit 0.
  void ExpectStoppingOnSigterm(NotifySocket& notify) {
    ASSERT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
    const std::optional<std::string> stopping = notify.Receive(seconds(30));
    ASSERT_TRUE(stopping.has_value()) << "no STOPPING=1 after SIGTERM\n" << daemon_->Log();
    EXPECT_EQ(*stopping, "STOPPING=1");
    const ProcessExit e = daemon_->Wait(seconds(30));
    EXPECT_TRUE(e.exited && e.code == 0) << e.Describe();
  }
  // Waits until canopyd's log contains `text` (bounded); false if it does not.
  bool WaitForLog(const std::string& text, milliseconds timeout = seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (daemon_->Log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }
  // Occurrences of `text` in canopyd's log.
  size_t CountInLog(const std::string& text) {
    const std::string log = daemon_->Log();
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }
  ProgramRun StatusWith(const std::string& token_file) {
    return RunProgram(
        {CANOPY_CLI_PATH, "--unix", sock_, "--token-file", token_file, "--json", "status"});
  }
};

TEST_F(DaemonE2E, SighupReloadsTheTokenFile) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_sighup", /*load=*/false));
  const std::string daemon_token = dir_.path() + "/daemon.token";
  const std::string old_token = dir_.path() + "/old.token";
  const std::string new_token = dir_.path() + "/new.token";
  WriteFile(daemon_token, "first-token\n");
  WriteFile(old_token, "first-token\n");
  WriteFile(new_token, "second-token\n");
  cli_options_ = {"--token-file", old_token};
  ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr, {"--token-file", daemon_token}));
  const pid_t pid = daemon_->pid();
  ProgramRun r = StatusWith(new_token);
  EXPECT_EQ(r.code(), kExitUnauthorized) << "the new token before SIGHUP: " << r.Describe();

  // The file changes; SIGHUP makes it count.
  WriteFile(daemon_token, "second-token\n");
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitForLog("reloaded token file " + daemon_token)) << daemon_->Log();
  ASSERT_FALSE(daemon_->Poll().has_value()) << "canopyd ended on SIGHUP";
  EXPECT_EQ(daemon_->pid(), pid);
  EXPECT_EQ(::kill(pid, 0), 0);
  r = StatusWith(new_token);
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();
  EXPECT_EQ(JsonField(r.out, "state"), "streaming") << r.out;
  r = StatusWith(old_token);
  EXPECT_EQ(r.code(), kExitUnauthorized) << "the old token after SIGHUP: " << r.Describe();
  EXPECT_NE(r.err.find("token"), std::string::npos) << r.Describe();
  // --json: the error is one JSON object on stderr, stdout empty.
  EXPECT_EQ(r.err.rfind("{\"error\":\"unauthorized\",", 0), 0u) << r.Describe();
  EXPECT_EQ(r.out, "") << r.Describe();

  // An empty token file is refused: the token stays.
  WriteFile(daemon_token, "");
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitForLog("keeping the old token")) << daemon_->Log();
  r = StatusWith(new_token);
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();
  EXPECT_EQ(CountInLog("reloaded token file"), 1u) << daemon_->Log();

  // SIGTERM still stops it, with 0.
  const ProcessExit e = daemon_->Stop(SIGTERM);
  EXPECT_TRUE(e.exited && e.code == 0) << e.Describe();
  EXPECT_NE(daemon_->Log().find("received SIGTERM; stopping"), std::string::npos) << daemon_->Log();
}

// READY=1 only with the snapshot in; STOPPING=1 after SIGTERM. The forest
// is loaded so that the snapshot takes a while: a READY=1 sent at start
// would be seen while the status still says loading (or nothing answers).
TEST_F(DaemonE2E, NotifySocketReadyAfterSnapshotAndStopping) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_notify"));
  const std::string namespaces = sql_->Value("SELECT count(*) FROM namespaces");
  NotifySocket notify(dir_.path() + "/notify.sock");
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  {
    ScopedEnv env("NOTIFY_SOCKET", notify.name());
    ASSERT_NO_FATAL_FAILURE(SpawnDaemon("none"));
  }
  const std::optional<std::string> ready = notify.Receive(seconds(90));
  ASSERT_TRUE(ready.has_value()) << "no READY=1 in 90 s\n" << daemon_->Log();
  // Right now, the snapshot must be complete.
  ProgramRun status = Cli({"--json", "status"});
  EXPECT_EQ(*ready, "READY=1");
  ASSERT_EQ(status.code(), kExitOk) << status.Describe();
  EXPECT_EQ(JsonField(status.out, "state"), "streaming") << status.out;
  EXPECT_EQ(JsonField(status.out, "namespaces"), namespaces) << status.out;

  // A SIGHUP (no --token-file) changes nothing and sends nothing.
  ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitForLog("received SIGHUP")) << daemon_->Log();
  const std::optional<std::string> extra = notify.Receive(milliseconds(300));
  EXPECT_FALSE(extra.has_value()) << "unexpected notification: " << extra.value_or("");
  EXPECT_FALSE(daemon_->Poll().has_value()) << "canopyd ended on SIGHUP";

  ExpectStoppingOnSigterm(notify);
}

// An abstract socket name; without --pg, READY=1 comes once listening.
TEST_F(DaemonE2E, NotifySocketAbstractNameWithoutReplication) {
  ASSERT_FALSE(dir_.path().empty());
  sock_ = dir_.path() + "/canopyd.sock";
  log_path_ = dir_.path() + "/canopyd.log";
  NotifySocket notify("@canopy-e2e-notify-" + std::to_string(::getpid()));
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  daemon_ = std::make_unique<DaemonProcess>();
  {
    ScopedEnv env("NOTIFY_SOCKET", notify.name());
    ASSERT_TRUE(daemon_->Start({CANOPYD_PATH, "--listen", "none", "--unix", sock_}, log_path_));
  }
  const std::optional<std::string> ready = notify.Receive(seconds(30));
  ASSERT_TRUE(ready.has_value()) << "no READY=1\n" << daemon_->Log();
  EXPECT_EQ(*ready, "READY=1");
  const ProgramRun status = Cli({"--json", "status"});
  EXPECT_EQ(status.code(), kExitOk) << status.Describe();

  ExpectStoppingOnSigterm(notify);
}

// The replication connection's application_name, as pg_stat_replication
// shows it: --application-name, else canopyd-<pid> (temporary slot) or
// canopyd-<slot> (--slot).
TEST_F(DaemonE2E, ApplicationName) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_appname", /*load=*/false));
  // This database's walsender (other tests may stream from other databases).
  const std::string query =
      "SELECT r.application_name FROM pg_stat_replication r JOIN pg_replication_slots s "
      "ON s.active_pid = r.pid WHERE s.database = current_database()";
  auto application_name = [&] {
    std::string name;
    for (int i = 0; i < 200 && (name = sql_->Value(query)).empty(); ++i) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    return name;
  };
  const std::string slot = "canopy_e2e_appname_slot";
  struct Case {
    std::vector<std::string> flags;
    std::string want;  // "" = canopyd-<pid>
  };
  const std::vector<Case> cases = {
      {{"--application-name", "canopy-e2e-app"}, "canopy-e2e-app"},
      {{}, ""},
      {{"--slot", slot}, "canopyd-" + slot},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want.empty() ? "default" : c.want);
    ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr, c.flags));
    const std::string want = c.want.empty() ? "canopyd-" + std::to_string(daemon_->pid()) : c.want;
    EXPECT_EQ(application_name(), want);
    const ProcessExit e = daemon_->Stop(SIGTERM);
    EXPECT_TRUE(e.exited && e.code == 0) << e.Describe();
    // The next canopyd's walsender only.
    for (int i = 0; i < 200 && !sql_->Value(query).empty(); ++i) {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  ASSERT_TRUE(sql_->Exec("SELECT pg_drop_replication_slot('" + slot + "')"));
}

}  // namespace
}  // namespace canopy::e2e
