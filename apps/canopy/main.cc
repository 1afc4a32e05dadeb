// canopy — command-line client for canopyd.
//
//   canopy [--server HOST:PORT | --unix PATH] [--token-file FILE] [--json]
//          [--min-lsn X/Y] [--wait-ms N] [--timing] <command> [args]
//
// Commands (ids are namespace ids unless said):
//   ancestors ID [--self] [--self-first]   ancestors, root first (traversal_ids order)
//   descendants ID [--self] [--with-project-namespaces]
//   projects ID [--unarchived]             all_project_ids (archived too unless --unarchived)
//   project-ancestors PROJECT_ID [--self-first]
//   runners ID [--ancestors]               runners of the group (and of its ancestors)
//   project-runners PROJECT_ID             runners of the project's group and its ancestors
//   counts ID                              descendant groups, project namespaces, projects
//   path ID [--project]                    full path of a namespace (or a project)
//   resolve FULL/PATH                      what a full path names
//   status                                 the server's state
//   watch-status [--interval-ms N] [--count N]
//   verify --pg CONNINFO [--sample N] [--form linear|recursive] [--seed N]
//                                          the server's answers vs PostgreSQL's
//
// Output: one id per line in QUERIES.md order; --json prints
// {"ids":[...],"lsn":"0/16B3748"} (or the command's object). --timing prints
// "round trip: N us" on stderr (the command's calls, without connecting).
// Exit codes: 0 ok, 1 not found, 2 usage, 3 server error or unreachable,
// 4 verify found differences.
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "canopy/net/client.h"
#ifdef CANOPY_HAVE_CDC
#include "canopy/cdc/verify.h"
#endif

namespace {

using canopy::HierarchyOrder;
using canopy::Lsn;
using canopy::QueryKind;
using canopy::Status;
using canopy::StatusCode;

constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitServer = 3;
constexpr int kExitDifferences = 4;

const char kUsage[] =
    "usage: canopy [--server HOST:PORT | --unix PATH] [--token-file FILE] [--json]\n"
    "              [--min-lsn X/Y] [--wait-ms N] [--timing] <command> [args]\n"
    "commands:\n"
    "  ancestors ID [--self] [--self-first]\n"
    "  descendants ID [--self] [--with-project-namespaces]\n"
    "  projects ID [--unarchived]\n"
    "  project-ancestors PROJECT_ID [--self-first]\n"
    "  runners ID [--ancestors]\n"
    "  project-runners PROJECT_ID\n"
    "  counts ID\n"
    "  path ID [--project]\n"
    "  resolve FULL/PATH\n"
    "  status\n"
    "  watch-status [--interval-ms N] [--count N]\n"
    "  verify --pg CONNINFO [--sample N] [--form linear|recursive] [--seed N]\n"
    "exit codes: 0 ok, 1 not found, 2 usage, 3 server error or unreachable,\n"
    "            4 verify found differences\n";

// Page size for id lists: large answers come in several round trips.
constexpr uint32_t kPageSize = 100'000;

struct Options {
  canopy::net::ClientOptions client;
  bool json = false;
  canopy::net::CallOptions call;
  std::string command;
  std::vector<std::string> args;   // positional
  std::vector<std::string> flags;  // command flags (--self, ...)
  std::optional<uint32_t> interval_ms;
  std::optional<uint32_t> count;
  bool timing = false;
  // verify
  std::string pg_conninfo;
  std::optional<uint32_t> sample;
  std::optional<uint32_t> seed;
  std::string form = "linear";
};

struct UsageError {
  std::string message;
};

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::optional<int64_t> ParseId(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<uint32_t> ParseU32(std::string_view text) {
  std::optional<int64_t> v = ParseId(text);
  if (!v || *v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

// Returns the exit code for a failed call, after printing why.
int Fail(const Status& s) {
  std::cerr << "canopy: " << s.ToString() << "\n";
  if (s.code() == StatusCode::kNotFound) return kExitNotFound;
  if (s.code() == StatusCode::kInvalidArgument) return kExitUsage;
  return kExitServer;
}

bool ParseArgs(int argc, char** argv, Options* o, std::string* error) {
  o->client.client_name = "canopy-cli";
  o->client.reconnect = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      *error = "help";
      return false;
    } else if (arg == "--server") {
      auto v = value();
      const size_t colon = v ? v->rfind(':') : std::string::npos;
      std::optional<uint32_t> port =
          colon == std::string::npos ? std::nullopt : ParseU32(v->substr(colon + 1));
      if (!port || *port > 65535) {
        *error = "--server needs HOST:PORT";
        return false;
      }
      std::string host = v->substr(0, colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      o->client.host = host;
      o->client.port = static_cast<uint16_t>(*port);
    } else if (arg == "--unix") {
      auto v = value();
      if (!v) {
        *error = "--unix needs a path";
        return false;
      }
      o->client.unix_path = *v;
    } else if (arg == "--token-file") {
      auto v = value();
      std::ifstream in(v ? *v : "");
      if (!v || !in) {
        *error = "--token-file needs a readable file";
        return false;
      }
      std::getline(in, o->client.token);
      while (!o->client.token.empty() &&
             std::isspace(static_cast<unsigned char>(o->client.token.back()))) {
        o->client.token.pop_back();
      }
    } else if (arg == "--json") {
      o->json = true;
    } else if (arg == "--min-lsn") {
      auto v = value();
      std::optional<Lsn> lsn = v ? Lsn::Parse(*v) : std::nullopt;
      if (!lsn) {
        *error = "--min-lsn needs an LSN like 0/16B3748";
        return false;
      }
      o->call.min_lsn = *lsn;
    } else if (arg == "--wait-ms") {
      auto v = value();
      std::optional<uint32_t> ms = v ? ParseU32(*v) : std::nullopt;
      if (!ms) {
        *error = "--wait-ms needs a number";
        return false;
      }
      o->call.wait = std::chrono::milliseconds(*ms);
    } else if (arg == "--timing") {
      o->timing = true;
    } else if (arg == "--pg") {
      auto v = value();
      if (!v) {
        *error = "--pg needs a conninfo";
        return false;
      }
      o->pg_conninfo = *v;
    } else if (arg == "--form") {
      auto v = value();
      if (!v || (*v != "linear" && *v != "recursive")) {
        *error = "--form needs linear or recursive";
        return false;
      }
      o->form = *v;
    } else if (arg == "--sample" || arg == "--seed") {
      auto v = value();
      std::optional<uint32_t> n = v ? ParseU32(*v) : std::nullopt;
      if (!n) {
        *error = std::string(arg) + " needs a number";
        return false;
      }
      (arg == "--sample" ? o->sample : o->seed) = *n;
    } else if (arg == "--interval-ms" || arg == "--count") {
      auto v = value();
      std::optional<uint32_t> n = v ? ParseU32(*v) : std::nullopt;
      if (!n) {
        *error = std::string(arg) + " needs a number";
        return false;
      }
      (arg == "--count" ? o->count : o->interval_ms) = *n;
    } else if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      o->flags.emplace_back(arg);
    } else if (o->command.empty()) {
      o->command = arg;
    } else {
      o->args.emplace_back(arg);
    }
  }
  if (o->command.empty()) {
    *error = "no command";
    return false;
  }
  return true;
}

bool HasFlag(const Options& o, std::string_view flag) {
  for (const std::string& f : o.flags) {
    if (f == flag) return true;
  }
  return false;
}

// Refuses flags the command does not know.
void CheckFlags(const Options& o, std::initializer_list<std::string_view> allowed) {
  for (const std::string& f : o.flags) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || f == a;
    if (!ok) throw UsageError{"'" + o.command + "' does not take " + f};
  }
}

int64_t OneId(const Options& o) {
  if (o.args.size() != 1) throw UsageError{"'" + o.command + "' takes one id"};
  std::optional<int64_t> id = ParseId(o.args[0]);
  if (!id) throw UsageError{"not an id: '" + o.args[0] + "'"};
  return *id;
}

int PrintIds(const Options& o, canopy::net::Client& client, canopy::IdQuery query) {
  canopy::Result<canopy::QueryAnswer> r = client.QueryAll(query, kPageSize, o.call);
  if (!r.ok()) return Fail(r.status());
  if (!r->answer.status.ok()) return Fail(r->answer.status);
  std::ostringstream out;
  if (o.json) {
    out << "{\"ids\":[";
    for (size_t i = 0; i < r->answer.ids.size(); ++i) out << (i ? "," : "") << r->answer.ids[i];
    out << "],\"lsn\":" << JsonString(r->lsn.ToString()) << "}\n";
  } else {
    for (int64_t id : r->answer.ids) out << id << "\n";
  }
  std::cout << out.str();
  return kExitOk;
}

void PrintStatus(const Options& o, const canopy::net::ServerStatus& s) {
  const canopy::IndexStats& x = s.index;
  const std::string state = canopy::net::ServingStateName(s.replication.state);
  if (o.json) {
    std::cout << "{\"applied_lsn\":" << JsonString(s.applied_lsn.ToString())
              << ",\"received_lsn\":" << JsonString(s.replication.received_lsn.ToString())
              << ",\"lag_bytes\":" << s.lag_bytes << ",\"state\":" << JsonString(state)
              << ",\"stage\":" << JsonString(s.replication.stage)
              << ",\"last_error\":" << JsonString(s.replication.last_error)
              << ",\"namespaces\":" << x.namespaces << ",\"projects\":" << x.projects
              << ",\"runner_links\":" << x.runner_links
              << ",\"orphan_namespaces\":" << x.orphan_namespaces
              << ",\"orphan_projects\":" << x.orphan_projects
              << ",\"cycles_refused\":" << x.cycles_refused
              << ",\"unknown_deletes\":" << x.unknown_deletes
              << ",\"transactions_applied\":" << x.transactions_applied
              << ",\"max_publish_wait_ns\":" << x.max_publish_wait_ns
              << ",\"memory_bytes\":" << x.memory_bytes << ",\"connections\":" << s.connections
              << ",\"requests_served\":" << s.requests_served
              << ",\"waiting_requests\":" << s.waiting_requests << ",\"tables\":[";
    for (size_t i = 0; i < s.replication.tables.size(); ++i) {
      const auto& t = s.replication.tables[i];
      std::cout << (i ? "," : "") << "{\"table\":" << JsonString(t.table) << ",\"rows\":" << t.rows
                << ",\"estimated_rows\":" << t.estimated_rows
                << ",\"done\":" << (t.done ? "true" : "false") << "}";
    }
    std::cout << "],\"server_version\":" << JsonString(s.server_version) << "}\n";
    return;
  }
  std::cout << "state              " << state
            << (s.replication.stage.empty() ? "" : " (" + s.replication.stage + ")")
            << "\napplied_lsn        " << s.applied_lsn.ToString() << "\nlag_bytes          "
            << s.lag_bytes << "\nnamespaces         " << x.namespaces << "\nprojects           "
            << x.projects << "\nrunner_links       " << x.runner_links << "\norphan_namespaces  "
            << x.orphan_namespaces << "\norphan_projects    " << x.orphan_projects
            << "\ncycles_refused     " << x.cycles_refused << "\nunknown_deletes    "
            << x.unknown_deletes << "\nconnections        " << s.connections
            << "\nrequests_served    " << s.requests_served << "\nwaiting_requests   "
            << s.waiting_requests << "\nserver_version     " << s.server_version << "\n";
  for (const auto& t : s.replication.tables) {
    std::cout << "table " << t.table << " " << t.rows << "/" << t.estimated_rows
              << (t.done ? " done" : "") << "\n";
  }
  if (!s.replication.last_error.empty())
    std::cout << "last_error         " << s.replication.last_error << "\n";
}

#ifdef CANOPY_HAVE_CDC
// canopyd as what `canopy verify` compares with SQL: every answer over the
// network, whole (paged through), waiting on the server for the LSN.
class ServerVerifyTarget final : public canopy::cdc::VerifyTarget {
 public:
  explicit ServerVerifyTarget(canopy::net::Client& client) : client_(client) {}

  canopy::Result<Lsn> AppliedLsn() override { return client_.Ping(); }
  Status WaitUntilApplied(Lsn lsn, std::chrono::milliseconds timeout) override {
    auto r = client_.Ping(0, {.min_lsn = lsn, .wait = timeout});
    return r.ok() ? Status() : r.status();
  }
  canopy::IdAnswer Query(const canopy::IdQuery& query) override {
    canopy::Result<canopy::QueryAnswer> r = client_.QueryAll(query, kPageSize);
    if (!r.ok()) {
      canopy::IdAnswer failed;
      failed.status = r.status();
      return failed;
    }
    return std::move(r->answer);
  }
  canopy::Result<canopy::SubtreeCounts> Counts(int64_t ns) override {
    auto r = client_.Counts(ns);
    if (!r.ok()) return r.status();
    return r->value;
  }
  canopy::Result<std::string> FullPath(canopy::Table table, int64_t id) override {
    auto r = client_.FullPath(table, id);
    if (!r.ok()) return r.status();
    return std::move(r->value);
  }
  canopy::Result<canopy::ResolvedPath> Resolve(std::string_view full_path) override {
    auto r = client_.Resolve(full_path);
    if (!r.ok()) return r.status();
    return r->value;
  }

 private:
  canopy::net::Client& client_;
};

int RunVerify(const Options& o, canopy::net::Client& client) {
  if (o.pg_conninfo.empty()) throw UsageError{"'verify' needs --pg CONNINFO"};
  canopy::cdc::VerifyOptions options;
  options.sample_namespaces = o.sample.value_or(1000);
  options.sample_projects = o.sample.value_or(1000);
  options.seed = o.seed.value_or(1);
  options.form = o.form == "recursive" ? canopy::cdc::SqlForm::kRecursive
                                       : canopy::cdc::SqlForm::kLinear;
  if (o.call.wait.count() > 0) options.wait_timeout = o.call.wait;
  ServerVerifyTarget target(client);
  auto report = canopy::cdc::Verify(o.pg_conninfo, target, options);
  if (!report.ok()) return Fail(report.status());
  const canopy::cdc::VerifyReport& r = report.value();
  if (o.json) {
    std::cout << "{\"differences\":" << r.differences << ",\"checks\":" << r.checks
              << ",\"namespaces_checked\":" << r.namespaces_checked
              << ",\"projects_checked\":" << r.projects_checked
              << ",\"quiescent\":" << (r.quiescent ? "true" : "false")
              << ",\"form\":" << JsonString(o.form)
              << ",\"lsn\":" << JsonString(r.index_lsn.ToString()) << ",\"reported\":[";
    for (size_t i = 0; i < r.reported.size(); ++i) {
      std::cout << (i ? "," : "") << JsonString(r.reported[i]);
    }
    std::cout << "]}\n";
  } else {
    std::cout << r.Summary() << " (SQL form: " << o.form << ")\n";
    for (const std::string& d : r.reported) std::cout << "  " << d << "\n";
  }
  return r.differences == 0 ? kExitOk : kExitDifferences;
}
#else
int RunVerify(const Options&, canopy::net::Client&) {
  std::cerr << "canopy: this build has no canopy::cdc (CANOPY_BUILD_CDC=OFF): verify is unavailable\n";
  return kExitUsage;
}
#endif

int Dispatch(const Options& o, canopy::net::Client& client) {
  const std::string& c = o.command;
  if (c == "verify") {
    CheckFlags(o, {});
    if (!o.args.empty()) throw UsageError{"'verify' takes no arguments"};
    return RunVerify(o, client);
  }
  if (c == "ancestors") {
    CheckFlags(o, {"--self", "--self-first"});
    return PrintIds(
        o, client,
        {.kind = HasFlag(o, "--self") ? QueryKind::kSelfAndAncestors : QueryKind::kAncestors,
         .id = OneId(o),
         .order =
             HasFlag(o, "--self-first") ? HierarchyOrder::kSelfFirst : HierarchyOrder::kRootFirst});
  }
  if (c == "descendants") {
    CheckFlags(o, {"--self", "--with-project-namespaces"});
    return PrintIds(
        o, client,
        {.kind = HasFlag(o, "--self") ? QueryKind::kSelfAndDescendants : QueryKind::kDescendants,
         .id = OneId(o),
         .include_project_namespaces = HasFlag(o, "--with-project-namespaces")});
  }
  if (c == "projects") {
    CheckFlags(o, {"--unarchived"});
    return PrintIds(o, client,
                    {.kind = HasFlag(o, "--unarchived") ? QueryKind::kAllUnarchivedProjectIds
                                                        : QueryKind::kAllProjectIds,
                     .id = OneId(o)});
  }
  if (c == "project-ancestors") {
    CheckFlags(o, {"--self-first"});
    return PrintIds(o, client,
                    {.kind = QueryKind::kProjectAncestors,
                     .id = OneId(o),
                     .order = HasFlag(o, "--self-first") ? HierarchyOrder::kSelfFirst
                                                         : HierarchyOrder::kRootFirst});
  }
  if (c == "runners") {
    CheckFlags(o, {"--ancestors"});
    return PrintIds(o, client,
                    {.kind = HasFlag(o, "--ancestors") ? QueryKind::kRunnersOfGroupAndAncestors
                                                       : QueryKind::kRunnersOfGroup,
                     .id = OneId(o)});
  }
  if (c == "project-runners") {
    CheckFlags(o, {});
    return PrintIds(o, client,
                    {.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = OneId(o)});
  }
  if (c == "counts") {
    CheckFlags(o, {});
    auto r = client.Counts(OneId(o), o.call);
    if (!r.ok()) return Fail(r.status());
    const canopy::SubtreeCounts& n = r->value;
    if (o.json) {
      std::cout << "{\"descendant_groups\":" << n.descendant_groups
                << ",\"descendant_project_namespaces\":" << n.descendant_project_namespaces
                << ",\"projects\":" << n.projects
                << ",\"unarchived_projects\":" << n.unarchived_projects
                << ",\"lsn\":" << JsonString(r->lsn.ToString()) << "}\n";
    } else {
      std::cout << "descendant_groups " << n.descendant_groups << "\ndescendant_project_namespaces "
                << n.descendant_project_namespaces << "\nprojects " << n.projects
                << "\nunarchived_projects " << n.unarchived_projects << "\n";
    }
    return kExitOk;
  }
  if (c == "path") {
    CheckFlags(o, {"--project"});
    auto r = client.FullPath(
        HasFlag(o, "--project") ? canopy::Table::kProjects : canopy::Table::kNamespaces, OneId(o),
        o.call);
    if (!r.ok()) return Fail(r.status());
    if (o.json) {
      std::cout << "{\"path\":" << JsonString(r->value)
                << ",\"lsn\":" << JsonString(r->lsn.ToString()) << "}\n";
    } else {
      std::cout << r->value << "\n";
    }
    return kExitOk;
  }
  if (c == "resolve") {
    CheckFlags(o, {});
    if (o.args.size() != 1) throw UsageError{"'resolve' takes one full path"};
    auto r = client.Resolve(o.args[0], o.call);
    if (!r.ok()) return Fail(r.status());
    const char* type = r->value.table == canopy::Table::kProjects ? "project" : "namespace";
    if (o.json) {
      std::cout << "{\"type\":\"" << type << "\",\"id\":" << r->value.id
                << ",\"lsn\":" << JsonString(r->lsn.ToString()) << "}\n";
    } else {
      std::cout << type << " " << r->value.id << "\n";
    }
    return kExitOk;
  }
  if (c == "status" || c == "watch-status") {
    CheckFlags(o, {});
    if (!o.args.empty()) throw UsageError{"'" + c + "' takes no arguments"};
    const bool watch = c == "watch-status";
    const uint32_t count = watch ? o.count.value_or(0) : 1;  // 0: forever
    for (uint32_t i = 0; count == 0 || i < count; ++i) {
      if (i > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms.value_or(1000)));
      auto r = client.GetStatus();
      if (!r.ok()) return Fail(r.status());
      PrintStatus(o, *r);
      std::cout.flush();
    }
    return kExitOk;
  }
  throw UsageError{"unknown command '" + c + "'"};
}

int Run(const Options& o) {
  canopy::net::Client client(o.client);
  if (!o.timing) return Dispatch(o, client);
  // Time the command's calls, not the connection (as psql's \timing).
  if (Status s = client.Connect(); !s.ok()) return Fail(s);
  const auto t0 = std::chrono::steady_clock::now();
  const int code = Dispatch(o, client);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::cout.flush();
  std::cerr << "round trip: " << us.count() << " us\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string error;
  if (!ParseArgs(argc, argv, &options, &error)) {
    if (error == "help") {
      std::cout << kUsage;
      return kExitOk;
    }
    std::cerr << "canopy: " << error << "\n" << kUsage;
    return kExitUsage;
  }
  try {
    return Run(options);
  } catch (const UsageError& e) {
    std::cerr << "canopy: " << e.message << "\n" << kUsage;
    return kExitUsage;
  }
}
