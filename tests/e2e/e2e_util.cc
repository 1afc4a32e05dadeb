// e2e_util.cc — child processes, JSON fields and GitLab's SQL for the e2e tests.
#include "e2e_util.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace canopy::e2e {

namespace {

using Clock = std::chrono::steady_clock;

ProcessExit FromWaitStatus(int status) {
  ProcessExit e;
  if (WIFEXITED(status)) {
    e.exited = true;
    e.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
  }
  return e;
}

// Waits for `pid` at most `timeout`; on timeout kills it (SIGKILL), reaps it
// and reports timed_out.
ProcessExit WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto nap = std::chrono::microseconds(100);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return FromWaitStatus(status);
    if (r < 0 && errno != EINTR) {
      ProcessExit e;
      e.signal = -1;  // cannot happen for our own child
      return e;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      int ignored = 0;
      ::waitpid(pid, &ignored, 0);
      ProcessExit e;
      e.timed_out = true;
      return e;
    }
    std::this_thread::sleep_for(nap);
    if (nap < std::chrono::milliseconds(5)) nap *= 2;
  }
}

// An anonymous temporary file (already unlinked).
int AnonymousFile() {
  char name[] = "/tmp/canopy-e2e-out.XXXXXX";
  const int fd = ::mkostemp(name, O_CLOEXEC);
  if (fd >= 0) ::unlink(name);
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  if (::lseek(fd, 0, SEEK_SET) < 0) return out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Starts argv[0] (no shell) with stdin from /dev/null and stdout/stderr on
// the given descriptors. The child gets SIGKILL if the thread that started it
// ends (PR_SET_PDEATHSIG), so a test binary that dies (a ctest timeout, a
// crash) leaves no canopyd behind. Returns the pid, or -1 with *error set.
pid_t Spawn(const std::vector<std::string>& args, int out_fd, int err_fd, std::string* error) {
  if (args.empty()) {
    *error = "no program";
    return -1;
  }
  // Everything the child needs is prepared before fork (no allocation after).
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + ::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent is already gone
    const int in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || ::dup2(in, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(127);
    ::execve(argv[0], argv.data(), environ);
    ::_exit(127);
  }
  return pid;
}

std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) {
    if (!s.empty()) s += ' ';
    const bool plain = !a.empty() && a.find_first_of(" \t'\"\\$") == std::string::npos;
    s += plain ? a : "'" + a + "'";
  }
  return s;
}

}  // namespace

std::string ProcessExit::Describe() const {
  if (timed_out) return "timed out (killed)";
  if (exited) return "exit " + std::to_string(code);
  if (signal > 0) return std::string("killed by signal ") + ::strsignal(signal);
  return "unknown end";
}

std::string ProgramRun::Describe() const {
  return "`" + command + "`: " + exit.Describe() + "\n--- stdout:\n" + out.substr(0, 2000) +
         "\n--- stderr:\n" + err.substr(0, 2000);
}

ProgramRun RunProgram(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  ProgramRun run;
  run.command = Join(args);
  const int out_fd = AnonymousFile();
  const int err_fd = AnonymousFile();
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    run.err = "cannot create output files";
    return run;
  }
  std::string error;
  const pid_t pid = Spawn(args, out_fd, err_fd, &error);
  if (pid > 0) {
    run.exit = WaitFor(pid, timeout);
    run.out = ReadAll(out_fd);
    run.err = ReadAll(err_fd);
  } else {
    run.err = error;
  }
  ::close(out_fd);
  ::close(err_fd);
  return run;
}

TempDir::TempDir() {
  char name[] = "/tmp/canopy-e2e.XXXXXX";
  if (::mkdtemp(name) != nullptr) path_ = name;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  const std::string cmd = "rm -rf '" + path_ + "'";
  (void)std::system(cmd.c_str());
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Stop(SIGKILL, std::chrono::seconds(10));
}

bool DaemonProcess::Start(const std::vector<std::string>& args, const std::string& log_path) {
  if (pid_ > 0) return false;
  log_path_ = log_path;
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::string error;
  const pid_t pid = Spawn(args, fd, fd, &error);
  ::close(fd);
  if (pid < 0) return false;
  pid_ = pid;
  return true;
}

std::optional<ProcessExit> DaemonProcess::Poll() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return FromWaitStatus(status);
}

ProcessExit DaemonProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return ProcessExit{};
  ::kill(pid_, sig);
  return Wait(timeout);
}

ProcessExit DaemonProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return ProcessExit{};
  ProcessExit e = WaitFor(pid_, timeout);
  pid_ = -1;
  return e;
}

std::string DaemonProcess::Log() const { return ReadFile(log_path_); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<std::string> JsonField(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  size_t at = json.find(needle);
  if (at == std::string::npos) return std::nullopt;
  at += needle.size();
  if (at >= json.size()) return std::nullopt;
  std::string value;
  if (json[at] == '"') {
    for (size_t i = at + 1; i < json.size(); ++i) {
      if (json[i] == '\\' && i + 1 < json.size()) {
        const char c = json[++i];
        value += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
      } else if (json[i] == '"') {
        return value;
      } else {
        value += json[i];
      }
    }
    return std::nullopt;  // unterminated
  }
  const size_t end = json.find_first_of(",}]", at);
  return json.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::optional<std::vector<int64_t>> JsonIds(const std::string& json) {
  const std::string needle = "\"ids\":[";
  const size_t at = json.find(needle);
  if (at == std::string::npos) return std::nullopt;
  const size_t end = json.find(']', at);
  if (end == std::string::npos) return std::nullopt;
  std::vector<int64_t> ids;
  std::stringstream in(json.substr(at + needle.size(), end - at - needle.size()));
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) return std::nullopt;
    char* stop = nullptr;
    const long long v = std::strtoll(item.c_str(), &stop, 10);
    if (stop == nullptr || *stop != 0) return std::nullopt;
    ids.push_back(v);
  }
  return ids;
}

std::string Lines(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += std::to_string(id) + "\n";
  return s;
}

const char* FormName(Form form) { return form == Form::kLinear ? "linear" : "recursive"; }

// ---- GitLab's SQL ----

std::vector<int64_t> GitlabSql::Ids(const std::string& query) {
  std::vector<int64_t> ids;
  for (const auto& row : sql_.Rows(query)) ids.push_back(std::stoll(row.at(0)));
  return ids;
}

std::string GitlabSql::Literal(const std::string& text) {
  char* quoted = PQescapeLiteral(sql_.get(), text.data(), text.size());
  std::string out = quoted != nullptr ? quoted : "NULL";
  PQfreemem(quoted);
  return out;
}

bool GitlabSql::NamespaceExists(int64_t ns) {
  return sql_.Value("SELECT count(*) FROM namespaces WHERE id = " + std::to_string(ns)) == "1";
}

bool GitlabSql::ProjectExists(int64_t project) {
  return sql_.Value("SELECT count(*) FROM projects WHERE id = " + std::to_string(project)) == "1";
}

std::string GitlabSql::NamespaceType(int64_t ns) {
  return sql_.Value(
      "SELECT coalesce((SELECT type FROM namespaces WHERE id = " + std::to_string(ns) + "), '')");
}

namespace {

// The recursive CTE's rows for the ancestors of `ns`: (id, depth), depth 0 = ns.
std::string AncestorsCte(int64_t ns) {
  return "WITH RECURSIVE up(id, parent_id, depth) AS ("
         "SELECT id, parent_id, 0 FROM namespaces WHERE id = " +
         std::to_string(ns) +
         " UNION ALL SELECT n.id, n.parent_id, up.depth + 1 FROM namespaces n "
         "JOIN up ON n.id = up.parent_id WHERE up.depth < 1000) ";
}

// The recursive CTE's rows for `ns` and its descendants of any type.
std::string DescendantsCte(int64_t ns) {
  return "WITH RECURSIVE down(id) AS (SELECT id FROM namespaces WHERE id = " + std::to_string(ns) +
         " UNION ALL SELECT n.id FROM namespaces n JOIN down ON n.parent_id = down.id) ";
}

}  // namespace

std::optional<std::vector<int64_t>> GitlabSql::Ancestors(int64_t ns, bool self, bool self_first,
                                                         Form form) {
  if (!NamespaceExists(ns)) return std::nullopt;
  const std::string id = std::to_string(ns);
  if (form == Form::kLinear) {
    // Namespaces::Traversal::Linear: traversal_ids in order (hierarchy_order: :desc).
    return Ids(
        "SELECT t.id FROM namespaces n CROSS JOIN LATERAL unnest(n.traversal_ids) "
        "WITH ORDINALITY AS t(id, ord) WHERE n.id = " +
        id + (self ? "" : " AND t.id <> n.id") + " ORDER BY t.ord" + (self_first ? " DESC" : ""));
  }
  return Ids(AncestorsCte(ns) + "SELECT id FROM up" + (self ? "" : " WHERE depth > 0") +
             " ORDER BY depth" + (self_first ? "" : " DESC"));
}

std::optional<std::vector<int64_t>> GitlabSql::Descendants(int64_t ns, bool self,
                                                           bool with_project_namespaces,
                                                           Form form) {
  if (!NamespaceExists(ns)) return std::nullopt;
  const std::string id = std::to_string(ns);
  // Class scoping: the caller's type only (Group.where(...)), unless
  // project namespaces are asked for (skope: Namespace).
  std::string filter = with_project_namespaces
                           ? "TRUE"
                           : "d.type = (SELECT type FROM namespaces WHERE id = " + id + ")";
  if (!self) filter += " AND d.id <> " + id;
  if (form == Form::kLinear) {
    return Ids("SELECT d.id FROM namespaces d WHERE d.traversal_ids @> ARRAY[" + id +
               "]::bigint[] AND " + filter + " ORDER BY d.id");
  }
  return Ids(DescendantsCte(ns) +
             "SELECT d.id FROM down JOIN namespaces d ON d.id = down.id WHERE " + filter +
             " ORDER BY d.id");
}

std::optional<std::vector<int64_t>> GitlabSql::Projects(int64_t ns, bool unarchived, Form form) {
  const std::string type = NamespaceType(ns);
  if (type.empty()) return std::nullopt;
  const std::string id = std::to_string(ns);
  const std::string archived = unarchived ? " AND NOT p.archived" : "";
  if (type == "Project") {
    // ProjectNamespace#all_projects: its own project.
    return Ids("SELECT p.id FROM projects p WHERE p.project_namespace_id = " + id + archived +
               " ORDER BY p.id");
  }
  // projects WHERE namespace_id IN (self_and_descendant_ids).
  const std::string scope =
      form == Form::kLinear
          ? "SELECT d.id FROM namespaces d WHERE d.traversal_ids @> ARRAY[" + id +
                "]::bigint[] AND d.type = " + Literal(type)
          : "SELECT d.id FROM down JOIN namespaces d ON d.id = down.id WHERE d.type = " +
                Literal(type);
  return Ids((form == Form::kLinear ? "" : DescendantsCte(ns)) +
             "SELECT p.id FROM projects p WHERE p.namespace_id IN (" + scope + ")" + archived +
             " ORDER BY p.id");
}

std::optional<std::vector<int64_t>> GitlabSql::ProjectAncestors(int64_t project, bool self_first) {
  if (!ProjectExists(project)) return std::nullopt;
  // Project#ancestors: the group's self_and_ancestors; nothing for a user namespace.
  return Ids(
      "SELECT t.id FROM projects p JOIN namespaces n ON n.id = p.namespace_id AND "
      "n.type = 'Group' CROSS JOIN LATERAL unnest(n.traversal_ids) WITH ORDINALITY AS "
      "t(id, ord) WHERE p.id = " +
      std::to_string(project) + " ORDER BY t.ord" + (self_first ? " DESC" : ""));
}

std::vector<int64_t> GitlabSql::RunnersOfGroup(int64_t ns) {
  return Ids("SELECT DISTINCT runner_id FROM ci_runner_namespaces WHERE namespace_id = " +
             std::to_string(ns) + " ORDER BY runner_id");
}

std::optional<std::vector<int64_t>> GitlabSql::RunnersOfGroupAndAncestors(int64_t ns) {
  if (!NamespaceExists(ns)) return std::nullopt;
  // Group.find_by(id:)&.self_and_ancestor_ids: nothing unless ns is a group.
  return Ids(
      "SELECT DISTINCT l.runner_id FROM namespaces n JOIN ci_runner_namespaces l ON "
      "l.namespace_id = ANY(n.traversal_ids) WHERE n.type = 'Group' AND n.id = " +
      std::to_string(ns) + " ORDER BY l.runner_id");
}

std::optional<std::vector<int64_t>> GitlabSql::ProjectRunners(int64_t project) {
  if (!ProjectExists(project)) return std::nullopt;
  return Ids(
      "SELECT DISTINCT l.runner_id FROM projects p JOIN namespaces n ON n.id = "
      "p.namespace_id AND n.type = 'Group' JOIN ci_runner_namespaces l ON "
      "l.namespace_id = ANY(n.traversal_ids) WHERE p.id = " +
      std::to_string(project) + " ORDER BY l.runner_id");
}

std::optional<std::string> GitlabSql::CountsText(int64_t ns) {
  if (!NamespaceExists(ns)) return std::nullopt;
  const std::string id = std::to_string(ns);
  auto rows = sql_.Rows("SELECT count(*) FILTER (WHERE d.type = 'Group' AND d.id <> " + id +
                        "), count(*) FILTER (WHERE d.type = 'Project' AND d.id <> " + id +
                        ") FROM namespaces d WHERE d.traversal_ids @> ARRAY[" + id + "]::bigint[]");
  if (rows.size() != 1) return std::nullopt;
  // Descendant groups only for a group (a user namespace has none anyway).
  const std::string groups = NamespaceType(ns) == "Group" ? rows[0][0] : "0";
  const size_t projects =
      Projects(ns, false, Form::kLinear).value_or(std::vector<int64_t>{}).size();
  const size_t unarchived =
      Projects(ns, true, Form::kLinear).value_or(std::vector<int64_t>{}).size();
  return "descendant_groups " + groups + "\ndescendant_project_namespaces " + rows[0][1] +
         "\nprojects " + std::to_string(projects) + "\nunarchived_projects " +
         std::to_string(unarchived) + "\n";
}

std::optional<std::string> GitlabSql::NamespacePath(int64_t ns) {
  if (!NamespaceExists(ns)) return std::nullopt;
  return sql_.Value(
      "SELECT string_agg(a.path, '/' ORDER BY t.ord) FROM namespaces n CROSS JOIN LATERAL "
      "unnest(n.traversal_ids) WITH ORDINALITY AS t(id, ord) JOIN namespaces a ON a.id = t.id "
      "WHERE n.id = " +
      std::to_string(ns));
}

std::optional<std::string> GitlabSql::ProjectPath(int64_t project) {
  auto rows =
      sql_.Rows("SELECT namespace_id, path FROM projects WHERE id = " + std::to_string(project));
  if (rows.size() != 1) return std::nullopt;
  std::optional<std::string> ns = NamespacePath(std::stoll(rows[0][0]));
  if (!ns) return std::nullopt;
  return *ns + "/" + rows[0][1];
}

std::optional<std::string> GitlabSql::ResolveText(const std::string& full_path) {
  const size_t slash = full_path.rfind('/');
  const std::string last = slash == std::string::npos ? full_path : full_path.substr(slash + 1);
  const std::string want = Literal(full_path);
  // Full paths of the user/group namespaces whose path is `last` (the routes
  // GitLab would look up), then of the projects named `last`.
  const std::string full_path_of =
      "(SELECT string_agg(a.path, '/' ORDER BY t.ord) FROM unnest(n.traversal_ids) WITH "
      "ORDINALITY AS t(id, ord) JOIN namespaces a ON a.id = t.id)";
  auto ns =
      sql_.Rows("SELECT n.id FROM namespaces n WHERE n.type IN ('User', 'Group') AND n.path = " +
                Literal(last) + " AND " + full_path_of + " = " + want + " ORDER BY n.id LIMIT 1");
  if (!ns.empty()) return "namespace " + ns[0][0] + "\n";
  if (slash == std::string::npos) return std::nullopt;
  auto pr = sql_.Rows(
      "SELECT p.id FROM projects p JOIN namespaces n ON n.id = p.namespace_id AND n.type IN "
      "('User', 'Group') WHERE p.path = " +
      Literal(last) + " AND " + full_path_of + " || '/' || p.path = " + want +
      " ORDER BY p.id LIMIT 1");
  if (!pr.empty()) return "project " + pr[0][0] + "\n";
  return std::nullopt;
}

}  // namespace canopy::e2e
