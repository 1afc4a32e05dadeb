// e2e_util.h — helpers for canopy's end-to-end tests: running the canopy CLI
// and canopyd as child processes, reading their JSON, and GitLab's SQL (the
// twin of every CLI command, QUERIES.md) run on the test database.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "canopy/lsn.h"
#include "pg_fixture.h"

namespace canopy::e2e {

// ---- processes ----

// How a child process ended.
struct ProcessExit {
  bool exited = false;     // normal exit: `code` is set
  int code = -1;           // exit status
  int signal = 0;          // killed by this signal
  bool timed_out = false;  // still running after the timeout (then killed with SIGKILL)
  std::string Describe() const;
};

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
// waiting at most `timeout` (then SIGKILL). Children of these helpers get
// SIGKILL when the test thread that started them ends (PR_SET_PDEATHSIG), so
// a test binary that is killed leaves no process behind.
ProgramRun RunProgram(const std::vector<std::string>& argv,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));

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

// canopyd as a child process. Its stdout and stderr go to `log_path`. The
// destructor kills it (SIGKILL) if it still runs.
class DaemonProcess {
 public:
  DaemonProcess() = default;
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // argv[0] is the program. false when it could not be spawned.
  bool Start(const std::vector<std::string>& argv, const std::string& log_path);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The exit if it has ended (reaps it), else nullopt.
  std::optional<ProcessExit> Poll();
  // Sends `sig` and waits for the end (bounded; SIGKILL after the timeout).
  ProcessExit Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for the end without sending anything (bounded, as Stop).
  ProcessExit Wait(std::chrono::milliseconds timeout);
  std::string Log() const;  // everything it wrote so far

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Reads a whole file ("" if it cannot).
std::string ReadFile(const std::string& path);

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

// Each method runs on `sql` and returns the answer in the order QUERIES.md
// defines (ancestors root first unless self_first; everything else
// ascending id). nullopt: the id is unknown (the CLI must answer "not
// found").
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
  std::optional<std::vector<int64_t>> ProjectAncestors(int64_t project, bool self_first);
  // Ci::Runner.belonging_to_group (never "not found").
  std::vector<int64_t> RunnersOfGroup(int64_t ns);
  // Ci::Runner.belonging_to_group_and_ancestors.
  std::optional<std::vector<int64_t>> RunnersOfGroupAndAncestors(int64_t ns);
  // Ci::Runner.belonging_to_parent_groups_of_project.
  std::optional<std::vector<int64_t>> ProjectRunners(int64_t project);
  // The CLI's `counts` text: descendant_groups, descendant_project_namespaces,
  // projects, unarchived_projects (one "name N" line each).
  std::optional<std::string> CountsText(int64_t ns);
  // Full paths from `path` segments root first (GitLab's routes).
  std::optional<std::string> NamespacePath(int64_t ns);
  std::optional<std::string> ProjectPath(int64_t project);
  // The CLI's `resolve` text ("namespace N" or "project N"): a user or group
  // namespace with that full path (lowest id), else a project of the
  // namespace before the last segment.
  std::optional<std::string> ResolveText(const std::string& full_path);

  std::vector<int64_t> Ids(const std::string& query);  // first column as ids
  std::string Literal(const std::string& text);        // a quoted SQL literal

 private:
  cdc::testing::Sql& sql_;
};

}  // namespace canopy::e2e
