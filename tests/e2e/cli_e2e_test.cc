// End-to-end: PostgreSQL 15 with GitLab-shaped tables
// loaded from a generated forest, the canopyd binary replicating from it as a
// child process, and the canopy CLI binary. Checks:
//   * every CLI command's output equals GitLab's SQL on the same database
//     (docs/queries.md: the linear traversal_ids form; also the recursive form for
//     ancestors, descendants and projects), in docs/queries.md's order; unknown ids
//     exit 1, bad arguments exit 2;
//   * read-your-writes: a write in PostgreSQL, then a CLI read with
//     --min-lsn <pg_current_wal_lsn() after the commit> sees it; after a
//     GitLab-style transaction stream `canopy verify` finds no difference;
//   * faults: kill -9 (the CLI exits 3, unreachable; a restarted canopyd
//     reloads and answers), SIGTERM (exit 0, slot released; a parked request
//     gets a server error, exit 8), a bad --pg conninfo.
// Each test has its own database (and canopyd). No timing assertions: every
// wait is bounded only to fail instead of hanging.
// Labels: e2e, cdc.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/testing/gitlab_forest.h"
#include "e2e_util.h"
#include "gitlab_schema.h"
#include "pg_fixture.h"

namespace canopy::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The CLI's exit codes (canopy --help).
constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitStale = 7;
constexpr int kExitServerError = 8;
// canopyd's: it cannot serve (the socket is in use).
constexpr int kCanopydCannotServe = 3;

// DaemonTest (e2e_util.h) + comparisons of the CLI's output with SQL.
class CliE2E : public DaemonTest {
 protected:
  // The CLI's answer to an id-list command vs SQL's (nullopt: unknown id,
  // exit 1). Counts mismatches (to stop early on a systematic failure).
  void ExpectIds(const std::vector<std::string>& args,
                 const std::optional<std::vector<int64_t>>& want, const char* sql_form) {
    ExpectIdsVs(Cli(args), want, sql_form);
  }
  // One CLI run against both SQL forms.
  void ExpectIdsBothForms(const std::vector<std::string>& args,
                          const std::function<std::optional<std::vector<int64_t>>(Form)>& sql) {
    const ProgramRun r = Cli(args);
    for (Form form : {Form::kLinear, Form::kRecursive}) ExpectIdsVs(r, sql(form), FormName(form));
  }
  void ExpectIdsVs(const ProgramRun& r, const std::optional<std::vector<int64_t>>& want,
                   const char* sql_form) {
    if (!want) {
      EXPECT_EQ(r.code(), kExitNotFound) << r.Describe();
      EXPECT_EQ(r.out, "") << r.command;
    } else {
      EXPECT_EQ(r.code(), kExitOk) << r.Describe();
      const std::string diff = LineDiff(r.out, Lines(*want));
      EXPECT_EQ(diff, "") << r.command << " vs " << sql_form << " SQL";
      if (!diff.empty()) ++mismatches_;
    }
  }
  void ExpectText(const std::vector<std::string>& args, const std::optional<std::string>& want) {
    ProgramRun r = Cli(args);
    if (!want) {
      EXPECT_EQ(r.code(), kExitNotFound) << r.Describe();
      EXPECT_EQ(r.out, "") << r.command;
    } else {
      EXPECT_EQ(r.code(), kExitOk) << r.Describe();
      EXPECT_EQ(r.out, *want) << r.command;
      if (r.out != *want) ++mismatches_;
    }
  }

  // A CLI request (on a thread of its own) that waits on the server for an
  // LSN that never comes: --min-lsn FF/0 with a long --wait-ms.
  class ParkedRequest {
   public:
    explicit ParkedRequest(const CliE2E* test) : test_(test) {
      thread_ = std::thread([this] {
        result_ = test_->Cli({"--min-lsn", "FF/0", "--wait-ms", "600000", "ancestors", "1"});
      });
    }
    ~ParkedRequest() {
      if (thread_.joinable()) thread_.join();
    }
    // Until `canopy status` counts a waiting request (bounded).
    void WaitUntilParked() {
      ProgramRun status;
      for (int i = 0; i < 300; ++i) {
        status = test_->Cli({"--json", "status"});
        if (JsonField(status.out, "waiting_requests").value_or("0") != "0") return;
        std::this_thread::sleep_for(milliseconds(50));
      }
      FAIL() << "no request ever parked; last status: " << status.Describe();
    }
    // Its run, once it has ended (RunProgram's own timeout bounds the wait).
    ProgramRun Result() {
      if (thread_.joinable()) thread_.join();
      return result_;
    }

   private:
    const CliE2E* test_;
    ProgramRun result_;
    std::thread thread_;
  };

  // --json <command> with --min-lsn `lsn`: the answer's ids must equal
  // `want` and its "lsn" must be at least `lsn`.
  void ExpectIdsAtLsn(const std::vector<std::string>& args, const std::vector<int64_t>& want,
                      Lsn lsn) {
    std::vector<std::string> all = {"--json", "--min-lsn", lsn.ToString(), "--wait-ms", "30000"};
    all.insert(all.end(), args.begin(), args.end());
    ProgramRun r = Cli(all);
    ASSERT_EQ(r.code(), kExitOk) << r.Describe();
    std::optional<std::vector<int64_t>> ids = JsonIds(r.out);
    ASSERT_TRUE(ids.has_value()) << r.Describe();
    EXPECT_EQ(LineDiff(Lines(*ids), Lines(want)), "") << r.command;
    std::optional<std::string> answered = JsonField(r.out, "lsn");
    ASSERT_TRUE(answered.has_value()) << r.out;
    std::optional<Lsn> at = Lsn::Parse(*answered);
    ASSERT_TRUE(at.has_value()) << r.out;
    EXPECT_GE(*at, lsn) << r.command << ": answered at " << *answered << ", wrote at "
                        << lsn.ToString();
  }

  int mismatches_ = 0;
};

// Every command for a sample of namespaces and projects (named structures,
// random ones, runner holders, archived projects), both SQL forms where
// docs/queries.md has them; --json; TCP; unknown ids; bad arguments.
TEST_F(CliE2E, EveryCommandEqualsGitlabSql) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_cli"));
  std::string status;
  ASSERT_NO_FATAL_FAILURE(StartDaemon("127.0.0.1:0", &status));
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  ASSERT_NE(named.gitlab_org_id, 0);
  ASSERT_EQ(named.chain_21.size(), 21u);

  // What canopyd loaded is what the tables hold.
  EXPECT_EQ(JsonField(status, "namespaces"), sql_->Value("SELECT count(*) FROM namespaces"));
  EXPECT_EQ(JsonField(status, "projects"), sql_->Value("SELECT count(*) FROM projects"));
  EXPECT_EQ(JsonField(status, "runner_links"),
            sql_->Value("SELECT count(*) FROM ci_runner_namespaces"));
  EXPECT_EQ(JsonField(status, "last_error"), "");
  EXPECT_EQ(JsonField(status, "orphan_namespaces"), "0");
  EXPECT_EQ(JsonField(status, "cycles_refused"), "0");

  // The sample.
  const IdSample sample = Sample();
  const std::vector<int64_t>& namespaces = sample.namespaces;
  const std::vector<int64_t>& projects = sample.projects;
  std::cerr << "[e2e] sample: " << namespaces.size() << " namespaces, " << projects.size()
            << " projects\n";

  // How often the interesting variants differ (so the sample exercises them).
  int unarchived_differs = 0, runners_nonempty = 0, runner_ancestors_differ = 0,
      with_pns_differs = 0, project_ancestors_empty = 0, project_runners_nonempty = 0;

  for (int64_t ns : namespaces) {
    SCOPED_TRACE("namespace " + Id(ns) + " (" + gitlab_->NamespaceType(ns) + ")");
    const std::string id = Id(ns);
    // Both SQL forms (linear traversal_ids, recursive CTE) for the
    // hierarchy kinds.
    GitlabSql& g = *gitlab_;
    ExpectIdsBothForms({"ancestors", id}, [&](Form f) { return g.Ancestors(ns, false, false, f); });
    ExpectIdsBothForms({"ancestors", id, "--self"},
                       [&](Form f) { return g.Ancestors(ns, true, false, f); });
    ExpectIdsBothForms({"ancestors", id, "--self", "--self-first"},
                       [&](Form f) { return g.Ancestors(ns, true, true, f); });
    ExpectIdsBothForms({"ancestors", id, "--self-first"},
                       [&](Form f) { return g.Ancestors(ns, false, true, f); });
    ExpectIdsBothForms({"descendants", id},
                       [&](Form f) { return g.Descendants(ns, false, false, f); });
    ExpectIdsBothForms({"descendants", id, "--self"},
                       [&](Form f) { return g.Descendants(ns, true, false, f); });
    ExpectIdsBothForms({"descendants", id, "--with-project-namespaces"},
                       [&](Form f) { return g.Descendants(ns, false, true, f); });
    ExpectIdsBothForms({"descendants", id, "--self", "--with-project-namespaces"},
                       [&](Form f) { return g.Descendants(ns, true, true, f); });
    ExpectIdsBothForms({"projects", id}, [&](Form f) { return g.Projects(ns, false, f); });
    ExpectIdsBothForms({"projects", id, "--unarchived"},
                       [&](Form f) { return g.Projects(ns, true, f); });
    ExpectIds({"runners", id}, gitlab_->RunnersOfGroup(ns), "linear");
    ExpectIdsBothForms({"runners", id, "--ancestors"},
                       [&](Form f) { return g.RunnersOfGroupAndAncestors(ns, f); });
    ExpectText({"counts", id}, gitlab_->CountsText(ns));
    const std::optional<std::string> path = gitlab_->NamespacePath(ns);
    ASSERT_TRUE(path.has_value());
    ExpectText({"path", id}, *path + "\n");
    // A project namespace's full path names its project (resolve answers
    // user/group namespaces, then projects).
    ExpectText({"resolve", *path}, gitlab_->ResolveText(*path));

    unarchived_differs +=
        gitlab_->Projects(ns, false, Form::kLinear) != gitlab_->Projects(ns, true, Form::kLinear);
    runners_nonempty += !gitlab_->RunnersOfGroup(ns).empty();
    runner_ancestors_differ +=
        gitlab_->RunnersOfGroupAndAncestors(ns).value() != gitlab_->RunnersOfGroup(ns);
    with_pns_differs += gitlab_->Descendants(ns, false, false, Form::kLinear) !=
                        gitlab_->Descendants(ns, false, true, Form::kLinear);
    ASSERT_LT(mismatches_, 25) << "too many differences; stopping";
  }

  for (int64_t p : projects) {
    SCOPED_TRACE("project " + Id(p));
    const std::string id = Id(p);
    GitlabSql& g = *gitlab_;
    ExpectIdsBothForms({"project-ancestors", id},
                       [&](Form f) { return g.ProjectAncestors(p, false, f); });
    ExpectIdsBothForms({"project-ancestors", id, "--self-first"},
                       [&](Form f) { return g.ProjectAncestors(p, true, f); });
    ExpectIdsBothForms({"project-runners", id}, [&](Form f) { return g.ProjectRunners(p, f); });
    const std::optional<std::string> path = gitlab_->ProjectPath(p);
    ASSERT_TRUE(path.has_value());
    ExpectText({"path", id, "--project"}, *path + "\n");
    ExpectText({"resolve", *path}, gitlab_->ResolveText(*path));
    project_ancestors_empty += gitlab_->ProjectAncestors(p, false).value().empty();
    project_runners_nonempty += !gitlab_->ProjectRunners(p).value().empty();
    ASSERT_LT(mismatches_, 25) << "too many differences; stopping";
  }
  // Paths in another case: no exact match, so GitLab's second lookup
  // (LOWER(path) = LOWER(?)); a few of each kind.
  for (size_t i = 0; i < 8; ++i) {
    for (std::optional<std::string> path :
         {i < namespaces.size() ? gitlab_->NamespacePath(namespaces[i]) : std::nullopt,
          i < projects.size() ? gitlab_->ProjectPath(projects[i]) : std::nullopt}) {
      if (!path) continue;
      const std::string variant = SwapAsciiCase(*path);
      const std::optional<std::string> want = gitlab_->ResolveText(variant);
      EXPECT_TRUE(want.has_value()) << variant;
      ExpectText({"resolve", variant}, want);
    }
  }
  EXPECT_GT(unarchived_differs, 0);
  EXPECT_GT(runners_nonempty, 0);
  EXPECT_GT(runner_ancestors_differ, 0);
  EXPECT_GT(with_pns_differs, 0);
  EXPECT_GT(project_ancestors_empty, 0);
  EXPECT_GT(project_runners_nonempty, 0);

  // --json: the same ids, and the LSN the answer reflects.
  const Lsn applied = Lsn::Parse(JsonField(status, "applied_lsn").value_or("")).value_or(Lsn());
  EXPECT_GT(applied, Lsn(0)) << status;
  {
    ProgramRun r = Cli({"--json", "ancestors", Id(named.deep_chain_leaf_id), "--self"});
    ASSERT_EQ(r.code(), kExitOk) << r.Describe();
    ASSERT_TRUE(JsonIds(r.out).has_value()) << r.out;
    EXPECT_EQ(
        LineDiff(Lines(*JsonIds(r.out)),
                 Lines(*gitlab_->Ancestors(named.deep_chain_leaf_id, true, false, Form::kLinear))),
        "");
    std::optional<Lsn> lsn = Lsn::Parse(JsonField(r.out, "lsn").value_or(""));
    ASSERT_TRUE(lsn.has_value()) << r.out;
    EXPECT_GE(*lsn, applied);

    r = Cli({"--json", "descendants", Id(named.gitlab_org_id), "--with-project-namespaces"});
    ASSERT_EQ(r.code(), kExitOk) << r.Describe();
    ASSERT_TRUE(JsonIds(r.out).has_value()) << r.out;
    EXPECT_EQ(
        LineDiff(Lines(*JsonIds(r.out)),
                 Lines(*gitlab_->Descendants(named.gitlab_org_id, false, true, Form::kLinear))),
        "");

    r = Cli({"--json", "counts", Id(named.gitlab_org_id)});
    ASSERT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_EQ(JsonField(r.out, "projects"),
              Id(static_cast<int64_t>(
                  gitlab_->Projects(named.gitlab_org_id, false, Form::kLinear)->size())));
    EXPECT_TRUE(JsonField(r.out, "lsn").has_value()) << r.out;

    r = Cli({"--json", "path", Id(named.gitlab_org_project_id), "--project"});
    ASSERT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_EQ(JsonField(r.out, "path"), gitlab_->ProjectPath(named.gitlab_org_project_id));

    r = Cli({"--json", "resolve", gitlab_->NamespacePath(named.chain_21_leaf_id).value()});
    ASSERT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_EQ(JsonField(r.out, "type"), "namespace");
    EXPECT_EQ(JsonField(r.out, "id"), Id(named.chain_21_leaf_id));
  }

  // The same server over TCP (canopyd logs the port it bound for :0).
  {
    std::smatch m;
    const std::string log = daemon_->Log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex("tcp port ([0-9]+)"))) << log;
    const std::string server = "127.0.0.1:" + m[1].str();
    ProgramRun r = RunProgram(
        {CANOPY_CLI_PATH, "--server", server, "descendants", Id(named.huge_group_id), "--self"});
    EXPECT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_EQ(LineDiff(r.out, Lines(*gitlab_->Descendants(named.huge_group_id, true, false,
                                                          Form::kLinear))),
              "");
    r = RunProgram({CANOPY_CLI_PATH, "--server", server, "project-ancestors",
                    Id(named.chain_21_leaf_project_id)});
    EXPECT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_EQ(
        LineDiff(r.out, Lines(*gitlab_->ProjectAncestors(named.chain_21_leaf_project_id, false))),
        "");
  }

  // Unknown ids: "not found" (exit 1), nothing on stdout, a message on stderr.
  const std::string unknown = Id(kUnknownId);
  ASSERT_FALSE(gitlab_->NamespaceExists(kUnknownId));
  ASSERT_FALSE(gitlab_->ProjectExists(kUnknownId));
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"ancestors", unknown},
           {"ancestors", unknown, "--self"},
           {"descendants", unknown},
           {"descendants", unknown, "--with-project-namespaces"},
           {"projects", unknown},
           {"projects", unknown, "--unarchived"},
           {"runners", unknown, "--ancestors"},
           {"counts", unknown},
           {"path", unknown},
           {"project-ancestors", unknown},
           {"project-runners", unknown},
           {"path", unknown, "--project"},
           {"resolve", "no-such-group/no-such-project"},
           {"resolve", gitlab_->NamespacePath(named.gitlab_org_id).value() + "/no-such-child"},
       }) {
    ProgramRun r = Cli(args);
    EXPECT_EQ(r.code(), kExitNotFound) << r.Describe();
    EXPECT_EQ(r.out, "") << r.command;
    EXPECT_EQ(r.err.rfind("canopy: ", 0), 0u) << r.Describe();
  }
  // Runners of an id nobody links to: SQL's `namespace_id = X` is empty,
  // never "not found".
  ExpectIds({"runners", unknown}, gitlab_->RunnersOfGroup(kUnknownId), "linear");

  // Bad arguments: usage (exit 2), nothing on stdout. Ids are 1..INT64_MAX:
  // 0, negative and larger ids are out of range (not "not found").
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"ancestors"},
           {"ancestors", "abc"},
           {"ancestors", "-5"},
           {"ancestors", "0"},
           {"ancestors", "9999999999999999999"},
           {"descendants", "18446744073709551616", "--self"},
           {"ancestors", "5", "--pg", db_->conninfo()},
           {"status", "--sample", "5"},
           {"--wait-ms", "4294967296", "ancestors", "1"},
           {"ancestors", "1", "2"},
           {"ancestors", Id(named.gitlab_org_id), "--with-project-namespaces"},
           {"descendants", Id(named.gitlab_org_id), "--bogus"},
           {"projects", Id(named.gitlab_org_id), "--self"},
           {"runners", "1x"},
           {"counts"},
           {"path", "one/two"},
           {"resolve"},
           {"frobnicate", "1"},
           {"status", "extra"},
           {"verify"},
           {"verify", "--pg", db_->conninfo(), "--form", "sideways"},
           {"--min-lsn", "not-an-lsn", "ancestors", "1"},
           {"--wait-ms", "soon", "ancestors", "1"},
       }) {
    ProgramRun r = Cli(args);
    EXPECT_EQ(r.code(), kExitUsage) << r.Describe();
    EXPECT_EQ(r.out, "") << r.command;
    EXPECT_NE(r.err.find("canopy: "), std::string::npos) << r.Describe();
  }
  ProgramRun r = RunProgram({CANOPY_CLI_PATH, "--server", "no-port-here", "status"});
  EXPECT_EQ(r.code(), kExitUsage) << r.Describe();
  r = RunProgram({CANOPY_CLI_PATH});
  EXPECT_EQ(r.code(), kExitUsage) << r.Describe();
}

// A GitLab-style write, then a read with the write's LSN as --min-lsn sees
// it: a subgroup transfer (parent_id + the subtree's traversal_ids in one
// transaction), an archived project, a new group with a project. Then a
// GitLab-style transaction stream and `canopy verify` (both SQL forms).
TEST_F(CliE2E, ReadYourWritesThenVerify) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_ryw"));
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;

  // 1. Transfer a subgroup that has subgroups and projects to an empty
  //    top-level group (none of the generator's named rows inside).
  const int64_t target = named.transfer_target_a_id;
  SubtreeTransfer transfer;
  ASSERT_NO_FATAL_FAILURE(TransferSubtree(PickMovableSubgroup(), target, &transfer));
  const int64_t moved = transfer.moved;
  const int64_t old_parent = transfer.old_parent;
  const int64_t deep = transfer.deep;
  Lsn lsn = WalLsn();
  // The SQL answers after the move (both forms agree: traversal_ids kept in sync).
  ASSERT_EQ(gitlab_->Ancestors(deep, true, false, Form::kLinear),
            gitlab_->Ancestors(deep, true, false, Form::kRecursive));
  ASSERT_EQ(gitlab_->Ancestors(deep, true, false, Form::kLinear)->front(), target);
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"ancestors", Id(deep), "--self"},
                                         *gitlab_->Ancestors(deep, true, false, Form::kLinear),
                                         lsn));
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"descendants", Id(target)},
                                         *gitlab_->Descendants(target, false, false, Form::kLinear),
                                         lsn));
  ASSERT_NO_FATAL_FAILURE(
      ExpectIdsAtLsn({"descendants", Id(old_parent), "--self", "--with-project-namespaces"},
                     *gitlab_->Descendants(old_parent, true, true, Form::kLinear), lsn));
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"projects", Id(target)},
                                         *gitlab_->Projects(target, false, Form::kLinear), lsn));
  EXPECT_FALSE(gitlab_->Projects(target, false, Form::kLinear)->empty());

  // 2. Archive a project in a group (not a named one).
  const std::vector<int64_t> archivable = gitlab_->Ids(
      "SELECT p.id FROM projects p JOIN namespaces n ON n.id = p.namespace_id AND n.type = 'Group' "
      "WHERE NOT p.archived AND p.id <> ALL(ARRAY[" +
      Id(named.gitlab_org_project_id) + "," + Id(named.user_project_id) + "," +
      Id(named.chain_21_leaf_project_id) + "]::bigint[]) ORDER BY p.id LIMIT 1");
  ASSERT_EQ(archivable.size(), 1u);
  const int64_t archived = archivable[0];
  const int64_t holder =
      std::stoll(sql_->Value("SELECT namespace_id FROM projects WHERE id = " + Id(archived)));
  const int64_t holder_root = gitlab_->Ancestors(holder, true, false, Form::kLinear)->front();
  ASSERT_TRUE(sql_->Exec("UPDATE projects SET archived = true WHERE id = " + Id(archived)));
  lsn = WalLsn();
  {
    const std::vector<int64_t> unarchived = *gitlab_->Projects(holder_root, true, Form::kLinear);
    ASSERT_EQ(std::count(unarchived.begin(), unarchived.end(), archived), 0);
    ASSERT_NO_FATAL_FAILURE(
        ExpectIdsAtLsn({"projects", Id(holder_root), "--unarchived"}, unarchived, lsn));
    const std::vector<int64_t> all = *gitlab_->Projects(holder_root, false, Form::kLinear);
    ASSERT_EQ(std::count(all.begin(), all.end(), archived), 1);
    ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"projects", Id(holder_root)}, all, lsn));
    ExpectText({"--min-lsn", lsn.ToString(), "counts", Id(holder_root)},
               gitlab_->CountsText(holder_root));
  }
  forest_.projects[static_cast<size_t>(archived - 1)].archived = true;

  // 3. Create a group below the moved subtree's deepest group, and a project
  //    in it: namespace INSERT with traversal_ids '{}' then the UPDATE that
  //    sets it, as GitLab does, all in one transaction.
  const int64_t parent = std::stoll(
      sql_->Value("SELECT id FROM namespaces WHERE type = 'Group' AND traversal_ids @> ARRAY[" +
                  Id(moved) + "]::bigint[] ORDER BY cardinality(traversal_ids) DESC, id LIMIT 1"));
  const int64_t group_id = static_cast<int64_t>(forest_.namespaces.size()) + 1;
  const int64_t pns_id = group_id + 1;
  const int64_t project_id = static_cast<int64_t>(forest_.projects.size()) + 1;
  ASSERT_TRUE(sql_->Exec(
      "BEGIN;"
      "INSERT INTO namespaces (id, name, path, type, visibility_level, parent_id, traversal_ids) "
      "VALUES (" +
      Id(group_id) + ", 'E2E new group', 'e2e-new-group', 'Group', 20, " + Id(parent) +
      ", '{}');"
      "UPDATE namespaces SET traversal_ids = canopy_test_path(id) WHERE id = " +
      Id(group_id) +
      ";"
      "INSERT INTO namespaces (id, name, path, type, visibility_level, parent_id, traversal_ids) "
      "VALUES (" +
      Id(pns_id) + ", 'e2e project', 'e2e-project', 'Project', 20, " + Id(group_id) +
      ", '{}');"
      "INSERT INTO projects (id, name, path, namespace_id, visibility_level, project_namespace_id) "
      "VALUES (" +
      Id(project_id) + ", 'e2e project', 'e2e-project', " + Id(group_id) + ", 20, " + Id(pns_id) +
      ");"
      "UPDATE namespaces SET traversal_ids = canopy_test_path(id) WHERE id = " +
      Id(pns_id) +
      ";"
      "COMMIT"));
  lsn = WalLsn();
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"ancestors", Id(group_id), "--self"},
                                         *gitlab_->Ancestors(group_id, true, false, Form::kLinear),
                                         lsn));
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"projects", Id(group_id)}, {project_id}, lsn));
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"project-ancestors", Id(project_id)},
                                         *gitlab_->ProjectAncestors(project_id, false), lsn));
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"descendants", Id(target), "--self"},
                                         *gitlab_->Descendants(target, true, false, Form::kLinear),
                                         lsn));
  const std::string group_path = gitlab_->NamespacePath(group_id).value();
  ExpectText({"--min-lsn", lsn.ToString(), "path", Id(group_id)}, group_path + "\n");
  ExpectText({"--min-lsn", lsn.ToString(), "resolve", group_path},
             "namespace " + Id(group_id) + "\n");
  ExpectText({"--min-lsn", lsn.ToString(), "resolve", group_path + "/e2e-project"},
             "project " + Id(project_id) + "\n");

  // 4. Rename it (a path with non-ASCII characters): path and resolve follow.
  const std::string new_path = "e2e-gr\u00fc\u00dfe.\u00e9t\u00e9";
  ASSERT_TRUE(sql_->Exec("UPDATE namespaces SET name = 'E2E renamed', path = " +
                         gitlab_->Literal(new_path) + " WHERE id = " + Id(group_id)));
  lsn = WalLsn();
  const std::string renamed = gitlab_->NamespacePath(group_id).value();
  ASSERT_EQ(renamed.substr(renamed.size() - new_path.size()), new_path);
  ExpectText({"--min-lsn", lsn.ToString(), "path", Id(project_id), "--project"},
             renamed + "/e2e-project\n");
  ExpectText({"--min-lsn", lsn.ToString(), "resolve", renamed}, "namespace " + Id(group_id) + "\n");
  // In another ASCII case (the non-ASCII bytes as they are): the same group.
  EXPECT_EQ(gitlab_->ResolveText(SwapAsciiCase(renamed)), "namespace " + Id(group_id) + "\n");
  ExpectText({"--min-lsn", lsn.ToString(), "resolve", SwapAsciiCase(renamed)},
             gitlab_->ResolveText(SwapAsciiCase(renamed)));
  ExpectText({"--min-lsn", lsn.ToString(), "resolve", SwapAsciiCase(renamed) + "/E2E-Project"},
             "project " + Id(project_id) + "\n");
  ExpectText({"--min-lsn", lsn.ToString(), "resolve", group_path}, std::nullopt);  // the old path
  {
    ProgramRun r = Cli({"--json", "--min-lsn", lsn.ToString(), "path", Id(group_id)});
    EXPECT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_EQ(JsonField(r.out, "path"), renamed) << r.out;
  }
  {
    NamespaceRow group{.id = group_id,
                       .parent_id = parent,
                       .type = NamespaceType::kGroup,
                       .name = "E2E renamed",
                       .path = new_path,
                       .visibility_level = 20};
    NamespaceRow pns{.id = pns_id,
                     .parent_id = group_id,
                     .type = NamespaceType::kProject,
                     .name = "e2e project",
                     .path = "e2e-project",
                     .visibility_level = 20};
    ProjectRow project{.id = project_id,
                       .namespace_id = group_id,
                       .project_namespace_id = pns_id,
                       .name = "e2e project",
                       .path = "e2e-project",
                       .visibility_level = 20};
    forest_.namespaces.push_back(group);
    forest_.namespaces.push_back(pns);
    forest_.projects.push_back(project);
  }
  // The generator's forest follows the database again (so its stream stays valid).
  Status valid = canopy::testing::ValidateForest(forest_);
  ASSERT_TRUE(valid.ok()) << valid.ToString();

  // 5. A GitLab-style stream of transactions, then `canopy verify`.
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(400));
  for (const char* form : {"linear", "recursive"}) {
    ProgramRun r = Cli({"--wait-ms", "60000", "verify", "--pg", db_->conninfo(), "--sample", "200",
                        "--form", form});
    std::cerr << "[e2e] verify " << form << ": " << r.out;
    EXPECT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_NE(r.out.find(" 0 differences"), std::string::npos) << r.Describe();
    EXPECT_NE(r.out.find("200/"), std::string::npos) << r.Describe();  // 200 namespaces checked
  }
  ProgramRun r = Cli({"--json", "verify", "--pg", db_->conninfo(), "--sample", "50"});
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();
  EXPECT_EQ(JsonField(r.out, "differences"), "0") << r.out;
  EXPECT_EQ(JsonField(r.out, "namespaces_checked"), "50") << r.out;

  // Nothing written since: canopyd holds what the tables hold.
  r = Cli({"--json", "status"});
  ASSERT_EQ(r.code(), kExitOk) << r.Describe();
  EXPECT_EQ(JsonField(r.out, "state"), "streaming");
  EXPECT_EQ(JsonField(r.out, "namespaces"), sql_->Value("SELECT count(*) FROM namespaces"));
  EXPECT_EQ(JsonField(r.out, "projects"), sql_->Value("SELECT count(*) FROM projects"));
  EXPECT_EQ(JsonField(r.out, "runner_links"),
            sql_->Value("SELECT count(*) FROM ci_runner_namespaces"));

  // verify can fail: a database that differs from what canopyd holds (the
  // same rows, every project's archived flag flipped) is reported as
  // differences, exit 4. (A twin database, not a change canopyd cannot see in
  // its own: canopyd checks its publication every few seconds and would stop
  // serving before a slow verify ends.)
  cdc::testing::TestDatabase twin("canopy_e2e_cli_verify_twin");
  ASSERT_TRUE(twin.ok());
  cdc::testing::Sql twin_sql(twin.conninfo());
  ASSERT_TRUE(cdc::testing::CreateGitlabSchema(twin_sql));
  ASSERT_TRUE(cdc::testing::LoadForest(twin_sql, forest_));
  ASSERT_TRUE(twin_sql.Exec("UPDATE projects SET archived = NOT archived"));
  r = Cli({"--json", "--wait-ms", "60000", "verify", "--pg", twin.conninfo(), "--sample", "100"});
  EXPECT_EQ(r.code(), 4) << r.Describe();
  EXPECT_NE(JsonField(r.out, "differences").value_or("0"), "0") << r.Describe();
}

// kill -9: the CLI reports the server unreachable (exit 3, a message, no
// crash), also for a request that was parked on --min-lsn; a restarted
// canopyd (same socket path, left behind by the killed one) reloads and
// answers, including a write made while it was down; a second canopyd on the
// same socket refuses to start; SIGTERM: a parked request is answered
// (shutting down: a server error, exit 8), canopyd exits 0 and its temporary
// slot is released; then the CLI finds nobody (exit 3).
TEST_F(CliE2E, KillRestartAndSigterm) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_faults"));
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  const std::string leaf = Id(named.chain_21_leaf_id);
  ExpectIds({"ancestors", leaf, "--self"},
            gitlab_->Ancestors(named.chain_21_leaf_id, true, false, Form::kLinear), "linear");
  const std::string slots_sql =
      "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()";
  EXPECT_EQ(sql_->Value(slots_sql), "1");

  // kill -9 while a request waits on the server for an LSN that never comes.
  {
    ParkedRequest parked(this);
    ASSERT_NO_FATAL_FAILURE(parked.WaitUntilParked());
    const ProcessExit killed = daemon_->Stop(SIGKILL);
    ASSERT_EQ(killed.signal, SIGKILL) << killed.Describe();
    const ProgramRun r = parked.Result();
    EXPECT_EQ(r.code(), kExitUnreachable) << r.Describe();
    EXPECT_EQ(r.err.rfind("canopy: ", 0), 0u) << r.Describe();
  }
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"status"},
                                             {"ancestors", leaf},
                                             {"descendants", leaf, "--self"},
                                             {"--min-lsn", "0/1", "counts", leaf}}) {
    ProgramRun r = Cli(args);
    EXPECT_EQ(r.code(), kExitUnreachable) << r.Describe();
    EXPECT_EQ(r.out, "") << r.command;
    EXPECT_EQ(r.err.rfind("canopy: ", 0), 0u) << r.Describe();
    EXPECT_GT(r.err.size(), std::string("canopy: \n").size()) << r.Describe();
  }
  {
    // --json: the error as one JSON object on stderr.
    ProgramRun r = Cli({"--json", "descendants", leaf});
    EXPECT_EQ(r.code(), kExitUnreachable) << r.Describe();
    EXPECT_EQ(r.out, "") << r.command;
    EXPECT_EQ(r.err.rfind("{\"error\":\"unreachable\",\"message\":\"", 0), 0u) << r.Describe();
    EXPECT_NE(r.err.find(",\"exit_code\":3}\n"), std::string::npos) << r.Describe();
  }

  // A write while canopyd is down.
  const int64_t group_id = static_cast<int64_t>(forest_.namespaces.size()) + 1;
  ASSERT_TRUE(sql_->Exec(
      "BEGIN;"
      "INSERT INTO namespaces (id, name, path, type, visibility_level, parent_id, traversal_ids) "
      "VALUES (" +
      Id(group_id) + ", 'while down', 'while-down', 'Group', 20, " + Id(named.small_group_id) +
      ", '{}');"
      "UPDATE namespaces SET traversal_ids = canopy_test_path(id) WHERE id = " +
      Id(group_id) +
      ";"
      "COMMIT"));
  const Lsn lsn = WalLsn();

  // Restart on the same socket path (the killed process left its socket file).
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  ASSERT_NO_FATAL_FAILURE(
      ExpectIdsAtLsn({"descendants", Id(named.small_group_id), "--self"},
                     *gitlab_->Descendants(named.small_group_id, true, false, Form::kLinear), lsn));
  ASSERT_NO_FATAL_FAILURE(ExpectIdsAtLsn({"ancestors", Id(group_id)},
                                         *gitlab_->Ancestors(group_id, false, false, Form::kLinear),
                                         lsn));
  ExpectIds({"ancestors", leaf, "--self"},
            gitlab_->Ancestors(named.chain_21_leaf_id, true, false, Form::kLinear), "linear");
  // The killed instance's temporary slot went with its connection.
  std::string slots;
  for (int i = 0; i < 200 && (slots = sql_->Value(slots_sql)) != "1"; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(slots, "1");

  // A second canopyd on the live socket: refused (exit 3, says why); the
  // first keeps serving.
  {
    DaemonProcess second;
    const std::string second_log = dir_.path() + "/second.log";
    ASSERT_TRUE(second.Start(
        {CANOPYD_PATH, "--pg", db_->conninfo(), "--unix", sock_, "--listen", "none"}, second_log));
    const ProcessExit e = second.Wait(seconds(30));
    EXPECT_TRUE(e.exited && e.code == kCanopydCannotServe) << e.Describe() << "\n" << second.Log();
    EXPECT_NE(second.Log().find(sock_), std::string::npos) << second.Log();
    ExpectIds({"ancestors", leaf, "--self"},
              gitlab_->Ancestors(named.chain_21_leaf_id, true, false, Form::kLinear), "linear");
  }

  // SIGTERM with a request parked on --min-lsn: the request is answered
  // (shutting down: a server error), canopyd exits 0, the replication
  // connection is closed (its temporary slot dropped).
  {
    ParkedRequest parked(this);
    ASSERT_NO_FATAL_FAILURE(parked.WaitUntilParked());
    const ProcessExit stopped = daemon_->Stop(SIGTERM);
    EXPECT_TRUE(stopped.exited) << stopped.Describe();
    EXPECT_EQ(stopped.code, 0) << stopped.Describe();
    const ProgramRun r = parked.Result();
    EXPECT_EQ(r.code(), kExitServerError) << r.Describe();
    EXPECT_EQ(r.err.rfind("canopy: ", 0), 0u) << r.Describe();
    EXPECT_NE(r.err.find("shutting_down"), std::string::npos) << r.Describe();
  }
  EXPECT_NE(daemon_->Log().find("received SIGTERM"), std::string::npos);
  for (int i = 0; i < 200 && (slots = sql_->Value(slots_sql)) != "0"; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(slots, "0");
  ProgramRun r = Cli({"status"});
  EXPECT_EQ(r.code(), kExitUnreachable) << r.Describe();
}

// With a permanent slot (--slot): kill -9, then a restart with the same slot
// (the index is in memory only, so canopyd re-creates the slot and loads a
// snapshot) answers again, including a write made while it was down; after
// SIGTERM the permanent slot stays, inactive.
TEST_F(CliE2E, PermanentSlotRestart) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_slot"));
  const std::string slot = "canopy_e2e_slot";
  ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr, {"--slot", slot}));
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  ExpectIds({"descendants", Id(named.gitlab_org_id)},
            gitlab_->Descendants(named.gitlab_org_id, false, false, Form::kLinear), "linear");
  const ProcessExit killed = daemon_->Stop(SIGKILL);
  ASSERT_EQ(killed.signal, SIGKILL) << killed.Describe();

  ASSERT_TRUE(sql_->Exec("UPDATE projects SET archived = NOT archived WHERE namespace_id = " +
                         Id(named.gitlab_org_id)));
  const Lsn lsn = WalLsn();
  ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr, {"--slot", slot}));
  ASSERT_NO_FATAL_FAILURE(
      ExpectIdsAtLsn({"projects", Id(named.gitlab_org_id), "--unarchived"},
                     *gitlab_->Projects(named.gitlab_org_id, true, Form::kLinear), lsn));
  const ProcessExit stopped = daemon_->Stop(SIGTERM);
  EXPECT_TRUE(stopped.exited && stopped.code == 0) << stopped.Describe();
  EXPECT_EQ(sql_->Value("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot +
                        "' AND NOT temporary"),
            "1");
  std::string active;
  for (int i = 0; i < 200 && (active = sql_->Value("SELECT active FROM pg_replication_slots "
                                                   "WHERE slot_name = '" +
                                                   slot + "'")) != "f";
       ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(active, "f");
}

// canopyd pointed at a PostgreSQL that is not there (retried: that may
// heal): it keeps serving `status` (not streaming, the error in last_error),
// queries answer with a server error (not ready: exit 8; a min_lsn wait:
// stale, exit 7), and SIGTERM (or SIGINT) still stops it with exit 0. At a
// database that does not exist (retrying cannot heal that): exit 4 at once.
// A conninfo libpq cannot parse: exit 2.
TEST_F(CliE2E, BadConninfo) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_badpg", /*load=*/false));
  struct Case {
    std::string name;
    std::string conninfo;
  };
  const std::vector<Case> cases = {
      // Nothing listens on port 1.
      {"no server", "host=127.0.0.1 port=1 dbname=canopy connect_timeout=2"},
      // The same, stopped with SIGINT.
      {"no server, SIGINT", "host=127.0.0.1 port=1 dbname=canopy connect_timeout=2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    daemon_ = std::make_unique<DaemonProcess>();
    std::vector<std::string> argv = {CANOPYD_PATH, "--pg", c.conninfo, "--create-publication",
                                     "--unix",     sock_,  "--listen", "none"};
    ASSERT_TRUE(daemon_->Start(argv, log_path_));
    // It serves status; replication keeps failing and says why.
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    ProgramRun r;
    std::string last_error;
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::optional<ProcessExit> e = daemon_->Poll()) {
        FAIL() << "canopyd ended with a bad --pg: " << e->Describe() << "\n" << daemon_->Log();
      }
      r = Cli({"--json", "status"});
      last_error = JsonField(r.out, "last_error").value_or("");
      if (r.code() == kExitOk && !last_error.empty()) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_EQ(r.code(), kExitOk) << r.Describe();
    EXPECT_FALSE(last_error.empty()) << r.out;
    EXPECT_NE(JsonField(r.out, "state"), "streaming") << r.out;
    EXPECT_EQ(JsonField(r.out, "namespaces"), "0") << r.out;
    std::cerr << "[e2e] " << c.name << ": state " << JsonField(r.out, "state").value_or("?")
              << ", last_error: " << last_error << "\n";
    // Queries: no index to answer from, a server error.
    r = Cli({"ancestors", "1"});
    EXPECT_EQ(r.code(), kExitServerError) << r.Describe();
    EXPECT_EQ(r.err.rfind("canopy: ", 0), 0u) << r.Describe();
    r = Cli({"--json", "ancestors", "1"});
    EXPECT_EQ(r.code(), kExitServerError) << r.Describe();
    EXPECT_EQ(r.err.rfind("{\"error\":\"server_error\",", 0), 0u) << r.Describe();
    // A min_lsn that cannot come: stale after the wait.
    r = Cli({"--min-lsn", "0/1", "--wait-ms", "200", "counts", "1"});
    EXPECT_EQ(r.code(), kExitStale) << r.Describe();
    // status answers at once as a probe, but with --min-lsn it waits first.
    r = Cli({"--min-lsn", "0/1", "--wait-ms", "200", "status"});
    EXPECT_EQ(r.code(), kExitStale) << r.Describe();

    // SIGINT stops it like SIGTERM.
    const int sig = c.name == "no server, SIGINT" ? SIGINT : SIGTERM;
    const ProcessExit e = daemon_->Stop(sig);
    EXPECT_TRUE(e.exited && e.code == 0) << strsignal(sig) << ": " << e.Describe() << "\n"
                                         << daemon_->Log();
    // Replication trouble is a warning, not info.
    EXPECT_NE(daemon_->Log().find(" warning replica: session ended"), std::string::npos)
        << daemon_->Log();
  }

  // The server is there, the database is not: failed, exit 4 at once.
  {
    ProgramRun r = RunProgram({CANOPYD_PATH, "--pg", db_->conninfo() + "_missing",
                               "--create-publication", "--unix", sock_, "--listen", "none"});
    EXPECT_EQ(r.code(), 4) << r.Describe();
    EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.Describe();
  }

  // A conninfo libpq cannot parse never will: canopyd refuses it at start.
  ProgramRun r = RunProgram(
      {CANOPYD_PATH, "--pg", "this is = not a conninfo", "--unix", sock_, "--listen", "none"});
  EXPECT_EQ(r.code(), kExitUsage) << r.Describe();
  EXPECT_NE(r.err.find("cannot parse the conninfo"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace canopy::e2e
