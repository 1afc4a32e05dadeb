// canopy_serving_bench — canopy served next to Redis and PostgreSQL, side by
// side, on one generated GitLab database. bench/serving
// runs it; see bench/README.md.
//
//   canopy_serving_bench --pg CONNINFO --canopyd PATH --loadgen PATH [options]
//
// Steps: generate the forest and load it into PostgreSQL with GitLab's
// columns, indexes and namespace_descendants cache
// (canopy/testing/gitlab_database.h);
// start redis-server (Unix socket, no persistence) and
// canopyd (replicating that database; FlatBuffers and, when this canopyd has
// it, RESP on Unix sockets); check that canopyd's answers (both protocols)
// equal every SQL form's for every question and put each answer's RESP bytes
// into Redis; then time every cell — question x load shape x server, the
// servers taking turns within a question so that machine noise hits them
// alike — each with its own client process (redis-benchmark, canopy_loadgen,
// pgbench), reading the server's CPU time from /proc around it. Writes
// serving.md (also printed), serving.csv, serving-chart.dat and
// serving-summary.txt into --out.
//
// Exit status: 0; 1 when an answer differs, a server does not start or a
// cell fails; 2 on usage; 77 when a program it needs is not installed
// (CTest counts that as skipped).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "../bench_database.h"
#include "../bench_flags.h"
#include "../machine_facts.h"
#include "canopy/net/client.h"
#include "canopy/testing/askers.h"
#include "canopy/testing/child_process.h"
#include "canopy/testing/questions.h"
#include "canopy/testing/resp_wire.h"
#include "canopy/testing/stats.h"
#include "cells.h"
#include "serving_report.h"

namespace canopy::bench::serving {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Answer;
using testing::Child;
using testing::CommandLine;
using testing::Fixed;
using testing::ProcessCpuSeconds;
using testing::ProgramExists;
using testing::Question;
using testing::QuestionKind;
using testing::RespConnection;
using testing::RespIdLists;
using testing::SecondsSince;
using testing::SqlForm;

constexpr int kExitMissingProgram = 77;

constexpr const char* kAllQuestionKeys[] = {
    "ancestors-6",       "ancestors-21",   "descendants-small",   "descendants-gitlab-org",
    "descendants-huge",  "projects-small", "projects-gitlab-org", "projects-huge",
    "counts-gitlab-org", "batch-100"};

struct Flags : DatabaseFlags {
  double seconds = 3;
  std::vector<Shape> shapes = {{1, 1}, {16, 1}, {1, 32}, {16, 32}};
  std::vector<std::string> questions;
  std::vector<Server> servers;
  std::string resp = "auto";
  std::string canopyd, loadgen;
  std::vector<std::string> canopyd_args;
  std::string redis_server = "redis-server", redis_benchmark = "redis-benchmark", pgbench;
  std::string out_dir = ".";
  std::string command, chart;
  bool check_only = false, keep_work = false;
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;  // the non-empty items
  for (const auto item : std::views::split(s, sep)) {
    if (!item.empty()) out.emplace_back(item.begin(), item.end());
  }
  return out;
}

std::string DefaultPgbench() {
  if (const char* bindir = std::getenv("PG_BINDIR"); bindir != nullptr && *bindir != '\0') {
    return std::string(bindir) + "/pgbench";
  }
  if (access("/usr/lib/postgresql/15/bin/pgbench", X_OK) == 0) {
    return "/usr/lib/postgresql/15/bin/pgbench";
  }
  return "pgbench";
}

// "1x1,16x32": connections (1-1024) x in flight (1-256).
std::vector<Shape> ParseShapes(const std::string& list) {
  const CLI::ValidationError bad("--shapes",
                                 "wants e.g. 1x1,16x32 (connections 1-1024, in flight 1-256)");
  std::vector<Shape> shapes;
  for (const std::string& s : Split(list, ',')) {
    const size_t x = s.find('x');
    Shape shape{0, 0};  // out of range unless both numbers are read
    try {
      if (x != std::string::npos) shape = {std::stoi(s.substr(0, x)), std::stoi(s.substr(x + 1))};
    } catch (const std::exception&) {  // not a number: stays out of range
    }
    if (shape.connections < 1 || shape.connections > 1024 || shape.in_flight < 1 ||
        shape.in_flight > 256) {
      throw bad;
    }
    shapes.push_back(shape);
  }
  if (shapes.empty()) throw bad;
  return shapes;
}

// The flags, into `f` (which holds the defaults). A flag given twice takes
// the last value; --servers and --canopyd-arg add up.
void AddFlags(CLI::App* app, Flags* f) {
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->get_formatter()->column_width(25);
  f->pgbench = DefaultPgbench();
  AddDatabaseFlags(app, f, "CANOPY_SERVING_PG", "canopy_serving", "forest and batch seed");
  app->add_option("--seconds", f->seconds, "measured time per cell, default 3")->type_name("S");
  app->add_option_function<std::string>(
         "--shapes", [f](const std::string& list) { f->shapes = ParseShapes(list); },
         "connections x in flight, default 1x1,16x1,1x32,16x32")
      ->type_name("LIST");
  app->add_option_function<std::string>(
         "--questions",
         [f](const std::string& list) {
           f->questions = Split(list, ',');
           for (const std::string& q : f->questions) {
             if (std::ranges::find(kAllQuestionKeys, q) == std::end(kAllQuestionKeys)) {
               throw CLI::ValidationError("--questions", std::string("no question '") + q + "'");
             }
           }
         },
         "default: all of ancestors-6, ancestors-21, descendants-small, descendants-gitlab-org, "
         "descendants-huge, projects-small, projects-gitlab-org, projects-huge, "
         "counts-gitlab-org, batch-100")
      ->type_name("LIST");
  app->add_option_function<std::vector<std::string>>(
         "--servers",
         [f](const std::vector<std::string>& lists) {
           for (const std::string& list : lists) {
             for (const std::string& key : Split(list, ',')) {
               const Server* server = std::ranges::find(kAllServers, key, ServerKey);
               if (server == std::end(kAllServers))
                 throw CLI::ValidationError("--servers", std::string("no server '") + key + "'");
               f->servers.push_back(*server);
             }
           }
         },
         "default: all of redis, canopyd_resp, canopyd_flatbuffers, pg_linear, pg_recursive, "
         "pg_cache")
      ->type_name("LIST")
      ->allow_extra_args(false);
  app->add_option("--resp", f->resp,
                  "canopyd over RESP (auto: when canopyd --help has --resp-unix), default auto")
      ->type_name("auto|on|off")
      ->check(CLI::IsMember({"auto", "on", "off"}).description(""));
  app->add_option("--canopyd", f->canopyd, "the canopyd binary")->type_name("PATH")->required();
  app->add_option("--canopyd-arg", f->canopyd_args,
                  "an extra canopyd argument (repeatable), e.g. --canopyd-arg=--threads")
      ->type_name("ARG")
      ->allow_extra_args(false);
  app->add_option("--loadgen", f->loadgen, "canopy_loadgen")->type_name("PATH")->required();
  app->add_option("--redis-server", f->redis_server, "default redis-server")->type_name("PATH");
  app->add_option("--redis-benchmark", f->redis_benchmark, "default redis-benchmark")
      ->type_name("PATH");
  app->add_option("--pgbench", f->pgbench,
                  "default $PG_BINDIR/pgbench, /usr/lib/postgresql/15/bin/pgbench, pgbench")
      ->type_name("PATH");
  app->add_option("--out", f->out_dir, "where the reports go, default .")->type_name("DIR");
  app->add_option("--command", f->command, "the command line to print in the report")
      ->type_name("TEXT");
  app->add_option("--chart", f->chart, "a chart image beside serving.md to show in it")
      ->type_name("FILE");
  app->add_flag("--check-only", f->check_only, "check the answers and the clients, time nothing");
  app->add_flag("--keep-work", f->keep_work,
                "keep the work folder (sockets, logs, pgbench scripts)");
  app->footer(
      "Exit status: 0; 1 when an answer differs, a server does not start or a cell fails; 2 on "
      "usage; 77 when a program it needs is not installed.");
}

// What CLI11 does not check (--seconds above 0), and the defaults of the
// lists left empty.
void FinishFlags(Flags* f) {
  if (!(f->seconds > 0)) throw CLI::ValidationError("--seconds", "needs a number above 0");
  if (f->questions.empty())
    f->questions.assign(std::begin(kAllQuestionKeys), std::end(kAllQuestionKeys));
  if (f->servers.empty()) f->servers.assign(std::begin(kAllServers), std::end(kAllServers));
}

// All of argv's output (stdout, then stderr); "" when it cannot be run.
std::string OutputOf(const std::vector<std::string>& argv) {
  Result<testing::ChildRun> run = testing::RunChild(argv);
  return run.ok() ? run->out + run->err : std::string();
}

// ---- the questions ----

// The question of `key` with its RESP and loadgen forms; nullopt when the
// forest has no such target.
std::optional<ServingQuestion> MakeQuestion(const std::vector<Question>& qs,
                                            const std::string& key) {
  // Per kind (the key up to its '-'): its label, and canopyd's RESP command
  // and canopy_loadgen's query for it (the question's ids follow the verb).
  static constexpr struct {
    const char* name;
    QuestionKind kind;
    const char* label;
    const char* resp;
    bool resp_self;  // the RESP command ends in SELF
    const char* loadgen;
  } kKinds[] = {
      {"ancestors", QuestionKind::kSelfAndAncestors, "ancestors", "ANCESTORS", true, "ancestors"},
      {"descendants", QuestionKind::kSelfAndDescendants, "descendants", "DESCENDANTS", true,
       "descendants"},
      {"projects", QuestionKind::kAllProjectIds, "all_project_ids", "PROJECTS", false, "projects"},
      {"counts", QuestionKind::kCounts, "counts", "COUNTS", false, "counts"},
      {"batch", QuestionKind::kBatchAncestors, "batch of 100 ancestors", "MANCESTORS", true,
       "batch-ancestors"},
  };
  const size_t dash = key.find('-');
  const std::string kind = key.substr(0, dash), size = key.substr(dash + 1);
  for (const auto& k : kKinds) {
    if (kind != k.name) continue;
    const bool ancestors = k.kind == QuestionKind::kSelfAndAncestors;
    const bool batch = k.kind == QuestionKind::kBatchAncestors;
    const Question* q = testing::FindQuestion(qs, k.kind,
                                              ancestors ? (size == "6" ? "gitlab-org" : "21-level")
                                              : batch   ? "100 random"
                                                        : size);
    if (q == nullptr || q->ids.empty()) return std::nullopt;
    ServingQuestion sq;
    sq.question = q;
    sq.key = key;
    // "ancestors depth 6", "descendants gitlab-org"; the batch's label says it all.
    sq.label = k.label;
    if (!batch) sq.label.append(" ").append(ancestors ? q->size_class : size);
    sq.resp_command = {k.resp};
    for (int64_t id : q->ids) sq.resp_command.push_back(std::to_string(id));
    if (k.resp_self) sq.resp_command.push_back("SELF");
    sq.loadgen_query = {k.loadgen, testing::JoinIds(q->ids, ',')};
    sq.redis_key = "canopy:" + key;
    return sq;
  }
  return std::nullopt;
}

// The SQL of a form with pgbench's :p for GitLab's $1.
std::string PgbenchSql(QuestionKind kind, SqlForm form) {
  std::string sql = testing::SqlText(kind, form);
  for (size_t at = sql.find("$1"); at != std::string::npos; at = sql.find("$1", at)) {
    sql.replace(at, 2, ":p");
  }
  return sql;
}

// ---- servers ----

struct Servers {
  std::unique_ptr<Child> redis, canopyd;
  std::string redis_socket, canopy_socket, resp_socket;  // resp: "" when off
  pid_t postmaster = 0;                                  // 0: CPU not readable
  std::string redis_version, canopyd_command;
};

// Polls `ready` every 50 ms until it is true, the child exits, or `limit`.
template <typename F>
Status WaitReady(Child* child, const std::string& what, std::chrono::seconds limit, F ready) {
  const Clock::time_point deadline = Clock::now() + limit;
  for (;;) {
    if (ready()) return Status::Ok();
    if (!child->Running()) return Status::Unavailable(what + " exited during start-up");
    if (Clock::now() >= deadline) {
      return Status::Timeout(what + " not ready after " + std::to_string(limit.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool RespPings(const std::string& socket) {
  Result<std::unique_ptr<RespConnection>> c =
      RespConnection::Connect(socket, std::chrono::seconds(2));
  if (!c.ok()) return false;
  Result<std::string> r = (*c)->Call({"PING"});
  return r.ok() && r.value() == "+PONG\r\n";
}

Status StartRedis(const Flags& f, const std::string& work, Servers* s) {
  s->redis_socket = work + "/redis.sock";
  std::vector<std::string> argv = {f.redis_server,
                                   "--port",
                                   "0",
                                   "--unixsocket",
                                   s->redis_socket,
                                   "--unixsocketperm",
                                   "700",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   work,
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   work + "/redis.log"};
  Result<std::unique_ptr<Child>> child = Child::Start(argv, work + "/redis.out");
  if (!child.ok()) return child.status();
  s->redis = std::move(child.value());
  // "Redis server v=7.0.15 sha=..." -> "Redis 7.0.15"
  const std::string version = OutputOf({f.redis_server, "--version"});
  const size_t v = version.find("v=");
  s->redis_version =
      v == std::string::npos
          ? std::string("Redis")
          : std::string("Redis ") + version.substr(v + 2, version.find(' ', v) - v - 2);
  return WaitReady(s->redis.get(), "redis-server", std::chrono::seconds(30),
                   [&] { return RespPings(s->redis_socket); });
}

Status StartCanopyd(const Flags& f, const std::string& work, const std::string& db_conninfo,
                    bool resp, Servers* s) {
  s->canopy_socket = work + "/canopy.sock";
  std::vector<std::string> argv = {f.canopyd, "--pg",           db_conninfo, "--create-publication",
                                   "--unix",  s->canopy_socket, "--listen",  "none"};
  if (resp) {
    s->resp_socket = work + "/canopy-resp.sock";
    argv.insert(argv.end(), {"--resp-unix", s->resp_socket});
  }
  argv.insert(argv.end(), f.canopyd_args.begin(), f.canopyd_args.end());
  std::vector<std::string> shown = argv;
  shown[0] = "canopyd";
  shown[2] = "CONNINFO";
  for (std::string& a : shown) {
    if (a.rfind(work, 0) == 0) a = std::string("DIR") + a.substr(work.size());
  }
  s->canopyd_command = CommandLine(shown);
  Result<std::unique_ptr<Child>> child = Child::Start(argv, work + "/canopyd.log");
  if (!child.ok()) return child.status();
  s->canopyd = std::move(child.value());
  const net::ClientOptions options{.unix_path = s->canopy_socket,
                                   .connect_timeout = std::chrono::milliseconds(1000),
                                   .io_timeout = std::chrono::milliseconds(5000),
                                   .reconnect = false};
  int polls = 0;
  Status st = WaitReady(s->canopyd.get(), "canopyd", std::chrono::seconds(900), [&] {
    net::Client client(options);
    if (!client.Connect().ok()) return false;
    Result<net::ServerStatus> status = client.GetStatus();
    if (!status.ok()) return false;
    if (++polls % 40 == 0) {
      std::cerr << "serving_bench: canopyd state "
                << net::ServingStateName(status->replication.state) << "\n";
    }
    return status->replication.state == net::ServingState::kStreaming;
  });
  if (!st.ok() || !resp) return st;
  return WaitReady(s->canopyd.get(), "canopyd's RESP listener", std::chrono::seconds(30),
                   [&] { return RespPings(s->resp_socket); });
}

// Whether `server` has a cell for `q`: canopyd RESP when it listens, a SQL
// form when it has the question's kind.
bool Applies(Server server, const ServingQuestion& q, const Servers& s) {
  if (server == Server::kCanopyResp) return !s.resp_socket.empty();
  if (IsPg(server)) return testing::SqlText(q.question->kind, FormOf(server)) != nullptr;
  return true;
}

// `server`'s client program asking `q` as `plan` says.
CellMeasure RunClientOf(const Flags& f, const Servers& s, const std::string& db_conninfo,
                        const ServingQuestion& q, Server server, const CellPlan& plan) {
  switch (server) {
    case Server::kRedis:
      return RunRedisBenchmark(f.redis_benchmark, s.redis_socket, {"GET", q.redis_key}, plan);
    case Server::kCanopyResp:
      return RunRedisBenchmark(f.redis_benchmark, s.resp_socket, q.resp_command, plan);
    case Server::kCanopyFb:
      return RunLoadgen(f.loadgen, s.canopy_socket, q.loadgen_query, q.ids, plan);
    default:
      return RunPgbench(f.pgbench, db_conninfo, PgbenchSql(q.question->kind, FormOf(server)),
                        q.question->sql_param,
                        q.pg_single_seconds[static_cast<int>(FormOf(server))], plan);
  }
}

// ---- the answer check ----

struct CheckResult {
  int mismatches = 0;
  int compared = 0;
};

// Checks every way of asking each question against canopy over FlatBuffers,
// fills ids / resp_bytes / pg_single_seconds, and loads Redis.
CheckResult CheckAnswers(const Flags& f, const Servers& s, const std::string& pg_unix,
                         const std::string& work, std::vector<ServingQuestion>* questions) {
  CheckResult result;
  auto mismatch = [&](const ServingQuestion& q, const std::string& way, const std::string& what) {
    ++result.mismatches;
    std::cerr << "MISMATCH " << q.label << " (" << way << "): " << what << "\n";
  };
  Result<std::unique_ptr<testing::Asker>> canopy =
      testing::MakeCanopyNetAsker({.unix_path = s.canopy_socket});
  Result<std::unique_ptr<testing::PgAsker>> pg = testing::PgAsker::Connect(pg_unix);
  Result<std::unique_ptr<RespConnection>> redis = RespConnection::Connect(s.redis_socket);
  std::unique_ptr<RespConnection> resp;
  if (!s.resp_socket.empty()) {
    Result<std::unique_ptr<RespConnection>> r = RespConnection::Connect(s.resp_socket);
    if (r.ok()) resp = std::move(r.value());
  }
  if (!canopy.ok() || !pg.ok() || !redis.ok() || (!s.resp_socket.empty() && resp == nullptr)) {
    std::cerr << "serving_bench: cannot connect for the answer check\n";
    result.mismatches = 1;
    return result;
  }
  for (ServingQuestion& q : *questions) {
    const Question& question = *q.question;
    Answer reference;
    Result<size_t> n = (*canopy)->Ask(question, &reference);
    if (!n.ok()) {
      mismatch(q, "canopyd FlatBuffers", n.status().ToString());
      continue;
    }
    q.ids = n.value();
    // Every SQL form, timed a few times (the skip rule needs one request's time).
    for (int form = 0; form < testing::kSqlFormCount; ++form) {
      const auto sql_form = static_cast<SqlForm>(form);
      if (testing::SqlText(question.kind, sql_form) == nullptr) continue;
      (*pg)->set_form(sql_form);
      Answer answer;
      double best = -1;
      Clock::time_point started = Clock::now();
      for (int i = 0; i < 3 && (i == 0 || SecondsSince(started) < 1.0); ++i) {
        const Clock::time_point t0 = Clock::now();
        Result<size_t> r = (*pg)->Ask(question, i == 0 ? &answer : nullptr);
        const double took = SecondsSince(t0);
        if (!r.ok()) {
          mismatch(q, std::string("PG ") + testing::SqlFormName(sql_form), r.status().ToString());
          break;
        }
        best = best < 0 ? took : std::min(best, took);
      }
      q.pg_single_seconds[form] = best;
      ++result.compared;
      if (answer != reference) {
        mismatch(
            q, std::string("PG ") + testing::SqlFormName(sql_form),
            testing::DescribeAnswer(answer) + "\n  canopyd: " + testing::DescribeAnswer(reference));
      }
    }
    // canopyd over RESP: the same ids; its bytes are what Redis will serve.
    std::string value;
    if (resp != nullptr) {
      Result<std::string> raw = resp->Call(q.resp_command);
      Result<Answer> lists = raw.ok() ? RespIdLists(raw.value()) : Result<Answer>(raw.status());
      ++result.compared;
      if (!lists.ok()) {
        mismatch(q, "canopyd RESP", lists.status().ToString());
      } else {
        Answer answer = std::move(lists.value());
        testing::Normalize(question.kind, &answer);
        if (answer != reference) {
          mismatch(q, "canopyd RESP",
                   testing::DescribeAnswer(answer) +
                       "\n  canopyd FlatBuffers: " + testing::DescribeAnswer(reference));
        }
        value = raw.value();
      }
    } else if (question.kind == QuestionKind::kCounts) {
      value = testing::RespCounts(reference.empty() ? std::vector<int64_t>{} : reference[0]);
    } else if (question.kind == QuestionKind::kBatchAncestors) {
      value = testing::RespBatch(reference);
    } else {
      value = testing::RespIdArray(reference.empty() ? std::vector<int64_t>{} : reference[0]);
    }
    q.resp_bytes = value.size();
    // Redis serves those bytes.
    Result<std::string> set = (*redis)->Call({"SET", q.redis_key, value});
    Result<std::string> get = (*redis)->Call({"GET", q.redis_key});
    std::string want(1, '$');
    want += std::to_string(value.size());
    want += "\r\n" + value + "\r\n";
    if (!set.ok() || set.value() != "+OK\r\n" || !get.ok() || get.value() != want) {
      mismatch(q, "Redis", "SET/GET of the answer's bytes failed");
    }
    // The load generator asks the same and gets as many ids.
    const CellMeasure lg =
        RunClientOf(f, s, pg_unix, q, Server::kCanopyFb,
                    CellPlan{.seconds = 0, .work_dir = work, .tag = "check-" + q.key + "-loadgen"});
    ++result.compared;
    if (!lg.ok) mismatch(q, "canopy_loadgen", lg.error);
    std::cerr << "serving_bench: checked " << q.label << ": " << q.ids << " ids, " << q.resp_bytes
              << " RESP bytes\n";
  }
  return result;
}

// Each other client program once, least run, on every question (canopy_loadgen
// ran in CheckAnswers).
int CheckClients(const Flags& f, const Servers& s, const std::string& db_conninfo,
                 const std::string& work, const std::vector<ServingQuestion>& questions) {
  int failures = 0;
  for (const ServingQuestion& q : questions) {
    for (Server server : kAllServers) {
      if (server == Server::kCanopyFb || !Applies(server, q, s)) continue;
      const CellMeasure m = RunClientOf(
          f, s, db_conninfo, q, server,
          CellPlan{
              .seconds = 0, .work_dir = work, .tag = "check-" + q.key + "-" + ServerKey(server)});
      if (m.ok) continue;
      ++failures;
      const std::string what =
          server == Server::kRedis ? "redis-benchmark GET"
          : server == Server::kCanopyResp
              ? "redis-benchmark, canopyd RESP"
              : std::string("pgbench, ") + testing::SqlFormName(FormOf(server));
      std::cerr << "CLIENT " << q.label << " (" << what << "): " << m.error << "\n";
    }
  }
  return failures;
}

// ---- the cells ----

// Why a PostgreSQL cell is not run: one window of it would take longer than
// two cells (pgbench finishes the transaction it is in when time is up).
std::string SkipReason(Server server, const ServingQuestion& q, const Shape& shape,
                       double seconds) {
  if (!IsPg(server) || (shape.connections == 1 && shape.in_flight == 1)) return "";
  const double single = q.pg_single_seconds[static_cast<int>(FormOf(server))];
  const double cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  const double window = single * shape.in_flight * std::max(1.0, shape.connections / cores);
  if (window <= 2 * std::max(seconds, 1.0)) return "";
  return "one window would take ~" + Fixed(window, 0) + " s (" + Fixed(single * 1000, 0) +
         " ms a request)";
}

void RunCells(const Flags& f, const Servers& s, const std::string& db_conninfo,
              const std::string& work, const std::vector<ServingQuestion>& questions,
              std::vector<Cell>* cells, bool* any_error) {
  for (const ServingQuestion& q : questions) {
    for (const Shape& shape : f.shapes) {
      for (Server server : f.servers) {
        if (Applies(server, q, s))
          cells->push_back({.question = &q, .server = server, .shape = shape});
      }
    }
  }
  // PostgreSQL's children at rest (the check's backends may still be exiting).
  int baseline_children = 0;
  if (s.postmaster != 0) {
    baseline_children = static_cast<int>(testing::ChildProcessIds(s.postmaster).size());
    for (int i = 0; i < 40; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const int now = static_cast<int>(testing::ChildProcessIds(s.postmaster).size());
      if (now >= baseline_children && i >= 4) break;
      baseline_children = std::min(baseline_children, now);
    }
  }
  for (size_t i = 0; i < cells->size(); ++i) {
    Cell& c = (*cells)[i];
    const ServingQuestion& q = *c.question;
    c.skipped = SkipReason(c.server, q, c.shape, f.seconds);
    if (c.skipped.empty()) {
      CellPlan plan{.shape = c.shape,
                    .seconds = f.seconds,
                    .work_dir = work,
                    .tag = "cell-" + std::to_string(i + 1)};
      if (c.server == Server::kRedis) {
        plan.server_cpu = [&] { return ProcessCpuSeconds(s.redis->pid()); };
      } else if (!IsPg(c.server)) {
        plan.server_cpu = [&] { return ProcessCpuSeconds(s.canopyd->pid()); };
      } else if (s.postmaster != 0) {
        plan.server_cpu = [&] { return testing::ProcessTreeCpuSeconds(s.postmaster); };
        // The client's backends exit after it: wait (bounded) until they are reaped.
        plan.settle = [&] {
          for (int i = 0;
               i < 500 &&
               static_cast<int>(testing::ChildProcessIds(s.postmaster).size()) > baseline_children;
               ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
        };
      }
      c.m = RunClientOf(f, s, db_conninfo, q, c.server, plan);
      if (!c.m.ok) *any_error = true;
      // The report shows DIR, CONNINFO and program names for this run's paths.
      for (const auto& [from, to] :
           {std::pair<std::string, std::string>{CommandLine({db_conninfo}), "CONNINFO"},
            {work, "DIR"},
            {CommandLine({f.loadgen}), "canopy_loadgen"},
            {CommandLine({f.pgbench}), "pgbench"}}) {
        for (size_t at = c.m.command.find(from); at != std::string::npos;
             at = c.m.command.find(from, at + to.size())) {
          c.m.command.replace(at, from.size(), to);
        }
      }
    }
    std::cerr << "[" << i + 1 << "/" << cells->size() << "] " << q.label << " " << c.shape.Name()
              << " | " << ServerName(c.server) << ": ";
    if (!c.skipped.empty()) {
      std::cerr << "skipped (" << c.skipped << ")\n";
    } else if (!c.m.ok) {
      std::cerr << "ERROR " << c.m.error << "\n";
    } else {
      std::cerr << Fixed(c.m.ops_per_s, 0) << " ops/s, p50 " << Fixed(c.m.p50_us, 1) << " us, p99 "
                << Fixed(c.m.p99_us, 1) << " us, server CPU " << Fixed(c.ServerCpuUsPerRequest(), 2)
                << " us/req"
                << (c.m.requests_per_write > 0
                        ? ", " + Fixed(c.m.requests_per_write, 1) + " req/write"
                        : std::string())
                << "\n";
    }
  }
}

int Run(const Flags& f) {
  const Clock::time_point run_start = Clock::now();
  const std::string load_at_start = LoadAverage();
  for (const std::string& program :
       {f.canopyd, f.loadgen, f.redis_server, f.redis_benchmark, f.pgbench}) {
    if (!ProgramExists(program)) {
      std::cerr << "serving_bench: " << program
                << " is not installed (bench/serving installs redis-server, redis-tools and "
                   "postgresql-15); skipping\n";
      return kExitMissingProgram;
    }
  }
  const std::string canopyd_help = OutputOf({f.canopyd, "--help"});
  const bool canopyd_has_resp = canopyd_help.find("--resp-unix") != std::string::npos;
  const bool resp = f.resp == "on" || (f.resp == "auto" && canopyd_has_resp);
  if (f.resp == "on" && !canopyd_has_resp) {
    std::cerr << "serving_bench: --resp on, but this canopyd has no --resp-unix\n";
    return 1;
  }

  // ---- PostgreSQL and the database ----
  BenchDatabase db;
  if (Status s = StartPostgres(f, "serving", &db); !s.ok()) {
    std::cerr << "serving_bench: " << s.ToString() << "\n";
    return 1;
  }
  GenerateForest(f, "serving_bench", &db);
  std::vector<ServingQuestion> questions;
  for (const std::string& key : f.questions) {
    std::optional<ServingQuestion> q = MakeQuestion(db.questions, key);
    if (!q) {
      std::cerr << "serving_bench: the forest has no target for " << key << "\n";
      return 2;
    }
    questions.push_back(*q);
  }
  if (Status s = LoadDatabase(f, "serving_bench", &db); !s.ok()) {
    std::cerr << "serving_bench: loading the database: " << s.ToString() << "\n";
    return 1;
  }
  const std::string& db_conninfo = db.db_conninfo;
  if (db.postmaster == 0) {
    std::cerr << "serving_bench: PostgreSQL's processes are not readable here (another "
                 "machine?): its CPU will not be reported\n";
  }

  // ---- servers ----
  char work_template[] = "/tmp/canopy-serving.XXXXXX";
  if (mkdtemp(work_template) == nullptr) return 1;
  const std::string work = work_template;
  struct WorkCleanup {
    std::string dir;
    bool keep;
    ~WorkCleanup() {
      std::error_code ec;
      if (!keep) std::filesystem::remove_all(dir, ec);
    }
  } work_cleanup{work, f.keep_work};
  Servers servers;
  servers.postmaster = db.postmaster;
  if (Status s = StartRedis(f, work, &servers); !s.ok()) {
    std::cerr << "serving_bench: redis-server: " << s.ToString() << "\n"
              << OutputOf({"tail", "-n", "20", work + "/redis.log"});
    return 1;
  }
  const Clock::time_point t0 = Clock::now();
  if (Status s = StartCanopyd(f, work, db_conninfo, resp, &servers); !s.ok()) {
    std::cerr << "serving_bench: canopyd: " << s.ToString() << "\n"
              << OutputOf({"tail", "-n", "30", work + "/canopyd.log"});
    return 1;
  }
  const double canopyd_seconds = SecondsSince(t0);
  std::cerr << "serving_bench: canopyd streaming after " << Fixed(canopyd_seconds, 1) << " s"
            << (resp ? ", RESP listener up" : ", no RESP listener") << "\n";

  // ---- answers and clients ----
  const CheckResult check = CheckAnswers(f, servers, db_conninfo, work, &questions);
  const int client_failures =
      check.mismatches == 0 ? CheckClients(f, servers, db_conninfo, work, questions) : 0;
  ReportInput report;
  report.title = "canopy served next to Redis and PostgreSQL";
  report.answers_line =
      check.mismatches == 0 && client_failures == 0
          ? "answers: equal — " + std::to_string(questions.size()) +
                " questions; canopyd over FlatBuffers" + (resp ? " and over RESP" : "") +
                " gives the ids of every SQL form (recursive, traversal_ids, "
                "namespace_descendants cache); Redis holds canopyd's RESP bytes for each; "
                "canopy_loadgen, redis-benchmark and pgbench ran each question once (" +
                std::to_string(check.compared) + " comparisons)"
          : "answers: " + std::to_string(check.mismatches) + " MISMATCHES, " +
                std::to_string(client_failures) + " client failures (see stderr) — this run failed";
  std::cerr << "serving_bench: " << report.answers_line << "\n";

  // ---- cells ----
  bool any_error = false;
  if (check.mismatches == 0 && client_failures == 0 && !f.check_only) {
    RunCells(f, servers, db_conninfo, work, questions, &report.cells, &any_error);
  }
  servers.canopyd->Stop();
  servers.redis->Stop();

  // ---- the report ----
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  std::string shapes;
  for (const Shape& s : f.shapes) shapes += (shapes.empty() ? "" : ", ") + s.Name();
  const testing::GitlabDatabaseLoad& load = db.load;
  report.lines = {
      RunLine(SecondsSince(run_start)),
      "Command: `" + (f.command.empty() ? std::string("canopy_serving_bench") : f.command) + "`",
      MachineLine(load_at_start) + " Servers and clients share these " + std::to_string(cores) +
          " cores.",
      "Servers, all on Unix sockets: " + servers.redis_version + " (no persistence); `" +
          servers.canopyd_command + "` (default threads unless given; streaming " +
          Fixed(canopyd_seconds, 1) + " s after start)" +
          (resp ? "" : "; **this canopyd has no RESP listener: no RESP column**") +
          "; PostgreSQL " + db.pg_version + " (" + db.pg_settings + ")",
      DataLine(f, db) +
          (load.reused
               ? "; database reused"
               : "; generated in " + Fixed(db.generate_seconds, 1) + " s, loaded in " +
                     Fixed(load.copy_seconds + load.index_seconds + load.cache_seconds, 1) + " s"),
      "Cells: " + std::to_string(report.cells.size()) + " (question x shape x server), " +
          Fixed(f.seconds, 1) + " s measured each; shapes (connections x in flight): " + shapes +
          "; order: for each question, for each shape, the servers one after another",
  };
  report.notes = {
      "**Redis GET**: redis-server started by the benchmark on a Unix socket (`--port 0 --save '' "
      "--appendonly no`), holding for each question one key whose value is canopyd's RESP "
      "answer to it, byte for byte (without a RESP listener: the RESP bytes canopyd would send, "
      "per docs/resp.md). `redis-benchmark -s SOCKET -c C -P P -n N GET key`: the floor for a "
      "network cache serving the same bytes.",
      "**canopyd RESP**: the very same redis-benchmark sending the canopy command "
      "(`ANCESTORS id SELF`, `DESCENDANTS id SELF`, `PROJECTS id`, `COUNTS id`, `MANCESTORS id... "
      "SELF`) to canopyd's `--resp-unix` socket. redis-benchmark stops at the first error "
      "reply, which fails the cell.",
      "**canopyd FlatBuffers**: canopy_loadgen (bench/loadgen): one thread and epoll like "
      "redis-benchmark; per connection it writes P pre-encoded request frames with one write(), "
      "reads the P answers (each verified and decoded, its id count checked), and starts over. "
      "req/write is the requests per write() it achieved.",
      "**PostgreSQL**: `pgbench -n -M prepared -c C -j 1`, GitLab's SQL of "
      "testing/sql/queries with its parameter as `:p` (`-D p=...`); P > 1 is P statements between "
      "`\\startpipeline` and `\\endpipeline` (one round trip and one Sync per window), so "
      "requests = transactions x P and latency is per window. *linear* = traversal_ids, "
      "*recursive* = Gitlab::ObjectHierarchy's CTE, *cache* = the namespace_descendants read "
      "(falls back to linear for groups without a row). A PostgreSQL cell is skipped when one "
      "window would take over twice the cell time (pgbench finishes the transaction it is in).",
      "**Server CPU per request**: utime+stime of the server from /proc (10 ms ticks) read just "
      "before the client starts and just after it exits, / the requests it made. redis-server "
      "and canopyd: the process (all threads). PostgreSQL: the postmaster, its live children and "
      "the children it reaped (cutime+cstime), i.e. the backends of the run; idle background "
      "processes (incl. the walsender feeding canopyd) are in it. Client CPU is the client "
      "process's rusage.",
      "**Time per cell**: canopy_loadgen and pgbench run for the cell time (pgbench -T rounds "
      "to whole seconds; under 1 s it runs a computed -t); redis-benchmark runs N requests, N "
      "from short probe runs just before (which also warm up). Latency p50/p99 are the clients' "
      "own: redis-benchmark's CSV, canopy_loadgen's, pgbench's per-transaction log.",
      "All clients are single-threaded processes on the same 2-core machine as the servers: "
      "requests/s is the pair's throughput; server CPU per request is the server's own cost.",
  };
  report.chart = f.chart;
  report.shapes = f.shapes;
  for (const ServingQuestion& q : questions) report.questions.push_back(&q);

  std::error_code ec;
  std::filesystem::create_directories(f.out_dir, ec);
  const std::string markdown = MarkdownReport(report);
  std::ofstream(f.out_dir + "/serving.md") << markdown;
  std::ofstream(f.out_dir + "/serving.csv") << CsvReport(report);
  const Shape chart_shape =
      std::find(f.shapes.begin(), f.shapes.end(), Shape{16, 32}) != f.shapes.end()
          ? Shape{16, 32}
          : f.shapes.back();
  std::ofstream(f.out_dir + "/serving-chart.dat") << ChartData(report, chart_shape);
  std::ofstream(f.out_dir + "/serving-summary.txt") << SummaryTable(report);
  std::cout << markdown;
  std::cerr << "serving_bench: wrote " << f.out_dir
            << "/serving.md, serving.csv, serving-chart.dat (" << chart_shape.Name()
            << "), serving-summary.txt\n";
  if (check.mismatches != 0 || client_failures != 0 || any_error) {
    std::cerr << "serving_bench: FAILED (" << check.mismatches << " mismatching answers, "
              << client_failures << " client failures" << (any_error ? ", cells with errors" : "")
              << ")\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace canopy::bench::serving

int main(int argc, char** argv) {
  namespace serving = canopy::bench::serving;
  CLI::App app(
      "canopy_serving_bench: canopy served next to Redis and PostgreSQL, side by side, on one "
      "generated GitLab database (bench/serving runs it; see bench/README.md)",
      "canopy_serving_bench");
  serving::Flags flags;
  serving::AddFlags(&app, &flags);
  if (auto status =
          canopy::bench::ParseCommandLine(app, argc, argv, [&] { serving::FinishFlags(&flags); })) {
    return *status;
  }
  return serving::Run(flags);
}
