#include "resp_protocol.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>

namespace canopy::net::internal {

struct RespProtocol::QueryOptions {
  IdQuery query;         // kind, order, include_project_namespaces, limit, after_id, id_order
  bool project = false;  // PATH ... PROJECT
  bool limited = false;  // LIMIT given
  Lsn min_lsn;
  uint32_t wait_ms = 0;
};

namespace {

bool Is(std::string_view arg, std::string_view word) {
  return arg.size() == word.size() && ::strncasecmp(arg.data(), word.data(), word.size()) == 0;
}

// Strict decimal int64: an optional '-', digits, nothing else, in range.
bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.front() == '+') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool ParseUint32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.front() == '+' || s.front() == '-') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string Quoted(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

struct QueryCommandName {
  std::string_view name;
  RespProtocol::Command command;
};

// Reply prefix of a per-request wire error.
std::string_view ErrorPrefix(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnknownId:
      return "NOTFOUND";
    case ErrorCode::kStale:
      return "STALE";
    case ErrorCode::kShuttingDown:
      return "SHUTDOWN";
    case ErrorCode::kOverloaded:
      return "OVERLOADED";
    case ErrorCode::kNotReady:
      return "LOADING";
    case ErrorCode::kTooLarge:
      return "TOOLARGE";
    case ErrorCode::kUnauthorized:
      return "NOAUTH";
    case ErrorCode::kOutOfRange:
      return "OUTOFRANGE";
    default:
      return "ERR";
  }
}

std::string_view StatusPrefix(StatusCode code) {
  switch (code) {
    case StatusCode::kNotFound:
      return "NOTFOUND";
    case StatusCode::kResourceExhausted:
      return "TOOLARGE";
    default:
      return "ERR";
  }
}

// The commands COMMAND lists: name, arity (negative: at least), and whether
// it reads the hierarchy.
struct CommandDoc {
  const char* name;
  int arity;
};
constexpr CommandDoc kCommandDocs[] = {
    {"ancestors", -2},
    {"descendants", -2},
    {"projects", -2},
    {"projectancestors", -2},
    {"runners", -2},
    {"projectrunners", -2},
    {"counts", -2},
    {"path", -2},
    {"resolve", -2},
    {"mancestors", -2},
    {"mdescendants", -2},
    {"mprojects", -2},
    {"mprojectancestors", -2},
    {"mrunners", -2},
    {"mprojectrunners", -2},
    {"mcounts", -2},
    {"mpath", -2},
    {"mresolve", -2},
    {"feed", -2},
    {"lastlsn", 1},
    {"attributes", 2},
    {"status", 1},
    {"info", -1},
    {"ping", -1},
    {"echo", 2},
    {"auth", -2},
    {"hello", -1},
    {"select", 2},
    {"client", -2},
    {"config", -2},
    {"command", -1},
    {"quit", -1},
    {"reset", 1},
};

}  // namespace

RespLimits MakeRespLimits(const ServerOptions& o) {
  RespLimits limits;
  limits.max_bulk_bytes = o.max_request_frame_bytes;
  limits.max_request_bytes = o.max_request_frame_bytes;
  limits.max_args = static_cast<size_t>(o.max_ids_per_request) + 64;
  return limits;
}

RespProtocol::RespProtocol(const ServerOptions& options, const HandlerLimits& handler_limits,
                           const StatusSource* status_source)
    : options_(options),
      handler_limits_(handler_limits),
      status_source_(status_source),
      parser_(MakeRespLimits(options)),
      writer_(nullptr, false),
      authenticated_(options.token.empty()) {}

void RespProtocol::Error(SessionContext& ctx, std::string_view prefix, std::string_view message) {
  writer_.Error(prefix, message);
  Reply(ctx);
}

namespace {

// The counters' kind of a RESP command.
RequestKind RespKind(std::string_view name) {
  if (Is(name, "PING")) return RequestKind::kPing;
  if (Is(name, "HELLO") || Is(name, "AUTH")) return RequestKind::kHello;
  if (Is(name, "STATUS") || Is(name, "INFO")) return RequestKind::kStatus;
  if (Is(name, "FEED")) return RequestKind::kSubscribe;
  const bool many = name.size() > 1 && (name[0] == 'M' || name[0] == 'm');
  const std::string_view base = many ? name.substr(1) : name;
  for (std::string_view n : {name, base}) {
    if (Is(n, "COUNTS")) return RequestKind::kCounts;
    if (Is(n, "PATH")) return RequestKind::kFullPath;
    if (Is(n, "RESOLVE")) return RequestKind::kResolve;
  }
  for (std::string_view q :
       {"ANCESTORS", "DESCENDANTS", "PROJECTS", "PROJECTANCESTORS", "RUNNERS", "PROJECTRUNNERS"}) {
    if (Is(name, q)) return RequestKind::kIdQuery;
    if (many && Is(base, q)) return RequestKind::kBatch;
  }
  return RequestKind::kOther;
}

}  // namespace

bool RespProtocol::HandleNext(SessionContext& ctx) {
  RespParser::Next next = parser_.NextCommand();
  switch (next.state) {
    case RespParser::State::kNeedMore:
      return false;
    case RespParser::State::kError:
      writer_.set_out(&ctx.output());
      Error(ctx, "ERR", "Protocol error: " + std::string(next.error));
      ctx.CloseAfterOutput("RESP protocol error: " + std::string(next.error));
      return true;
    case RespParser::State::kCommand:
      if (!parser_.args().empty()) ctx.NoteRequest(RespKind(parser_.args()[0]));
      Execute(parser_.args(), parser_.raw(), nullptr, ctx);
      return true;
  }
  return false;
}

void RespProtocol::AnswerParked(std::span<const uint8_t> saved, uint64_t /*request_id*/,
                                const HierarchyIndex& index, SessionContext& ctx) {
  if (!ParseRespCommand(saved, &parked_args_)) {  // cannot happen: saved was parsed before
    writer_.set_out(&ctx.output());
    Error(ctx, "ERR", "internal error: parked command unreadable");
    return;
  }
  Execute(parked_args_, saved, &index, ctx);
}

void RespProtocol::FailParked(std::span<const uint8_t> saved, uint64_t /*request_id*/,
                              ErrorCode code, std::string_view message, Lsn /*applied*/,
                              SessionContext& ctx) {
  writer_.set_out(&ctx.output());
  // FEED ... BLOCK ms that saw nothing new: not an error, an empty poll.
  if (code == ErrorCode::kStale && ParseRespCommand(saved, &parked_args_) &&
      parked_args_.size() > 1 && Is(parked_args_[0], "FEED")) {
    if (std::optional<Lsn> from = Lsn::Parse(parked_args_[1])) {
      return FeedReply(*from, {}, ctx);
    }
  }
  Error(ctx, ErrorPrefix(code), message);
}

void RespProtocol::ConnectionError(ErrorCode code, std::string_view message, Lsn /*applied*/,
                                   SessionContext& ctx) {
  writer_.set_out(&ctx.output());
  if (code == ErrorCode::kOverloaded) {
    Error(ctx, "ERR", "max number of clients reached");
    return;
  }
  Error(ctx, ErrorPrefix(code), message);
}

void RespProtocol::Execute(std::span<const std::string_view> args, std::span<const uint8_t> raw,
                           const HierarchyIndex* parked_index, SessionContext& ctx) {
  writer_.set_out(&ctx.output());
  writer_.set_resp3(resp3_);
  const std::string_view name = args[0];
  const std::span<const std::string_view> rest = args.subspan(1);

  if (Is(name, "HELLO")) return Hello(rest, ctx);
  if (Is(name, "AUTH")) return Auth(rest, ctx);
  if (Is(name, "QUIT")) {
    writer_.SimpleString("OK");
    Reply(ctx);
    ctx.CloseAfterOutput("QUIT");
    return;
  }
  if (Is(name, "RESET")) {
    resp3_ = false;
    lsn_attribute_ = false;
    last_lsn_ = Lsn();
    authenticated_ = options_.token.empty();
    client_name_.clear();
    writer_.set_resp3(false);
    writer_.SimpleString("RESET");
    return Reply(ctx);
  }
  if (!authenticated_) return Error(ctx, "NOAUTH", "Authentication required.");

  static constexpr QueryCommandName kQueries[] = {
      {"ANCESTORS", Command::kAncestors}, {"DESCENDANTS", Command::kDescendants},
      {"PROJECTS", Command::kProjects},   {"PROJECTANCESTORS", Command::kProjectAncestors},
      {"RUNNERS", Command::kRunners},     {"PROJECTRUNNERS", Command::kProjectRunners},
      {"COUNTS", Command::kCounts},       {"PATH", Command::kPath},
      {"RESOLVE", Command::kResolve},
  };
  const bool many = name.size() > 1 && (name[0] == 'M' || name[0] == 'm');
  const std::string_view base = many ? name.substr(1) : name;
  for (const QueryCommandName& q : kQueries) {
    if (Is(base, q.name)) return Query(q.command, many, rest, raw, parked_index, ctx);
  }

  if (Is(name, "PING")) {
    if (rest.size() > 1) return Error(ctx, "ERR", "wrong number of arguments for 'ping' command");
    if (rest.empty()) {
      writer_.SimpleString("PONG");
    } else {
      writer_.Bulk(rest[0]);
    }
    return Reply(ctx);
  }
  if (Is(name, "ECHO")) {
    if (rest.size() != 1) return Error(ctx, "ERR", "wrong number of arguments for 'echo' command");
    writer_.Bulk(rest[0]);
    return Reply(ctx);
  }
  if (Is(name, "ATTRIBUTES")) {
    if (rest.size() != 1 || !(Is(rest[0], "ON") || Is(rest[0], "OFF"))) {
      return Error(ctx, "ERR", "usage: ATTRIBUTES ON|OFF");
    }
    if (Is(rest[0], "ON") && !resp3_) {
      return Error(ctx, "ERR", "attributes need RESP3: send HELLO 3 first (RESP2: use LASTLSN)");
    }
    lsn_attribute_ = Is(rest[0], "ON");
    writer_.SimpleString("OK");
    return Reply(ctx);
  }
  if (Is(name, "LASTLSN")) {
    if (!rest.empty()) {
      return Error(ctx, "ERR", "wrong number of arguments for 'lastlsn' command");
    }
    writer_.Bulk(last_lsn_.ToString());
    return Reply(ctx);
  }
  if (Is(name, "STATUS") || Is(name, "INFO")) {
    return Status(parked_index != nullptr ? parked_index : ctx.index(), ctx);
  }
  if (Is(name, "FEED")) return Feed(rest, raw, parked_index, ctx);
  if (Is(name, "SELECT")) {
    if (rest.size() != 1) {
      return Error(ctx, "ERR", "wrong number of arguments for 'select' command");
    }
    if (rest[0] != "0") return Error(ctx, "ERR", "DB index is out of range");
    writer_.SimpleString("OK");
    return Reply(ctx);
  }
  if (Is(name, "CLIENT")) return Client(rest, ctx);
  if (Is(name, "CONFIG")) {
    if (!rest.empty() && Is(rest[0], "GET")) {
      // Nothing is configured from here; what redis-benchmark asks about
      // (persistence) has a true answer: canopy keeps nothing on disk.
      size_t known = 0;
      for (std::string_view key : rest.subspan(1))
        known += Is(key, "save") || Is(key, "appendonly");
      writer_.MapHeader(known);
      for (std::string_view key : rest.subspan(1)) {
        if (Is(key, "save")) {
          writer_.Bulk("save");
          writer_.Bulk("");
        } else if (Is(key, "appendonly")) {
          writer_.Bulk("appendonly");
          writer_.Bulk("no");
        }
      }
      return Reply(ctx);
    }
    return Error(ctx, "ERR", "CONFIG: only GET is supported (and it answers nothing)");
  }
  if (Is(name, "COMMAND")) return CommandInfo(rest, ctx);
  Error(ctx, "ERR",
        "unknown command " + Quoted(name) +
            ", with args beginning with: " + (rest.empty() ? std::string() : Quoted(rest[0])));
}

// ---------------------------------------------------------------------------
// Connection commands

void RespProtocol::Hello(std::span<const std::string_view> args, SessionContext& ctx) {
  int proto = resp3_ ? 3 : 2;
  size_t i = 0;
  if (!args.empty()) {
    int64_t v = 0;
    if (!ParseInt64(args[0], &v)) {
      return Error(ctx, "ERR", "Protocol version is not an integer or out of range");
    }
    if (v != 2 && v != 3) return Error(ctx, "NOPROTO", "unsupported protocol version");
    proto = static_cast<int>(v);
    i = 1;
  }
  bool auth_ok = authenticated_;
  std::string_view name;
  bool has_name = false;
  for (; i < args.size(); ++i) {
    if (Is(args[i], "AUTH") && i + 2 < args.size()) {
      // Without a token every password is accepted (Redis's passwordless default user).
      if (!options_.token.empty() && !TokenMatches(ctx.token(), args[i + 2])) {
        return Error(ctx, "WRONGPASS", "invalid username-password pair or user is disabled.");
      }
      auth_ok = true;
      i += 2;
    } else if (Is(args[i], "SETNAME") && i + 1 < args.size()) {
      name = args[i + 1];
      has_name = true;
      i += 1;
    } else {
      return Error(ctx, "ERR", "Syntax error in HELLO option " + Quoted(args[i]));
    }
  }
  if (!auth_ok) {
    return Error(ctx, "NOAUTH",
                 "HELLO must be called with the client already authenticated, otherwise the "
                 "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
                 "client and select the RESP protocol version at the same time");
  }
  authenticated_ = true;
  resp3_ = proto == 3;
  if (!resp3_) lsn_attribute_ = false;
  if (has_name) client_name_ = std::string(name);
  writer_.set_resp3(resp3_);
  writer_.MapHeader(7);
  writer_.Bulk("server");
  writer_.Bulk("canopy");
  writer_.Bulk("version");
  writer_.Bulk(options_.server_version);
  writer_.Bulk("proto");
  writer_.Integer(proto);
  writer_.Bulk("id");
  writer_.Integer(static_cast<int64_t>(ctx.connection_id()));
  writer_.Bulk("mode");
  writer_.Bulk("standalone");
  writer_.Bulk("role");
  writer_.Bulk("replica");
  writer_.Bulk("modules");
  writer_.ArrayHeader(0);
  Reply(ctx);
}

void RespProtocol::Auth(std::span<const std::string_view> args, SessionContext& ctx) {
  if (args.empty() || args.size() > 2) {
    return Error(ctx, "ERR", "wrong number of arguments for 'auth' command");
  }
  if (options_.token.empty()) {
    if (args.size() == 2) {  // AUTH user pass: as Redis's passwordless default user, accepted
      writer_.SimpleString("OK");
      return Reply(ctx);
    }
    return Error(ctx, "ERR",
                 "AUTH <password> called without any password configured for the default user. "
                 "Are you sure your configuration is correct?");
  }
  if (!TokenMatches(ctx.token(), args.back())) {
    ctx.Log(LogLevel::kInfo, "AUTH with a wrong token");
    return Error(ctx, "WRONGPASS", "invalid username-password pair or user is disabled.");
  }
  authenticated_ = true;
  writer_.SimpleString("OK");
  Reply(ctx);
}

void RespProtocol::Client(std::span<const std::string_view> args, SessionContext& ctx) {
  if (args.empty()) return Error(ctx, "ERR", "wrong number of arguments for 'client' command");
  if (Is(args[0], "SETNAME") && args.size() == 2) {
    client_name_ = std::string(args[1]);
    writer_.SimpleString("OK");
  } else if (Is(args[0], "GETNAME") && args.size() == 1) {
    if (client_name_.empty()) {
      writer_.Null();
    } else {
      writer_.Bulk(client_name_);
    }
  } else if (Is(args[0], "ID") && args.size() == 1) {
    writer_.Integer(static_cast<int64_t>(ctx.connection_id()));
  } else if (Is(args[0], "SETINFO") && args.size() == 3) {
    writer_.SimpleString("OK");
  } else {
    return Error(ctx, "ERR",
                 "unknown subcommand or wrong number of arguments for " + Quoted(args[0]) +
                     ". canopy supports CLIENT SETNAME, GETNAME, "
                     "ID and SETINFO");
  }
  Reply(ctx);
}

void RespProtocol::CommandInfo(std::span<const std::string_view> args, SessionContext& ctx) {
  auto write_doc = [&](const CommandDoc& doc) {
    writer_.ArrayHeader(6);
    writer_.Bulk(doc.name);
    writer_.Integer(doc.arity);
    writer_.ArrayHeader(1);
    writer_.SimpleString("readonly");
    writer_.Integer(0);
    writer_.Integer(0);
    writer_.Integer(0);
  };
  constexpr size_t kCount = sizeof(kCommandDocs) / sizeof(kCommandDocs[0]);
  if (args.empty()) {
    writer_.ArrayHeader(kCount);
    for (const CommandDoc& doc : kCommandDocs) write_doc(doc);
  } else if (Is(args[0], "COUNT")) {
    writer_.Integer(static_cast<int64_t>(kCount));
  } else if (Is(args[0], "DOCS")) {
    writer_.MapHeader(0);
  } else if (Is(args[0], "INFO")) {
    writer_.ArrayHeader(args.size() - 1);
    for (std::string_view name : args.subspan(1)) {
      const CommandDoc* found = nullptr;
      for (const CommandDoc& doc : kCommandDocs) {
        if (Is(name, doc.name)) found = &doc;
      }
      if (found != nullptr) {
        write_doc(*found);
      } else {
        writer_.NullArray();
      }
    }
  } else {
    return Error(ctx, "ERR", "unknown COMMAND subcommand " + Quoted(args[0]));
  }
  Reply(ctx);
}

void RespProtocol::Status(const HierarchyIndex* index, SessionContext& ctx) {
  const ServerStatus s = CollectStatus(index, status_source_);
  text_.clear();
  auto line = [&](std::string_view key, const std::string& value) {
    text_.append(key);
    text_ += ':';
    for (char c : value) text_ += (c == '\r' || c == '\n') ? ' ' : c;
    text_ += "\r\n";
  };
  text_ += "# canopy\r\n";
  line("server_version", s.server_version);
  line("index_loaded", index != nullptr ? "1" : "0");
  line("applied_lsn", s.applied_lsn.ToString());
  line("received_lsn", s.replication.received_lsn.ToString());
  line("lag_bytes", std::to_string(s.lag_bytes));
  std::string lag_seconds;
  AppendShortest(s.lag_seconds, &lag_seconds);
  line("lag_seconds", lag_seconds);
  line("last_commit_unix_ms", std::to_string(s.replication.last_commit_unix_ms));
  line("state", ServingStateName(s.replication.state));
  line("stage", s.replication.stage);
  line("last_error", s.replication.last_error);
  line("last_error_unix_ms", std::to_string(s.replication.last_error_unix_ms));
  line("namespaces", std::to_string(s.index.namespaces));
  line("projects", std::to_string(s.index.projects));
  line("runner_links", std::to_string(s.index.runner_links));
  line("orphan_namespaces", std::to_string(s.index.orphan_namespaces));
  line("orphan_projects", std::to_string(s.index.orphan_projects));
  line("cycles_refused", std::to_string(s.index.cycles_refused));
  line("transactions_applied", std::to_string(s.index.transactions_applied));
  line("memory_bytes", std::to_string(s.index.memory_bytes));
  line("connections", std::to_string(s.connections));
  line("requests_served", std::to_string(s.requests_served));
  line("waiting_requests", std::to_string(s.waiting_requests));
  writer_.Bulk(text_);
  Reply(ctx);
}

// ---------------------------------------------------------------------------
// Queries

bool RespProtocol::ParseQuery(Command command, bool many, std::span<const std::string_view> args,
                              QueryOptions* o, SessionContext& ctx) {
  ids_.clear();
  paths_.clear();
  IdQuery& q = o->query;
  bool self = false, self_first = false, with_pns = false, unarchived = false, ancestors = false;
  auto bad = [&](std::string message) {
    Error(ctx, "ERR", message);
    return false;
  };
  const bool by_path = command == Command::kResolve;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    const bool has_value = i + 1 < args.size();
    if (Is(a, "MINLSN") && has_value) {
      std::optional<Lsn> lsn = Lsn::Parse(args[i + 1]);
      if (!lsn.has_value()) {
        if (by_path) {  // a path segment named minlsn, followed by a path
          paths_.push_back(a);
          continue;
        }
        return bad("invalid MINLSN " + Quoted(args[i + 1]) + " (want X/Y, e.g. 0/16B3748)");
      }
      o->min_lsn = *lsn;
      ++i;
      continue;
    }
    if (Is(a, "WAITMS") && has_value) {
      if (!ParseUint32(args[i + 1], &o->wait_ms)) {
        if (by_path) {
          paths_.push_back(a);
          continue;
        }
        return bad("invalid WAITMS " + Quoted(args[i + 1]));
      }
      ++i;
      continue;
    }
    if (by_path) {
      paths_.push_back(a);
      continue;
    }
    int64_t id = 0;
    if (ParseInt64(a, &id)) {
      ids_.push_back(id);
      continue;
    }
    const bool listing = command == Command::kDescendants || command == Command::kProjects ||
                         command == Command::kRunners || command == Command::kProjectRunners;
    if (listing && Is(a, "LIMIT") && has_value) {
      if (!ParseUint32(args[i + 1], &q.limit) || q.limit == 0 ||
          q.limit > handler_limits_.max_ids_per_page) {
        // A page shorter than asked would look like the last one: refuse.
        return bad("invalid LIMIT " + Quoted(args[i + 1]) + " (want 1.." +
                   std::to_string(handler_limits_.max_ids_per_page) +
                   ", the server's max_ids_per_page)");
      }
      o->limited = true;
      ++i;
      continue;
    }
    if (listing && Is(a, "AFTER") && has_value) {
      int64_t after = 0;
      if (!ParseInt64(args[i + 1], &after)) return bad("invalid AFTER id " + Quoted(args[i + 1]));
      q.after_id = after;
      ++i;
      continue;
    }
    if (listing && Is(a, "ORDER") && has_value) {
      const std::string_view order = args[i + 1];
      if (Is(order, "ANY")) {
        q.id_order = IdOrder::kAny;
      } else if (Is(order, "ASC")) {
        q.id_order = IdOrder::kAscending;
      } else {
        return bad("invalid ORDER " + Quoted(order) + " (want ASC or ANY)");
      }
      ++i;
      continue;
    }
    // The flags each command takes.
    bool* flag = nullptr;
    if (Is(a, "SELF") && (command == Command::kAncestors || command == Command::kDescendants)) {
      flag = &self;
    } else if (Is(a, "SELFFIRST") &&
               (command == Command::kAncestors || command == Command::kProjectAncestors)) {
      flag = &self_first;
    } else if (Is(a, "WITHPROJECTNAMESPACES") && command == Command::kDescendants) {
      flag = &with_pns;
    } else if (Is(a, "UNARCHIVED") && command == Command::kProjects) {
      flag = &unarchived;
    } else if (Is(a, "ANCESTORS") && command == Command::kRunners) {
      flag = &ancestors;
    } else if (Is(a, "PROJECT") && command == Command::kPath) {
      flag = &o->project;
    }
    if (flag != nullptr) {
      *flag = true;
      continue;
    }
    {
      return bad("invalid id or option " + Quoted(a) +
                 " (ids are decimal int64; see docs/resp.md for the options)");
    }
  }
  const size_t given = by_path ? paths_.size() : ids_.size();
  if (given == 0 || (!many && given != 1)) {
    return bad(std::string("wrong number of ") + (by_path ? "paths" : "ids") + ": " +
               (many ? "want one or more" : "want exactly one") + " (batch form: M" +
               (by_path ? "RESOLVE" : "<COMMAND>") + ")");
  }
  if (given > options_.max_ids_per_request) {
    return bad("too many ids: " + std::to_string(given) + " > " +
               std::to_string(options_.max_ids_per_request));
  }
  if (q.after_id.has_value() && q.id_order == IdOrder::kAny) {
    return bad("AFTER needs ascending order: an ORDER ANY answer cannot be paged");
  }
  q.order = self_first ? HierarchyOrder::kSelfFirst : HierarchyOrder::kRootFirst;
  q.include_project_namespaces = with_pns;
  switch (command) {
    case Command::kAncestors:
      q.kind = self ? QueryKind::kSelfAndAncestors : QueryKind::kAncestors;
      break;
    case Command::kDescendants:
      q.kind = self ? QueryKind::kSelfAndDescendants : QueryKind::kDescendants;
      break;
    case Command::kProjects:
      q.kind = unarchived ? QueryKind::kAllUnarchivedProjectIds : QueryKind::kAllProjectIds;
      break;
    case Command::kProjectAncestors:
      q.kind = QueryKind::kProjectAncestors;
      break;
    case Command::kRunners:
      q.kind = ancestors ? QueryKind::kRunnersOfGroupAndAncestors : QueryKind::kRunnersOfGroup;
      break;
    case Command::kProjectRunners:
      q.kind = QueryKind::kRunnersOfParentGroupsOfProject;
      break;
    default:
      break;
  }
  // A page is never longer than the server's limit: without LIMIT, a longer
  // answer is TOOLARGE rather than silently cut (LIMIT itself is at most it).
  if (q.limit == 0) q.limit = handler_limits_.max_ids_per_page;
  return true;
}

void RespProtocol::Query(Command command, bool many, std::span<const std::string_view> args,
                         std::span<const uint8_t> raw, const HierarchyIndex* parked_index,
                         SessionContext& ctx) {
  QueryOptions o;
  if (!ParseQuery(command, many, args, &o, ctx)) return;
  const HierarchyIndex* index = parked_index != nullptr ? parked_index : ctx.index();
  if (parked_index == nullptr && o.min_lsn.value != 0 &&
      (index == nullptr || index->applied_lsn() < o.min_lsn)) {
    ctx.Park(raw, o.min_lsn, o.wait_ms, 0);
    return;
  }
  if (index == nullptr) return Error(ctx, "LOADING", "the index is not loaded yet");
  AnswerQuery(command, many, o, *index, ctx);
}

void RespProtocol::WriteLsnAttribute(Lsn lsn) {
  if (!resp3_ || !lsn_attribute_) return;
  char text[32];
  const std::string s = lsn.ToString();
  const size_t n = std::min(s.size(), sizeof(text));
  std::memcpy(text, s.data(), n);
  writer_.AttributeHeader(1);
  writer_.Bulk("lsn");
  writer_.Bulk(std::string_view(text, n));
}

void RespProtocol::AnswerQuery(Command command, bool many, const QueryOptions& o,
                               const HierarchyIndex& index, SessionContext& ctx) {
  std::vector<uint8_t>& out = ctx.output();
  const size_t start = out.size();
  std::string_view error_prefix;
  std::string error;
  {
    ReadView view = index.Read();
    last_lsn_ = view.lsn();
    WriteLsnAttribute(last_lsn_);
    const size_t n = command == Command::kResolve ? paths_.size() : ids_.size();
    if (many) writer_.ArrayHeader(n);
    for (size_t i = 0; i < n && error.empty(); ++i) {
      switch (command) {
        case Command::kCounts: {
          Result<SubtreeCounts> c = view.Counts(ids_[i]);
          if (!c.ok()) {
            if (many && c.status().code() == StatusCode::kNotFound) {
              writer_.NullArray();
            } else {
              error_prefix = StatusPrefix(c.status().code());
              error = c.status().message();
            }
            break;
          }
          writer_.MapHeader(4);
          writer_.Bulk("descendant_groups");
          writer_.Integer(static_cast<int64_t>(c->descendant_groups));
          writer_.Bulk("descendant_project_namespaces");
          writer_.Integer(static_cast<int64_t>(c->descendant_project_namespaces));
          writer_.Bulk("projects");
          writer_.Integer(static_cast<int64_t>(c->projects));
          writer_.Bulk("unarchived_projects");
          writer_.Integer(static_cast<int64_t>(c->unarchived_projects));
          break;
        }
        case Command::kPath: {
          Result<std::string> p =
              o.project ? view.ProjectFullPath(ids_[i]) : view.NamespaceFullPath(ids_[i]);
          if (!p.ok()) {
            if (many && p.status().code() == StatusCode::kNotFound) {
              writer_.Null();
            } else {
              error_prefix = StatusPrefix(p.status().code());
              error = p.status().message();
            }
            break;
          }
          writer_.Bulk(*p);
          break;
        }
        case Command::kResolve: {
          Result<ResolvedPath> r = view.Resolve(paths_[i]);
          if (!r.ok()) {
            if (many && r.status().code() == StatusCode::kNotFound) {
              writer_.NullArray();
            } else {
              error_prefix = StatusPrefix(r.status().code());
              error = r.status().message();
            }
            break;
          }
          writer_.ArrayHeader(2);
          writer_.Bulk(r->table == Table::kProjects ? "project" : "namespace");
          writer_.Integer(r->id);
          break;
        }
        default: {
          IdQuery q = o.query;
          q.id = ids_[i];
          view.Run(q, &answer_);
          if (!answer_.status.ok()) {
            if (many && answer_.status.code() == StatusCode::kNotFound) {
              writer_.NullArray();
            } else {
              error_prefix = StatusPrefix(answer_.status.code());
              error = answer_.status.message();
            }
            break;
          }
          if (answer_.more && !o.limited) {
            error_prefix = "TOOLARGE";
            error = "the answer for " + std::to_string(q.id) + " has " +
                    std::to_string(answer_.total) + " ids, more than the server's " +
                    std::to_string(handler_limits_.max_ids_per_page) +
                    " per page; page it with LIMIT and AFTER" +
                    (q.id_order == IdOrder::kAny ? " (in ORDER ASC)" : "");
            break;
          }
          writer_.IntegerArray(answer_.ids);
          break;
        }
      }
      if (out.size() - start > handler_limits_.max_response_bytes) {
        error_prefix = "TOOLARGE";
        error = "answer exceeds the server's " +
                std::to_string(handler_limits_.max_response_bytes) +
                "-byte response limit; ask for fewer ids or page with LIMIT";
      }
    }
  }
  if (!error.empty()) {
    out.resize(start);
    if (out.capacity() > 2 * handler_limits_.max_response_bytes) out.shrink_to_fit();
    return Error(ctx, error_prefix, error);
  }
  Reply(ctx);
}

void RespProtocol::FeedReply(Lsn position, std::span<const SharedFeedTransaction> txns,
                             SessionContext& ctx) {
  size_t with_changes = 0;
  for (const SharedFeedTransaction& t : txns) with_changes += !t->changes.empty();
  writer_.ArrayHeader(2);
  writer_.Bulk(position.ToString());
  writer_.ArrayHeader(with_changes);
  for (const SharedFeedTransaction& t : txns) {
    if (t->changes.empty()) continue;  // a position only: the first element says it
    text_.clear();
    AppendFeedTransactionJson(*t, &text_);
    writer_.Bulk(text_);
  }
  Reply(ctx);
}

void RespProtocol::Feed(std::span<const std::string_view> args, std::span<const uint8_t> raw,
                        const HierarchyIndex* parked_index, SessionContext& ctx) {
  const std::shared_ptr<ChangeFeed>& feed = options_.feed;
  if (feed == nullptr) {
    return Error(ctx, "ERR", "this server keeps no change feed (canopyd --feed-window)");
  }
  if (args.empty()) {
    return Error(ctx, "ERR",
                 "usage: FEED from-lsn|$ [TABLES list] [SUBTREE id] [COLUMNS list] [COUNT n] "
                 "[BLOCK ms]");
  }
  const bool now = args[0] == "$";
  std::optional<Lsn> from = now ? std::optional<Lsn>(feed->newest()) : Lsn::Parse(args[0]);
  if (!from) return Error(ctx, "ERR", "invalid LSN " + Quoted(args[0]) + " (X/Y in hex, or $)");
  FeedFilter filter;
  size_t count = std::max<uint32_t>(options_.max_feed_batch_transactions, 1);
  int64_t block_ms = 0;
  for (size_t i = 1; i < args.size(); i += 2) {
    if (i + 1 >= args.size())
      return Error(ctx, "ERR", "FEED: " + Quoted(args[i]) + " needs a value");
    const std::string_view key = args[i], value = args[i + 1];
    ::canopy::Status bad;
    int64_t number = 0;
    if (Is(key, "TABLES")) {
      bad = ParseFeedTables(value, &filter);
    } else if (Is(key, "COLUMNS")) {
      bad = ParseFeedColumns(value, &filter);
    } else if (Is(key, "SUBTREE")) {
      if (!ParseInt64(value, &number))
        return Error(ctx, "ERR", "invalid SUBTREE id " + Quoted(value));
      filter.subtree = number;
    } else if (Is(key, "COUNT") || Is(key, "BLOCK")) {
      if (!ParseInt64(value, &number) || number < (Is(key, "COUNT") ? 1 : 0)) {
        return Error(ctx, "ERR", "invalid " + std::string(key) + " " + Quoted(value));
      }
      if (Is(key, "COUNT")) {
        count = std::min<size_t>(count, static_cast<size_t>(number));
      } else {
        block_ms = std::min<int64_t>(number, options_.max_wait.count());
      }
    } else {
      return Error(ctx, "ERR", "FEED: unknown option " + Quoted(key));
    }
    if (!bad.ok()) return Error(ctx, "ERR", bad.message());
  }
  if (now && block_ms > 0) {
    return Error(ctx, "ERR", "FEED $ takes no BLOCK: it answers the position to poll from");
  }
  const HierarchyIndex* index = parked_index != nullptr ? parked_index : ctx.index();
  if (index == nullptr) return Error(ctx, "LOADING", "no index loaded yet");
  Result<std::unique_ptr<FeedSubscription>> sub = feed->Subscribe(*from, filter, index);
  ::canopy::Status next =
      sub.ok() ? (*sub)->Next(&feed_batch_, std::chrono::milliseconds(0), count) : sub.status();
  if (!next.ok()) return Error(ctx, ErrorPrefix(ErrorCodeFor(next)), next.message());
  if (feed_batch_.empty() && block_ms > 0 && parked_index == nullptr) {
    // Woken when the index applies past `from` (the feed has moved by then),
    // or answered empty at the timeout (FailParked).
    ctx.Park(raw, Lsn(from->value + 1), static_cast<uint32_t>(block_ms), 0,
             /*nudge_source=*/false);
    return;
  }
  FeedReply((*sub)->position(), feed_batch_, ctx);
  feed_batch_.clear();
}

}  // namespace canopy::net::internal
