// canopy — command-line client for canopyd.
//
//   canopy [--server HOST:PORT | --unix PATH] [--token-file FILE] [--json]
//          [--min-lsn X/Y] [--wait-ms N] [--timing] [--batch] <command> [args]
//   canopy --version                       prints "canopy <version>" (canopy/version.h)
//   canopy --help, canopy <command> --help the flags (of the program, of the command)
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
//   watch [--from LSN] [--subtree ID] [--tables LIST] [--columns LIST] [--positions] [--count N]
//                                          the change feed: one line per committed change
//   verify --pg CONNINFO [--sample N] [--form linear|recursive] [--seed N]
//                                          the server's answers vs PostgreSQL's
//
// Flags: CLI11, one subcommand per command. A command takes only its own
// flags (anything else is a usage error); the global flags go before the
// command or after it. Ids are GitLab's: 1..INT64_MAX. Every number (ids,
// --wait-ms, --sample, ...) is parsed with std::from_chars, whole, in decimal,
// and range-checked: a bad one is a usage error saying what is accepted.
// Environment: CANOPY_SERVER, CANOPY_UNIX and CANOPY_TOKEN_FILE stand for
// --server, --unix and --token-file when the flag is not given.
//
// Output: one id per line in docs/queries.md order (--order any: the same ids in
// no promised order, unsorted by the server); --json prints
// {"ids":[...],"lsn":"0/16B3748"} (or the command's object). --timing prints
// "round trip: N us" on stderr (the command's calls, without connecting).
// Errors go to stderr: "canopy: <why>"; with --json one JSON object line,
// {"error":"not_found","message":"...","exit_code":1}, so stdout holds
// answers only. Exit codes (also in `canopy --help`): 0 ok, 1 not found,
// 2 usage, 3 unreachable (cannot connect, connection lost), 4 verify found
// differences, 5 status --check: not streaming, 6 unauthorized, 7 stale
// (--min-lsn not reached within the wait), 8 server error (shutting down,
// not ready, overloaded, internal; also any other failure), 9 out of range
// (watch --from older than the server's feed window: resynchronise).
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
// the batch; the exit code is the worst line's (the highest code: 1 some id
// unknown, 7 some line stale, 8 some server error), 2 for usage errors (a
// line that is not an id: nothing is asked), 3 when the connection fails
// (lines printed so far stand). Empty stdin: no output, exit 0.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "canopy/json_text.h"
#include "canopy/net/client.h"
#include "canopy/version.h"
#include "log_format.h"
#ifdef CANOPY_HAVE_CDC
#include "canopy/cdc/verify.h"
#endif

namespace {

using canopy::HierarchyOrder;
using canopy::Lsn;
using canopy::QueryKind;
using canopy::Status;
using canopy::StatusCode;

// Scripts and tests rely on these numbers: never renumber one.
constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitDifferences = 4;
constexpr int kExitNotStreaming = 5;
constexpr int kExitUnauthorized = 6;
constexpr int kExitStale = 7;
constexpr int kExitServerError = 8;
constexpr int kExitOutOfRange = 9;

// Why a command failed: the name a --json error carries, and the exit code.
struct Failure {
  std::string_view name;
  int exit_code;
};
constexpr Failure kNotFound{"not_found", kExitNotFound};
constexpr Failure kUsage{"usage", kExitUsage};
constexpr Failure kUnreachable{"unreachable", kExitUnreachable};
constexpr Failure kUnauthorized{"unauthorized", kExitUnauthorized};
constexpr Failure kStale{"stale", kExitStale};
constexpr Failure kServerError{"server_error", kExitServerError};
constexpr Failure kOutOfRange{"out_of_range", kExitOutOfRange};

const char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  not found: an unknown id or path\n"
    "  2  usage: a bad command, flag, argument or --batch stdin line\n"
    "  3  unreachable: cannot connect, or the connection was lost\n"
    "  4  verify found differences\n"
    "  5  status --check: the server is not streaming\n"
    "  6  unauthorized: a wrong or missing token (--token-file)\n"
    "  7  stale: the server did not reach --min-lsn within --wait-ms\n"
    "  8  server error (shutting down, not ready, overloaded, internal), or any other failure\n"
    "  9  watch: --from (or the watcher's position) is older than the server's feed window;\n"
    "     resynchronise, then watch from the LSN the message names\n"
    "  --batch exits with the worst (highest) code of its lines.\n";

const char kProgramNotes[] =
    "Ids are GitLab ids: whole decimal numbers 1..9223372036854775807.\n"
    "--order any: the same ids in no promised order (the server skips the sort);\n"
    "  asc (the default): ascending.\n"
    "--batch: read the ids (resolve: paths) from stdin, one per line, and answer\n"
    "  them all over one connection, pipelined: one output line per input line, in\n"
    "  order (plain: the answer on one line, or \"not found\"; --json: one object\n"
    "  per line with \"id\" and the answer or \"error\"). For the id commands,\n"
    "  counts, path and resolve.\n"
    "--json: answers as JSON on stdout; an error is one JSON object line on stderr:\n"
    "  {\"error\":\"not_found\",\"message\":\"...\",\"exit_code\":1}.\n"
    "Environment: CANOPY_SERVER, CANOPY_UNIX and CANOPY_TOKEN_FILE stand for --server,\n"
    "  --unix and --token-file when the flag is not given (a flag wins over every\n"
    "  variable; --unix wins over --server, CANOPY_UNIX over CANOPY_SERVER).\n"
    "'canopy COMMAND --help' shows a command's arguments and flags.\n";

const char kCommandNotes[] =
    "The global options (--server, --unix, --token-file, --json, --min-lsn, --wait-ms,\n"
    "--timing, --batch) go before or after the command: see 'canopy --help', which\n"
    "also lists the exit codes.";

// Page size for id lists: large answers come in several round trips.
constexpr uint32_t kPageSize = 100'000;
// --batch: ids per batch request, and batch requests pipelined per round.
constexpr size_t kBatchChunk = 500;
constexpr size_t kBatchRound = 32;

constexpr int64_t kMinId = 1;
constexpr int64_t kMaxId = std::numeric_limits<int64_t>::max();

struct Options {
  canopy::net::ClientOptions client;
  bool json = false;
  canopy::net::CallOptions call;
  bool timing = false;
  bool batch = false;
  std::string command;
  // The argument: an id (id commands, counts, path) or a full path (resolve);
  // none with --batch.
  std::optional<int64_t> id;
  std::string full_path;
  // The commands' flags.
  bool self = false;                     // ancestors, descendants
  bool self_first = false;               // ancestors, project-ancestors
  bool with_project_namespaces = false;  // descendants
  bool unarchived = false;               // projects
  bool runner_ancestors = false;         // runners --ancestors
  bool project = false;                  // path --project
  bool check = false;                    // status --check
  canopy::IdOrder id_order = canopy::IdOrder::kAscending;
  uint32_t interval_ms = 1000;  // watch-status
  uint32_t count = 0;           // watch-status (statuses), watch (changes); 0: forever
  // watch
  Lsn from;
  canopy::FeedFilter filter;
  bool positions = false;
  // verify
  std::string pg_conninfo;
  std::optional<uint32_t> sample;
  std::optional<uint32_t> seed;
  std::string form = "linear";
};

struct UsageError {
  std::string message;
};

// Concatenates strings by appending (GCC 12 at -O3 reports a false -Wrestrict
// for "literal" + std::string&&).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

// JSON string literals: the one escaper canopyd's JSON log lines use too.
using canopyd::JsonString;

// ---- errors ----

// Prints why the command failed on stderr: "canopy: <message>", or with
// --json one JSON object line (stdout keeps the answers alone).
void PrintFailure(bool json, const Failure& failure, std::string_view message,
                  std::string_view plain_hint = {}) {
  if (json) {
    std::cerr << "{\"error\":" << JsonString(failure.name) << ",\"message\":" << JsonString(message)
              << ",\"exit_code\":" << failure.exit_code << "}\n";
    return;
  }
  std::cerr << "canopy: " << message << "\n";
  if (!plain_hint.empty()) std::cerr << plain_hint << "\n";
}

// The wire error a client Status came from, if any: ToStatus() puts the
// error's name first in the message ("stale: ...", "unauthorized: ..."),
// while transport failures (cannot connect, connection lost) carry none. The
// StatusCode alone cannot tell them apart (STALE and a read timeout are both
// kTimeout, SHUTTING_DOWN and a refused connection both kUnavailable).
std::optional<canopy::net::ErrorCode> WireError(const Status& s) {
  const std::string_view message = s.message();
  for (uint16_t value = 1; value <= canopy::net::kMaxErrorCode; ++value) {
    const auto code = static_cast<canopy::net::ErrorCode>(value);
    if (canopy::net::ToStatusCode(code) != s.code()) continue;
    const std::string_view name = canopy::net::ErrorCodeName(code);
    if (message.starts_with(name) && (message.size() == name.size() || message[name.size()] == ':'))
      return code;
  }
  return std::nullopt;
}

Failure FailureFor(const Status& s) {
  if (s.code() == StatusCode::kNotFound) return kNotFound;
  // The server refused the request as malformed, or the client refused an option.
  if (s.code() == StatusCode::kInvalidArgument) return kUsage;
  if (std::optional<canopy::net::ErrorCode> wire = WireError(s)) {
    if (*wire == canopy::net::ErrorCode::kUnauthorized) return kUnauthorized;
    if (*wire == canopy::net::ErrorCode::kStale) return kStale;
    if (*wire == canopy::net::ErrorCode::kOutOfRange) return kOutOfRange;
    return kServerError;  // the server answered with an error
  }
  // Not from the server: no connection, or it broke (or went silent).
  if (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kTimeout) {
    return kUnreachable;
  }
  return kServerError;  // e.g. a malformed frame from the server
}

// Returns the exit code for a failed call, after printing why.
int Fail(const Options& o, const Status& s) {
  const Failure failure = FailureFor(s);
  PrintFailure(o.json, failure, o.json ? s.message() : s.ToString());
  return failure.exit_code;
}

// ---- numbers ----

enum class NumberProblem { kNone, kNotANumber, kOutOfRange };

// `text` as a whole decimal number in [min, max] (std::from_chars: no '+',
// no blanks, no base prefix, so "010" is ten).
NumberProblem ParseNumber(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error == std::errc::result_out_of_range) return NumberProblem::kOutOfRange;
  if (error != std::errc() || stop != end) return NumberProblem::kNotANumber;
  if (value < min || value > max) return NumberProblem::kOutOfRange;
  *out = value;
  return NumberProblem::kNone;
}

std::string RangeText(int64_t min, int64_t max) {
  return Cat(std::to_string(min), "..", std::to_string(max));
}

// An id (1..INT64_MAX), or why `text` is not one.
std::optional<std::string> ParseId(std::string_view text, int64_t* id) {
  switch (ParseNumber(text, kMinId, kMaxId, id)) {
    case NumberProblem::kNone:
      return std::nullopt;
    case NumberProblem::kNotANumber:
      return Cat("not an id: '", text, "' (ids are whole numbers ", RangeText(kMinId, kMaxId), ")");
    case NumberProblem::kOutOfRange:
      break;
  }
  return Cat("id ", text, " is out of range: ids are ", RangeText(kMinId, kMaxId));
}

int64_t IdArgument(std::string_view text) {
  int64_t id = 0;
  if (std::optional<std::string> problem = ParseId(text, &id)) throw UsageError{*problem};
  return id;
}

// The value of a numeric flag, `what` naming it in the error.
uint32_t U32Argument(std::string_view text, std::string_view what) {
  constexpr int64_t kMax = std::numeric_limits<uint32_t>::max();
  int64_t value = 0;
  switch (ParseNumber(text, 0, kMax, &value)) {
    case NumberProblem::kNone:
      return static_cast<uint32_t>(value);
    case NumberProblem::kNotANumber:
      throw UsageError{
          Cat(what, " needs a whole number ", RangeText(0, kMax), ", not '", text, "'")};
    case NumberProblem::kOutOfRange:
      break;
  }
  throw UsageError{Cat(what, " ", text, " is out of range: accepted ", RangeText(0, kMax))};
}

// ---- the command line ----

// HOST:PORT (an IPv6 host in brackets: [::1]:7433) into `client`; `what`
// names the flag or variable it came from.
void SetServer(std::string_view text, std::string_view what, canopy::net::ClientOptions* client) {
  const size_t colon = text.rfind(':');
  int64_t port = 0;
  if (colon == std::string_view::npos ||
      ParseNumber(text.substr(colon + 1), 1, 65535, &port) != NumberProblem::kNone) {
    throw UsageError{Cat(what, " needs HOST:PORT (port 1..65535), not '", text, "'")};
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  client->host = std::string(host);
  client->port = static_cast<uint16_t>(port);
}

// The first line of a token file, trailing blanks dropped.
std::string ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (path.empty() || !in) {
    throw UsageError{
        Cat("--token-file (or CANOPY_TOKEN_FILE) needs a readable file, not '", path, "'")};
  }
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  return token;
}

// The value of an environment variable; empty when unset.
std::string Environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

bool IsIdCommand(std::string_view c) {
  return c == "ancestors" || c == "descendants" || c == "projects" || c == "project-ancestors" ||
         c == "runners" || c == "project-runners";
}

// The commands whose argument is an id.
bool TakesId(std::string_view c) { return IsIdCommand(c) || c == "counts" || c == "path"; }

bool HasBatchForm(std::string_view c) { return TakesId(c) || c == "resolve"; }

// Accepts `a` or `b` (without CLI11's IsMember, whose "{a,b}" would follow
// the type name in the help).
CLI::Validator OneOf(std::string a, std::string b) {
  return CLI::Validator(
      [a, b](std::string& value) {
        return value == a || value == b ? std::string()
                                        : Cat("needs ", a, " or ", b, ", not '", value, "'");
      },
      "");
}

// The flags as CLI11 parses them. The booleans land in `options_` at once;
// values that need checking (numbers, LSN, server address, token file) are
// kept as text and converted by Finish(), which says what is accepted when
// one is bad (CLI11's own conversion would take "010" as octal).
class CommandLine {
 public:
  CommandLine()
      : app_("canopy: ask canopyd (GitLab's namespace hierarchy) from the shell", "canopy") {
    app_.get_formatter()->label("SUBCOMMAND", "COMMAND");
    app_.get_formatter()->label("Positionals", "Arguments");
    app_.get_formatter()->column_width(30);
    app_.set_version_flag("--version", Cat("canopy ", canopy::kVersion),
                          "Print \"canopy <version>\" and exit");
    app_.require_subcommand(1);
    // The global flags may come after the command too: a command passes
    // the flags it does not know to the program.
    app_.fallthrough();
    app_.footer(Cat(kProgramNotes, "\n", kExitCodesHelp));
    AddGlobalOptions();
    AddCommands();
  }

  // Throws CLI::ParseError (help and --version included) or UsageError.
  Options Parse(int argc, char** argv) {
    arguments_.assign(argv + 1, argv + argc);
    app_.parse(argc, argv);
    return Finish();
  }

  // Exits as CLI11 would for help and --version: prints them, returns 0.
  int PrintHelpOrVersion(const CLI::Success& e) const { return app_.exit(e); }

  // A usage error's message in the CLI's words (CLI11's for the rest).
  std::string Explain(const CLI::ParseError& e) const {
    const CLI::App* command = Command();
    const std::vector<std::string> rest = app_.remaining();
    if (command == nullptr) {
      if (!rest.empty() && !rest.front().starts_with("-"))
        return Cat("unknown command '", rest.front(), "'");
      if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && rest.empty())
        return "no command";
      return e.what();
    }
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr && !rest.empty()) {
      const std::string& name = command->get_name();
      if (rest.front().starts_with("-")) {
        if (BeforeTheCommand(rest.front(), name)) {
          return Cat(
              "unknown option ", rest.front(),
              " before the command (only global options go there, a command's own flags after it)");
        }
        return Cat("'", name, "' does not take ", rest.front());
      }
      return Cat("'", name, "' does not take another argument: '", rest.front(), "'");
    }
    return e.what();
  }

  // Where to read on after an error: the command's help, or the program's.
  std::string HelpHint() const {
    const CLI::App* command = Command();
    return command == nullptr ? "see 'canopy --help'"
                              : Cat("see 'canopy ", command->get_name(), " --help'");
  }

 private:
  // An option whose value is kept as text, for Finish().
  static CLI::Option* AddText(CLI::App* app, const std::string& name,
                              std::optional<std::string>* text, const std::string& description) {
    return app->add_option_function<std::string>(
        name, [text](const std::string& value) { *text = value; }, description);
  }

  void AddGlobalOptions() {
    AddText(&app_, "--server", &server_,
            "canopyd's TCP listener (default: $CANOPY_SERVER, else 127.0.0.1:7433)")
        ->type_name("HOST:PORT");
    AddText(&app_, "--unix", &unix_path_,
            "canopyd's Unix socket, instead of TCP (default: $CANOPY_UNIX)")
        ->type_name("PATH");
    AddText(&app_, "--token-file", &token_file_,
            "send the token on the file's first line (canopyd --token-file)")
        ->type_name("FILE")
        ->envname("CANOPY_TOKEN_FILE");
    app_.add_flag("--json", options_.json, "answers as JSON; errors as one JSON line on stderr");
    AddText(&app_, "--min-lsn", &min_lsn_,
            "answer once the server has applied this LSN (read your writes)")
        ->type_name("X/Y");
    AddText(&app_, "--wait-ms", &wait_ms_,
            "how long the server may wait for --min-lsn (0: its default)")
        ->type_name("N");
    app_.add_flag("--timing", options_.timing,
                  "print \"round trip: N us\" on stderr (the command's calls)");
    app_.add_flag("--batch", options_.batch,
                  "read the ids (resolve: paths) from stdin, one per line");
  }

  CLI::App* AddCommand(const std::string& name, const std::string& description) {
    CLI::App* command = app_.add_subcommand(name, description)->group("Commands");
    command->footer(kCommandNotes);
    return command;
  }

  void AddArgument(CLI::App* command, const std::string& name, const std::string& description) {
    AddText(command, name, &argument_, description)->type_name("");
  }

  void AddOrder(CLI::App* command) {
    command
        ->add_option_function<std::string>(
            "--order",
            [this](const std::string& v) {
              options_.id_order = v == "any" ? canopy::IdOrder::kAny : canopy::IdOrder::kAscending;
            },
            "asc (default): ascending; any: unsorted (the server skips the sort)")
        ->type_name("asc|any")
        ->check(OneOf("asc", "any"));
  }

  void AddCommands() {
    const std::string id = "a namespace id (from stdin with --batch)";
    const std::string project_id = "a project id (from stdin with --batch)";
    CLI::App* c = AddCommand("ancestors", "ancestors of a namespace, root first");
    AddArgument(c, "ID", id);
    c->add_flag("--self", options_.self, "the namespace itself too");
    c->add_flag("--self-first", options_.self_first, "nearest first, the root last");

    c = AddCommand("descendants", "descendant groups of a namespace");
    AddArgument(c, "ID", id);
    c->add_flag("--self", options_.self, "the namespace itself too");
    c->add_flag("--with-project-namespaces", options_.with_project_namespaces,
                "project namespaces too");
    AddOrder(c);

    c = AddCommand("projects", "projects in a namespace and its descendants (all_project_ids)");
    AddArgument(c, "ID", id);
    c->add_flag("--unarchived", options_.unarchived, "leave archived projects out");
    AddOrder(c);

    c = AddCommand("project-ancestors", "the namespaces above a project, root first");
    AddArgument(c, "PROJECT_ID", project_id);
    c->add_flag("--self-first", options_.self_first, "nearest first, the root last");

    c = AddCommand("runners", "runners of a group");
    AddArgument(c, "ID", id);
    c->add_flag("--ancestors", options_.runner_ancestors, "of its ancestors too");
    AddOrder(c);

    c = AddCommand("project-runners", "runners of a project's group and its ancestors");
    AddArgument(c, "PROJECT_ID", project_id);
    AddOrder(c);

    c = AddCommand("counts", "descendant groups, project namespaces and projects of a namespace");
    AddArgument(c, "ID", id);

    c = AddCommand("path", "the full path of a namespace (or of a project)");
    AddArgument(c, "ID", "a namespace id, or with --project a project id (stdin with --batch)");
    c->add_flag("--project", options_.project, "ID is a project id");

    c = AddCommand("resolve", "what a full path names: \"namespace ID\" or \"project ID\"");
    AddArgument(c, "FULL/PATH", "a full path, e.g. gitlab-org/gitlab (stdin with --batch)");

    c = AddCommand("status", "the server's state, LSNs, index sizes and connections");
    c->add_flag("--check", options_.check, "exit 0 only when streaming, else 5");

    c = AddCommand("watch-status", "status again and again");
    AddText(c, "--interval-ms", &interval_ms_, "between two (default 1000)")->type_name("N");
    AddText(c, "--count", &count_, "how many (default 0: until interrupted)")->type_name("N");

    c = AddCommand("watch", "the change feed: one line per committed change (--json: JSON lines)");
    AddText(c, "--from", &from_, "after this LSN (default: from now); the last one you processed")
        ->type_name("X/Y");
    AddText(c, "--subtree", &subtree_,
            "only rows inside this namespace's subtree, before or after (transfers in and out)")
        ->type_name("ID");
    AddText(c, "--tables", &tables_, "only these tables (namespaces,projects,ci_runner_namespaces)")
        ->type_name("LIST");
    AddText(c, "--columns", &columns_,
            "per table named, only these columns; an update changing none of them is left out "
            "(e.g. projects.name,projects.visibility_level)")
        ->type_name("LIST");
    c->add_flag("--positions", options_.positions,
                "also print a line when only the position moves (lsn, no change)");
    AddText(c, "--count", &count_, "stop after N changes (default 0: until interrupted)")
        ->type_name("N");

    c = AddCommand("verify", "compare the server's answers with PostgreSQL's");
    c->add_option("--pg", options_.pg_conninfo, "libpq conninfo of the database canopyd replicates")
        ->type_name("CONNINFO")
        ->required();
    AddText(c, "--sample", &sample_, "namespaces and projects checked (default 1000)")
        ->type_name("N");
    c->add_option("--form", options_.form, "the SQL form compared with (default linear)")
        ->type_name("linear|recursive")
        ->check(OneOf("linear", "recursive"));
    AddText(c, "--seed", &seed_, "of the sample (default 1)")->type_name("N");
  }

  // Whether `arg` is on the command line before the command's name.
  bool BeforeTheCommand(const std::string& arg, const std::string& command) const {
    const auto at = std::find(arguments_.begin(), arguments_.end(), arg);
    return at < std::find(arguments_.begin(), arguments_.end(), command);
  }

  const CLI::App* Command() const {
    const std::vector<CLI::App*> chosen = app_.get_subcommands();  // the parsed ones
    return chosen.empty() ? nullptr : chosen.front();
  }

  // The text values converted and checked; the argument against the command.
  Options Finish() {
    Options o = options_;
    o.command = Command()->get_name();
    o.client.client_name = "canopy-cli";
    o.client.reconnect = false;
    // Where to connect: a flag wins over the environment; --unix over --server.
    if (unix_path_) {
      o.client.unix_path = *unix_path_;
    } else if (server_) {
      SetServer(*server_, "--server", &o.client);
    } else if (std::string unix_path = Environment("CANOPY_UNIX"); !unix_path.empty()) {
      o.client.unix_path = unix_path;
    } else if (std::string server = Environment("CANOPY_SERVER"); !server.empty()) {
      SetServer(server, "CANOPY_SERVER", &o.client);
    }
    if (token_file_) o.client.token = ReadToken(*token_file_);
    if (min_lsn_) {
      std::optional<Lsn> lsn = Lsn::Parse(*min_lsn_);
      if (!lsn)
        throw UsageError{Cat("--min-lsn needs an LSN like 0/16B3748, not '", *min_lsn_, "'")};
      o.call.min_lsn = *lsn;
    }
    if (wait_ms_) o.call.wait = std::chrono::milliseconds(U32Argument(*wait_ms_, "--wait-ms"));
    if (interval_ms_) o.interval_ms = U32Argument(*interval_ms_, "--interval-ms");
    if (count_) o.count = U32Argument(*count_, "--count");
    if (sample_) o.sample = U32Argument(*sample_, "--sample");
    if (seed_) o.seed = U32Argument(*seed_, "--seed");
    if (from_) {
      std::optional<Lsn> lsn = Lsn::Parse(*from_);
      if (!lsn) throw UsageError{Cat("--from needs an LSN like 0/16B3748, not '", *from_, "'")};
      o.from = *lsn;
    }
    if (subtree_) o.filter.subtree = IdArgument(*subtree_);
    if (tables_) {
      if (Status s = canopy::ParseFeedTables(*tables_, &o.filter); !s.ok()) {
        throw UsageError{Cat("--tables: ", s.message())};
      }
    }
    if (columns_) {
      if (Status s = canopy::ParseFeedColumns(*columns_, &o.filter); !s.ok()) {
        throw UsageError{Cat("--columns: ", s.message())};
      }
    }
    FinishArgument(&o);
    return o;
  }

  void FinishArgument(Options* o) const {
    const std::string& c = o->command;
    if (o->batch) {
      if (!HasBatchForm(c)) throw UsageError{Cat("'", c, "' has no --batch form")};
      if (argument_) throw UsageError{"--batch reads the ids from stdin, not the command line"};
      return;
    }
    if (TakesId(c)) {
      if (!argument_) throw UsageError{Cat("'", c, "' takes one id")};
      o->id = IdArgument(*argument_);
    } else if (c == "resolve") {
      if (!argument_) throw UsageError{"'resolve' takes one full path"};
      o->full_path = *argument_;
    }
  }

  CLI::App app_;
  std::vector<std::string> arguments_;  // argv without the program
  Options options_;
  std::optional<std::string> server_, unix_path_, token_file_, min_lsn_, wait_ms_;
  std::optional<std::string> argument_;
  std::optional<std::string> interval_ms_, count_, sample_, seed_;
  std::optional<std::string> from_, subtree_, tables_, columns_;  // watch
};

void PrintStatus(const Options& o, const canopy::net::ServerStatus& s) {
  const canopy::IndexStats& x = s.index;
  const std::string state = canopy::net::ServingStateName(s.replication.state);
  if (o.json) {
    std::cout << "{\"applied_lsn\":" << JsonString(s.applied_lsn.ToString())
              << ",\"received_lsn\":" << JsonString(s.replication.received_lsn.ToString())
              << ",\"lag_bytes\":" << s.lag_bytes << ",\"lag_seconds\":" << s.lag_seconds
              << ",\"last_commit_unix_ms\":" << s.replication.last_commit_unix_ms
              << ",\"state\":" << JsonString(state)
              << ",\"stage\":" << JsonString(s.replication.stage)
              << ",\"last_error\":" << JsonString(s.replication.last_error)
              << ",\"last_error_unix_ms\":" << s.replication.last_error_unix_ms
              << ",\"last_error_time\":"
              << JsonString(s.replication.last_error_unix_ms > 0
                                ? canopy::FormatUtcMillis(s.replication.last_error_unix_ms)
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
            << "\nlag_seconds        " << s.lag_seconds << "\nlast_commit        "
            << (s.replication.last_commit_unix_ms > 0
                    ? canopy::FormatUtcMillis(s.replication.last_commit_unix_ms)
                    : "-")
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
                      ? canopy::FormatUtcMillis(s.replication.last_error_unix_ms) + " "
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
  canopy::cdc::VerifyOptions options;
  options.sample_namespaces = o.sample.value_or(1000);
  options.sample_projects = o.sample.value_or(1000);
  options.seed = o.seed.value_or(1);
  options.form =
      o.form == "recursive" ? canopy::cdc::SqlForm::kRecursive : canopy::cdc::SqlForm::kLinear;
  if (o.call.wait.count() > 0) options.wait_timeout = o.call.wait;
  ServerVerifyTarget target(client);
  auto report = canopy::cdc::Verify(o.pg_conninfo, target, options);
  if (!report.ok()) return Fail(o, report.status());
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
  throw UsageError{"this build has no canopy::cdc (CANOPY_BUILD_CDC=OFF): verify is unavailable"};
}
#endif

// The query of an id command (ancestors, descendants, projects,
// project-ancestors, runners, project-runners) for `id`, with the command's
// flags; nullopt for the other commands.
std::optional<canopy::IdQuery> IdCommandQuery(const Options& o, int64_t id) {
  const std::string& c = o.command;
  const HierarchyOrder order =
      o.self_first ? HierarchyOrder::kSelfFirst : HierarchyOrder::kRootFirst;
  if (c == "ancestors") {
    return canopy::IdQuery{.kind = o.self ? QueryKind::kSelfAndAncestors : QueryKind::kAncestors,
                           .id = id,
                           .order = order};
  }
  if (c == "descendants") {
    return canopy::IdQuery{
        .kind = o.self ? QueryKind::kSelfAndDescendants : QueryKind::kDescendants,
        .id = id,
        .include_project_namespaces = o.with_project_namespaces,
        .id_order = o.id_order};
  }
  if (c == "projects") {
    return canopy::IdQuery{
        .kind = o.unarchived ? QueryKind::kAllUnarchivedProjectIds : QueryKind::kAllProjectIds,
        .id = id,
        .id_order = o.id_order};
  }
  if (c == "project-ancestors") {
    return canopy::IdQuery{.kind = QueryKind::kProjectAncestors, .id = id, .order = order};
  }
  if (c == "runners") {
    return canopy::IdQuery{.kind = o.runner_ancestors ? QueryKind::kRunnersOfGroupAndAncestors
                                                      : QueryKind::kRunnersOfGroup,
                           .id = id,
                           .id_order = o.id_order};
  }
  if (c == "project-runners") {
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
  if (!r.ok()) return Fail(o, r.status());
  if (!r->answer.status.ok()) return Fail(o, r->answer.status);
  if (o.json) {
    std::cout << "{" + IdsJson(r->answer.ids, r->lsn) + "}\n";
  } else {
    std::cout << IdsPlain(r->answer.ids, '\n');
  }
  return kExitOk;
}

// ---- --batch ----

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
      kind_ = Kind::kCounts;
    } else if (o_.command == "path") {
      kind_ = Kind::kPath;
      table_ = o_.project ? canopy::Table::kProjects : canopy::Table::kNamespaces;
    } else if (o_.command == "resolve") {
      kind_ = Kind::kResolve;
    } else {
      throw UsageError{Cat("'", o_.command, "' has no --batch form")};
    }
    ReadInput();
    const size_t n = kind_ == Kind::kResolve ? paths_.size() : ids_.size();
    for (size_t begin = 0; begin < n; begin += kBatchChunk * kBatchRound) {
      const size_t end = std::min(n, begin + kBatchChunk * kBatchRound);
      const Status s = RunRound(begin, end);
      std::cout << out_;
      out_.clear();
      if (!s.ok()) return Fail(o_, s);
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
      int64_t id = 0;
      if (std::optional<std::string> problem = ParseId(text, &id)) {
        throw UsageError{Cat("stdin line ", std::to_string(number), ": ", *problem)};
      }
      ids_.push_back(id);
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
    worst_ = std::max(worst_, FailureFor(s).exit_code);
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

// A change as one plain line: LSN, commit time, table, op, id, then the row
// after it (a delete: before it) as a JSON object of the columns it knows.
std::string ChangePlain(const canopy::FeedTransaction& txn, const canopy::FeedChange& change) {
  std::string line = Cat(txn.commit_lsn.ToString(), " ",
                         txn.commit_unix_ms > 0 ? canopy::FormatUtcMillis(txn.commit_unix_ms) : "-",
                         " ", canopy::FeedTableName(change.table), " ",
                         canopy::ChangeOpName(change.op), " ", std::to_string(change.id));
  if (change.op == canopy::ChangeOp::kTruncate) return line;
  line.push_back(' ');
  if (std::holds_alternative<std::monostate>(change.after)) {
    canopy::AppendFeedRowJson(change.before, &line);
  } else {
    canopy::AppendFeedRowJson(change.after, &line, change.carried);
  }
  return line;
}

// `canopy watch`: subscribes, then prints every change until --count or an
// error (kOutOfRange: exit 9, the message names the LSN to resume from).
int Watch(const Options& o, canopy::net::Client& client) {
  canopy::Result<Lsn> start = client.Subscribe(o.from, o.filter);
  if (!start.ok()) return Fail(o, start.status());
  uint64_t printed = 0;
  std::string out;
  for (;;) {
    auto batch = client.NextFeed(std::chrono::seconds(1));
    if (!batch.ok()) {
      if (batch.status().code() == StatusCode::kTimeout) continue;  // nothing yet
      return Fail(o, batch.status());
    }
    out.clear();
    bool done = false;
    for (const canopy::FeedTransaction& txn : batch->value) {
      if (txn.changes.empty() && o.positions) {
        out += o.json ? Cat("{\"lsn\":\"", txn.commit_lsn.ToString(), "\",\"position\":true}\n")
                      : Cat(txn.commit_lsn.ToString(), " position\n");
      }
      for (const canopy::FeedChange& change : txn.changes) {
        if (o.json) {
          canopy::AppendFeedChangeJson(txn, change, &out);
          out.push_back('\n');
        } else {
          out += ChangePlain(txn, change) + "\n";
        }
        if (o.count != 0 && ++printed >= o.count) {
          done = true;
          break;
        }
      }
      if (done) break;
    }
    std::cout << out << std::flush;
    if (done) return kExitOk;
  }
}

int Dispatch(const Options& o, canopy::net::Client& client) {
  const std::string& c = o.command;
  if (o.batch) return BatchRun(o, client).Run();
  if (c == "verify") return RunVerify(o, client);
  if (std::optional<canopy::IdQuery> q = IdCommandQuery(o, o.id.value_or(0))) {
    return PrintIds(o, client, *q);
  }
  if (c == "counts") {
    auto r = client.Counts(*o.id, o.call);
    if (!r.ok()) return Fail(o, r.status());
    if (o.json) {
      std::cout << "{" + CountsJson(r->value, r->lsn) + "}\n";
    } else {
      std::cout << CountsPlain(r->value, '\n') + "\n";
    }
    return kExitOk;
  }
  if (c == "path") {
    auto r = client.FullPath(o.project ? canopy::Table::kProjects : canopy::Table::kNamespaces,
                             *o.id, o.call);
    if (!r.ok()) return Fail(o, r.status());
    if (o.json) {
      std::cout << "{" + PathJson(r->value, r->lsn) + "}\n";
    } else {
      std::cout << r->value << "\n";
    }
    return kExitOk;
  }
  if (c == "resolve") {
    auto r = client.Resolve(o.full_path, o.call);
    if (!r.ok()) return Fail(o, r.status());
    if (o.json) {
      std::cout << "{" + ResolvedJson(r->value, r->lsn) + "}\n";
    } else {
      std::cout << ResolvedPlain(r->value) << "\n";
    }
    return kExitOk;
  }
  if (c == "status" || c == "watch-status") {
    const bool watch = c == "watch-status";
    const uint32_t count = watch ? o.count : 1;  // 0: forever
    for (uint32_t i = 0; count == 0 || i < count; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
      auto r = client.GetStatus(i == 0 ? o.call : canopy::net::CallOptions{});  // --min-lsn: first
      if (!r.ok()) return Fail(o, r.status());
      PrintStatus(o, *r);
      std::cout.flush();
      if (o.check && r->replication.state != canopy::net::ServingState::kStreaming) {
        return kExitNotStreaming;
      }
    }
    return kExitOk;
  }
  if (c == "watch") return Watch(o, client);
  throw UsageError{Cat("unknown command '", c, "'")};
}

int Run(const Options& o) {
  canopy::net::Client client(o.client);
  if (!o.timing) return Dispatch(o, client);
  // Time the command's calls, not the connection (as psql's \timing).
  if (Status s = client.Connect(); !s.ok()) return Fail(o, s);
  const auto t0 = std::chrono::steady_clock::now();
  const int code = Dispatch(o, client);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::cout.flush();
  std::cerr << "round trip: " << us.count() << " us\n";
  return code;
}

// Whether --json is on the command line, for errors found before (or while)
// CLI11 parses it: those are JSON too.
bool JsonRequested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--json") return true;
  }
  return false;
}

// Parses the command line and runs the command; nothing is thrown out of it.
int Main(int argc, char** argv) {
  const bool json = JsonRequested(argc, argv);
  CommandLine command_line;
  try {
    const Options options = command_line.Parse(argc, argv);
    return Run(options);
  } catch (const CLI::Success& e) {  // --help, --version
    return command_line.PrintHelpOrVersion(e);
  } catch (const CLI::ParseError& e) {
    PrintFailure(json, kUsage, command_line.Explain(e), command_line.HelpHint());
  } catch (const UsageError& e) {
    PrintFailure(json, kUsage, e.message, command_line.HelpHint());
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    // Not expected (out of memory, a CLI11 setup error): still one line, and
    // the catch-all exit code.
    PrintFailure(JsonRequested(argc, argv), kServerError, Cat("internal error: ", e.what()));
  } catch (...) {
    PrintFailure(JsonRequested(argc, argv), kServerError, "internal error");
  }
  return kExitServerError;
}
