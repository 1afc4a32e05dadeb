// e2e_util.h — helpers for canopy's end-to-end tests: running the canopy CLI
// and canopyd as child processes, reading their JSON, GitLab's SQL (the twin
// of every CLI command, docs/queries.md) run on the test database, and DaemonTest,
// the fixture every e2e suite builds on (a database loaded with a generated
// GitLab-shaped forest, canopyd replicating it).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/testing/child_process.h"
#include "canopy/testing/gitlab_forest.h"
#include "pg_fixture.h"

namespace canopy::e2e {

// ---- processes ----

// How a child process ended: exited + code, signal, timed_out (then killed
// with SIGKILL), Describe().
using ProcessExit = canopy::testing::ChildExit;

struct ProgramRun {
  ProcessExit exit;
  std::string out;      // stdout
  std::string err;      // stderr
  std::string command;  // for messages
  // The exit code, or -1 when the program did not exit normally (signal, timeout).
  int code() const { return exit.exited ? exit.code : -1; }
  std::string Describe() const;  // command, exit, stderr
};

// Runs argv[0] with the arguments (no shell), capturing stdout and stderr,
// waiting at most `timeout` (then SIGKILL): canopy::testing::RunChild. Children
// of these helpers get SIGKILL when the test thread that started them ends
// (PR_SET_PDEATHSIG), so a test binary that is killed leaves no process behind.
ProgramRun RunProgram(const std::vector<std::string>& argv,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Sets an environment variable (for the children spawned) while it lives;
// unsets it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// A temporary directory (short, under /tmp, so Unix socket paths fit),
// removed with everything in it by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// canopyd as a child process (a canopy::testing::Child). Its stdout and
// stderr are appended to `log_path`. The destructor kills it (SIGKILL) if it
// still runs.
class DaemonProcess {
 public:
  DaemonProcess() = default;
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // argv[0] is the program. false when it could not be spawned.
  bool Start(const std::vector<std::string>& argv, const std::string& log_path);
  // Started and not reaped yet.
  bool running() const { return child_ != nullptr && !child_->ended(); }
  pid_t pid() const { return running() ? child_->pid() : -1; }
  // The exit if it has ended (reaps it), else nullopt.
  std::optional<ProcessExit> Poll();
  // Sends `sig` and waits for the end (bounded; SIGKILL after the timeout).
  ProcessExit Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for the end without sending anything (bounded, as Stop).
  ProcessExit Wait(std::chrono::milliseconds timeout);
  std::string Log() const;  // everything it wrote so far

 private:
  std::unique_ptr<canopy::testing::Child> child_;
  std::string log_path_;
};

// Reads a whole file ("" if it cannot).
std::string ReadFile(const std::string& path);

// A loopback TCP port nothing listens on right now (the kernel's pick).
int FreeTcpPort();

// ---- the CLI's output ----

// The raw value of a top-level `"key":` in a one-line JSON object: a string's
// contents (unescaped only for the simple escapes the CLI writes), or a
// number / true / false as written. nullopt when the key is absent.
std::optional<std::string> JsonField(const std::string& json, const std::string& key);
// The "ids" array of an id-list answer ({"ids":[...],"lsn":"..."}).
std::optional<std::vector<int64_t>> JsonIds(const std::string& json);
// One id per line (the CLI's plain output of an id list).
std::string Lines(const std::vector<int64_t>& ids);

// ---- GitLab's SQL, the twin of each command ----

enum class Form { kLinear, kRecursive };
const char* FormName(Form form);

// Each method runs GitLab's SQL from testing/sql/queries (the one copy,
// canopy/testing/gitlab_sql.h) on `sql`, dispatching on the target's class as
// GitLab does, and returns the answer in the order docs/queries.md defines
// (ancestors root first unless self_first; everything else ascending id).
// nullopt: the id is unknown (the CLI must answer "not found").
class GitlabSql {
 public:
  explicit GitlabSql(cdc::testing::Sql& sql) : sql_(sql) {}

  bool NamespaceExists(int64_t ns);
  bool ProjectExists(int64_t project);
  std::string NamespaceType(int64_t ns);  // "Group", "User", "Project" or ""

  // self_and_ancestors / ancestors: `unnest(traversal_ids)` (linear) or the
  // recursive CTE on parent_id.
  std::optional<std::vector<int64_t>> Ancestors(int64_t ns, bool self, bool self_first, Form form);
  // self_and_descendants / descendants with GitLab's class scoping (a
  // group's descendants are groups), or of any type with project namespaces.
  std::optional<std::vector<int64_t>> Descendants(int64_t ns, bool self,
                                                  bool with_project_namespaces, Form form);
  // all_project_ids / all_unarchived_project_ids.
  std::optional<std::vector<int64_t>> Projects(int64_t ns, bool unarchived, Form form);
  // Project#ancestors: the project's group and its ancestors.
  std::optional<std::vector<int64_t>> ProjectAncestors(int64_t project, bool self_first,
                                                       Form form = Form::kLinear);
  // Ci::Runner.belonging_to_group (never "not found").
  std::vector<int64_t> RunnersOfGroup(int64_t ns);
  // Ci::Runner.belonging_to_group_and_ancestors.
  std::optional<std::vector<int64_t>> RunnersOfGroupAndAncestors(int64_t ns,
                                                                 Form form = Form::kLinear);
  // Ci::Runner.belonging_to_parent_groups_of_project.
  std::optional<std::vector<int64_t>> ProjectRunners(int64_t project, Form form = Form::kLinear);
  // The CLI's `counts` text: descendant_groups, descendant_project_namespaces,
  // projects, unarchived_projects (one "name N" line each).
  std::optional<std::string> CountsText(int64_t ns);
  // Full paths from `path` segments root first (GitLab's routes).
  std::optional<std::string> NamespacePath(int64_t ns);
  std::optional<std::string> ProjectPath(int64_t project);
  // The CLI's `resolve` text ("namespace N" or "project N"): a user or group
  // namespace with that full path (lowest id), else a project of the
  // namespace before the last segment; if neither, the same ignoring case
  // (LOWER(...) = LOWER(...), as Routable.find_by_full_path).
  std::optional<std::string> ResolveText(const std::string& full_path);

  std::vector<int64_t> Ids(const std::string& query);  // first column as ids
  std::string Literal(const std::string& text);        // a quoted SQL literal

 private:
  // The rows of GitLab's SQL `name` in `form` with `params` bound ($1, $2)
  // and `type` as the class scope; an error fails the test.
  std::vector<std::vector<std::string>> Run(const std::string& name, Form form,
                                            const std::vector<std::string>& params,
                                            const std::string& type = "Group");
  // Run with one id; the first column as ids, sorted if `sort`.
  std::vector<int64_t> RunIds(const std::string& name, Form form, int64_t id,
                              const std::string& type, bool sort);

  cdc::testing::Sql& sql_;
};

// ---- the common fixture ----

// An id no table holds.
inline constexpr int64_t kUnknownId = 987'654'321;

std::string Id(int64_t id);  // std::to_string
// A-Z to a-z and a-z to A-Z; other bytes unchanged (a full path in another case).
std::string SwapAsciiCase(std::string text);

// "" when `got` == `want`, else a short account of the first difference
// between the two texts, line by line (answers can have thousands of lines).
std::string LineDiff(const std::string& got, const std::string& want);

// The ids a suite asks about: the generator's named structures (gitlab-org,
// the huge group, the 21-level and deep chains, a user namespace, the
// project namespace at depth 22) and random ones of every type, groups with
// runners and below them, groups holding archived projects and their roots;
// projects of every kind (archived, in a user namespace, with runners above).
// Sorted, no duplicates.
struct IdSample {
  std::vector<int64_t> namespaces;
  std::vector<int64_t> projects;
};

// A subtree transfer (see DaemonTest::TransferSubtree).
struct SubtreeTransfer {
  int64_t moved = 0;       // the subgroup that moved
  int64_t old_parent = 0;  // its parent before
  int64_t target = 0;      // its parent now
  int64_t deep = 0;        // the deepest namespace below it (ties: lowest id)
};

// The database, the forest it was loaded from, and canopyd on it. Each test
// has its own database (and canopyd); every wait is bounded.
class DaemonTest : public ::testing::Test {
 protected:
  // Stops canopyd with SIGTERM (it must exit 0), prints its log if the test
  // failed, drops the database.
  void TearDown() override;

  // A fresh database `name` with the GitLab schema and (if `load`) the
  // forest (seed: CANOPY_TEST_SEED or a fixed one) loaded.
  void Prepare(const std::string& name, bool load = true);

  // canopyd --pg <db> --create-publication --unix <sock> --listen <listen>
  // --threads 2 [extra...], started as a child process (not waited for).
  void SpawnDaemon(const std::string& listen, const std::vector<std::string>& extra = {});
  // SpawnDaemon, then waits until `canopy status` says streaming. Returns the
  // status JSON in *status_json (if given).
  void StartDaemon(const std::string& listen = "none", std::string* status_json = nullptr,
                   const std::vector<std::string>& extra = {});
  // Polls `canopy --json status` until "state" is `state` (bounded).
  void WaitForState(const std::string& state, std::chrono::milliseconds timeout,
                    std::string* json_out);

  // The CLI on canopyd's Unix socket (+ cli_options_, e.g. --token-file).
  std::vector<std::string> Base() const;
  ProgramRun Cli(const std::vector<std::string>& args) const;

  // pg_current_wal_lsn() now.
  Lsn WalLsn() { return sql_->CurrentWalLsn(); }

  // `n` ids of `SELECT id FROM <from_where>` in a deterministic pseudo-random order.
  std::vector<int64_t> SampleIds(const std::string& from_where, int n);
  // See IdSample.
  IdSample Sample();

  // A subgroup with at least 3 groups (itself included) and projects below
  // it, outside every named structure of the generator; 0 if there is none.
  int64_t PickMovableSubgroup();
  // Moves `moved` (and its subtree) under `target` as GitLab's transfer does:
  // one transaction updating parent_id and the subtree's traversal_ids
  // (target's traversal_ids + the subtree's part from `moved` on).
  // forest_ follows (so MixedStream stays valid). Fills *out.
  void TransferSubtree(int64_t moved, int64_t target, SubtreeTransfer* out);
  // `transactions` transactions of the generator's GitLab-style mixed stream
  // (inserts, updates, archives, moves, deletes, runner links), applied as
  // SQL; forest_ follows.
  void ApplyMixedStream(int transactions);

  TempDir dir_;
  uint64_t seed_ = 0;
  canopy::testing::GitlabForest forest_;
  std::unique_ptr<cdc::testing::TestDatabase> db_;
  std::unique_ptr<cdc::testing::Sql> sql_;
  std::unique_ptr<GitlabSql> gitlab_;
  std::string sock_;
  std::string log_path_;
  std::vector<std::string> cli_options_;  // after Base()'s --unix
  std::unique_ptr<DaemonProcess> daemon_;
};

}  // namespace canopy::e2e
