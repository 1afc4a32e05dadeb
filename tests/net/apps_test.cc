// apps_test.cc — the `canopy` CLI against an in-process server (output equals
// the engine's answer, --json, exit codes, flag validation, per-command help,
// environment defaults, --json errors) and `canopyd` as a process (serves,
// stops cleanly on SIGTERM).
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
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
  std::string err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs the CLI; with `input`, that is its stdin (through a temp file). The
// CANOPY_* variables of the test's environment are removed (the CLI reads
// them), and `env` ("NAME=value") set.
CliRun RunCli(const std::vector<std::string>& args,
              const std::optional<std::string>& input = std::nullopt,
              const std::vector<std::string>& env = {}) {
  std::string cmd = "env -u CANOPY_SERVER -u CANOPY_UNIX -u CANOPY_TOKEN_FILE";
  // Appended, not " " + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
  for (const std::string& e : env) cmd.append(" ").append(Quote(e));
  cmd.append(" ").append(Quote(CANOPY_CLI_PATH));
  for (const std::string& a : args) cmd.append(" ").append(Quote(a));
  std::string input_path;
  if (input.has_value()) {
    input_path = testing::TempSocketPath("cli-stdin");
    std::ofstream(input_path, std::ios::binary) << *input;
    cmd += " < " + Quote(input_path);
  } else {
    cmd += " < /dev/null";
  }
  const std::string err_path = testing::TempSocketPath("cli-stderr");
  cmd += " 2>" + Quote(err_path);
  CliRun run;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) run.out.append(buf, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = ReadFile(err_path);
  std::remove(err_path.c_str());
  if (!input_path.empty()) std::remove(input_path.c_str());
  return run;
}

// `text` parsed by jq (a real JSON parser; --slurp: the whole text must be
// exactly one JSON value): the object's "error" and "exit_code" as
// "<error> <exit_code>", or "" when `text` is not one JSON object with those
// fields and a message.
std::string JsonErrorFields(const std::string& text) {
  const std::string path = testing::TempSocketPath("cli-json");
  std::ofstream(path, std::ios::binary) << text;
  const std::string cmd =
      "jq --raw-output --slurp 'if length == 1 and (.[0].message | type) == \"string\" "
      "and (.[0].message | length) > 0 then \"\\(.[0].error) \\(.[0].exit_code)\" "
      "else error(\"not one error object\") end' < " +
      Quote(path) + " 2>/dev/null";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe != nullptr) {
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    if (::pclose(pipe) != 0) out.clear();
  }
  std::remove(path.c_str());
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
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
  for (size_t i = 0; i < ids.size(); ++i) {
    // Appended, not "," + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
    if (i) want += ',';
    want += std::to_string(ids[i]);
  }
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
  // min_lsn that never comes: stale.
  EXPECT_EQ(Cli({"--min-lsn", "FF/0", "--wait-ms", "20", "ancestors", "1"}).exit_code, 7);
}

// ---- --batch ----

// Ids for the batch tests: known ones (named structures, a spread) with an
// unknown one among them (99999999), none below 1 (not ids: usage errors).
std::vector<int64_t> BatchIds(const std::vector<int64_t>& sample) {
  std::vector<int64_t> ids;
  for (int64_t id : sample) {
    if (id >= 1) ids.push_back(id);
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
  // Unreachable.
  EXPECT_EQ(
      RunCli({"--unix", "/nonexistent/canopy.sock", "--batch", "counts"}, org + "\n").exit_code, 3);
  // min_lsn that never comes: every line is stale, exit 7.
  CliRun stale = Cli({"--min-lsn", "FF/0", "--wait-ms", "20", "--batch", "ancestors"},
                     org + "\n" + org + "\n");
  EXPECT_EQ(stale.exit_code, 7);
  const std::vector<std::string> lines = SplitLines(stale.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << lines[0];
}

// ---- flags (CLI11), numbers, environment, --json errors, exit codes ----

constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitUnauthorized = 6;
constexpr int kExitStale = 7;
constexpr int kExitServerError = 8;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// An id beyond int64 (it used to wrap to a negative id and be "not found"),
// 0 and negative ids, and out-of-range numeric flags: usage errors that say
// what is accepted; nothing asked, nothing on stdout.
TEST_F(CliTest, OutOfRangeNumbersAreUsageErrors) {
  const std::string accepted_ids = "1..9223372036854775807";
  for (const char* id : {"9999999999999999999", "9223372036854775808", "0", "-5"}) {
    CliRun r = Cli({"ancestors", id});
    EXPECT_EQ(r.exit_code, kExitUsage) << id;
    EXPECT_EQ(r.out, "") << id;
    EXPECT_TRUE(Contains(r.err, "out of range")) << id << ": " << r.err;
    EXPECT_TRUE(Contains(r.err, accepted_ids)) << id << ": " << r.err;
  }
  // The largest id is an id (unknown here).
  EXPECT_EQ(Cli({"ancestors", "9223372036854775807"}).exit_code, kExitNotFound);
  for (const char* id : {"abc", "12x", "+5", " 5", "0x10", "1e3"}) {
    CliRun r = Cli({"counts", id});
    EXPECT_EQ(r.exit_code, kExitUsage) << id;
    EXPECT_TRUE(Contains(r.err, "not an id")) << id << ": " << r.err;
  }

  const std::string org = std::to_string(world_->forest.named.gitlab_org_id);
  const std::string accepted_u32 = "0..4294967295";
  const std::vector<std::vector<std::string>> bad_numbers = {
      {"--wait-ms", "99999999999", "ancestors", org},
      {"--wait-ms", "-1", "ancestors", org},
      {"watch-status", "--count", "4294967296"},
      {"watch-status", "--interval-ms", "18446744073709551617"},
      {"verify", "--pg", "dbname=x", "--sample", "4294967296"},
      {"verify", "--pg", "dbname=x", "--seed", "-3"},
  };
  for (const std::vector<std::string>& args : bad_numbers) {
    CliRun r = Cli(args);
    EXPECT_EQ(r.exit_code, kExitUsage) << args[0] << " " << args[1];
    EXPECT_TRUE(Contains(r.err, "out of range")) << r.err;
    EXPECT_TRUE(Contains(r.err, accepted_u32)) << r.err;
  }
  CliRun r = Cli({"watch-status", "--count", "two"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_TRUE(Contains(r.err, "--count needs a whole number")) << r.err;

  // --batch: a line out of range is a usage error naming the line; nothing is asked.
  r = Cli({"--batch", "ancestors"}, org + "\n9999999999999999999\n");
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(Contains(r.err, "stdin line 2")) << r.err;
  EXPECT_TRUE(Contains(r.err, accepted_ids)) << r.err;
}

// A flag a command does not take is a usage error (ancestors once took --pg).
TEST_F(CliTest, FlagOnTheWrongCommandIsAUsageError) {
  const std::string org = std::to_string(world_->forest.named.gitlab_org_id);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"ancestors", "5", "--pg", "x"}, "'ancestors' does not take --pg"},
      {{"ancestors", org, "--order", "any"}, "'ancestors' does not take --order"},
      {{"counts", org, "--self"}, "'counts' does not take --self"},
      {{"status", "--count", "2"}, "'status' does not take --count"},
      {{"watch-status", "--check"}, "'watch-status' does not take --check"},
      {{"path", org, "--unarchived"}, "'path' does not take --unarchived"},
      {{"resolve", "a/b", "--project"}, "'resolve' does not take --project"},
      {{"--self", "ancestors", org}, "unknown option --self before the command"},
      {{"status", "extra"}, "'status' does not take another argument: 'extra'"},
      {{"frobnicate", "1"}, "unknown command 'frobnicate'"},
  };
  for (const Case& c : cases) {
    CliRun r = Cli(c.args);
    EXPECT_EQ(r.exit_code, kExitUsage) << c.message;
    EXPECT_EQ(r.out, "") << c.message;
    EXPECT_TRUE(Contains(r.err, c.message)) << r.err;
  }
}

// canopy COMMAND --help: exit 0, the command's own flags and no others';
// canopy --help: the commands and the exit codes.
TEST_F(CliTest, PerCommandHelp) {
  struct Case {
    std::string command;
    std::vector<std::string> flags;
    std::vector<std::string> not_flags;
  };
  const std::vector<Case> cases = {
      {"ancestors", {"--self", "--self-first"}, {"--order", "--pg"}},
      {"descendants", {"--self", "--with-project-namespaces", "--order"}, {"--unarchived"}},
      {"projects", {"--unarchived", "--order"}, {"--self"}},
      {"project-ancestors", {"--self-first"}, {"--order"}},
      {"runners", {"--ancestors", "--order"}, {"--self"}},
      {"project-runners", {"--order"}, {"--ancestors"}},
      {"counts", {}, {"--self", "--order"}},
      {"path", {"--project"}, {"--self"}},
      {"resolve", {}, {"--project"}},
      {"status", {"--check"}, {"--count"}},
      {"watch-status", {"--interval-ms", "--count"}, {"--check"}},
      {"watch",
       {"--from", "--subtree", "--tables", "--columns", "--positions", "--count"},
       {"--check", "--interval-ms"}},
      {"verify", {"--pg", "--sample", "--form", "--seed"}, {"--order"}},
  };
  for (const Case& c : cases) {
    for (const char* help : {"--help", "-h"}) {
      CliRun r = RunCli({c.command, help});
      EXPECT_EQ(r.exit_code, 0) << c.command << " " << help;
      EXPECT_TRUE(Contains(r.out, "canopy " + c.command)) << r.out;
      for (const std::string& flag : c.flags) {
        EXPECT_TRUE(Contains(r.out, flag + " ")) << c.command << " lacks " << flag << ":\n"
                                                 << r.out;
      }
      for (const std::string& flag : c.not_flags) {
        EXPECT_FALSE(Contains(r.out, flag + " ")) << c.command << " shows " << flag << ":\n"
                                                  << r.out;
      }
    }
  }
  CliRun r = RunCli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* part :
       {"ancestors", "watch-status", "verify", "--server", "--batch", "CANOPY_SERVER", "Exit codes",
        "3  unreachable", "6  unauthorized", "7  stale", "8  server error", "9  watch"}) {
    EXPECT_TRUE(Contains(r.out, part)) << part << ":\n" << r.out;
  }
}

// The global options work after the command too (and before it, as always).
TEST_F(CliTest, GlobalOptionsAfterTheCommand) {
  const std::string leaf = std::to_string(world_->forest.named.chain_21_leaf_id);
  const std::string server = "127.0.0.1:" + std::to_string(server_->tcp_port());
  const CliRun before = RunCli({"--server", server, "--json", "ancestors", leaf, "--self"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  const CliRun after = RunCli({"ancestors", leaf, "--self", "--json", "--server", server});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, before.out);
  const CliRun batch = RunCli({"ancestors", "--server", server, "--batch"}, leaf + "\n");
  EXPECT_EQ(batch.exit_code, 0) << batch.err;
  EXPECT_EQ(batch.out, OnOneLine(RunCli({"--server", server, "ancestors", leaf}).out) + "\n");
}

// CANOPY_SERVER / CANOPY_UNIX stand for --server / --unix; a flag wins over
// any of them (a wrong variable is then not even read).
TEST_F(CliTest, EnvironmentDefaults) {
  const std::string leaf = std::to_string(world_->forest.named.chain_21_leaf_id);
  const std::string server = "127.0.0.1:" + std::to_string(server_->tcp_port());
  const std::string want =
      Lines(Engine({.kind = QueryKind::kAncestors, .id = world_->forest.named.chain_21_leaf_id}));
  CliRun r = RunCli({"ancestors", leaf}, std::nullopt, {"CANOPY_SERVER=" + server});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want);
  // Nobody listens on port 1: the variable is what the CLI used.
  r = RunCli({"ancestors", leaf}, std::nullopt, {"CANOPY_SERVER=127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, kExitUnreachable) << r.err;
  r = RunCli({"ancestors", leaf}, std::nullopt, {"CANOPY_SERVER=no-port-here"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_TRUE(Contains(r.err, "CANOPY_SERVER")) << r.err;
  // Flags win.
  for (const char* wrong :
       {"CANOPY_SERVER=127.0.0.1:1", "CANOPY_SERVER=no-port-here", "CANOPY_UNIX=/nonexistent/s"}) {
    r = RunCli({"--server", server, "ancestors", leaf}, std::nullopt, {wrong});
    EXPECT_EQ(r.exit_code, 0) << wrong << ": " << r.err;
    EXPECT_EQ(r.out, want) << wrong;
  }
  // CANOPY_UNIX wins over CANOPY_SERVER (as --unix over --server).
  r = RunCli({"ancestors", leaf}, std::nullopt,
             {"CANOPY_SERVER=" + server, "CANOPY_UNIX=/nonexistent/canopy.sock"});
  EXPECT_EQ(r.exit_code, kExitUnreachable);
}

// A server that needs a token: none or a wrong one is unauthorized (exit 6),
// the right one from --token-file or CANOPY_TOKEN_FILE answers; the flag
// wins over the variable.
TEST_F(CliTest, UnauthorizedAndTokenFiles) {
  ServerOptions options = testing::TestServerOptions();
  options.token = "s3cret";
  auto started = Server::Start(options, Server::Borrow(*world_->index));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const std::unique_ptr<Server> server = std::move(started).value();
  const std::string address = "127.0.0.1:" + std::to_string(server->tcp_port());
  const std::string right = testing::TempSocketPath("token-right");
  const std::string wrong = testing::TempSocketPath("token-wrong");
  std::ofstream(right) << "s3cret\n";
  std::ofstream(wrong) << "guess\n";
  const std::string org = std::to_string(world_->forest.named.gitlab_org_id);

  EXPECT_EQ(RunCli({"--server", address, "counts", org}).exit_code, kExitUnauthorized);
  CliRun r = RunCli({"--server", address, "--token-file", wrong, "counts", org});
  EXPECT_EQ(r.exit_code, kExitUnauthorized);
  EXPECT_TRUE(Contains(r.err, "unauthorized")) << r.err;
  r = RunCli({"--json", "--server", address, "--token-file", wrong, "counts", org});
  EXPECT_EQ(r.exit_code, kExitUnauthorized);
  EXPECT_EQ(JsonErrorFields(r.err), "unauthorized 6") << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(RunCli({"--server", address, "--batch", "counts"}, org + "\n").exit_code,
            kExitUnauthorized);

  EXPECT_EQ(RunCli({"--server", address, "--token-file", right, "counts", org}).exit_code, 0);
  EXPECT_EQ(
      RunCli({"--server", address, "counts", org}, std::nullopt, {"CANOPY_TOKEN_FILE=" + right})
          .exit_code,
      0);
  EXPECT_EQ(RunCli({"--server", address, "--token-file", right, "counts", org}, std::nullopt,
                   {"CANOPY_TOKEN_FILE=" + wrong})
                .exit_code,
            0);
  EXPECT_EQ(
      RunCli({"--server", address, "counts", org}, std::nullopt, {"CANOPY_TOKEN_FILE=" + wrong})
          .exit_code,
      kExitUnauthorized);
  // An unreadable token file: usage.
  EXPECT_EQ(
      RunCli({"--server", address, "--token-file", "/nonexistent/token", "counts", org}).exit_code,
      kExitUsage);
  std::remove(right.c_str());
  std::remove(wrong.c_str());
}

// With --json every error is one JSON object line on stderr ({"error",
// "message", "exit_code"}), stdout empty; without it, "canopy: ..." text.
TEST_F(CliTest, JsonErrorsOnStderr) {
  const std::string org = std::to_string(world_->forest.named.gitlab_org_id);
  // A server without an index answers queries with NOT_READY: a server error.
  auto not_ready = Server::Start(testing::TestServerOptions(), nullptr);
  ASSERT_TRUE(not_ready.ok()) << not_ready.status().ToString();
  const std::string not_ready_address =
      "127.0.0.1:" + std::to_string(not_ready.value()->tcp_port());
  struct Case {
    std::vector<std::string> args;  // after --json
    bool with_server;               // Base() first
    std::string want;               // "<error> <exit_code>"
  };
  const std::vector<Case> cases = {
      {{"ancestors", "99999999"}, true, "not_found 1"},
      {{"resolve", "no/such/thing"}, true, "not_found 1"},
      {{"ancestors", "9999999999999999999"}, true, "usage 2"},
      {{"ancestors", "5", "--pg", "x"}, true, "usage 2"},
      {{"frobnicate"}, true, "usage 2"},
      {{}, false, "usage 2"},
      {{"--unix", "/nonexistent/canopy.sock", "status"}, false, "unreachable 3"},
      {{"--min-lsn", "FF/0", "--wait-ms", "50", "ancestors", org}, true, "stale 7"},
      {{"--server", not_ready_address, "ancestors", org}, false, "server_error 8"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.with_server ? Base() : std::vector<std::string>{};
    args.push_back("--json");
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliRun r = RunCli(args);
    const std::string what = c.want + " for " + (c.args.empty() ? "no command" : c.args.back());
    EXPECT_EQ(r.out, "") << what;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
    EXPECT_EQ(JsonErrorFields(r.err), c.want) << what << ": " << r.err;
    EXPECT_EQ(std::to_string(r.exit_code), c.want.substr(c.want.find(' ') + 1)) << what;
    // Plain: the same exit code, text.
    std::vector<std::string> plain = args;
    plain.erase(std::find(plain.begin(), plain.end(), std::string("--json")));
    const CliRun text = RunCli(plain);
    EXPECT_EQ(text.exit_code, r.exit_code) << what;
    EXPECT_EQ(text.err.rfind("canopy: ", 0), 0u) << what << ": " << text.err;
  }
  // The parser can fail: text, two objects, no message.
  EXPECT_EQ(JsonErrorFields("canopy: not json"), "");
  EXPECT_EQ(JsonErrorFields("{\"error\":\"usage\",\"message\":\"m\",\"exit_code\":2}\n"
                            "{\"error\":\"usage\",\"message\":\"m\",\"exit_code\":2}\n"),
            "");
  EXPECT_EQ(JsonErrorFields("{\"error\":\"usage\",\"exit_code\":2}"), "");

  // --batch --json: per-line errors stay on stdout; the worst line's code.
  const CliRun batch = Cli({"--json", "--batch", "counts"}, org + "\n99999999\n");
  EXPECT_EQ(batch.exit_code, kExitNotFound);
  EXPECT_EQ(batch.err, "");
  ASSERT_EQ(SplitLines(batch.out).size(), 2u);
  EXPECT_EQ(SplitLines(batch.out)[1].rfind("{\"id\":99999999,\"error\":\"not_found\"", 0), 0u);
  const CliRun batch_ready =
      RunCli({"--server", not_ready_address, "--batch", "counts"}, org + "\n");
  EXPECT_EQ(batch_ready.exit_code, kExitServerError);
  EXPECT_EQ(batch_ready.out.rfind("error: ", 0), 0u) << batch_ready.out;
}

// Distinct exit codes for the failures a script tells apart.
TEST_F(CliTest, DistinctExitCodes) {
  const std::string org = std::to_string(world_->forest.named.gitlab_org_id);
  EXPECT_EQ(Cli({"counts", "99999999"}).exit_code, kExitNotFound);
  EXPECT_EQ(Cli({"counts", "x"}).exit_code, kExitUsage);
  EXPECT_EQ(RunCli({"--server", "127.0.0.1:1", "counts", org}).exit_code, kExitUnreachable);
  EXPECT_EQ(Cli({"--min-lsn", "FF/0", "--wait-ms", "50", "counts", org}).exit_code, kExitStale);
  // status waits for --min-lsn too (without it, it answers at once, as a probe).
  EXPECT_EQ(Cli({"--min-lsn", "FF/0", "--wait-ms", "50", "status"}).exit_code, kExitStale);
  EXPECT_EQ(Cli({"status"}).exit_code, 0);
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
