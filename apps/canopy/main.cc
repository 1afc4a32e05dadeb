// canopy — command-line client for canopyd.
//
//   canopy [--server HOST:PORT | --unix PATH] [--token-file FILE] [--json]
//          [--min-lsn X/Y] [--wait-ms N] [--timing] [--batch] <command> [args]
//   canopy --version                       prints "canopy <version>" (canopy/version.h)
//
// Commands (ids are namespace ids unless said):
//   ancestors ID [--self] [--self-first]   ancestors, root first (traversal_ids order)
//   descendants ID [--self] [--with-project-namespaces] [--order asc|any]
//   projects ID [--unarchived] [--order asc|any]
//                                          all_project_ids (archived too unless --unarchived)
//   project-ancestors PROJECT_ID [--self-first]
//   runners ID [--ancestors] [--order asc|any]
//                                          runners of the group (and of its ancestors)
//   project-runners PROJECT_ID [--order asc|any]
//                                          runners of the project's group and its ancestors
//   counts ID                              descendant groups, project namespaces, projects
//   path ID [--project]                    full path of a namespace (or a project)
//   resolve FULL/PATH                      what a full path names
//   status [--check]                       the server's state (--check: exit 5 unless streaming)
//   watch-status [--interval-ms N] [--count N]
//   verify --pg CONNINFO [--sample N] [--form linear|recursive] [--seed N]
//                                          the server's answers vs PostgreSQL's
//
// Output: one id per line in QUERIES.md order (--order any: the same ids in
// no promised order, unsorted by the server); --json prints
// {"ids":[...],"lsn":"0/16B3748"} (or the command's object). --timing prints
// "round trip: N us" on stderr (the command's calls, without connecting).
// Exit codes: 0 ok, 1 not found, 2 usage, 3 server error or unreachable,
// 4 verify found differences, 5 status --check: the server is not streaming.
//
// --batch (ancestors, descendants, projects, project-ancestors, runners,
// project-runners, counts, path; resolve reads paths): the ids come from
// stdin, one per line, instead of the command line, and are all answered over
// one connection, pipelined, with the batch request kinds (QueryBatch,
// Counts, FullPath, Resolve of up to kBatchChunk ids each, several in flight;
// an answer too large for a frame is asked again id by id, a cut id list is
// paged). Output: one line per input line, in input order — plain: what the
// single command prints with its newlines turned into spaces (the ids
// space-separated; an empty answer is an empty line), or "not found", or
// "error: <status>"; --json: the single command's object with the input
// first ({"id":42,"ids":[...],"lsn":"..."}; resolve: {"path":"a/b",...}),
// or {"id":42,"error":"not_found","message":"..."}. Unknown ids do not stop
// the batch; the exit code is the worst line's (1 some id unknown, 3 some
// server error), 2 for usage errors (a line that is not an id: nothing is
// asked), 3 when the connection fails (lines printed so far stand). Empty
// stdin: no output, exit 0.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "canopy/net/client.h"
#include "canopy/version.h"
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
constexpr int kExitNotStreaming = 5;

const char kUsage[] =
    "usage: canopy [--server HOST:PORT | --unix PATH] [--token-file FILE] [--json]\n"
    "              [--min-lsn X/Y] [--wait-ms N] [--timing] [--batch] <command> [args]\n"
    "commands:\n"
    "  ancestors ID [--self] [--self-first]\n"
    "  descendants ID [--self] [--with-project-namespaces] [--order asc|any]\n"
    "  projects ID [--unarchived] [--order asc|any]\n"
    "  project-ancestors PROJECT_ID [--self-first]\n"
    "  runners ID [--ancestors] [--order asc|any]\n"
    "  project-runners PROJECT_ID [--order asc|any]\n"
    "  counts ID\n"
    "  path ID [--project]\n"
    "  resolve FULL/PATH\n"
    "  status [--check]         (--check: exit 0 only when streaming, else 5)\n"
    "  watch-status [--interval-ms N] [--count N]\n"
    "  verify --pg CONNINFO [--sample N] [--form linear|recursive] [--seed N]\n"
    "--order any: the same ids in no promised order (the server skips the sort);\n"
    "  asc (the default): ascending.\n"
    "--batch: read the ids (resolve: paths) from stdin, one per line, and answer\n"
    "  them all over one connection, pipelined: one output line per input line, in\n"
    "  order (plain: the answer on one line, or \"not found\"; --json: one object\n"
    "  per line with \"id\" and the answer or \"error\"). For the id commands,\n"
    "  counts, path and resolve.\n"
    "--version: print \"canopy <version>\" and exit.\n"
    "exit codes: 0 ok, 1 not found, 2 usage, 3 server error or unreachable,\n"
    "            4 verify found differences (--batch: the worst line's),\n"
    "            5 status --check: the server is not streaming\n";

// Page size for id lists: large answers come in several round trips.
constexpr uint32_t kPageSize = 100'000;
// --batch: ids per batch request, and batch requests pipelined per round.
constexpr size_t kBatchChunk = 500;
constexpr size_t kBatchRound = 32;

struct Options {
  canopy::net::ClientOptions client;
  bool json = false;
  canopy::net::CallOptions call;
  std::string command;
  std::vector<std::string> args;   // positional
  std::vector<std::string> flags;  // command flags (--self, ...; "--order" when given)
  canopy::IdOrder id_order = canopy::IdOrder::kAscending;
  std::optional<uint32_t> interval_ms;
  std::optional<uint32_t> count;
  bool timing = false;
  bool batch = false;
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
    } else if (arg == "--version") {
      *error = "version";
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
    } else if (arg == "--batch") {
      o->batch = true;
    } else if (arg == "--order") {
      auto v = value();
      if (!v || (*v != "asc" && *v != "any")) {
        *error = "--order needs asc or any";
        return false;
      }
      o->id_order = *v == "any" ? canopy::IdOrder::kAny : canopy::IdOrder::kAscending;
      o->flags.emplace_back(arg);  // a command flag: CheckFlags refuses it where it means nothing
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

// "2026-01-31T12:34:56.789Z" for milliseconds since the Unix epoch.
std::string IsoTime(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return buf;
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
              << ",\"last_error_unix_ms\":" << s.replication.last_error_unix_ms
              << ",\"last_error_time\":"
              << JsonString(s.replication.last_error_unix_ms > 0
                                ? IsoTime(s.replication.last_error_unix_ms)
                                : "")
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
            << "\napplied_lsn        " << s.applied_lsn.ToString() << "\nreceived_lsn       "
            << s.replication.received_lsn.ToString() << "\nlag_bytes          " << s.lag_bytes
            << "\nnamespaces         " << x.namespaces << "\nprojects           " << x.projects
            << "\nrunner_links       " << x.runner_links << "\norphan_namespaces  "
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
    std::cout << "last_error         "
              << (s.replication.last_error_unix_ms > 0
                      ? IsoTime(s.replication.last_error_unix_ms) + " "
                      : "")
              << s.replication.last_error << "\n";
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
  options.form =
      o.form == "recursive" ? canopy::cdc::SqlForm::kRecursive : canopy::cdc::SqlForm::kLinear;
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
  std::cerr
      << "canopy: this build has no canopy::cdc (CANOPY_BUILD_CDC=OFF): verify is unavailable\n";
  return kExitUsage;
}
#endif

// The query of an id command (ancestors, descendants, projects,
// project-ancestors, runners, project-runners) for `id`, after checking its
// flags; nullopt for the other commands.
std::optional<canopy::IdQuery> IdCommandQuery(const Options& o, int64_t id) {
  const std::string& c = o.command;
  if (c == "ancestors") {
    CheckFlags(o, {"--self", "--self-first"});
    return canopy::IdQuery{
        .kind = HasFlag(o, "--self") ? QueryKind::kSelfAndAncestors : QueryKind::kAncestors,
        .id = id,
        .order =
            HasFlag(o, "--self-first") ? HierarchyOrder::kSelfFirst : HierarchyOrder::kRootFirst};
  }
  if (c == "descendants") {
    CheckFlags(o, {"--self", "--with-project-namespaces", "--order"});
    return canopy::IdQuery{
        .kind = HasFlag(o, "--self") ? QueryKind::kSelfAndDescendants : QueryKind::kDescendants,
        .id = id,
        .include_project_namespaces = HasFlag(o, "--with-project-namespaces"),
        .id_order = o.id_order};
  }
  if (c == "projects") {
    CheckFlags(o, {"--unarchived", "--order"});
    return canopy::IdQuery{.kind = HasFlag(o, "--unarchived") ? QueryKind::kAllUnarchivedProjectIds
                                                              : QueryKind::kAllProjectIds,
                           .id = id,
                           .id_order = o.id_order};
  }
  if (c == "project-ancestors") {
    CheckFlags(o, {"--self-first"});
    return canopy::IdQuery{.kind = QueryKind::kProjectAncestors,
                           .id = id,
                           .order = HasFlag(o, "--self-first") ? HierarchyOrder::kSelfFirst
                                                               : HierarchyOrder::kRootFirst};
  }
  if (c == "runners") {
    CheckFlags(o, {"--ancestors", "--order"});
    return canopy::IdQuery{.kind = HasFlag(o, "--ancestors")
                                       ? QueryKind::kRunnersOfGroupAndAncestors
                                       : QueryKind::kRunnersOfGroup,
                           .id = id,
                           .id_order = o.id_order};
  }
  if (c == "project-runners") {
    CheckFlags(o, {"--order"});
    return canopy::IdQuery{
        .kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = id, .id_order = o.id_order};
  }
  return std::nullopt;
}

// ---- the answers' text, shared by the single commands and --batch ----

std::string IdsJson(const std::vector<int64_t>& ids, Lsn lsn) {
  std::string out = "\"ids\":[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(ids[i]);
  }
  return out + "],\"lsn\":" + JsonString(lsn.ToString());
}

std::string IdsPlain(const std::vector<int64_t>& ids, char sep) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i && sep == ' ') out += ' ';
    out += std::to_string(ids[i]);
    if (sep == '\n') out += '\n';
  }
  return out;
}

std::string CountsJson(const canopy::SubtreeCounts& n, Lsn lsn) {
  return "\"descendant_groups\":" + std::to_string(n.descendant_groups) +
         ",\"descendant_project_namespaces\":" + std::to_string(n.descendant_project_namespaces) +
         ",\"projects\":" + std::to_string(n.projects) +
         ",\"unarchived_projects\":" + std::to_string(n.unarchived_projects) +
         ",\"lsn\":" + JsonString(lsn.ToString());
}

// `sep` between the fields: '\n' for the single command, ' ' for --batch.
std::string CountsPlain(const canopy::SubtreeCounts& n, char sep) {
  return "descendant_groups " + std::to_string(n.descendant_groups) + sep +
         "descendant_project_namespaces " + std::to_string(n.descendant_project_namespaces) + sep +
         "projects " + std::to_string(n.projects) + sep + "unarchived_projects " +
         std::to_string(n.unarchived_projects);
}

std::string PathJson(const std::string& path, Lsn lsn) {
  return "\"path\":" + JsonString(path) + ",\"lsn\":" + JsonString(lsn.ToString());
}

const char* TypeName(canopy::Table table) {
  return table == canopy::Table::kProjects ? "project" : "namespace";
}

std::string ResolvedJson(const canopy::ResolvedPath& r, Lsn lsn) {
  return std::string("\"type\":\"") + TypeName(r.table) + "\",\"id\":" + std::to_string(r.id) +
         ",\"lsn\":" + JsonString(lsn.ToString());
}

std::string ResolvedPlain(const canopy::ResolvedPath& r) {
  return std::string(TypeName(r.table)) + " " + std::to_string(r.id);
}

int PrintIds(const Options& o, canopy::net::Client& client, canopy::IdQuery query) {
  canopy::Result<canopy::QueryAnswer> r = client.QueryAll(query, kPageSize, o.call);
  if (!r.ok()) return Fail(r.status());
  if (!r->answer.status.ok()) return Fail(r->answer.status);
  if (o.json) {
    std::cout << "{" + IdsJson(r->answer.ids, r->lsn) + "}\n";
  } else {
    std::cout << IdsPlain(r->answer.ids, '\n');
  }
  return kExitOk;
}

// ---- --batch ----

int ExitCodeFor(const Status& s) {
  if (s.code() == StatusCode::kNotFound) return kExitNotFound;
  if (s.code() == StatusCode::kInvalidArgument) return kExitUsage;
  return kExitServer;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Answers stdin's ids (paths) over one connection, pipelined. See the header.
class BatchRun {
 public:
  enum class Kind { kIds, kCounts, kPath, kResolve };

  BatchRun(const Options& o, canopy::net::Client& client) : o_(o), client_(client) {}

  int Run() {
    if (std::optional<canopy::IdQuery> q = IdCommandQuery(o_, 0)) {
      kind_ = Kind::kIds;
      prototype_ = *q;
      if (canopy::IsAscendingKind(prototype_.kind)) prototype_.limit = kPageSize;
    } else if (o_.command == "counts") {
      CheckFlags(o_, {});
      kind_ = Kind::kCounts;
    } else if (o_.command == "path") {
      CheckFlags(o_, {"--project"});
      kind_ = Kind::kPath;
      table_ = HasFlag(o_, "--project") ? canopy::Table::kProjects : canopy::Table::kNamespaces;
    } else if (o_.command == "resolve") {
      CheckFlags(o_, {});
      kind_ = Kind::kResolve;
    } else {
      throw UsageError{"'" + o_.command + "' has no --batch form"};
    }
    if (!o_.args.empty())
      throw UsageError{"--batch reads the ids from stdin, not the command line"};
    ReadInput();
    const size_t n = kind_ == Kind::kResolve ? paths_.size() : ids_.size();
    for (size_t begin = 0; begin < n; begin += kBatchChunk * kBatchRound) {
      const size_t end = std::min(n, begin + kBatchChunk * kBatchRound);
      const Status s = RunRound(begin, end);
      std::cout << out_;
      out_.clear();
      if (!s.ok()) return Fail(s);
    }
    std::cout.flush();
    return worst_;
  }

 private:
  void ReadInput() {
    std::string line;
    size_t number = 0;
    while (std::getline(std::cin, line)) {
      ++number;
      std::string text = Trim(line);
      if (kind_ == Kind::kResolve) {
        paths_.push_back(std::move(text));
        continue;
      }
      std::optional<int64_t> id = ParseId(text);
      if (!id) {
        throw UsageError{"stdin line " + std::to_string(number) + ": not an id: '" + text + "'"};
      }
      ids_.push_back(*id);
    }
  }

  canopy::net::Request ChunkRequest(size_t begin, size_t end) const {
    canopy::net::Request r;
    r.min_lsn = o_.call.min_lsn;
    r.timeout_ms = static_cast<uint32_t>(o_.call.wait.count());
    const std::span<const int64_t> ids =
        kind_ == Kind::kResolve ? std::span<const int64_t>()
                                : std::span<const int64_t>(ids_).subspan(begin, end - begin);
    switch (kind_) {
      case Kind::kIds: {
        canopy::net::BatchRequest batch{std::vector<canopy::IdQuery>(ids.size(), prototype_)};
        for (size_t i = 0; i < ids.size(); ++i) batch.queries[i].id = ids[i];
        r.body = std::move(batch);
        break;
      }
      case Kind::kCounts:
        r.body = canopy::net::CountsRequest{{ids.begin(), ids.end()}};
        break;
      case Kind::kPath:
        r.body = canopy::net::FullPathRequest{table_, {ids.begin(), ids.end()}};
        break;
      case Kind::kResolve:
        r.body = canopy::net::ResolveRequest{{paths_.begin() + static_cast<ptrdiff_t>(begin),
                                              paths_.begin() + static_cast<ptrdiff_t>(end)}};
        break;
    }
    return r;
  }

  // Lines [begin, end): their chunks pipelined, then printed in order.
  Status RunRound(size_t begin, size_t end) {
    std::vector<canopy::net::Request> requests;
    for (size_t b = begin; b < end; b += kBatchChunk) {
      requests.push_back(ChunkRequest(b, std::min(end, b + kBatchChunk)));
    }
    std::vector<std::optional<canopy::net::Response>> answers(requests.size());
    Status s = client_.Pipeline(requests, requests.size(), [&](size_t i, canopy::net::Response r) {
      answers[i] = std::move(r);
    });
    if (!s.ok()) return s;
    for (size_t c = 0; c < answers.size(); ++c) {
      const size_t b = begin + c * kBatchChunk;
      s = Chunk(b, std::min(end, b + kBatchChunk), *answers[c]);
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  std::string Key(size_t line) const {
    if (kind_ == Kind::kResolve) return "\"path\":" + JsonString(paths_[line]);
    return "\"id\":" + std::to_string(ids_[line]);
  }

  void Answer(size_t line, const std::string& plain, const std::string& json) {
    out_ += o_.json ? "{" + Key(line) + "," + json + "}\n" : plain + "\n";
  }

  void Error(size_t line, const Status& s) {
    worst_ = std::max(worst_, ExitCodeFor(s));
    if (o_.json) {
      out_ += "{" + Key(line) + ",\"error\":" + JsonString(canopy::StatusCodeName(s.code())) +
              ",\"message\":" + JsonString(s.message()) + "}\n";
    } else {
      out_ += (s.code() == StatusCode::kNotFound ? "not found" : "error: " + s.ToString()) + "\n";
    }
  }

  static Status MemberStatus(canopy::net::ErrorCode code, const std::string& what) {
    return canopy::net::ToStatus(code, what);
  }

  // One chunk's answer: every line of [begin, end) gets its line.
  Status Chunk(size_t begin, size_t end, canopy::net::Response& r) {
    using canopy::net::ErrorCode;
    const size_t n = end - begin;
    if (r.error == ErrorCode::kTooLarge) return OneByOne(begin, end);
    if (r.error != ErrorCode::kOk) {
      for (size_t i = begin; i < end; ++i) Error(i, canopy::net::ToStatus(r.error, r.message));
      return Status::Ok();
    }
    const Status mismatch = Status::DataLoss("batch answer size mismatch");
    switch (kind_) {
      case Kind::kIds: {
        auto* pages = std::get_if<canopy::net::BatchPages>(&r.body);
        if (pages == nullptr || pages->members.size() != n) return Everyone(begin, end, mismatch);
        for (size_t j = 0; j < n; ++j) {
          canopy::net::IdPage& page = pages->members[j];
          if (page.status != ErrorCode::kOk) {
            Error(begin + j, MemberStatus(page.status, page.message));
          } else if (page.more) {  // cut by a page limit: page through it alone
            if (Status s = OneId(begin + j); !s.ok()) return s;
          } else {
            Answer(begin + j, IdsPlain(page.ids, ' '), IdsJson(page.ids, r.lsn));
          }
        }
        return Status::Ok();
      }
      case Kind::kCounts: {
        auto* list = std::get_if<canopy::net::CountsList>(&r.body);
        if (list == nullptr || list->members.size() != n) return Everyone(begin, end, mismatch);
        for (size_t j = 0; j < n; ++j) {
          const canopy::net::CountsEntry& e = list->members[j];
          if (e.status != ErrorCode::kOk) {
            Error(begin + j, MemberStatus(e.status, "namespace " + std::to_string(e.id)));
          } else {
            Answer(begin + j, CountsPlain(e.counts, ' '), CountsJson(e.counts, r.lsn));
          }
        }
        return Status::Ok();
      }
      case Kind::kPath: {
        auto* list = std::get_if<canopy::net::PathList>(&r.body);
        if (list == nullptr || list->members.size() != n) return Everyone(begin, end, mismatch);
        for (size_t j = 0; j < n; ++j) {
          const canopy::net::PathEntry& e = list->members[j];
          if (e.status != ErrorCode::kOk) {
            Error(begin + j, MemberStatus(e.status, std::string(TypeName(table_)) + " " +
                                                        std::to_string(e.id)));
          } else {
            Answer(begin + j, e.path, PathJson(e.path, r.lsn));
          }
        }
        return Status::Ok();
      }
      case Kind::kResolve: {
        auto* list = std::get_if<canopy::net::ResolvedList>(&r.body);
        if (list == nullptr || list->members.size() != n) return Everyone(begin, end, mismatch);
        for (size_t j = 0; j < n; ++j) {
          const canopy::net::ResolvedEntry& e = list->members[j];
          if (e.status != ErrorCode::kOk) {
            Error(begin + j, MemberStatus(e.status, "path '" + e.path + "'"));
          } else {
            Answer(begin + j, ResolvedPlain(e.resolved), ResolvedJson(e.resolved, r.lsn));
          }
        }
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  Status Everyone(size_t begin, size_t end, const Status& why) {
    for (size_t i = begin; i < end; ++i) Error(i, why);
    return Status::Ok();
  }

  // A chunk whose answer was too large for one frame: each line alone.
  Status OneByOne(size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (Status s = OneId(i); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // Line `i` with the single command's call. A transport failure ends the
  // batch (returned); any other error is the line's.
  Status OneId(size_t i) {
    auto lost = [](const Status& s) {
      return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDataLoss;
    };
    switch (kind_) {
      case Kind::kIds: {
        canopy::IdQuery q = prototype_;
        q.id = ids_[i];
        canopy::Result<canopy::QueryAnswer> a = client_.QueryAll(q, kPageSize, o_.call);
        if (!a.ok()) {
          if (lost(a.status())) return a.status();
          Error(i, a.status());
        } else if (!a->answer.status.ok()) {
          Error(i, a->answer.status);
        } else {
          Answer(i, IdsPlain(a->answer.ids, ' '), IdsJson(a->answer.ids, a->lsn));
        }
        return Status::Ok();
      }
      case Kind::kCounts: {
        auto a = client_.Counts(ids_[i], o_.call);
        if (!a.ok() && lost(a.status())) return a.status();
        if (!a.ok()) Error(i, a.status());
        if (a.ok()) Answer(i, CountsPlain(a->value, ' '), CountsJson(a->value, a->lsn));
        return Status::Ok();
      }
      case Kind::kPath: {
        auto a = client_.FullPath(table_, ids_[i], o_.call);
        if (!a.ok() && lost(a.status())) return a.status();
        if (!a.ok()) Error(i, a.status());
        if (a.ok()) Answer(i, a->value, PathJson(a->value, a->lsn));
        return Status::Ok();
      }
      case Kind::kResolve: {
        auto a = client_.Resolve(paths_[i], o_.call);
        if (!a.ok() && lost(a.status())) return a.status();
        if (!a.ok()) Error(i, a.status());
        if (a.ok()) Answer(i, ResolvedPlain(a->value), ResolvedJson(a->value, a->lsn));
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  const Options& o_;
  canopy::net::Client& client_;
  Kind kind_ = Kind::kIds;
  canopy::IdQuery prototype_;
  canopy::Table table_ = canopy::Table::kNamespaces;
  std::vector<int64_t> ids_;
  std::vector<std::string> paths_;
  std::string out_;  // the current round's lines
  int worst_ = kExitOk;
};

int Dispatch(const Options& o, canopy::net::Client& client) {
  const std::string& c = o.command;
  if (o.batch) return BatchRun(o, client).Run();
  if (c == "verify") {
    CheckFlags(o, {});
    if (!o.args.empty()) throw UsageError{"'verify' takes no arguments"};
    return RunVerify(o, client);
  }
  if (std::optional<canopy::IdQuery> q = IdCommandQuery(o, 0)) {
    q->id = OneId(o);
    return PrintIds(o, client, *q);
  }
  if (c == "counts") {
    CheckFlags(o, {});
    auto r = client.Counts(OneId(o), o.call);
    if (!r.ok()) return Fail(r.status());
    if (o.json) {
      std::cout << "{" + CountsJson(r->value, r->lsn) + "}\n";
    } else {
      std::cout << CountsPlain(r->value, '\n') + "\n";
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
      std::cout << "{" + PathJson(r->value, r->lsn) + "}\n";
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
    if (o.json) {
      std::cout << "{" + ResolvedJson(r->value, r->lsn) + "}\n";
    } else {
      std::cout << ResolvedPlain(r->value) << "\n";
    }
    return kExitOk;
  }
  if (c == "status" || c == "watch-status") {
    if (c == "status") {
      CheckFlags(o, {"--check"});
    } else {
      CheckFlags(o, {});
    }
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
      if (HasFlag(o, "--check") && r->replication.state != canopy::net::ServingState::kStreaming) {
        return kExitNotStreaming;
      }
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
    if (error == "version") {
      std::cout << "canopy " << canopy::kVersion << "\n";
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
