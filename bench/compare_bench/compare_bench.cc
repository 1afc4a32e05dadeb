// canopy_compare_bench — canopy against the SQL GitLab runs, on one generated
// GitLab-shaped database, in one run, into one table, plus the
// network matrix (connections x pipelining).
//
//   canopy_compare_bench [--pg CONNINFO] [--namespaces N] [--projects P] [--seed S]
//                        [--duration SECONDS] [--connections N] [--pipeline N]
//                        [--out DIR] [--reuse-db] [--no-network-matrix]
//
// Steps: generate the forest (canopy::testing::GenerateGitlabForest); load it
// into PostgreSQL with GitLab's columns, traversal_ids, indexes and the
// namespace_descendants cache; bring canopy up from that database through
// logical replication (canopy::cdc::Replica) and serve its index with
// canopy::net::Server on a Unix socket and TCP 127.0.0.1; check that every
// form answers every question alike; time every cell; write compare.md,
// compare.csv and compare-chart.dat into --out, and print the markdown.
// Exit status: 0, or 1 when an answer differs or a cell failed, 2 on usage.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "../bench_database.h"
#include "../bench_flags.h"
#include "../machine_facts.h"
#include "canopy/cdc/replica.h"
#include "canopy/net/server.h"
#include "canopy/testing/askers.h"
#include "canopy/testing/questions.h"
#include "canopy/testing/stats.h"
#include "cell_runner.h"
#include "report.h"

namespace canopy::bench::compare {
namespace {

using testing::ConninfoValue;
using testing::ConninfoWith;
using testing::Fixed;
using testing::SecondsSince;

using Clock = std::chrono::steady_clock;

struct Flags : DatabaseFlags {
  double duration = 0.5;
  double warmup = 0.05;
  int connections = 16;
  int pipeline = 32;
  int server_threads = 2;
  std::string out_dir = ".";
  std::string command;
  std::string chart;
  bool network_matrix = true;
};

// The flags, into `f` (which holds the defaults). A flag given twice takes
// the last value.
void AddFlags(CLI::App* app, Flags* f) {
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->get_formatter()->column_width(24);
  auto whole = [app](const std::string& name, auto& value, const std::string& description) {
    return AddWholeNumber(app, name, value, description);
  };
  AddDatabaseFlags(app, f, "CANOPY_COMPARE_PG", "canopy_compare", "forest and batch seed");
  app->add_option("--duration", f->duration, "timed window per cell, default 0.5")
      ->type_name("SECONDS");
  app->add_option("--warmup", f->warmup, "untimed warm-up per cell, default 0.05")
      ->type_name("SECONDS");
  whole("--connections", f->connections, "the matrix's many-connection case, default 16")
      ->check(CLI::Range(1, std::numeric_limits<int>::max(), "1 OR MORE"));
  whole("--pipeline", f->pipeline, "requests in flight when pipelined, default 32")
      ->check(CLI::Range(2, std::numeric_limits<int>::max(), "2 OR MORE"));
  whole("--server-threads", f->server_threads, "canopy::net::Server I/O threads, default 2")
      ->check(CLI::Range(1, std::numeric_limits<int>::max(), "1 OR MORE"));
  app->add_option("--out", f->out_dir,
                  "where compare.md, compare.csv, compare-chart.dat go, default .")
      ->type_name("DIR");
  app->add_option("--command", f->command, "the command line to print in the report")
      ->type_name("TEXT");
  app->add_option("--chart", f->chart,
                  "a chart image (beside compare.md) to show under the answers line")
      ->type_name("FILE");
  app->add_flag_callback(
      "--no-network-matrix", [f] { f->network_matrix = false; }, "only the per-kind latency table");
  app->footer("Exit status: 0, or 1 when an answer differs or a cell failed, 2 on usage.");
}

// The connections of one system on one transport.
struct AskerPool {
  std::vector<std::unique_ptr<Asker>> askers;
  std::vector<PgAsker*> pg;  // the same askers when they are PostgreSQL's
  std::vector<Asker*> First(int n) const {
    std::vector<Asker*> out;
    for (int i = 0; i < n && i < static_cast<int>(askers.size()); ++i) {
      out.push_back(askers[i].get());
    }
    return out;
  }
};

Status FillPgPool(const std::string& conninfo, int n, AskerPool* pool) {
  for (int i = 0; i < n; ++i) {
    Result<std::unique_ptr<PgAsker>> a = PgAsker::Connect(conninfo);
    if (!a.ok()) return a.status();
    pool->pg.push_back(a.value().get());
    pool->askers.push_back(std::move(a.value()));
  }
  return Status::Ok();
}

Status FillCanopyPool(const net::ClientOptions& options, int n, AskerPool* pool) {
  for (int i = 0; i < n; ++i) {
    Result<std::unique_ptr<Asker>> a = MakeCanopyNetAsker(options);
    if (!a.ok()) return a.status();
    pool->askers.push_back(std::move(a.value()));
  }
  return Status::Ok();
}

struct Pools {
  AskerPool in_process, canopy_unix, canopy_tcp, pg_unix, pg_tcp;
  const AskerPool* For(System system, Transport transport) const {
    if (system == System::kCanopyInProcess) return &in_process;
    const bool unix_socket = transport == Transport::kUnix;
    if (system == System::kCanopy) return unix_socket ? &canopy_unix : &canopy_tcp;
    return unix_socket ? &pg_unix : &pg_tcp;
  }
};

SqlForm FormOf(System system) {
  return system == System::kPgRecursive ? SqlForm::kRecursive
         : system == System::kPgCache   ? SqlForm::kCache
                                        : SqlForm::kLinear;
}

bool Applies(System system, const Question& q) {
  return !IsSql(system) || SqlText(q.kind, FormOf(system)) != nullptr;
}

// Every way of asking against canopy in-process; sets expected_ids. Returns
// the number of mismatching (question, way) pairs, each printed to stderr.
int CheckAnswers(std::vector<Question>* questions, Pools& pools, int* compared) {
  int mismatches = 0;
  *compared = 0;
  for (Question& q : *questions) {
    Answer reference;
    Result<size_t> n = pools.in_process.askers[0]->Ask(q, &reference);
    if (!n.ok()) {
      std::cerr << "MISMATCH " << QuestionKindName(q.kind) << " " << q.target
                << ": canopy in-process failed: " << n.status().ToString() << "\n";
      ++mismatches;
      continue;
    }
    q.expected_ids = n.value();
    for (System system :
         {System::kPgRecursive, System::kPgLinear, System::kPgCache, System::kCanopy}) {
      if (!Applies(system, q)) continue;
      for (Transport transport : {Transport::kUnix, Transport::kTcp}) {
        const AskerPool* pool = pools.For(system, transport);
        if (pool->askers.empty()) continue;
        if (IsSql(system)) pool->pg[0]->set_form(FormOf(system));
        Answer answer;
        Result<size_t> r = pool->askers[0]->Ask(q, &answer);
        ++*compared;
        if (r.ok() && answer == reference) continue;
        ++mismatches;
        std::cerr << "MISMATCH " << QuestionKindName(q.kind) << " " << q.target << " ("
                  << SystemName(system) << ", " << TransportName(transport)
                  << "): " << (r.ok() ? DescribeAnswer(answer) : r.status().ToString())
                  << "\n  canopy in-process: " << DescribeAnswer(reference) << "\n";
      }
    }
  }
  return mismatches;
}

std::vector<CellRow> PlanCells(const std::vector<Question>& questions, const Flags& f,
                               const Pools& pools) {
  std::vector<CellRow> rows;
  auto add = [&](const Question* q, System s, Transport t, int conns, int in_flight, bool matrix) {
    if (q == nullptr || !Applies(s, *q) || pools.For(s, t)->askers.empty()) return;
    CellRow r;
    r.question = q;
    r.system = s;
    r.transport = t;
    r.connections = conns;
    r.in_flight = in_flight;
    r.network_matrix = matrix;
    rows.push_back(r);
  };
  for (const Question& q : questions) {
    add(&q, System::kCanopyInProcess, Transport::kInProcess, 1, 1, false);
    for (Transport t : {Transport::kUnix, Transport::kTcp}) {
      for (System s :
           {System::kPgRecursive, System::kPgLinear, System::kPgCache, System::kCanopy}) {
        add(&q, s, t, 1, 1, false);
      }
    }
  }
  if (!f.network_matrix) return rows;
  const Question* matrix_questions[] = {
      testing::FindQuestion(questions, QuestionKind::kSelfAndAncestors, "gitlab-org"),
      testing::FindQuestion(questions, QuestionKind::kSelfAndDescendants, "small"),
      testing::FindQuestion(questions, QuestionKind::kSelfAndDescendants, "gitlab-org"),
      testing::FindQuestion(questions, QuestionKind::kBatchAncestors, "100 random"),
  };
  for (const Question* q : matrix_questions) {
    for (Transport t : {Transport::kUnix, Transport::kTcp}) {
      for (int conns : {1, f.connections}) {
        for (int in_flight : {1, f.pipeline}) {
          for (System s : {System::kCanopy, System::kPgLinear, System::kPgRecursive}) {
            add(q, s, t, conns, in_flight, true);
          }
        }
      }
    }
  }
  return rows;
}

int Run(const Flags& f) {
  ReportHeader header;
  header.title = "canopy vs PostgreSQL on GitLab's hierarchy queries";
  const std::string load_at_start = LoadAverage();
  const auto run_start = Clock::now();

  // ---- PostgreSQL, the forest and the database ----
  BenchDatabase db;
  if (Status s = StartPostgres(f, "compare", &db); !s.ok()) {
    std::cerr << "compare_bench: " << s.ToString() << "\n";
    return 1;
  }
  GenerateForest(f, "compare_bench", &db);
  std::vector<Question>& questions = db.questions;
  if (questions.empty()) {
    std::cerr << "compare_bench: the forest is too small for the named groups\n";
    return 2;
  }
  if (Status s = LoadDatabase(f, "compare_bench", &db); !s.ok()) {
    std::cerr << "compare_bench: loading the database: " << s.ToString() << "\n";
    return 1;
  }
  const testing::GitlabDatabaseLoad& load = db.load;
  const std::string& db_conninfo = db.db_conninfo;
  const std::string pg_host = ConninfoValue(db_conninfo, "host");
  std::string pg_unix, pg_tcp;
  if (!pg_host.empty() && pg_host[0] == '/') {
    pg_unix = ConninfoWith(db_conninfo, {{"host", pg_host}, {"hostaddr", ""}}).value();
  }
  pg_tcp = ConninfoWith(db_conninfo, {{"host", "127.0.0.1"}, {"hostaddr", ""}}).value();

  // ---- canopy: replication, then the server ----
  auto t0 = Clock::now();
  cdc::ReplicaOptions replica_options;
  replica_options.conninfo = db_conninfo;
  replica_options.create_publication = true;
  replica_options.log = [](const LogRecord& record) {
    std::cerr << "  [replica] " << record.message << "\n";
  };
  cdc::Replica replica(replica_options);
  if (Status s = replica.Start(); !s.ok()) {
    std::cerr << "compare_bench: Replica::Start: " << s.ToString() << "\n";
    return 1;
  }
  if (Status s = replica.WaitUntilStreaming(std::chrono::minutes(30)); !s.ok()) {
    std::cerr << "compare_bench: WaitUntilStreaming: " << s.ToString() << "\n";
    return 1;
  }
  const double replica_seconds = SecondsSince(t0);
  std::shared_ptr<const HierarchyIndex> index = replica.index();

  char dir_template[] = "/tmp/canopy-compare.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return 1;
  const std::string socket_dir = dir_template;
  net::ServerOptions server_options;
  server_options.tcp_listen = "127.0.0.1:0";
  server_options.unix_path = socket_dir + "/canopy.sock";
  server_options.threads = f.server_threads;
  Result<std::unique_ptr<net::Server>> server = net::Server::Start(server_options, index);
  if (!server.ok()) {
    std::cerr << "compare_bench: Server::Start: " << server.status().ToString() << "\n";
    return 1;
  }

  // ---- connections ----
  Pools pools;
  pools.in_process.askers.push_back(MakeInProcessAsker(*index));
  net::ClientOptions unix_client;
  unix_client.unix_path = server_options.unix_path;
  net::ClientOptions tcp_client;
  tcp_client.host = "127.0.0.1";
  tcp_client.port = (*server)->tcp_port();
  const int pool_size = f.network_matrix ? f.connections : 1;
  Status s = FillCanopyPool(unix_client, pool_size, &pools.canopy_unix);
  if (s.ok()) s = FillCanopyPool(tcp_client, pool_size, &pools.canopy_tcp);
  if (s.ok() && !pg_unix.empty()) s = FillPgPool(pg_unix, pool_size, &pools.pg_unix);
  if (s.ok()) s = FillPgPool(pg_tcp, pool_size, &pools.pg_tcp);
  if (!s.ok()) {
    std::cerr << "compare_bench: connecting: " << s.ToString() << "\n";
    return 1;
  }

  // ---- same answers everywhere ----
  int compared = 0;
  const int mismatches = CheckAnswers(&questions, pools, &compared);
  header.answers_line =
      mismatches == 0
          ? "answers: equal — " + std::to_string(questions.size()) + " questions x every form (" +
                std::to_string(compared) +
                " answers from PostgreSQL recursive/linear/cache and canopy over Unix socket and "
                "TCP) equal canopy in-process (sorted id sets; counts exactly)"
          : "answers: " + std::to_string(mismatches) + " MISMATCHES (see stderr) — this run failed";
  std::cerr << "compare_bench: " << header.answers_line << "\n";

  // ---- the cells ----
  std::vector<CellRow> rows = PlanCells(questions, f, pools);
  bool any_error = false;
  for (size_t i = 0; i < rows.size(); ++i) {
    CellRow& row = rows[i];
    const AskerPool* pool = pools.For(row.system, row.transport);
    for (PgAsker* pg : pool->pg) pg->set_form(FormOf(row.system));
    CellPlan plan;
    plan.seconds = f.duration;
    plan.warmup_seconds = f.warmup;
    plan.max_seconds = std::max(10.0, 20 * f.duration);
    plan.min_samples = 5;
    plan.in_flight = row.in_flight;
    row.stats = RunCell(pool->First(row.connections), *row.question, plan);
    any_error = any_error || row.stats.errors != 0;
    std::cerr << "[" << i + 1 << "/" << rows.size() << "] " << QuestionKindName(row.question->kind)
              << " " << row.question->size_class << " | " << SystemName(row.system) << " "
              << TransportName(row.transport) << " x" << row.connections << " in-flight "
              << row.in_flight << ": p50 " << Fixed(row.stats.p50_us, 2) << " us, p99 "
              << Fixed(row.stats.p99_us, 2) << " us, " << Fixed(row.stats.requests_per_s, 0)
              << " req/s" << (row.stats.errors ? " ERRORS: " + row.stats.first_error : "") << "\n";
  }
  ComputeRatios(&rows);

  // ---- the report ----
  header.lines = {
      RunLine(SecondsSince(run_start)),
      std::string("Command: `") + (f.command.empty() ? "canopy_compare_bench" : f.command) + "`",
      MachineLine(load_at_start) +
          " PostgreSQL, canopy's server and the client threads share these cores.",
      "PostgreSQL " + db.pg_version + " (" + db.pg_settings +
          "), over its Unix socket and TCP 127.0.0.1",
      DataLine(f, db),
      load.reused ? std::string("Load: database reused (--reuse-db)")
                  : "Load: generate " + Fixed(db.generate_seconds, 1) + " s, COPY " +
                        Fixed(load.copy_seconds, 1) + " s, indexes + VACUUM ANALYZE " +
                        Fixed(load.index_seconds, 1) + " s, namespace_descendants " +
                        Fixed(load.cache_seconds, 1) +
                        " s; canopy from PostgreSQL (slot, "
                        "snapshot COPY, build, streaming) " +
                        Fixed(replica_seconds, 1) + " s",
      "Per cell: " + Fixed(f.warmup, 2) + " s warm-up, then " + Fixed(f.duration, 2) +
          " s timed (at least 5 answers); canopy::net::Server with " +
          std::to_string(f.server_threads) + " I/O threads",
  };
  header.notes = {
      "PostgreSQL forms: *recursive* = a `WITH RECURSIVE` over parent_id in "
      "Gitlab::ObjectHierarchy's shape (UNION of `namespaces.*`, depth and cycle columns when an "
      "order is asked for); *linear* = traversal_ids (`unnest(traversal_ids)`, `traversal_ids @> "
      "ARRAY[id]` on GitLab's GIN index); *cache* = the COALESCE read of namespace_descendants "
      "(seed 001), which falls back to the linear query for groups without a fresh row (the "
      "small group here). Every statement is prepared once per connection and run with "
      "PQexecPrepared; the application's answer is parsed from the text result. The SQL text is "
      "in testing/sql/queries (testing/src/questions.cc picks them).",
      "canopy in-process = HierarchyIndex::Query / QueryBatch / ReadView::Counts on the "
      "replica's index (answers copied out). canopy over the network = canopy::net::Client "
      "against canopy::net::Server in this process, same index.",
      "Answer sizes (ids column) are canopy's; batch = 100 namespaces' self_and_ancestors in one "
      "request (PostgreSQL: one statement for all 100 ids).",
      "Pipelining: canopy sends up to N requests before reading (Client::Send/Receive, a sliding "
      "window). PostgreSQL uses libpq pipeline mode (PQsendQueryPrepared + PQpipelineSync per "
      "query, the same sliding window), so both sides are pipelined in the pipelined rows.",
      "Server CPU per request: PostgreSQL = the CPU time of the backends serving the cell "
      "(/proc/PID/stat utime+stime, 10 ms ticks) / requests. canopy = this process's CPU "
      "(CLOCK_PROCESS_CPUTIME_ID) over the timed window minus the client threads' own CPU "
      "(CLOCK_THREAD_CPUTIME_ID each) / requests: the server's I/O threads, plus the idle "
      "replication thread. Client CPU = the client threads' CPU / requests.",
      "With 2 cores, 16 connections means 16 client threads competing with the server for the "
      "same CPUs: requests/s there measures the whole machine, not the server alone. Compare "
      "server CPU per request for the server's own cost.",
  };
  header.chart = f.chart;
  const std::string markdown = MarkdownReport(header, rows);
  std::error_code ec;
  std::filesystem::create_directories(f.out_dir, ec);
  std::ofstream(f.out_dir + "/compare.md") << markdown;
  std::ofstream(f.out_dir + "/compare.csv") << CsvReport(rows);
  std::ofstream(f.out_dir + "/compare-chart.dat") << ChartData(rows);
  std::cout << markdown;
  std::cerr << "compare_bench: wrote " << f.out_dir
            << "/compare.md, compare.csv, compare-chart.dat\n";

  (*server)->Stop();
  replica.Stop();
  std::filesystem::remove_all(socket_dir, ec);
  if (mismatches != 0 || any_error) {
    std::cerr << "compare_bench: FAILED (" << mismatches << " mismatching answers"
              << (any_error ? ", cells with errors" : "") << ")\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace canopy::bench::compare

int main(int argc, char** argv) {
  namespace compare = canopy::bench::compare;
  CLI::App app(
      "canopy_compare_bench: canopy against the SQL GitLab runs, on one generated GitLab-shaped "
      "database, plus the network matrix (connections x pipelining)",
      "canopy_compare_bench");
  compare::Flags flags;
  compare::AddFlags(&app, &flags);
  if (auto status = canopy::bench::ParseCommandLine(app, argc, argv, [&] {
        if (!(flags.duration > 0))
          throw CLI::ValidationError("--duration", "needs a number above 0");
      })) {
    return *status;
  }
  return compare::Run(flags);
}
