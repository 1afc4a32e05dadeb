// e2e_util.cc — child processes, JSON fields and GitLab's SQL for the e2e tests.
#include "e2e_util.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <utility>

#include "canopy/testing/gitlab_sql.h"
#include "gitlab_schema.h"

namespace canopy::e2e {

std::string ProgramRun::Describe() const {
  return "`" + command + "`: " + exit.Describe() + "\n--- stdout:\n" + out.substr(0, 2000) +
         "\n--- stderr:\n" + err.substr(0, 2000);
}

ProgramRun RunProgram(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  ProgramRun run;
  run.command = canopy::testing::CommandLine(args);
  Result<canopy::testing::ChildRun> child = canopy::testing::RunChild(args, {.timeout = timeout});
  if (!child.ok()) {
    run.err = child.status().ToString();
    return run;
  }
  run.exit = child->exit;
  run.out = std::move(child.value().out);
  run.err = std::move(child.value().err);
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
  if (running()) Stop(SIGKILL, std::chrono::seconds(10));
}

bool DaemonProcess::Start(const std::vector<std::string>& args, const std::string& log_path) {
  if (running()) return false;
  log_path_ = log_path;
  Result<std::unique_ptr<canopy::testing::Child>> child =
      canopy::testing::Child::Start(args, canopy::testing::ChildOptions{.output_file = log_path});
  if (!child.ok()) return false;
  child_ = std::move(child).value();
  return true;
}

std::optional<ProcessExit> DaemonProcess::Poll() {
  if (!running()) return std::nullopt;
  return child_->Poll();
}

ProcessExit DaemonProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (!running()) return ProcessExit{};
  child_->Signal(sig);
  return child_->Wait(timeout);
}

ProcessExit DaemonProcess::Wait(std::chrono::milliseconds timeout) {
  if (!running()) return ProcessExit{};
  return child_->Wait(timeout);
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

testing::SqlForm SqlFormOf(Form form) {
  return form == Form::kLinear ? testing::SqlForm::kLinear : testing::SqlForm::kRecursive;
}

}  // namespace

std::vector<std::vector<std::string>> GitlabSql::Run(const std::string& name, Form form,
                                                     const std::vector<std::string>& params,
                                                     const std::string& type) {
  const std::string text = testing::GitlabSql(name, SqlFormOf(form), type);
  if (text.empty()) {
    ADD_FAILURE() << "no GitLab SQL named " << name << " in the " << FormName(form) << " form";
    return {};
  }
  return sql_.Rows(text, params);  // an error fails the test there
}

std::vector<int64_t> GitlabSql::RunIds(const std::string& name, Form form, int64_t id,
                                       const std::string& type, bool sort) {
  std::vector<int64_t> ids;
  for (const auto& row : Run(name, form, {std::to_string(id)}, type)) {
    ids.push_back(std::stoll(row.at(0)));
  }
  if (sort) std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<std::vector<int64_t>> GitlabSql::Ancestors(int64_t ns, bool self, bool self_first,
                                                         Form form) {
  if (!NamespaceExists(ns)) return std::nullopt;
  // Root first (hierarchy_order: :desc); :asc is the same rows reversed;
  // ancestors is self_and_ancestors without the row (GitLab's definition).
  std::vector<int64_t> ids = RunIds("self_and_ancestors", form, ns, "Group", /*sort=*/false);
  if (!self) std::erase(ids, ns);
  if (self_first) std::reverse(ids.begin(), ids.end());
  return ids;
}

std::optional<std::vector<int64_t>> GitlabSql::Descendants(int64_t ns, bool self,
                                                           bool with_project_namespaces,
                                                           Form form) {
  const std::string type = NamespaceType(ns);
  if (type.empty()) return std::nullopt;
  // Class scoping: the caller's type only (Group.where(...)), unless
  // project namespaces are asked for (skope: Namespace); descendants is
  // self_and_descendants without the row (GitLab's definition).
  std::vector<int64_t> ids =
      RunIds(with_project_namespaces ? "self_and_descendants_with_project_namespaces"
                                     : "self_and_descendants",
             form, ns, type, /*sort=*/true);
  if (!self) std::erase(ids, ns);
  return ids;
}

std::optional<std::vector<int64_t>> GitlabSql::Projects(int64_t ns, bool unarchived, Form form) {
  const std::string type = NamespaceType(ns);
  if (type.empty()) return std::nullopt;
  if (type == "Project") {
    // ProjectNamespace#all_projects: its own project.
    std::vector<int64_t> ids = RunIds("project_namespace_projects", form, ns, type, true);
    if (unarchived && !ids.empty() &&
        sql_.Value("SELECT archived FROM projects WHERE id = " + std::to_string(ids[0])) == "t") {
      ids.clear();
    }
    return ids;
  }
  return RunIds(unarchived ? "all_unarchived_project_ids" : "all_project_ids", form, ns, type,
                /*sort=*/true);
}

std::optional<std::vector<int64_t>> GitlabSql::ProjectAncestors(int64_t project, bool self_first,
                                                                Form form) {
  if (!ProjectExists(project)) return std::nullopt;
  std::vector<int64_t> ids = RunIds("project_ancestors", form, project, "Group", /*sort=*/false);
  if (self_first) std::reverse(ids.begin(), ids.end());
  return ids;
}

std::vector<int64_t> GitlabSql::RunnersOfGroup(int64_t ns) {
  return RunIds("runners_of_group", Form::kLinear, ns, "Group", /*sort=*/true);
}

std::optional<std::vector<int64_t>> GitlabSql::RunnersOfGroupAndAncestors(int64_t ns, Form form) {
  if (!NamespaceExists(ns)) return std::nullopt;
  return RunIds("runners_of_group_and_ancestors", form, ns, "Group", /*sort=*/true);
}

std::optional<std::vector<int64_t>> GitlabSql::ProjectRunners(int64_t project, Form form) {
  if (!ProjectExists(project)) return std::nullopt;
  return RunIds("runners_of_parent_groups_of_project", form, project, "Group", /*sort=*/true);
}

std::optional<std::string> GitlabSql::CountsText(int64_t ns) {
  const std::string type = NamespaceType(ns);
  if (type.empty()) return std::nullopt;
  // count(*) of the kinds: descendant groups (a group's only), descendant
  // project namespaces, all and unarchived projects.
  const size_t groups = type == "Group" ? Descendants(ns, false, false, Form::kLinear)->size() : 0;
  const size_t namespaces = Descendants(ns, false, true, Form::kLinear)->size();
  const size_t projects = Projects(ns, false, Form::kLinear)->size();
  const size_t unarchived = Projects(ns, true, Form::kLinear)->size();
  return "descendant_groups " + std::to_string(groups) + "\ndescendant_project_namespaces " +
         std::to_string(namespaces - groups) + "\nprojects " + std::to_string(projects) +
         "\nunarchived_projects " + std::to_string(unarchived) + "\n";
}

std::optional<std::string> GitlabSql::NamespacePath(int64_t ns) {
  if (!NamespaceExists(ns)) return std::nullopt;
  auto rows = Run("full_path", Form::kLinear, {std::to_string(ns)});
  if (rows.size() != 1) return std::nullopt;
  return rows[0][0];
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
  // Routable.find_by_full_path: a user/group namespace, then a project of the
  // namespace before the last segment; exact first, then ignoring case.
  for (const char* suffix : {"", "_ignoring_case"}) {
    auto ns = Run(std::string("resolve_namespace") + suffix, Form::kLinear, {full_path, last});
    if (!ns.empty()) return "namespace " + ns[0][0] + "\n";
    if (slash == std::string::npos) continue;
    auto pr = Run(std::string("resolve_project") + suffix, Form::kLinear, {full_path, last});
    if (!pr.empty()) return "project " + pr[0][0] + "\n";
  }
  return std::nullopt;
}

// ---- the common fixture ----

namespace {

using cdc::testing::Sql;
using cdc::testing::TestDatabase;

uint64_t TestSeed() {
  if (const char* env = std::getenv("CANOPY_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return 20240704;
}

}  // namespace

std::string Id(int64_t id) { return std::to_string(id); }

std::string SwapAsciiCase(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return text;
}

std::string LineDiff(const std::string& got, const std::string& want) {
  if (got == want) return "";
  auto split = [](const std::string& text) {
    std::vector<std::string> lines;
    size_t at = 0;
    while (at < text.size()) {
      size_t end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      lines.push_back(text.substr(at, end - at));
      at = end + 1;
    }
    return lines;
  };
  const std::vector<std::string> g = split(got), w = split(want);
  size_t i = 0;
  while (i < g.size() && i < w.size() && g[i] == w[i]) ++i;
  return "canopy printed " + std::to_string(g.size()) + " lines, SQL answered " +
         std::to_string(w.size()) + "; first difference at line " + std::to_string(i + 1) +
         ": canopy '" + (i < g.size() ? g[i] : "<end>") + "', SQL '" +
         (i < w.size() ? w[i] : "<end>") + "'";
}

void DaemonTest::TearDown() {
  if (daemon_ && daemon_->running()) {
    // Normal end of a test: SIGTERM must stop it cleanly.
    const ProcessExit e = daemon_->Stop(SIGTERM);
    EXPECT_TRUE(e.exited && e.code == 0) << "canopyd on SIGTERM: " << e.Describe();
  }
  if (HasFailure() && daemon_) {
    std::cerr << "---- canopyd log (" << log_path_ << ") ----\n"
              << daemon_->Log().substr(0, 20000) << "---- end of canopyd log ----\n";
  }
  daemon_.reset();  // before the database goes
  gitlab_.reset();
  sql_.reset();
  db_.reset();
}

void DaemonTest::Prepare(const std::string& name, bool load) {
  ASSERT_FALSE(dir_.path().empty()) << "no temporary directory";
  seed_ = TestSeed();
  // A few thousand rows with every named structure: gitlab-org, the huge
  // group, the 21- and 40-level chains, runners, archived projects.
  if (load) forest_ = canopy::testing::GenerateTestForest(seed_, 4000, 6000);
  db_ = std::make_unique<TestDatabase>(name);
  ASSERT_TRUE(db_->ok());
  sql_ = std::make_unique<Sql>(db_->conninfo());
  ASSERT_TRUE(sql_->ok());
  ASSERT_TRUE(cdc::testing::CreateGitlabSchema(*sql_));
  if (load) {
    ASSERT_TRUE(cdc::testing::LoadForest(*sql_, forest_));
  }
  gitlab_ = std::make_unique<GitlabSql>(*sql_);
  sock_ = dir_.path() + "/canopyd.sock";
  log_path_ = dir_.path() + "/canopyd.log";
}

void DaemonTest::SpawnDaemon(const std::string& listen, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {CANOPYD_PATH, "--pg", db_->conninfo(), "--create-publication",
                                   "--unix",     sock_,  "--listen",      listen,
                                   "--threads",  "2"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  daemon_ = std::make_unique<DaemonProcess>();
  ASSERT_TRUE(daemon_->Start(argv, log_path_)) << "cannot spawn " << CANOPYD_PATH;
}

void DaemonTest::StartDaemon(const std::string& listen, std::string* status_json,
                             const std::vector<std::string>& extra) {
  ASSERT_NO_FATAL_FAILURE(SpawnDaemon(listen, extra));
  std::string json;
  ASSERT_NO_FATAL_FAILURE(WaitForState("streaming", std::chrono::seconds(90), &json));
  if (status_json != nullptr) *status_json = json;
}

void DaemonTest::WaitForState(const std::string& state, std::chrono::milliseconds timeout,
                              std::string* json_out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ProgramRun last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::optional<ProcessExit> e = daemon_->Poll()) {
      FAIL() << "canopyd ended while waiting for state " << state << ": " << e->Describe();
    }
    last = Cli({"--json", "status"});
    if (last.code() == 0 && JsonField(last.out, "state") == state) {
      if (json_out != nullptr) *json_out = last.out;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL() << "canopyd not " << state << " in time; last status: " << last.Describe();
}

std::vector<std::string> DaemonTest::Base() const {
  std::vector<std::string> argv = {CANOPY_CLI_PATH, "--unix", sock_};
  argv.insert(argv.end(), cli_options_.begin(), cli_options_.end());
  return argv;
}

ProgramRun DaemonTest::Cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = Base();
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv);
}

std::vector<int64_t> DaemonTest::SampleIds(const std::string& from_where, int n) {
  return gitlab_->Ids("SELECT id FROM " + from_where + " ORDER BY md5(id::text || '" +
                      Id(static_cast<int64_t>(seed_)) + "') LIMIT " + Id(n));
}

IdSample DaemonTest::Sample() {
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  IdSample s;
  std::vector<int64_t>& namespaces = s.namespaces;
  namespaces = {named.gitlab_org_id,
                named.huge_group_id,
                named.small_group_id,
                named.chain_21_leaf_id,
                named.chain_21.front(),
                named.chain_21[10],
                named.deep_chain_leaf_id,
                named.deep_chain.front(),
                named.deep_chain[named.deep_chain.size() / 2],
                named.transfer_target_a_id,
                named.user_namespace_id};
  // The project namespace at depth 22.
  namespaces.push_back(
      std::stoll(sql_->Value("SELECT project_namespace_id FROM projects WHERE id = " +
                             Id(named.chain_21_leaf_project_id))));
  auto add = [](std::vector<int64_t>* to, const std::vector<int64_t>& ids) {
    to->insert(to->end(), ids.begin(), ids.end());
  };
  add(&namespaces, SampleIds("namespaces WHERE type = 'Group'", 20));
  add(&namespaces, SampleIds("namespaces WHERE type = 'User'", 5));
  add(&namespaces, SampleIds("namespaces WHERE type = 'Project'", 5));
  // Groups with runners, and groups below them.
  add(&namespaces,
      SampleIds("(SELECT DISTINCT namespace_id AS id FROM ci_runner_namespaces) r", 4));
  add(&namespaces,
      SampleIds("(SELECT d.id FROM namespaces d JOIN ci_runner_namespaces l ON l.namespace_id = "
                "ANY(d.traversal_ids) AND l.namespace_id <> d.id WHERE d.type = 'Group') r",
                4));
  // Groups holding archived projects, and their roots.
  add(&namespaces,
      SampleIds("(SELECT DISTINCT namespace_id AS id FROM projects WHERE archived) r", 3));
  add(&namespaces,
      SampleIds("(SELECT DISTINCT n.traversal_ids[1] AS id FROM projects p JOIN namespaces n ON "
                "n.id = p.namespace_id WHERE p.archived AND n.type = 'Group') r",
                2));
  std::sort(namespaces.begin(), namespaces.end());
  namespaces.erase(std::unique(namespaces.begin(), namespaces.end()), namespaces.end());

  std::vector<int64_t>& projects = s.projects;
  projects = {named.gitlab_org_project_id, named.user_project_id, named.chain_21_leaf_project_id};
  add(&projects, SampleIds("projects", 10));
  add(&projects, SampleIds("projects WHERE archived", 3));
  add(&projects,
      SampleIds("(SELECT p.id FROM projects p JOIN namespaces n ON n.id = p.namespace_id "
                "WHERE n.type = 'User') r",
                3));
  add(&projects,
      SampleIds("(SELECT p.id FROM projects p JOIN namespaces n ON n.id = p.namespace_id "
                "JOIN ci_runner_namespaces l ON l.namespace_id = ANY(n.traversal_ids)) r",
                3));
  std::sort(projects.begin(), projects.end());
  projects.erase(std::unique(projects.begin(), projects.end()), projects.end());
  return s;
}

int64_t DaemonTest::PickMovableSubgroup() {
  std::string protected_ids;
  for (int64_t id : forest_.named.ProtectedNamespaceIds()) {
    // Appended, not "," + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
    if (!protected_ids.empty()) protected_ids += ',';
    protected_ids += Id(id);
  }
  protected_ids = "ARRAY[" + protected_ids + "]::bigint[]";
  const std::vector<int64_t> movable = gitlab_->Ids(
      "SELECT n.id FROM namespaces n WHERE n.type = 'Group' AND n.parent_id IS NOT NULL "
      "AND NOT n.traversal_ids && " +
      protected_ids +
      " AND (SELECT count(*) FROM namespaces d WHERE d.traversal_ids @> ARRAY[n.id] AND d.type = "
      "'Group') >= 3 AND EXISTS (SELECT 1 FROM projects p JOIN namespaces d ON d.id = "
      "p.namespace_id WHERE d.traversal_ids @> ARRAY[n.id] AND d.id <> n.id) "
      "AND NOT EXISTS (SELECT 1 FROM namespaces d WHERE d.traversal_ids @> ARRAY[n.id] AND "
      "d.id = ANY(" +
      protected_ids + ")) ORDER BY n.id LIMIT 1");
  return movable.empty() ? 0 : movable[0];
}

void DaemonTest::TransferSubtree(int64_t moved, int64_t target, SubtreeTransfer* out) {
  ASSERT_NE(moved, 0) << "no movable subgroup in the forest";
  ASSERT_TRUE(gitlab_->NamespaceExists(moved)) << moved;
  ASSERT_TRUE(gitlab_->NamespaceExists(target)) << target;
  *out = SubtreeTransfer{.moved = moved, .target = target};
  out->old_parent =
      std::stoll(sql_->Value("SELECT parent_id FROM namespaces WHERE id = " + Id(moved)));
  out->deep =
      std::stoll(sql_->Value("SELECT id FROM namespaces WHERE traversal_ids @> ARRAY[" + Id(moved) +
                             "]::bigint[] ORDER BY cardinality(traversal_ids) DESC, id LIMIT 1"));
  ASSERT_TRUE(
      sql_->Exec("BEGIN;"
                 "UPDATE namespaces SET parent_id = " +
                 Id(target) + " WHERE id = " + Id(moved) +
                 ";"
                 "UPDATE namespaces SET traversal_ids = (SELECT t.traversal_ids FROM namespaces t "
                 "WHERE t.id = " +
                 Id(target) + ") || traversal_ids[array_position(traversal_ids, " + Id(moved) +
                 "::bigint):] WHERE traversal_ids @> ARRAY[" + Id(moved) +
                 "]::bigint[];"
                 "COMMIT"));
  forest_.namespaces[static_cast<size_t>(moved - 1)].parent_id = target;
}

void DaemonTest::ApplyMixedStream(int transactions) {
  cdc::testing::SqlWriter writer(forest_);
  canopy::testing::MixedStream stream(&forest_, {.seed = seed_});
  for (int i = 0; i < transactions; ++i) {
    ASSERT_TRUE(writer.Apply(*sql_, stream.Next())) << "transaction " << i;
  }
}

int FreeTcpPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace canopy::e2e
