// apps_test.cc — the `canopy` CLI against an in-process server (output equals
// the engine's answer, --json, exit codes) and `canopyd` as a process
// (serves, stops cleanly on SIGTERM).
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "canopy/version.h"
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

// Runs the CLI; with `input`, that is its stdin (through a temp file).
CliRun RunCli(const std::vector<std::string>& args,
              const std::optional<std::string>& input = std::nullopt) {
  std::string cmd = Quote(CANOPY_CLI_PATH);
  // Appended, not " " + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
  for (const std::string& a : args) cmd.append(" ").append(Quote(a));
  std::string input_path;
  if (input.has_value()) {
    input_path = testing::TempSocketPath("cli-stdin");
    std::ofstream(input_path, std::ios::binary) << *input;
    cmd += " < " + Quote(input_path);
  } else {
    cmd += " < /dev/null";
  }
  cmd += " 2>/dev/null";
  CliRun run;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) run.out.append(buf, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (!input_path.empty()) std::remove(input_path.c_str());
  return run;
}

// The lines of `text` (each without its newline).
std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A single command's plain output as --batch prints it: on one line.
std::string OnOneLine(std::string out) {
  while (!out.empty() && out.back() == '\n') out.pop_back();
  for (char& c : out) c = c == '\n' ? ' ' : c;
  return out;
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
  CliRun Cli(std::vector<std::string> args,
             const std::optional<std::string>& input = std::nullopt) const {
    std::vector<std::string> all = Base();
    all.insert(all.end(), args.begin(), args.end());
    return RunCli(all, input);
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

// ---- --batch ----

// Ids for the batch tests: known ones (named structures, a spread) with
// unknown ones among them (0 and 99999999), no negative ones (not ids).
std::vector<int64_t> BatchIds(const std::vector<int64_t>& sample) {
  std::vector<int64_t> ids;
  for (int64_t id : sample) {
    if (id >= 0) ids.push_back(id);
  }
  return ids;
}

std::string Input(const std::vector<int64_t>& ids) {
  std::string in;
  for (int64_t id : ids) in += std::to_string(id) + "\n";
  return in;
}

// `--batch COMMAND FLAGS` on `ids` prints, line by line, what `COMMAND ID
// FLAGS` prints for each id (on one line), or "not found" where it exits 1;
// with --json the single command's object with "id" first. Exit code 1 when
// some id is unknown, else 0.
TEST_F(CliTest, BatchEqualsTheSingleCommandForEveryId) {
  const std::vector<int64_t> ns_ids = BatchIds(world_->SampleNamespaceIds(25));
  const std::vector<int64_t> project_ids = BatchIds(world_->SampleProjectIds(15));
  struct Case {
    std::vector<std::string> command;  // command + flags
    const std::vector<int64_t>* ids;
    bool json;
  };
  const std::vector<Case> cases = {
      {{"ancestors"}, &ns_ids, false},
      {{"ancestors", "--self", "--self-first"}, &ns_ids, true},
      {{"descendants", "--with-project-namespaces"}, &ns_ids, false},
      {{"projects", "--unarchived"}, &ns_ids, true},
      {{"runners", "--ancestors"}, &ns_ids, false},
      {{"project-ancestors"}, &project_ids, false},
      {{"project-runners"}, &project_ids, true},
      {{"counts"}, &ns_ids, false},
      {{"counts"}, &ns_ids, true},
      {{"path"}, &ns_ids, false},
      {{"path", "--project"}, &project_ids, true},
  };
  for (const Case& c : cases) {
    const std::string what = c.command[0] + (c.json ? " --json" : "");
    std::vector<std::string> batch_args = {"--batch"};
    if (c.json) batch_args.push_back("--json");
    batch_args.insert(batch_args.end(), c.command.begin(), c.command.end());
    CliRun batch = Cli(batch_args, Input(*c.ids));
    const std::vector<std::string> lines = SplitLines(batch.out);
    ASSERT_EQ(lines.size(), c.ids->size()) << what << "\n" << batch.out;
    bool any_unknown = false;
    for (size_t i = 0; i < c.ids->size(); ++i) {
      const std::string id = std::to_string((*c.ids)[i]);
      std::vector<std::string> single_args;
      if (c.json) single_args.push_back("--json");
      single_args.push_back(c.command[0]);
      single_args.push_back(id);
      single_args.insert(single_args.end(), c.command.begin() + 1, c.command.end());
      CliRun single = Cli(single_args);
      ASSERT_TRUE(single.exit_code == 0 || single.exit_code == 1) << what << " " << id;
      if (single.exit_code == 1) {
        any_unknown = true;
        if (c.json) {
          EXPECT_EQ(lines[i].rfind("{\"id\":" + id + ",\"error\":\"not_found\",", 0), 0u)
              << what << ": " << lines[i];
        } else {
          EXPECT_EQ(lines[i], "not found") << what << " " << id;
        }
        continue;
      }
      if (c.json) {
        ASSERT_FALSE(single.out.empty());
        EXPECT_EQ(lines[i] + "\n", "{\"id\":" + id + "," + single.out.substr(1)) << what;
      } else {
        EXPECT_EQ(lines[i], OnOneLine(single.out)) << what << " " << id;
      }
    }
    EXPECT_TRUE(any_unknown) << what << ": the ids include unknown ones";
    EXPECT_EQ(batch.exit_code, any_unknown ? 1 : 0) << what;
  }
}

TEST_F(CliTest, BatchResolveReadsPaths) {
  ReadView view = world_->index->Read();
  std::vector<std::string> paths;
  for (int64_t id : BatchIds(world_->SampleNamespaceIds(20))) {
    Result<std::string> p = view.NamespaceFullPath(id);
    if (p.ok()) paths.push_back(*p);
  }
  for (int64_t id : BatchIds(world_->SampleProjectIds(10))) {
    Result<std::string> p = view.ProjectFullPath(id);
    if (p.ok()) paths.push_back(*p);
  }
  paths.insert(paths.begin() + 3, "no/such/path");
  std::string input;
  for (const std::string& p : paths) input += p + "\n";
  for (bool json : {false, true}) {
    std::vector<std::string> args = {"--batch", "resolve"};
    if (json) args.insert(args.begin(), "--json");
    CliRun batch = Cli(args, input);
    EXPECT_EQ(batch.exit_code, 1);
    const std::vector<std::string> lines = SplitLines(batch.out);
    ASSERT_EQ(lines.size(), paths.size()) << batch.out;
    for (size_t i = 0; i < paths.size(); ++i) {
      std::vector<std::string> single_args = {"resolve", paths[i]};
      if (json) single_args.insert(single_args.begin(), "--json");
      CliRun single = Cli(single_args);
      if (single.exit_code == 1) {
        EXPECT_EQ(lines[i],
                  json ? "{\"path\":\"" + paths[i] +
                             "\",\"error\":\"not_found\",\"message\":\"unknown_id: path '" +
                             paths[i] + "'\"}"
                       : "not found");
        continue;
      }
      ASSERT_EQ(single.exit_code, 0) << paths[i];
      if (json) {
        EXPECT_EQ(lines[i] + "\n", "{\"path\":\"" + paths[i] + "\"," + single.out.substr(1));
      } else {
        EXPECT_EQ(lines[i], OnOneLine(single.out));
      }
    }
  }
}

// Many ids (several batch requests, pipelined) against the engine directly;
// the huge group's answers are large.
// The ids of plain output, sorted.
std::vector<int64_t> SortedIds(const std::string& out, char sep) {
  std::vector<int64_t> ids;
  std::istringstream in(out);
  for (std::string word; std::getline(in, word, sep);) {
    if (!word.empty()) ids.push_back(std::stoll(word));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// --order any: the same ids (unsorted somewhere, so it reached the server);
// --order asc: the default output; refused on the commands it means nothing to.
TEST_F(CliTest, OrderAnyPrintsTheSameIds) {
  const auto& n = world_->forest.named;
  const std::string org = std::to_string(n.gitlab_org_id);
  const std::string huge = std::to_string(n.huge_group_id);
  const std::string leaf = std::to_string(n.chain_21_leaf_id);
  const std::string project = std::to_string(n.gitlab_org_project_id);
  struct Case {
    std::vector<std::string> args;
    IdQuery query;
  };
  const std::vector<Case> cases = {
      {{"descendants", org, "--order", "any"},
       {.kind = QueryKind::kDescendants, .id = n.gitlab_org_id}},
      {{"descendants", huge, "--self", "--with-project-namespaces", "--order", "any"},
       {.kind = QueryKind::kSelfAndDescendants,
        .id = n.huge_group_id,
        .include_project_namespaces = true}},
      {{"projects", org, "--order", "any"},
       {.kind = QueryKind::kAllProjectIds, .id = n.gitlab_org_id}},
      {{"projects", "--order", "any", org, "--unarchived"},
       {.kind = QueryKind::kAllUnarchivedProjectIds, .id = n.gitlab_org_id}},
      {{"runners", leaf, "--ancestors", "--order", "any"},
       {.kind = QueryKind::kRunnersOfGroupAndAncestors, .id = n.chain_21_leaf_id}},
      {{"project-runners", project, "--order", "any"},
       {.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = n.gitlab_org_project_id}},
  };
  size_t unsorted = 0;
  for (const Case& c : cases) {
    const std::vector<int64_t> want = Engine(c.query);
    CliRun r = Cli(c.args);
    EXPECT_EQ(r.exit_code, 0) << c.args[0];
    EXPECT_EQ(SortedIds(r.out, '\n'), want) << c.args[0] << ": not the same ids, each once";
    unsorted += r.out != Lines(want);
    std::vector<std::string> asc = c.args;
    std::replace(asc.begin(), asc.end(), std::string("any"), std::string("asc"));
    EXPECT_EQ(Cli(asc).out, Lines(want)) << c.args[0] << " --order asc";
  }
  EXPECT_GT(unsorted, 0u) << "every --order any output was sorted: the option did not arrive";

  // --batch takes it per command: one line per id, the same ids.
  const std::vector<int64_t> ids = {n.gitlab_org_id, 99'999'999, n.huge_group_id};
  CliRun batch = Cli({"--batch", "descendants", "--order", "any"}, Input(ids));
  EXPECT_EQ(batch.exit_code, 1);  // one unknown id
  const std::vector<std::string> lines = SplitLines(batch.out);
  ASSERT_EQ(lines.size(), ids.size());
  EXPECT_EQ(SortedIds(lines[0], ' '), Engine({.kind = QueryKind::kDescendants, .id = ids[0]}));
  EXPECT_EQ(lines[1], "not found");
  EXPECT_EQ(SortedIds(lines[2], ' '), Engine({.kind = QueryKind::kDescendants, .id = ids[2]}));

  EXPECT_EQ(Cli({"descendants", org, "--order", "desc"}).exit_code, 2);
  EXPECT_EQ(Cli({"descendants", org, "--order"}).exit_code, 2);
  EXPECT_EQ(Cli({"ancestors", leaf, "--order", "any"}).exit_code, 2);
  EXPECT_EQ(Cli({"project-ancestors", project, "--order", "any"}).exit_code, 2);
  EXPECT_EQ(Cli({"counts", org, "--order", "any"}).exit_code, 2);
  EXPECT_EQ(Cli({"--batch", "path", "--order", "any"}, org + "\n").exit_code, 2);
}

TEST_F(CliTest, BatchOfManyIdsMatchesTheEngineInInputOrder) {
  const auto& n = world_->forest.named;
  std::vector<int64_t> ids;
  for (int i = 0; i < 1500; ++i) ids.push_back(1 + (i * 7919) % 4000);
  ids.push_back(n.huge_group_id);
  ids.push_back(99'999'999);
  ids.push_back(n.gitlab_org_id);
  std::reverse(ids.begin(), ids.end());  // input order is not id order
  CliRun batch = Cli({"--batch", "descendants", "--self"}, Input(ids));
  const std::vector<std::string> lines = SplitLines(batch.out);
  ASSERT_EQ(lines.size(), ids.size());
  bool unknown = false;
  for (size_t i = 0; i < ids.size(); ++i) {
    IdAnswer want =
        world_->index->Query({.kind = QueryKind::kSelfAndDescendants, .id = ids[i]}).answer;
    if (!want.status.ok()) {
      unknown = true;
      EXPECT_EQ(lines[i], "not found");
      continue;
    }
    std::string expect;
    for (size_t k = 0; k < want.ids.size(); ++k) {
      // Appended, not " " + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
      if (k) expect += ' ';
      expect += std::to_string(want.ids[k]);
    }
    ASSERT_EQ(lines[i], expect) << "line " << i << " id " << ids[i];
  }
  EXPECT_TRUE(unknown);
  EXPECT_EQ(batch.exit_code, 1);

  // All known: exit 0.
  CliRun known = Cli({"--batch", "counts"}, Input({n.gitlab_org_id, n.small_group_id}));
  EXPECT_EQ(known.exit_code, 0);
  EXPECT_EQ(SplitLines(known.out).size(), 2u);
}

TEST_F(CliTest, BatchEdgeCasesAndUsage) {
  // Empty stdin: nothing to answer, nothing printed.
  for (const char* command : {"ancestors", "counts", "path", "resolve"}) {
    CliRun empty = Cli({"--batch", command}, std::string());
    EXPECT_EQ(empty.exit_code, 0) << command;
    EXPECT_EQ(empty.out, "") << command;
  }
  // Surrounding blanks and CRLF are trimmed.
  const std::string org = std::to_string(world_->forest.named.gitlab_org_id);
  CliRun crlf = Cli({"--batch", "path"}, "  " + org + " \r\n");
  EXPECT_EQ(crlf.exit_code, 0);
  EXPECT_EQ(crlf.out, Cli({"path", org}).out);
  // A line that is not an id: usage error, nothing printed.
  CliRun bad = Cli({"--batch", "ancestors"}, org + "\nabc\n");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(Cli({"--batch", "ancestors"}, org + "\n\n").exit_code, 2);     // a blank line
  EXPECT_EQ(Cli({"--batch", "ancestors", org}, org + "\n").exit_code, 2);  // ids on stdin only
  EXPECT_EQ(Cli({"--batch", "status"}, "").exit_code, 2);
  EXPECT_EQ(Cli({"--batch", "ancestors", "--bogus"}, org + "\n").exit_code, 2);
  // Unreachable: server error.
  EXPECT_EQ(
      RunCli({"--unix", "/nonexistent/canopy.sock", "--batch", "counts"}, org + "\n").exit_code, 3);
  // min_lsn that never comes: every line is a server error, exit 3.
  CliRun stale = Cli({"--min-lsn", "FF/0", "--wait-ms", "20", "--batch", "ancestors"},
                     org + "\n" + org + "\n");
  EXPECT_EQ(stale.exit_code, 3);
  const std::vector<std::string> lines = SplitLines(stale.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << lines[0];
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
  EXPECT_EQ(status->server_version, std::string("canopyd ") + canopy::kVersion);
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

// canopyd with `args` (argv[0] included), stderr to /dev/null when `quiet`.
pid_t SpawnProgram(std::vector<std::string> args, bool quiet) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet) posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int ExitCode(pid_t pid) {
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, 0) != pid || !WIFEXITED(wstatus)) return -1;
  return WEXITSTATUS(wstatus);
}

// A group this process may give a file to, other than its own when it can
// (root: any group; otherwise a supplementary one), so the change shows.
std::optional<std::pair<std::string, gid_t>> SomeGroup() {
  std::vector<gid_t> candidates;
  if (::geteuid() == 0) {
    for (const char* name : {"daemon", "nogroup", "users"}) {
      if (const group* g = ::getgrnam(name)) candidates.push_back(g->gr_gid);
    }
  } else {
    std::vector<gid_t> groups(256);
    const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
    if (n > 0) candidates.assign(groups.begin(), groups.begin() + n);
  }
  candidates.push_back(::getegid());  // the fallback: our own group
  for (size_t i = 0; i < candidates.size(); ++i) {
    const bool last = i + 1 == candidates.size();
    if (candidates[i] == ::getegid() && !last) continue;
    if (const group* g = ::getgrgid(candidates[i])) {
      return std::make_pair(std::string(g->gr_name), candidates[i]);
    }
  }
  return std::nullopt;
}

// --unix-mode / --unix-group: the socket file has them (set before listen);
// an unknown group keeps canopyd from starting (exit 3, no file left); a
// mode that is not octal is a usage error.
TEST(Canopyd, UnixSocketModeAndGroup) {
  const std::optional<std::pair<std::string, gid_t>> group = SomeGroup();
  ASSERT_TRUE(group.has_value()) << "no group to use";
  const std::string sock = testing::TempSocketPath("canopyd-mode");
  pid_t pid =
      SpawnProgram({CANOPYD_PATH, "--listen", "none", "--unix", sock, "--threads", "1",
                    "--log-level", "warning", "--unix-mode", "0604", "--unix-group", group->first},
                   false);
  ASSERT_GT(pid, 0);
  Client client(testing::UnixClientOptions(sock));
  ASSERT_TRUE(testing::Eventually([&] { return client.Connect().ok(); }));
  struct stat st {};
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_gid, group->second) << "group " << group->first;
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(ExitCode(pid), 0);

  pid = SpawnProgram({CANOPYD_PATH, "--listen", "none", "--unix", sock, "--threads", "1",
                      "--unix-group", "canopy-no-such-group"},
                     true);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(ExitCode(pid), 3);
  EXPECT_NE(::lstat(sock.c_str(), &st), 0) << "socket file left behind";

  for (const char* bad : {"0668", "rw", "177777"}) {
    pid =
        SpawnProgram({CANOPYD_PATH, "--listen", "none", "--unix", sock, "--unix-mode", bad}, true);
    ASSERT_GT(pid, 0);
    EXPECT_EQ(ExitCode(pid), 2) << bad;
  }
}

}  // namespace
}  // namespace canopy::net
