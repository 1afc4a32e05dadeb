// apps_test.cc — the `canopy` CLI against an in-process server (output equals
// the engine's answer, --json, exit codes) and `canopyd` as a process
// (serves, stops cleanly on SIGTERM).
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "net_test_util.h"

extern char** environ;

namespace canopy::net {
namespace {

using testing::TestWorld;

struct CliRun {
  int exit_code = -1;
  std::string out;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliRun RunCli(const std::vector<std::string>& args) {
  std::string cmd = Quote(CANOPY_CLI_PATH);
  for (const std::string& a : args) cmd += " " + Quote(a);
  cmd += " 2>/dev/null";
  CliRun run;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) run.out.append(buf, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string Lines(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += std::to_string(id) + "\n";
  return s;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new TestWorld(TestWorld::Make());
    auto server = Server::Start(testing::TestServerOptions(), Server::Borrow(*world_->index));
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete world_;
  }

  std::vector<std::string> Base() const {
    return {"--server", "127.0.0.1:" + std::to_string(server_->tcp_port())};
  }
  CliRun Cli(std::vector<std::string> args) const {
    std::vector<std::string> all = Base();
    all.insert(all.end(), args.begin(), args.end());
    return RunCli(all);
  }
  std::vector<int64_t> Engine(IdQuery q) const { return world_->index->Query(q).answer.ids; }

  static TestWorld* world_;
  static Server* server_;
};

TestWorld* CliTest::world_ = nullptr;
Server* CliTest::server_ = nullptr;

TEST_F(CliTest, IdCommandsPrintTheEnginesAnswer) {
  const auto& n = world_->forest.named;
  const std::string leaf = std::to_string(n.chain_21_leaf_id);
  const std::string org = std::to_string(n.gitlab_org_id);
  const std::string project = std::to_string(n.gitlab_org_project_id);
  struct Case {
    std::vector<std::string> args;
    IdQuery query;
  };
  const std::vector<Case> cases = {
      {{"ancestors", leaf}, {.kind = QueryKind::kAncestors, .id = n.chain_21_leaf_id}},
      {{"ancestors", leaf, "--self", "--self-first"},
       {.kind = QueryKind::kSelfAndAncestors,
        .id = n.chain_21_leaf_id,
        .order = HierarchyOrder::kSelfFirst}},
      {{"descendants", org}, {.kind = QueryKind::kDescendants, .id = n.gitlab_org_id}},
      {{"descendants", org, "--with-project-namespaces"},
       {.kind = QueryKind::kDescendants,
        .id = n.gitlab_org_id,
        .include_project_namespaces = true}},
      {{"projects", org}, {.kind = QueryKind::kAllProjectIds, .id = n.gitlab_org_id}},
      {{"projects", org, "--unarchived"},
       {.kind = QueryKind::kAllUnarchivedProjectIds, .id = n.gitlab_org_id}},
      {{"project-ancestors", project},
       {.kind = QueryKind::kProjectAncestors, .id = n.gitlab_org_project_id}},
      {{"runners", org}, {.kind = QueryKind::kRunnersOfGroup, .id = n.gitlab_org_id}},
      {{"runners", leaf, "--ancestors"},
       {.kind = QueryKind::kRunnersOfGroupAndAncestors, .id = n.chain_21_leaf_id}},
      {{"project-runners", project},
       {.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = n.gitlab_org_project_id}},
  };
  for (const Case& c : cases) {
    CliRun r = Cli(c.args);
    EXPECT_EQ(r.exit_code, 0) << c.args[0];
    EXPECT_EQ(r.out, Lines(Engine(c.query))) << c.args[0];
  }
  CliRun json = Cli({"--json", "ancestors", leaf});
  EXPECT_EQ(json.exit_code, 0);
  std::string want = "{\"ids\":[";
  const std::vector<int64_t> ids =
      Engine({.kind = QueryKind::kAncestors, .id = n.chain_21_leaf_id});
  for (size_t i = 0; i < ids.size(); ++i) want += (i ? "," : "") + std::to_string(ids[i]);
  want += "],\"lsn\":\"" + world_->index->applied_lsn().ToString() + "\"}\n";
  EXPECT_EQ(json.out, want);
}

TEST_F(CliTest, CountsPathResolveStatus) {
  const auto& n = world_->forest.named;
  ReadView view = world_->index->Read();
  const SubtreeCounts counts = view.Counts(n.gitlab_org_id).value();
  CliRun r = Cli({"counts", std::to_string(n.gitlab_org_id)});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("projects " + std::to_string(counts.projects) + "\n"), std::string::npos)
      << r.out;

  const std::string path = view.ProjectFullPath(n.gitlab_org_project_id).value();
  r = Cli({"path", std::to_string(n.gitlab_org_project_id), "--project"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, path + "\n");
  r = Cli({"resolve", path});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "project " + std::to_string(n.gitlab_org_project_id) + "\n");
  r = Cli({"--json", "resolve", view.NamespaceFullPath(n.gitlab_org_id).value()});
  EXPECT_EQ(r.out, "{\"type\":\"namespace\",\"id\":" + std::to_string(n.gitlab_org_id) +
                       ",\"lsn\":\"" + view.lsn().ToString() + "\"}\n");

  r = Cli({"status"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("applied_lsn        " + view.lsn().ToString()), std::string::npos) << r.out;
  r = Cli({"--json", "status"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("{\"applied_lsn\":", 0), 0u) << r.out;
  r = Cli({"watch-status", "--count", "2", "--interval-ms", "1"});
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(CliTest, ExitCodes) {
  EXPECT_EQ(Cli({"ancestors", "99999999"}).exit_code, 1);
  EXPECT_EQ(Cli({"counts", "99999999"}).exit_code, 1);
  EXPECT_EQ(Cli({"resolve", "no/such/thing"}).exit_code, 1);
  EXPECT_EQ(Cli({"ancestors"}).exit_code, 2);
  EXPECT_EQ(Cli({"ancestors", "abc"}).exit_code, 2);
  EXPECT_EQ(Cli({"frobnicate", "1"}).exit_code, 2);
  EXPECT_EQ(Cli({"descendants", "1", "--bogus"}).exit_code, 2);
  EXPECT_EQ(RunCli({}).exit_code, 2);
  EXPECT_EQ(RunCli({"--help"}).exit_code, 0);
  // Nobody listens on the socket: unreachable.
  EXPECT_EQ(RunCli({"--unix", "/nonexistent/canopy.sock", "status"}).exit_code, 3);
  // min_lsn that never comes: STALE is a server error.
  EXPECT_EQ(Cli({"--min-lsn", "FF/0", "--wait-ms", "20", "ancestors", "1"}).exit_code, 3);
}

TEST(Canopyd, ServesAndStopsOnSigterm) {
  const std::string sock = testing::TempSocketPath("canopyd");
  std::vector<std::string> args = {CANOPYD_PATH, "--listen", "none",        "--unix", sock,
                                   "--threads",  "1",        "--log-level", "warning"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  ClientOptions options = testing::UnixClientOptions(sock);
  Client client(options);
  // The daemon needs a moment to bind: retry the connection (bounded).
  ASSERT_TRUE(testing::Eventually([&] { return client.Connect().ok(); }));
  Result<ServerStatus> status = client.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->applied_lsn, Lsn(0));  // no replication: an empty index
  Result<QueryAnswer> q = client.Query({.kind = QueryKind::kAncestors, .id = 1});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->answer.status.code(), StatusCode::kNotFound);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_FALSE(client.Ping().ok());

  // Bad flags: usage error.
  std::vector<std::string> bad = {CANOPYD_PATH, "--threads", "zero"};
  std::vector<char*> bad_argv;
  for (std::string& a : bad) bad_argv.push_back(a.data());
  bad_argv.push_back(nullptr);
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawn(&pid, bad_argv[0], &quiet, nullptr, bad_argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&quiet);
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_EQ(WEXITSTATUS(wstatus), 2);
}

}  // namespace
}  // namespace canopy::net
