// End-to-end proof of canopyd's Redis-protocol listener (docs/resp.md) with
// real Redis clients from Debian packages: redis-cli (redis-tools), redis-rb
// (ruby-redis) and redis-py (python3-redis). PostgreSQL 15 holds GitLab-shaped
// tables loaded from a generated forest; canopyd replicates it and serves RESP
// on 127.0.0.1:<free port> and on a Unix socket. Checks:
//   * every RESP query command, for a sample of namespaces and projects (named
//     structures, deep chains, user and project namespaces, unknown ids), gives
//     through each client the answer GitLab's SQL gives on the same database,
//     in the same order (both SQL forms where docs/queries.md has them); paging;
//     bad commands and arguments are -ERR and the connection goes on;
//   * the batch forms (M...) answer what the single forms answer, nil for an
//     unknown id;
//   * 1,000 lookups pipelined in one round trip (redis.pipelined,
//     pipeline(transaction=False)) all equal SQL;
//   * read-your-writes: a subtree transfer committed in PostgreSQL, then
//     MINLSN <pg_current_wal_lsn()> sees it; an LSN that never comes is -STALE;
//     LASTLSN; answers still equal SQL after a GitLab-style mixed stream;
//   * --token-file: NOAUTH before AUTH, WRONGPASS, password options of every
//     client; RESP3 (redis-cli -3, HELLO 3 with the lsn attribute);
//   * hostile peers on raw sockets (inline commands, garbage, huge lengths,
//     half-sent commands, readers that never read): an error or a closed
//     connection, never a crash, other connections keep being served;
//   * the README examples (docs/examples/ancestors.{rb,py}) run as printed and
//     print what SQL answers.
// The clients are driven by tests/e2e/clients/resp_client.{rb,py}: a file of
// commands (one JSON array a line) in, one JSON answer a line out; this file
// compares. No timing assertions: every wait is bounded only to fail instead
// of hanging. Labels: e2e, cdc.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/testing/gitlab_forest.h"
#include "e2e_util.h"
#include "resp_wire.h"

namespace canopy::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSourceDir = CANOPY_SOURCE_DIR;
const std::string kRubyClient = kSourceDir + "/tests/e2e/clients/resp_client.rb";
const std::string kPythonClient = kSourceDir + "/tests/e2e/clients/resp_client.py";
const std::string kRubyExample = kSourceDir + "/docs/examples/ancestors.rb";
const std::string kPythonExample = kSourceDir + "/docs/examples/ancestors.py";

// ---- what is asked, and what SQL says ----

// A command and its expected canonical answer: GitLab's SQL (the linear
// traversal_ids form), and the recursive form where docs/queries.md has one.
struct Check {
  Command command;
  std::string want;
  std::string want_recursive;  // "" when there is no second form
};

// Where a client connects.
struct Endpoint {
  int port = 0;           // 127.0.0.1:port, or
  std::string unix_path;  // a Unix socket
  std::string Name() const { return unix_path.empty() ? "tcp:" + Id(port) : "unix"; }
};

enum class Client { kRuby, kPython };
const char* ClientName(Client c) { return c == Client::kRuby ? "redis-rb" : "redis-py"; }

class RespE2E : public DaemonTest {
 protected:
  // canopyd with both RESP listeners (127.0.0.1:<free port> and a Unix
  // socket) + `extra`, streaming, and answering PING on RESP.
  void StartResp(const std::vector<std::string>& extra = {}, bool bare_port = false) {
    for (const char* tool : {CANOPY_REDIS_CLI, CANOPY_RUBY, CANOPY_PYTHON3}) {
      ASSERT_EQ(::access(tool, X_OK), 0)
          << tool << " is missing: install redis-tools ruby ruby-redis python3 python3-redis "
          << "(CANOPY_TEST_PACKAGES in scripts/lib/common.sh)";
    }
    port_ = FreeTcpPort();
    ASSERT_NE(port_, 0);
    resp_sock_ = dir_.path() + "/resp.sock";
    std::vector<std::string> args = {"--resp-listen",
                                     bare_port ? Id(port_) : "127.0.0.1:" + Id(port_),
                                     "--resp-unix", resp_sock_};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr, args));
    tcp_ = Endpoint{.port = port_};
    unix_ = Endpoint{.unix_path = resp_sock_};
    // The RESP listeners are up (bounded).
    std::string last;
    for (int i = 0; i < 100; ++i) {
      RawConn c;
      if (c.ConnectTcp(port_) && (last = c.Call({"PING"})) != "") break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_NE(last, "") << "no RESP answer on 127.0.0.1:" << port_;
  }

  // Writes `commands` to a file of JSON lines, returns its path.
  std::string CommandsFile(const std::vector<Command>& commands) {
    const std::string path = dir_.path() + "/commands-" + Id(++files_) + ".jsonl";
    std::ofstream out(path, std::ios::binary);
    for (const Command& c : commands) out << CommandJson(c) << "\n";
    return path;
  }

  // Runs a client script on `commands` (its options: --pipeline,
  // --password T, --username U).
  ProgramRun RunClient(Client client, const Endpoint& at, const std::vector<Command>& commands,
                       const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv;
    if (client == Client::kRuby) {
      argv = {CANOPY_RUBY, kRubyClient};
    } else {
      argv = {CANOPY_PYTHON3, kPythonClient};
    }
    if (at.unix_path.empty()) {
      argv.insert(argv.end(), {"--host", "127.0.0.1", "--port", Id(at.port)});
    } else {
      argv.insert(argv.end(), {"--unix", at.unix_path});
    }
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(CommandsFile(commands));
    return RunProgram(argv, seconds(120));
  }

  // redis-cli --json [options] <command>: the answer in compact JSON (an
  // error reply, which redis-cli prints as error:"...", as {"err":...}).
  // RESP2 (-2) unless `options` has -3: redis-cli 7's --json alone says HELLO 3.
  std::string RedisCli(const Endpoint& at, const Command& command,
                       const std::vector<std::string>& options = {}, ProgramRun* run = nullptr) {
    std::vector<std::string> argv = {CANOPY_REDIS_CLI};
    if (at.unix_path.empty()) {
      argv.insert(argv.end(), {"-h", "127.0.0.1", "-p", Id(at.port)});
    } else {
      argv.insert(argv.end(), {"-s", at.unix_path});
    }
    argv.push_back("--json");
    if (std::find(options.begin(), options.end(), "-3") == options.end()) argv.push_back("-2");
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), command.begin(), command.end());
    ProgramRun r = RunProgram(argv, seconds(30));
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    if (out.rfind("error:", 0) == 0) out = "{\"err\":" + out.substr(6) + "}";
    if (run != nullptr) *run = r;
    return out;
  }

  // One answer vs its check; counts and reports a difference.
  // (`detail`: more to print on a difference, e.g. the program's stderr.)
  void ExpectAnswer(const std::string& who, const Check& check, const std::string& got,
                    const std::string& detail = "") {
    const std::string canonical = Canonical(got);
    for (const std::string* want : {&check.want, &check.want_recursive}) {
      if (want->empty() || canonical == *want) continue;
      ++mismatches_;
      if (mismatches_ <= 30) {
        ADD_FAILURE() << who << ": " << CommandJson(check.command)
                      << "\n  got:  " << got.substr(0, 600) << "\n  want: " << want->substr(0, 600)
                      << " (" << (want == &check.want ? "linear" : "recursive") << " SQL)"
                      << detail;
      }
    }
  }

  // A client script's output (one line per check) vs the checks.
  void ExpectAnswers(const std::string& who, const ProgramRun& r,
                     const std::vector<Check>& checks) {
    EXPECT_EQ(r.code(), 0) << who << ": " << r.Describe();
    const std::vector<std::string> lines = SplitLines(r.out);
    ASSERT_EQ(lines.size(), checks.size()) << who << ": " << r.Describe();
    for (size_t i = 0; i < checks.size(); ++i) ExpectAnswer(who, checks[i], lines[i]);
  }

  void ExpectThroughClient(Client client, const Endpoint& at, const std::vector<Check>& checks,
                           const std::vector<std::string>& options = {}) {
    std::vector<Command> commands;
    for (const Check& c : checks) commands.push_back(c.command);
    const std::string who = std::string(ClientName(client)) + " " + at.Name();
    ExpectAnswers(who, RunClient(client, at, commands, options), checks);
  }

  // One redis-cli process per check.
  void ExpectThroughRedisCli(const Endpoint& at, const std::vector<Check>& checks,
                             const std::vector<std::string>& options = {}) {
    for (const Check& check : checks) {
      ProgramRun run;
      const std::string got = RedisCli(at, check.command, options, &run);
      ExpectAnswer("redis-cli " + at.Name(), check, got,
                   "\n  `" + run.command + "`: " + run.exit.Describe() +
                       ", stderr: " + run.err.substr(0, 300));
      if (mismatches_ > 30) return;
    }
  }

  // Every query command of docs/resp.md for `sample` (+ unknown ids, paging,
  // options in other places, case-insensitivity, bad arguments).
  std::vector<Check> QueryChecks(const IdSample& sample) {
    std::vector<Check> checks;
    GitlabSql& g = *gitlab_;
    auto both = [&](Command command,
                    const std::function<std::optional<std::vector<int64_t>>(Form)>& sql) {
      checks.push_back(
          {std::move(command), IdsOr(sql(Form::kLinear)), IdsOr(sql(Form::kRecursive))});
    };
    auto one = [&](Command command, std::string want) {
      checks.push_back({std::move(command), std::move(want), ""});
    };
    int i = 0;
    for (int64_t ns : sample.namespaces) {
      const std::string id = Id(ns);
      // Every other namespace in lower case (names and options are case-insensitive).
      const bool lower = ++i % 2 == 0;
      auto w = [lower](std::string word) {
        if (lower) std::transform(word.begin(), word.end(), word.begin(), ::tolower);
        return word;
      };
      both({w("ANCESTORS"), id}, [&](Form f) { return g.Ancestors(ns, false, false, f); });
      both({w("ANCESTORS"), id, w("SELF")},
           [&](Form f) { return g.Ancestors(ns, true, false, f); });
      both({w("ANCESTORS"), id, w("SELF"), w("SELFFIRST")},
           [&](Form f) { return g.Ancestors(ns, true, true, f); });
      both({w("ANCESTORS"), id, w("SELFFIRST")},
           [&](Form f) { return g.Ancestors(ns, false, true, f); });
      both({w("DESCENDANTS"), id}, [&](Form f) { return g.Descendants(ns, false, false, f); });
      both({w("DESCENDANTS"), id, w("SELF")},
           [&](Form f) { return g.Descendants(ns, true, false, f); });
      both({w("DESCENDANTS"), id, w("WITHPROJECTNAMESPACES")},
           [&](Form f) { return g.Descendants(ns, false, true, f); });
      both({w("DESCENDANTS"), id, w("SELF"), w("WITHPROJECTNAMESPACES")},
           [&](Form f) { return g.Descendants(ns, true, true, f); });
      both({w("PROJECTS"), id}, [&](Form f) { return g.Projects(ns, false, f); });
      both({w("PROJECTS"), id, w("UNARCHIVED")}, [&](Form f) { return g.Projects(ns, true, f); });
      one({w("RUNNERS"), id}, JsonIds(g.RunnersOfGroup(ns)));
      one({w("RUNNERS"), id, w("ANCESTORS")}, IdsOr(g.RunnersOfGroupAndAncestors(ns)));
      one({w("COUNTS"), id}, CountsJson(g.CountsText(ns), false));
      const std::optional<std::string> path = g.NamespacePath(ns);
      one({w("PATH"), id}, PathJson(path));
      // A project namespace's full path names its project.
      if (path) one({w("RESOLVE"), *path}, ResolveJson(g.ResolveText(*path)));
    }
    for (int64_t p : sample.projects) {
      const std::string id = Id(p);
      one({"PROJECTANCESTORS", id}, IdsOr(g.ProjectAncestors(p, false)));
      one({"PROJECTANCESTORS", id, "SELFFIRST"}, IdsOr(g.ProjectAncestors(p, true)));
      one({"PROJECTRUNNERS", id}, IdsOr(g.ProjectRunners(p)));
      const std::optional<std::string> path = g.ProjectPath(p);
      one({"PATH", id, "PROJECT"}, PathJson(path));
      if (path) one({"RESOLVE", *path}, ResolveJson(g.ResolveText(*path)));
    }
    // In another case: GitLab's second lookup, LOWER(path) = LOWER(?).
    for (size_t i = 0; i < 4 && i < sample.namespaces.size() && i < sample.projects.size(); ++i) {
      for (const std::optional<std::string>& path :
           {g.NamespacePath(sample.namespaces[i]), g.ProjectPath(sample.projects[i])}) {
        if (path)
          one({"RESOLVE", SwapAsciiCase(*path)}, ResolveJson(g.ResolveText(SwapAsciiCase(*path))));
      }
    }

    // Unknown ids: NOTFOUND, except plain RUNNERS (docs/resp.md: runners
    // linked to the id, as SQL's namespace_id IN (...), never NOTFOUND).
    const std::string unknown = Id(kUnknownId);
    for (const Command& c : std::vector<Command>{{"ANCESTORS", unknown},
                                                 {"ANCESTORS", unknown, "SELF", "SELFFIRST"},
                                                 {"ANCESTORS", "0"},
                                                 {"DESCENDANTS", unknown},
                                                 {"DESCENDANTS", unknown, "WITHPROJECTNAMESPACES"},
                                                 {"PROJECTS", unknown},
                                                 {"PROJECTS", unknown, "UNARCHIVED"},
                                                 {"PROJECTANCESTORS", unknown},
                                                 {"PROJECTANCESTORS", unknown, "SELFFIRST"},
                                                 {"PROJECTRUNNERS", unknown},
                                                 {"COUNTS", unknown},
                                                 {"PATH", unknown},
                                                 {"PATH", unknown, "PROJECT"},
                                                 {"RESOLVE", "no-such-group/no-such-project"}}) {
      one(c, kNotFound);
    }
    one({"RUNNERS", unknown}, JsonIds(g.RunnersOfGroup(kUnknownId)));
    one({"RUNNERS", unknown, "ANCESTORS"}, IdsOr(g.RunnersOfGroupAndAncestors(kUnknownId)));
    const canopy::testing::GitlabForestNamedIds& named = forest_.named;
    one({"RESOLVE", g.NamespacePath(named.gitlab_org_id).value_or("?") + "/no-such-child"},
        kNotFound);

    // Paging (LIMIT / AFTER) of the huge group's descendants, and MINLSN
    // between the id and the other options.
    const std::vector<int64_t> all = g.Descendants(named.huge_group_id, false, false, Form::kLinear)
                                         .value_or(std::vector<int64_t>{});
    if (all.size() > 100) {
      const std::string huge = Id(named.huge_group_id);
      one({"DESCENDANTS", huge, "LIMIT", "50"},
          JsonIds(std::vector<int64_t>(all.begin(), all.begin() + 50)));
      one({"DESCENDANTS", huge, "LIMIT", "50", "AFTER", Id(all[49])},
          JsonIds(std::vector<int64_t>(all.begin() + 50, all.begin() + 100)));
      one({"DESCENDANTS", huge, "AFTER", Id(all[all.size() - 3]), "LIMIT", "10"},
          JsonIds(std::vector<int64_t>(all.end() - 2, all.end())));
    }
    one({"DESCENDANTS", Id(named.gitlab_org_id), "MINLSN", "0/1", "WAITMS", "1000", "SELF"},
        IdsOr(g.Descendants(named.gitlab_org_id, true, false, Form::kLinear)));

    // Bad commands and arguments: -ERR, and the connection goes on.
    const std::string org = Id(named.gitlab_org_id);
    for (const Command& c : std::vector<Command>{{"FROBNICATE", "1"},
                                                 {"ANCESTORS"},
                                                 {"ANCESTORS", "abc"},
                                                 {"ANCESTORS", "12abc"},
                                                 {"ANCESTORS", "9223372036854775808"},
                                                 {"ANCESTORS", org, "WITHPROJECTNAMESPACES"},
                                                 {"DESCENDANTS", org, "BOGUS"},
                                                 {"DESCENDANTS", org, "LIMIT", "many"},
                                                 {"PROJECTS", org, "SELF"},
                                                 {"COUNTS"},
                                                 {"RESOLVE"},
                                                 {"ANCESTORS", org, "MINLSN", "not-an-lsn"}}) {
      one(c, Err("ERR"));
    }
    one({"ANCESTORS", "9223372036854775807"}, kNotFound);
    return checks;
  }

  int port_ = 0;
  std::string resp_sock_;
  Endpoint tcp_, unix_;
  int files_ = 0;
  int mismatches_ = 0;
};

// Every query of docs/resp.md through redis-rb, redis-py and redis-cli, on
// TCP and on the Unix socket, equals GitLab's SQL.
TEST_F(RespE2E, EveryQueryThroughEveryClientEqualsGitlabSql) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp"));
  ASSERT_NO_FATAL_FAILURE(StartResp());
  const IdSample sample = Sample();
  const std::vector<Check> checks = QueryChecks(sample);
  int lists = 0, nonempty = 0, not_found = 0;
  for (const Check& c : checks) {
    lists += c.want.rfind("[", 0) == 0;
    nonempty += c.want.rfind("[", 0) == 0 && c.want != "[]";
    not_found += c.want == kNotFound;
  }
  std::cerr << "[resp-e2e] " << sample.namespaces.size() << " namespaces, "
            << sample.projects.size() << " projects: " << checks.size() << " commands (" << nonempty
            << " non-empty lists, " << not_found << " NOTFOUND)\n";
  EXPECT_GT(nonempty, lists / 2);  // the sample asks about things that are there

  for (const Endpoint& at : {tcp_, unix_}) {
    for (Client client : {Client::kRuby, Client::kPython}) {
      ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, at, checks));
      ASSERT_LE(mismatches_, 30) << "too many differences; stopping";
    }
  }
  ExpectThroughRedisCli(tcp_, checks);
  ASSERT_LE(mismatches_, 30) << "too many differences; stopping";
  // redis-cli on the Unix socket: the first namespaces' commands.
  ExpectThroughRedisCli(unix_, std::vector<Check>(checks.begin(), checks.begin() + 40));

  // What a person typing redis-cli sees (its default, human format).
  const int64_t leaf = forest_.named.deep_chain_leaf_id;
  const std::vector<int64_t> chain = *gitlab_->Ancestors(leaf, true, false, Form::kLinear);
  std::string human;  // " 1) (integer) 58": the numbers right-aligned
  const size_t width = Id(static_cast<int64_t>(chain.size())).size();
  for (size_t i = 0; i < chain.size(); ++i) {
    const std::string n = Id(static_cast<int64_t>(i + 1));
    human += std::string(width - n.size(), ' ') + n + ") (integer) " + Id(chain[i]) + "\n";
  }
  ProgramRun r =
      RunProgram({CANOPY_REDIS_CLI, "-p", Id(port_), "--no-raw", "ANCESTORS", Id(leaf), "SELF"});
  EXPECT_EQ(r.code(), 0) << r.Describe();
  EXPECT_EQ(LineDiff(r.out, human), "") << r.command;
  r = RunProgram({CANOPY_REDIS_CLI, "-p", Id(port_), "--no-raw", "ANCESTORS", Id(kUnknownId)});
  EXPECT_EQ(r.out.rfind("(error) NOTFOUND", 0), 0u) << r.Describe();
  r = RunProgram(
      {CANOPY_REDIS_CLI, "-p", Id(port_), "--no-raw", "PATH", Id(forest_.named.chain_21_leaf_id)});
  EXPECT_EQ(r.out, "\"" + *gitlab_->NamespacePath(forest_.named.chain_21_leaf_id) + "\"\n")
      << r.Describe();
  // raw (redis-cli's default when stdout is not a terminal): one id a line.
  r = RunProgram(
      {CANOPY_REDIS_CLI, "-p", Id(port_), "DESCENDANTS", Id(forest_.named.gitlab_org_id)});
  EXPECT_EQ(LineDiff(r.out, Lines(*gitlab_->Descendants(forest_.named.gitlab_org_id, false, false,
                                                        Form::kLinear))),
            "")
      << r.command;
  // ORDER ANY: the set SQL answers (`namespace_id IN (...)` promises no order either).
  auto sorted_lines = [](const std::string& out) {
    std::vector<int64_t> ids;
    for (const std::string& line : SplitLines(out)) ids.push_back(std::stoll(line));
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  for (int64_t group : {forest_.named.gitlab_org_id, forest_.named.huge_group_id}) {
    r = RunProgram({CANOPY_REDIS_CLI, "-p", Id(port_), "DESCENDANTS", Id(group), "SELF",
                    "WITHPROJECTNAMESPACES", "ORDER", "ANY"});
    std::vector<int64_t> want = *gitlab_->Descendants(group, true, true, Form::kLinear);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(sorted_lines(r.out), want) << r.Describe();
    r = RunProgram({CANOPY_REDIS_CLI, "-p", Id(port_), "PROJECTS", Id(group), "ORDER", "ANY"});
    want = *gitlab_->Projects(group, false, Form::kLinear);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(sorted_lines(r.out), want) << r.Describe();
  }
}

// The batch forms answer, in one reply, what the single forms answer for
// each id, nil for an unknown one.
TEST_F(RespE2E, BatchFormsEqualSingleForms) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp_batch"));
  ASSERT_NO_FATAL_FAILURE(StartResp());
  const IdSample sample = Sample();
  GitlabSql& g = *gitlab_;
  // Ids with unknown ones among them (and one twice).
  std::vector<int64_t> ns(
      sample.namespaces.begin(),
      sample.namespaces.begin() + std::min<size_t>(sample.namespaces.size(), 30));
  ns.insert(ns.begin() + static_cast<ptrdiff_t>(ns.size() / 2), kUnknownId);
  ns.push_back(ns.front());
  ns.push_back(kUnknownId + 1);
  std::vector<int64_t> projects = sample.projects;
  projects.insert(projects.begin() + 1, kUnknownId);

  const std::string null = "null";
  auto batch = [](const std::string& name, const std::vector<int64_t>& ids,
                  const std::vector<std::string>& options) {
    Command c = {name};
    for (int64_t id : ids) c.push_back(Id(id));
    c.insert(c.end(), options.begin(), options.end());
    return c;
  };
  auto each = [](const std::vector<int64_t>& ids, const std::function<std::string(int64_t)>& f) {
    std::vector<std::string> items;
    for (int64_t id : ids) items.push_back(f(id));
    return JsonList(items);
  };
  std::vector<Check> checks;
  for (bool self : {false, true}) {
    for (bool self_first : {false, true}) {
      std::vector<std::string> options;
      if (self) options.push_back("SELF");
      if (self_first) options.push_back("SELFFIRST");
      checks.push_back({batch("MANCESTORS", ns, options),
                        each(ns,
                             [&](int64_t id) {
                               return IdsOr(g.Ancestors(id, self, self_first, Form::kLinear), null);
                             }),
                        ""});
    }
    for (bool with_pns : {false, true}) {
      std::vector<std::string> options;
      if (self) options.push_back("SELF");
      if (with_pns) options.push_back("WITHPROJECTNAMESPACES");
      checks.push_back({batch("MDESCENDANTS", ns, options),
                        each(ns,
                             [&](int64_t id) {
                               return IdsOr(g.Descendants(id, self, with_pns, Form::kLinear), null);
                             }),
                        ""});
    }
  }
  for (bool unarchived : {false, true}) {
    checks.push_back(
        {batch("MPROJECTS", ns,
               unarchived ? std::vector<std::string>{"UNARCHIVED"} : std::vector<std::string>{}),
         each(ns,
              [&](int64_t id) { return IdsOr(g.Projects(id, unarchived, Form::kLinear), null); }),
         ""});
  }
  checks.push_back({batch("MRUNNERS", ns, {}),
                    each(ns, [&](int64_t id) { return JsonIds(g.RunnersOfGroup(id)); }), ""});
  checks.push_back(
      {batch("MRUNNERS", ns, {"ANCESTORS"}),
       each(ns, [&](int64_t id) { return IdsOr(g.RunnersOfGroupAndAncestors(id), null); }), ""});
  checks.push_back({batch("MCOUNTS", ns, {}),
                    each(ns, [&](int64_t id) { return CountsJson(g.CountsText(id), false, null); }),
                    ""});
  checks.push_back({batch("MPATH", ns, {}),
                    each(ns, [&](int64_t id) { return PathJson(g.NamespacePath(id), null); }), ""});
  for (bool self_first : {false, true}) {
    checks.push_back(
        {batch("MPROJECTANCESTORS", projects,
               self_first ? std::vector<std::string>{"SELFFIRST"} : std::vector<std::string>{}),
         each(projects,
              [&](int64_t id) { return IdsOr(g.ProjectAncestors(id, self_first), null); }),
         ""});
  }
  checks.push_back({batch("MPROJECTRUNNERS", projects, {}),
                    each(projects, [&](int64_t id) { return IdsOr(g.ProjectRunners(id), null); }),
                    ""});
  checks.push_back({batch("MPATH", projects, {"PROJECT"}),
                    each(projects, [&](int64_t id) { return PathJson(g.ProjectPath(id), null); }),
                    ""});
  Command resolve = {"MRESOLVE"};
  std::vector<std::string> resolved;
  for (int64_t id : ns) {
    const std::string path = g.NamespacePath(id).value_or("no-such-namespace-" + Id(id));
    resolve.push_back(path);
    resolved.push_back(ResolveJson(g.ResolveText(path), null));
  }
  for (int64_t id : projects) {
    const std::string path = g.ProjectPath(id).value_or("no/such-project-" + Id(id));
    resolve.push_back(path);
    resolved.push_back(ResolveJson(g.ResolveText(path), null));
    resolve.push_back(SwapAsciiCase(path));  // ignoring case
    resolved.push_back(ResolveJson(g.ResolveText(SwapAsciiCase(path)), null));
  }
  checks.push_back({resolve, JsonList(resolved), ""});
  // A batch of one unknown id: [nil], not an error.
  checks.push_back({{"MANCESTORS", Id(kUnknownId)}, "[null]", ""});
  checks.push_back({{"MANCESTORS"}, Err("ERR"), ""});

  for (Client client : {Client::kRuby, Client::kPython}) {
    ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, tcp_, checks));
  }
  ExpectThroughRedisCli(tcp_, checks);
  ExpectThroughRedisCli(unix_, checks);
}

// 1,000 lookups in one round trip: redis-rb's `pipelined`, redis-py's
// pipeline(transaction=False). Every answer equals SQL.
TEST_F(RespE2E, ThousandPipelinedLookups) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp_pipeline"));
  ASSERT_NO_FATAL_FAILURE(StartResp());
  const std::vector<int64_t> ids = SampleIds("namespaces", 1000);
  ASSERT_EQ(ids.size(), 1000u);
  GitlabSql& g = *gitlab_;
  std::vector<Check> checks;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t ns = ids[i];
    const std::string id = Id(ns);
    switch (i % 5) {
      case 0:
        checks.push_back(
            {{"ANCESTORS", id, "SELF"}, IdsOr(g.Ancestors(ns, true, false, Form::kLinear)), ""});
        break;
      case 1:
        checks.push_back({{"DESCENDANTS", id, "WITHPROJECTNAMESPACES"},
                          IdsOr(g.Descendants(ns, false, true, Form::kLinear)),
                          ""});
        break;
      case 2:
        checks.push_back(
            {{"PROJECTS", id, "UNARCHIVED"}, IdsOr(g.Projects(ns, true, Form::kLinear)), ""});
        break;
      case 3:
        checks.push_back({{"COUNTS", id}, CountsJson(g.CountsText(ns), false), ""});
        break;
      default:
        checks.push_back({{"PATH", id}, PathJson(g.NamespacePath(ns)), ""});
        break;
    }
  }
  for (const Endpoint& at : {tcp_, unix_}) {
    for (Client client : {Client::kRuby, Client::kPython}) {
      ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, at, checks, {"--pipeline"}));
    }
  }
  // redis-py keeps an error in its place in the pipeline (redis-rb 4 raises
  // the first one instead).
  std::vector<Check> with_unknown = checks;
  with_unknown.insert(with_unknown.begin() + 500, {{"ANCESTORS", Id(kUnknownId)}, kNotFound, ""});
  with_unknown.push_back({{"COUNTS", Id(kUnknownId)}, kNotFound, ""});
  ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(Client::kPython, tcp_, with_unknown, {"--pipeline"}));
  const ProgramRun r =
      RunClient(Client::kRuby, tcp_, {{"ANCESTORS", Id(ids[0])}, {"ANCESTORS", Id(kUnknownId)}},
                {"--pipeline"});
  EXPECT_EQ(r.code(), 1) << r.Describe();
  EXPECT_EQ(Canonical(SplitLines(r.out).empty() ? "" : SplitLines(r.out)[0]), kNotFound)
      << r.Describe();
}

// A subtree transfer committed in PostgreSQL, then a read with MINLSN
// <pg_current_wal_lsn()> through redis-rb and redis-py sees it (one transfer
// per client, so each read depends on its own MINLSN); LASTLSN names an LSN
// at least the commit's; an LSN that never comes is -STALE after WAITMS.
TEST_F(RespE2E, ReadYourWritesAndStale) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp_ryw"));
  ASSERT_NO_FATAL_FAILURE(StartResp());
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  const int64_t moved = PickMovableSubgroup();
  ASSERT_NE(moved, 0) << "no movable subgroup in the forest";
  GitlabSql& g = *gitlab_;
  for (Client client : {Client::kRuby, Client::kPython}) {
    SCOPED_TRACE(ClientName(client));
    const int64_t target =
        client == Client::kRuby ? named.transfer_target_a_id : named.transfer_target_b_id;
    SubtreeTransfer t;
    ASSERT_NO_FATAL_FAILURE(TransferSubtree(moved, target, &t));
    const Lsn lsn = WalLsn();
    ASSERT_EQ(g.Ancestors(t.deep, true, false, Form::kLinear)->front(), target);
    const std::string at = lsn.ToString();
    const std::vector<Check> checks = {
        {{"DESCENDANTS", Id(target), "MINLSN", at, "WAITMS", "5000"},
         IdsOr(g.Descendants(target, false, false, Form::kLinear)),
         IdsOr(g.Descendants(target, false, false, Form::kRecursive))},
        {{"ANCESTORS", Id(t.deep), "SELF", "MINLSN", at, "WAITMS", "5000"},
         IdsOr(g.Ancestors(t.deep, true, false, Form::kLinear)),
         IdsOr(g.Ancestors(t.deep, true, false, Form::kRecursive))},
        {{"DESCENDANTS", Id(t.old_parent), "SELF", "WITHPROJECTNAMESPACES", "MINLSN", at, "WAITMS",
          "5000"},
         IdsOr(g.Descendants(t.old_parent, true, true, Form::kLinear)),
         ""},
        {{"PROJECTS", Id(target), "MINLSN", at, "WAITMS", "5000"},
         IdsOr(g.Projects(target, false, Form::kLinear)),
         ""},
        {{"PATH", Id(t.deep), "MINLSN", at, "WAITMS", "5000"},
         PathJson(g.NamespacePath(t.deep)),
         ""},
    };
    EXPECT_NE(checks[0].want, "[]");
    std::vector<Command> commands;
    for (const Check& c : checks) commands.push_back(c.command);
    commands.push_back({"LASTLSN"});
    const ProgramRun r = RunClient(client, tcp_, commands);
    EXPECT_EQ(r.code(), 0) << r.Describe();
    const std::vector<std::string> lines = SplitLines(r.out);
    ASSERT_EQ(lines.size(), commands.size()) << r.Describe();
    for (size_t i = 0; i < checks.size(); ++i)
      ExpectAnswer(ClientName(client), checks[i], lines[i]);
    // LASTLSN (RESP2): the LSN the previous answer reflects, at least the commit's.
    ASSERT_GE(lines.back().size(), 2u) << r.Describe();
    const std::optional<Lsn> last = Lsn::Parse(lines.back().substr(1, lines.back().size() - 2));
    ASSERT_TRUE(last.has_value()) << lines.back();
    EXPECT_GE(*last, lsn) << "LASTLSN " << lines.back() << ", committed at " << at;
  }

  // An LSN far in the future: STALE after the (small) wait; the connection
  // goes on. LASTLSN before any query: 0/0.
  const std::string leaf = Id(named.chain_21_leaf_id);
  const std::string leaf_ancestors =
      IdsOr(g.Ancestors(named.chain_21_leaf_id, false, false, Form::kLinear));
  const std::vector<Check> stale = {
      {{"LASTLSN"}, "\"0/0\"", ""},
      {{"ANCESTORS", leaf, "MINLSN", "FFFFFFFF/0", "WAITMS", "200"}, Err("STALE"), ""},
      {{"MANCESTORS", leaf, leaf, "MINLSN", "FFFFFFFF/0", "WAITMS", "100"}, Err("STALE"), ""},
      {{"ANCESTORS", leaf}, leaf_ancestors, ""},
  };
  for (Client client : {Client::kRuby, Client::kPython}) {
    ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, tcp_, stale));
  }
  ExpectAnswer("redis-cli", stale[1], RedisCli(tcp_, stale[1].command));
}

// After a GitLab-style stream of inserts, updates, archives, moves and
// deletes, every query still equals SQL (the first command waits for the
// stream's last LSN).
TEST_F(RespE2E, AnswersEqualSqlAfterMixedStream) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp_stream"));
  ASSERT_NO_FATAL_FAILURE(StartResp());
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(400));
  const Lsn lsn = WalLsn();
  const int64_t leaf = forest_.named.deep_chain_leaf_id;
  std::vector<Check> checks = {
      {{"ANCESTORS", Id(leaf), "MINLSN", lsn.ToString(), "WAITMS", "30000"},
       IdsOr(gitlab_->Ancestors(leaf, false, false, Form::kLinear)),
       ""}};
  const std::vector<Check> queries = QueryChecks(Sample());
  checks.insert(checks.end(), queries.begin(), queries.end());
  for (Client client : {Client::kRuby, Client::kPython}) {
    ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, tcp_, checks));
  }
  // STATUS: field:value lines, streaming.
  const ProgramRun r = RunClient(Client::kPython, tcp_, {{"STATUS"}});
  EXPECT_NE(r.out.find("state:streaming"), std::string::npos) << r.Describe();
}

// --token-file: NOAUTH before AUTH, WRONGPASS for a wrong token (the
// connection stays, unauthenticated), and each client's password option.
// canopyd is started with a bare --resp-listen PORT (127.0.0.1).
TEST_F(RespE2E, TokenAuth) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp_auth"));
  const std::string token = "s3cret-e2e-token";
  const std::string token_file = dir_.path() + "/token";
  { std::ofstream(token_file) << token << "\n"; }
  cli_options_ = {"--token-file", token_file};
  ASSERT_NO_FATAL_FAILURE(StartResp({"--token-file", token_file}, /*bare_port=*/true));
  const int64_t leaf = forest_.named.chain_21_leaf_id;
  const std::string want = IdsOr(gitlab_->Ancestors(leaf, true, false, Form::kLinear));
  const Command query = {"ANCESTORS", Id(leaf), "SELF"};
  const std::vector<Check> ok = {{query, want, ""}, {{"ANCESTORS", Id(kUnknownId)}, kNotFound, ""}};
  const std::vector<Check> noauth = {{query, Err("NOAUTH"), ""}};
  const std::vector<Check> wrongpass = {{query, Err("WRONGPASS"), ""}};

  for (Client client : {Client::kRuby, Client::kPython}) {
    SCOPED_TRACE(ClientName(client));
    ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, tcp_, noauth));
    ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, tcp_, wrongpass, {"--password", "nope"}));
    ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, tcp_, ok, {"--password", token}));
    ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(client, unix_, ok, {"--password", token}));
    // AUTH USERNAME TOKEN (the username is ignored).
    ASSERT_NO_FATAL_FAILURE(
        ExpectThroughClient(client, tcp_, ok, {"--username", "someone", "--password", token}));
  }
  // AUTH as a command: WRONGPASS keeps the connection, unauthenticated.
  ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(Client::kRuby, tcp_,
                                              {{{"AUTH", "nope"}, Err("WRONGPASS"), ""},
                                               {query, Err("NOAUTH"), ""},
                                               {{"AUTH", token}, "\"OK\"", ""},
                                               {query, want, ""}}));
  // redis-cli.
  EXPECT_EQ(Canonical(RedisCli(tcp_, query)), Err("NOAUTH"));
  // A wrong -a: redis-cli says "AUTH failed: WRONGPASS ..." and sends the
  // command anyway, unauthenticated.
  ProgramRun wrong;
  EXPECT_EQ(Canonical(RedisCli(tcp_, query, {"-a", "nope", "--no-auth-warning"}, &wrong)),
            Err("NOAUTH"));
  EXPECT_NE(wrong.err.find("WRONGPASS"), std::string::npos) << wrong.Describe();
  EXPECT_EQ(RedisCli(tcp_, query, {"-a", token, "--no-auth-warning"}), want);
  EXPECT_EQ(RedisCli(unix_, query, {"-a", token, "--no-auth-warning"}), want);
  EXPECT_EQ(RedisCli(tcp_, query, {"--user", "someone", "-a", token, "--no-auth-warning"}), want);
  // HELLO with AUTH, on a raw connection.
  RawConn c;
  ASSERT_TRUE(c.ConnectTcp(port_));
  EXPECT_EQ(Canonical(c.Call(query)), Err("NOAUTH"));
  EXPECT_EQ(Canonical(c.Call({"HELLO", "2", "AUTH", "default", "nope"})), Err("WRONGPASS"));
  EXPECT_EQ(Canonical(c.Call(query)), Err("NOAUTH"));
  const std::string hello = c.Call({"HELLO", "2", "AUTH", "default", token});
  EXPECT_EQ(hello.rfind("[", 0), 0u) << hello;  // RESP2: a flat array
  EXPECT_EQ(c.Call(query), want);

  // The README examples with CANOPY_TOKEN (and without: they fail, saying NOAUTH).
  for (const std::string& example : {kRubyExample, kPythonExample}) {
    const std::string interpreter = example == kRubyExample ? CANOPY_RUBY : CANOPY_PYTHON3;
    ProgramRun r = RunProgram({"/usr/bin/env", "-u", "CANOPY_MIN_LSN", "CANOPY_RESP_HOST=127.0.0.1",
                               "CANOPY_RESP_PORT=" + Id(port_), "CANOPY_TOKEN=" + token,
                               interpreter, example, Id(leaf)});
    EXPECT_EQ(r.code(), 0) << r.Describe();
    const std::string ids = PrintedIds(*gitlab_->Ancestors(leaf, true, false, Form::kLinear));
    EXPECT_EQ(r.out.rfind("self_and_ancestors: " + ids + "\n", 0), 0u) << r.Describe();
    r = RunProgram({"/usr/bin/env", "-u", "CANOPY_MIN_LSN", "-u", "CANOPY_TOKEN",
                    "CANOPY_RESP_HOST=127.0.0.1", "CANOPY_RESP_PORT=" + Id(port_), interpreter,
                    example, Id(leaf)});
    EXPECT_NE(r.code(), 0) << r.Describe();
    // redis-rb: Redis::CommandError (NOAUTH ...); redis-py: AuthenticationError.
    EXPECT_TRUE(r.err.find("NOAUTH") != std::string::npos ||
                r.err.find("AuthenticationError") != std::string::npos)
        << r.Describe();
  }
}

// RESP3: redis-cli -3 (HELLO 3) gets the same answers; on a raw connection,
// after ATTRIBUTES ON, every query answer comes after an attribute
// |1 lsn "X/Y" naming an LSN at least the last commit's.
TEST_F(RespE2E, Resp3) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp3"));
  ASSERT_NO_FATAL_FAILURE(StartResp());
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  GitlabSql& g = *gitlab_;
  ASSERT_TRUE(sql_->Exec("UPDATE projects SET archived = NOT archived WHERE id = " +
                         Id(named.gitlab_org_project_id)));
  const Lsn lsn = WalLsn();
  const int64_t leaf = named.deep_chain_leaf_id;
  const std::string ancestors = IdsOr(g.Ancestors(leaf, true, false, Form::kLinear));
  const std::vector<Check> checks = {
      {{"ANCESTORS", Id(leaf), "SELF", "MINLSN", lsn.ToString(), "WAITMS", "30000"}, ancestors, ""},
      {{"DESCENDANTS", Id(named.gitlab_org_id)},
       IdsOr(g.Descendants(named.gitlab_org_id, false, false, Form::kLinear)),
       ""},
      {{"PROJECTS", Id(named.gitlab_org_id), "UNARCHIVED"},
       IdsOr(g.Projects(named.gitlab_org_id, true, Form::kLinear)),
       ""},
      {{"COUNTS", Id(named.gitlab_org_id)},
       CountsJson(g.CountsText(named.gitlab_org_id), true),
       ""},
      {{"PATH", Id(leaf)}, PathJson(g.NamespacePath(leaf)), ""},
      {{"MANCESTORS", Id(leaf), Id(kUnknownId)},
       "[" + IdsOr(g.Ancestors(leaf, false, false, Form::kLinear)) + ",null]",
       ""},
      {{"ANCESTORS", Id(kUnknownId)}, kNotFound, ""},
  };
  ExpectThroughRedisCli(tcp_, checks, {"-3"});

  // Raw: HELLO 3 answers a map; then attribute + answer.
  RawConn c;
  ASSERT_TRUE(c.ConnectUnix(resp_sock_));
  ASSERT_TRUE(c.Send(RawConn::Encode({"HELLO", "3"})));
  std::string hello;
  ASSERT_EQ(c.Read(&hello), RawConn::Got::kValue);
  EXPECT_EQ(hello.rfind("{", 0), 0u) << hello;
  EXPECT_NE(hello.find("\"proto\":3"), std::string::npos) << hello;
  std::string attribute;
  // Attributes are opt-in (redis-cli 7.0 cannot read them).
  EXPECT_EQ(c.Call({"ANCESTORS", Id(leaf), "SELF"}, nullptr, &attribute), ancestors);
  EXPECT_EQ(attribute, "");
  EXPECT_EQ(c.Call({"ATTRIBUTES", "ON"}), "\"OK\"");
  const std::string answer = c.Call({"ANCESTORS", Id(leaf), "SELF"}, nullptr, &attribute);
  EXPECT_EQ(answer, ancestors);
  const std::optional<Lsn> at = Lsn::Parse(JsonField(attribute, "lsn").value_or(""));
  ASSERT_TRUE(at.has_value()) << "attribute: '" << attribute << "'";
  EXPECT_GE(*at, lsn) << attribute;
  // Counts as a map (with its attribute); an unknown id is NOTFOUND.
  EXPECT_EQ(c.Call({"COUNTS", Id(named.gitlab_org_id)}, nullptr, &attribute),
            CountsJson(g.CountsText(named.gitlab_org_id), true));
  EXPECT_TRUE(JsonField(attribute, "lsn").has_value()) << attribute;
  EXPECT_EQ(Canonical(c.Call({"ANCESTORS", Id(kUnknownId)})), kNotFound);
}

// The README examples, run exactly as printed, print what SQL answers,
// including the read-your-write with MINLSN after a transfer.
TEST_F(RespE2E, ReadmeExamples) {
  // README.md prints both files whole: what it shows is what runs here.
  const std::string readme = ReadFile(kSourceDir + "/README.md");
  for (const std::string& example : {kRubyExample, kPythonExample}) {
    const std::string text = ReadFile(example);
    ASSERT_FALSE(text.empty()) << example;
    EXPECT_NE(readme.find(text), std::string::npos) << "README.md does not show " << example;
  }
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp_readme"));
  ASSERT_NO_FATAL_FAILURE(StartResp());
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  GitlabSql& g = *gitlab_;
  const int64_t moved = PickMovableSubgroup();
  ASSERT_NE(moved, 0);
  const int64_t home =
      std::stoll(sql_->Value("SELECT parent_id FROM namespaces WHERE id = " + Id(moved)));
  for (const std::string& example : {kRubyExample, kPythonExample}) {
    SCOPED_TRACE(example);
    // Away to an empty group for the first example, back home for the second.
    SubtreeTransfer t;
    ASSERT_NO_FATAL_FAILURE(
        TransferSubtree(moved, example == kRubyExample ? named.transfer_target_a_id : home, &t));
    const Lsn lsn = WalLsn();
    // The group asked about first is the subtree's home: its ancestors do
    // not change, its descendants do.
    const int64_t group = home;
    const std::vector<int64_t> ids = {group, named.chain_21_leaf_id, named.deep_chain_leaf_id,
                                      named.gitlab_org_id};
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "-u",
                                     "CANOPY_TOKEN",
                                     "CANOPY_RESP_HOST=127.0.0.1",
                                     "CANOPY_RESP_PORT=" + Id(port_),
                                     "CANOPY_MIN_LSN=" + lsn.ToString(),
                                     example == kRubyExample ? CANOPY_RUBY : CANOPY_PYTHON3,
                                     example};
    for (int64_t id : ids) argv.push_back(Id(id));
    const ProgramRun r = RunProgram(argv);
    EXPECT_EQ(r.code(), 0) << r.Describe();
    std::string want =
        "self_and_ancestors: " + PrintedIds(*g.Ancestors(group, true, false, Form::kLinear)) +
        "\nancestors: [";
    for (size_t i = 0; i < ids.size(); ++i) {
      want += (i ? ", " : "") + PrintedIds(*g.Ancestors(ids[i], false, false, Form::kLinear));
    }
    const std::vector<int64_t> descendants = *g.Descendants(group, false, false, Form::kLinear);
    want += "]\ndescendants: " + PrintedIds(descendants) + "\n";
    EXPECT_EQ(LineDiff(r.out, want), "") << r.Describe();
    // The move shows: the subtree left (Ruby) or came back (Python).
    const bool has_moved =
        std::find(descendants.begin(), descendants.end(), moved) != descendants.end();
    EXPECT_EQ(has_moved, example != kRubyExample);
  }
}

// Hostile peers on raw sockets: every one gets an error or a closed
// connection; canopyd never crashes and serves the other connections
// meanwhile and afterwards.
TEST_F(RespE2E, HostileInputNeverCrashes) {
  ASSERT_NO_FATAL_FAILURE(Prepare("canopy_e2e_resp_hostile"));
  // A small read timeout (the half-sent command below).
  ASSERT_NO_FATAL_FAILURE(StartResp({"--read-timeout-ms", "1000"}));
  const canopy::testing::GitlabForestNamedIds& named = forest_.named;
  const int64_t leaf = named.chain_21_leaf_id;
  const std::string leaf_ids = IdsOr(gitlab_->Ancestors(leaf, true, false, Form::kLinear));
  const Command query = {"ANCESTORS", Id(leaf), "SELF"};

  // Serving: a fresh connection answers right.
  auto expect_serving = [&](const std::string& after) {
    SCOPED_TRACE("after " + after);
    ASSERT_FALSE(daemon_->Poll().has_value()) << "canopyd ended";
    RawConn c;
    ASSERT_TRUE(c.ConnectTcp(port_));
    EXPECT_EQ(c.Call(query), leaf_ids);
  };

  // Inline commands (as typed into nc): accepted.
  {
    RawConn c;
    ASSERT_TRUE(c.ConnectTcp(port_));
    ASSERT_TRUE(c.Send("PING\r\n\r\nANCESTORS " + Id(leaf) + " SELF\r\nping hello\n"));
    std::string v;
    ASSERT_EQ(c.Read(&v), RawConn::Got::kValue);
    EXPECT_EQ(v, "\"PONG\"");
    ASSERT_EQ(c.Read(&v), RawConn::Got::kValue);
    EXPECT_EQ(v, leaf_ids);
    ASSERT_EQ(c.Read(&v), RawConn::Got::kValue);
    EXPECT_EQ(v, "\"hello\"");
  }

  // Errors that keep the connection: -ERR (any error for HELLO 4: Redis
  // says NOPROTO), then PING still answers on the same connection.
  const std::string any_error = "";
  const std::vector<std::pair<std::string, std::string>> recoverable = {
      {RawConn::Encode({"FROBNICATE"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", "1", "2", "3", "4", "5", "6"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", "abc"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", ""}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", "1.5"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", "0x10"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", std::string("1\0002", 3)}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", "9223372036854775808"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", "-9223372036854775809"}), "!ERR"},
      {RawConn::Encode({"ANCESTORS", "99999999999999999999999999999"}), "!ERR"},
      {RawConn::Encode({"MANCESTORS"}), "!ERR"},
      {RawConn::Encode({"MANCESTORS", "1", "x"}), "!ERR"},
      {RawConn::Encode({"DESCENDANTS", "1", "LIMIT"}), "!ERR"},
      {RawConn::Encode({"DESCENDANTS", "1", "LIMIT", "-1"}), "!ERR"},
      {RawConn::Encode({"DESCENDANTS", "1", "MINLSN"}), "!ERR"},
      {RawConn::Encode({"DESCENDANTS", "1", "MINLSN", "1/2/3"}), "!ERR"},
      {RawConn::Encode({"DESCENDANTS", "1", "MINLSN", "0/1", "WAITMS", "soon"}), "!ERR"},
      {RawConn::Encode({"PATH"}), "!ERR"},
      {RawConn::Encode({"RESOLVE"}), "!ERR"},
      {RawConn::Encode({"ECHO"}), "!ERR"},
      {RawConn::Encode({"SELECT", "1"}), "!ERR"},
      {RawConn::Encode({"HELLO", "4"}), any_error},
      {RawConn::Encode({std::string("\xff\xfe\x00\x01", 4)}), "!ERR"},
      {"FROBNICATE 1 2 3\r\n", "!ERR"},
      {"\x01\x02\x03 garbage\r\n", "!ERR"},
  };
  {
    RawConn c;
    ASSERT_TRUE(c.ConnectTcp(port_));
    for (const auto& [bytes, want] : recoverable) {
      SCOPED_TRACE(JsonString(bytes));
      ASSERT_TRUE(c.Send(bytes));
      std::string v;
      ASSERT_EQ(c.Read(&v), RawConn::Got::kValue);
      if (want.empty()) {
        EXPECT_EQ(Canonical(v).rfind("!", 0), 0u) << v;
      } else {
        EXPECT_EQ(Canonical(v), want) << v;
      }
      ASSERT_EQ(c.Call({"PING"}), "\"PONG\"") << "the connection did not go on";
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_serving("recoverable errors"));

  // Protocol errors: -ERR Protocol error (or nothing), then the connection closes.
  const std::vector<std::pair<std::string, std::string>> fatal = {
      {"huge bulk", "*1\r\n$2147483648\r\n"},
      {"bulk over 4 MiB", "*2\r\n$9\r\nANCESTORS\r\n$5000000\r\n"},
      {"huge array", "*1000000\r\n"},
      {"negative bulk", "*1\r\n$-5\r\n"},
      {"bulk without CRLF", "*1\r\n$4\r\nPINGxx"},
      {"not a bulk", "*2\r\n$9\r\nANCESTORS\r\n:5\r\n"},
      {"bad array length", "*x\r\n"},
      {"bad bulk length", "*1\r\n$abc\r\n"},
      {"inline line over 64 KiB", std::string(70'000, 'A')},
      {"header line over 64 KiB", "*1\r\n$" + std::string(70'000, '9')},
  };
  for (const auto& [name, bytes] : fatal) {
    SCOPED_TRACE(name);
    RawConn c;
    ASSERT_TRUE(c.ConnectTcp(port_));
    (void)c.Send(bytes);  // the server may close before taking it all
    std::vector<std::string> replies;
    EXPECT_TRUE(c.WaitClosed(seconds(30), &replies)) << "still open";
    // Answered (docs/resp.md) when the whole request got there; a big one may
    // meet a closed socket first.
    if (bytes.size() < 100) {
      EXPECT_EQ(replies.size(), 1u);
    }
    for (const std::string& v : replies) {
      EXPECT_EQ(Canonical(v), Err("ERR")) << v;
      EXPECT_NE(v.find("Protocol error"), std::string::npos) << v;
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_serving("protocol errors"));

  // Too many ids in one request (over max_ids_per_request): an error reply.
  {
    Command many = {"MANCESTORS"};
    for (int i = 0; i < 100'001; ++i) many.push_back(Id(i + 1));
    RawConn c;
    ASSERT_TRUE(c.ConnectTcp(port_));
    ASSERT_TRUE(c.Send(RawConn::Encode(many)));
    std::string v;
    const RawConn::Got got = c.Read(&v, seconds(30));
    EXPECT_TRUE(got == RawConn::Got::kClosed ||
                (got == RawConn::Got::kValue && Canonical(v).rfind("!", 0) == 0))
        << v;
  }
  ASSERT_NO_FATAL_FAILURE(expect_serving("too many ids"));

  // A half-sent command, then silence: closed after the read timeout; other
  // connections are served meanwhile.
  {
    RawConn half;
    ASSERT_TRUE(half.ConnectTcp(port_));
    ASSERT_TRUE(half.Send("*3\r\n$9\r\nANCESTORS\r\n$3\r\n12"));
    ASSERT_NO_FATAL_FAILURE(expect_serving("a half-sent command"));
    std::vector<std::string> replies;
    EXPECT_TRUE(half.WaitClosed(seconds(30), &replies))
        << "a half-sent command kept its connection";
  }

  // Peers that go away with answers pending, and one that never reads.
  {
    std::string burst;
    for (int i = 0; i < 200; ++i) {
      burst += RawConn::Encode(
          {"DESCENDANTS", Id(named.huge_group_id), "SELF", "WITHPROJECTNAMESPACES"});
    }
    for (int i = 0; i < 5; ++i) {
      RawConn gone;
      ASSERT_TRUE(gone.ConnectTcp(port_));
      (void)gone.Send(burst);
    }
    RawConn deaf;
    ASSERT_TRUE(deaf.ConnectTcp(port_));
    for (int i = 0; i < 20 && deaf.Send(burst, seconds(2)); ++i) {
    }
    ASSERT_NO_FATAL_FAILURE(expect_serving("a reader that never reads"));
  }

  // Random bytes (a fixed seed), some after a valid array header.
  std::mt19937_64 rng(seed_);
  for (int i = 0; i < 40; ++i) {
    std::string bytes = i % 2 == 0 ? "*3\r\n$9\r\nANCESTORS\r\n" : "";
    const size_t n = 1 + rng() % 4096;
    for (size_t k = 0; k < n; ++k) bytes += static_cast<char>(rng() & 0xff);
    RawConn c;
    ASSERT_TRUE(c.ConnectTcp(port_));
    (void)c.Send(bytes);
    std::string v;
    // An error reply, a close, or waiting for more: all fine; no crash.
    (void)c.Read(&v, milliseconds(200));
  }
  ASSERT_NO_FATAL_FAILURE(expect_serving("random bytes"));

  // Still the same answers as SQL through a real client.
  ASSERT_NO_FATAL_FAILURE(ExpectThroughClient(Client::kPython, tcp_, {{query, leaf_ids, ""}}));
  EXPECT_FALSE(daemon_->Poll().has_value());
}

}  // namespace
}  // namespace canopy::e2e
