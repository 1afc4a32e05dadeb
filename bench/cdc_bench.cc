// cdc_bench — canopy::cdc against a real PostgreSQL 15, side by side with
// PostgreSQL's own tools :
//   * snapshot load (Replica start -> streaming: slot, parallel COPY, build)
//     vs a plain `COPY ... TO STDOUT` of the same tables and columns (the
//     ratio's base: text, one connection); also shown, as context: binary
//     COPY, and the loader's own id-range pieces COPYed in parallel without
//     parsing (what the server side can deliver to the loader);
//   * commit-to-visible latency under a steady write load: a writer commits
//     small GitLab-style transactions at a fixed rate; for each commit, the
//     time from the commit returning on the client to the index's applied
//     LSN reaching the commit's end LSN (ReplicaOptions::on_applied);
//   * apply throughput from a backlog of row changes (the consumer paused
//     while the backlog is written, then released) vs pg_recvlogical
//     (pgoutput, proto_version 1) draining the same backlog to /dev/null.
// A plain program (not Google Benchmark): prints one small table at the end.
// It also prints CPU seconds per phase (this process; the walsender serving
// it) so that "who is the bottleneck" can be read off a run.
//
// Environment:
//   CANOPY_CDC_BENCH_NAMESPACES   default 200000 (half groups, half users)
//   CANOPY_CDC_BENCH_PROJECTS     default 2 x namespaces
//   CANOPY_CDC_BENCH_CHANGES      backlog row changes, default 500000
//   CANOPY_CDC_BENCH_TXN_ROWS     rows per backlog transaction, default 1000
//   CANOPY_CDC_BENCH_LATENCY_RATES    commits/s of the latency runs, comma
//                                     separated, default "200,1000"
//   CANOPY_CDC_BENCH_LATENCY_SECONDS  seconds measured per rate, default 10
//                                     (0 skips the latency runs)
//   CANOPY_CDC_BENCH_SNAPSHOT_WORKERS snapshot COPY connections (default
//                                     ReplicaOptions' 4)
//   CANOPY_CDC_BENCH_WAL_SENDER_TIMEOUT  wal_sender_timeout of the replica's
//                                     connections, default 1h (see main)
//   CANOPY_CDC_BENCH_CONNINFO     an existing server (superuser); else a
//                                 throwaway cluster is started with
//                                 scripts/pg-test-cluster and removed after
//   PG_BINDIR                     where pg_recvlogical is (default
//                                 /usr/lib/postgresql/15/bin)
//
// Full size (1M namespaces + 3M projects):
//   CANOPY_CDC_BENCH_NAMESPACES=1000000 CANOPY_CDC_BENCH_PROJECTS=3000000
//   CANOPY_CDC_BENCH_CHANGES=1000000 canopy_cdc_bench
#include <libpq-fe.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "canopy/cdc/replica.h"
#include "canopy/cdc/table_mapping.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Phase boundaries on stderr, in CLOCK_MONOTONIC seconds (steady_clock on
// Linux): `perf record -k CLOCK_MONOTONIC` + `perf report --time A,B` then
// profile one phase.
void Phase(const char* name) {
  std::fprintf(stderr, "[phase %s at %.6f]\n", name,
               std::chrono::duration<double>(Clock::now().time_since_epoch()).count());
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0 ? std::strtoull(v, nullptr, 10) : fallback;
}

std::vector<uint64_t> EnvList(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  std::stringstream in(v != nullptr && *v != 0 ? v : fallback);
  std::vector<uint64_t> out;
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::strtoull(item.c_str(), nullptr, 10));
  }
  return out;
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "cdc_bench: " << what << "\n";
  std::exit(1);
}

// ---------------------------------------------------------------- machine

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// User + system CPU seconds of this process (every thread).
double SelfCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// System CPU seconds and context switches (voluntary + involuntary) of this
// process.
double SelfSysCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6;
}
long SelfSwitches() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_nvcsw + u.ru_nivcsw;
}

// User + system CPU seconds of another process (a PostgreSQL backend), -1 if
// it is gone.
double PidCpu(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::stringstream rest(line.substr(close + 2));
  std::string field;
  // Fields 3.. follow the command; utime and stime are fields 14 and 15.
  for (int i = 3; i < 14; ++i) rest >> field;
  unsigned long long utime = 0, stime = 0;
  rest >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// VmRSS / VmHWM of this process in MB.
double SelfMemMb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      return static_cast<double>(std::strtoull(line.c_str() + std::strlen(key), nullptr, 10)) /
             1024.0;
    }
  }
  return 0;
}

// ---------------------------------------------------------------- libpq

class Conn {
 public:
  explicit Conn(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) Die("connect: " + std::string(PQerrorMessage(c_)));
  }
  ~Conn() { PQfinish(c_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  void Exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      Die(sql.substr(0, 200) + ": " + PQerrorMessage(c_));
    PQclear(r);
  }
  // Like Exec, but false on an error (the caller falls back).
  bool TryExec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  }
  std::string Value(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
      Die(sql + ": " + PQerrorMessage(c_));
    std::string v = PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0);
    PQclear(r);
    return v;
  }
  // Every row of a query, or nullopt on an error.
  std::optional<std::vector<std::vector<std::string>>> Rows(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      PQclear(r);
      return std::nullopt;
    }
    std::vector<std::vector<std::string>> rows(static_cast<size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i) {
      for (int j = 0; j < PQnfields(r); ++j)
        rows[static_cast<size_t>(i)].push_back(PQgetvalue(r, i, j));
    }
    PQclear(r);
    return rows;
  }
  // Sends a multi-statement string in one round trip; returns the first
  // value of every row-returning result, in order.
  std::vector<std::string> Batch(const std::string& sql) {
    if (PQsendQuery(c_, sql.c_str()) == 0) Die(sql + ": " + PQerrorMessage(c_));
    std::vector<std::string> values;
    bool failed = false;
    std::string error;
    while (PGresult* r = PQgetResult(c_)) {
      const ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) values.push_back(PQgetvalue(r, 0, 0));
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !failed) {
        failed = true;
        error = PQresultErrorMessage(r);
      }
      PQclear(r);
    }
    if (failed) Die(sql.substr(0, 300) + ": " + error);
    return values;
  }
  // COPY (...) TO STDOUT, data discarded. Returns bytes.
  uint64_t CopyOut(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    if (PQresultStatus(r) != PGRES_COPY_OUT) Die(sql + ": " + PQerrorMessage(c_));
    PQclear(r);
    uint64_t bytes = 0;
    char* buf = nullptr;
    int n;
    while ((n = PQgetCopyData(c_, &buf, 0)) > 0) {
      bytes += static_cast<uint64_t>(n);
      PQfreemem(buf);
    }
    if (n == -2) Die("COPY: " + std::string(PQerrorMessage(c_)));
    while ((r = PQgetResult(c_)) != nullptr) PQclear(r);
    return bytes;
  }

 private:
  PGconn* c_;
};

// A throwaway cluster from scripts/pg-test-cluster (when no conninfo given).
class OwnCluster {
 public:
  std::string Start() {
    char tmpl[] = "/tmp/canopy-cdc-bench.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) Die("mkdtemp");
    dir_ = tmpl;
    const std::string cmd =
        std::string("'") + CANOPY_PG_TEST_CLUSTER_SCRIPT + "' start '" + dir_ + "' >&2";
    if (std::system(cmd.c_str()) != 0) Die("scripts/pg-test-cluster start failed");
    std::ifstream in(dir_ + "/conninfo");
    std::string line;
    std::getline(in, line);
    return line;
  }
  ~OwnCluster() {
    if (dir_.empty()) return;
    const std::string cmd = std::string("'") + CANOPY_PG_TEST_CLUSTER_SCRIPT + "' stop '" + dir_ +
                            "' >&2; rm -rf '" + dir_ + "'";
    (void)std::system(cmd.c_str());
  }

 private:
  std::string dir_;
};

// ---------------------------------------------------------------- data

struct Shape {
  uint64_t namespaces, groups, roots, projects;
};

Shape ShapeOf(uint64_t namespaces, uint64_t projects) {
  return {namespaces, std::max<uint64_t>(namespaces / 2, 2),
          std::max<uint64_t>(namespaces / 100, 1), std::max<uint64_t>(projects, 1)};
}

void CreateData(Conn& db, const Shape& s) {
  const std::string n = std::to_string(s.namespaces), groups = std::to_string(s.groups),
                    roots = std::to_string(s.roots), p = std::to_string(s.projects);
  db.Exec(
      "CREATE TABLE namespaces (id bigint PRIMARY KEY, name text NOT NULL, path text NOT NULL, "
      "type varchar(255) NOT NULL DEFAULT 'User', visibility_level integer NOT NULL DEFAULT 20, "
      "parent_id bigint, "
      "traversal_ids bigint[] NOT NULL DEFAULT '{}', description text);"
      "CREATE TABLE projects (id bigint PRIMARY KEY, name text, path text, namespace_id bigint NOT "
      "NULL, "
      "project_namespace_id bigint, visibility_level integer NOT NULL DEFAULT 0, archived boolean "
      "NOT NULL DEFAULT "
      "false, pending_delete boolean DEFAULT false, description text);"
      "CREATE TABLE ci_runner_namespaces (id bigint PRIMARY KEY, runner_id bigint, namespace_id "
      "bigint);");
  // Groups 1..groups (a forest: roots 1..roots, every other group under
  // id/3), user namespaces above; projects in groups; runner links on some
  // groups.
  db.Exec(
      "INSERT INTO namespaces (id, name, path, type, parent_id) SELECT g, 'group ' || g, 'g' || g, "
      "'Group', "
      "CASE WHEN g <= " +
      roots + " THEN NULL ELSE g / 3 END FROM generate_series(1, " + groups + ") g");
  db.Exec(
      "INSERT INTO namespaces (id, name, path, type) SELECT g, 'user ' || g, 'u' || g, 'User' "
      "FROM generate_series(" +
      groups + " + 1, " + n + ") g");
  db.Exec(
      "INSERT INTO projects (id, name, path, namespace_id, archived) SELECT g, 'project ' || g, "
      "'p' || g, "
      "1 + g % " +
      groups + ", g % 10 = 0 FROM generate_series(1, " + p + ") g");
  db.Exec("INSERT INTO ci_runner_namespaces SELECT g, 1 + g % 500, 1 + (g * 7) % " + groups +
          " FROM generate_series(1, " + std::to_string(s.namespaces / 20 + 1) + ") g");
  db.Exec("VACUUM ANALYZE");
}

// ---------------------------------------------------------------- COPY baselines

// The mapped columns of a table, as the snapshot loader names them.
std::string ColumnList(const canopy::cdc::TableSpec& spec) {
  std::string list;
  for (const std::string& c : spec.columns) {
    if (c.empty()) continue;
    if (!list.empty()) list += ", ";
    list += canopy::cdc::QuoteIdentifier(c);
  }
  return list;
}

// The snapshot loader's pieces (cdc/src/snapshot_loader.cc, Plan): tables with
// more than split_rows estimated rows cut into id ranges, at most 64 pieces.
std::vector<std::string> LoaderPieces(Conn& db, const canopy::cdc::TableMapping& m,
                                      uint64_t split) {
  std::vector<std::string> out;
  for (canopy::Table t : canopy::cdc::kAllTables) {
    const canopy::cdc::TableSpec& spec = m.Spec(t);
    const std::string q = canopy::cdc::QualifiedName(spec);
    const std::string key = canopy::cdc::QuoteIdentifier(spec.columns[0]);
    const std::string select = "SELECT " + ColumnList(spec) + " FROM " + q;
    const int64_t est = std::stoll(db.Value("SELECT reltuples::bigint FROM pg_class WHERE oid = " +
                                            canopy::cdc::QuoteLiteral(q) + "::regclass"));
    if (est <= 0 || static_cast<uint64_t>(est) <= split) {
      out.push_back("COPY (" + select + ") TO STDOUT");
      continue;
    }
    const int64_t lo = std::stoll(db.Value("SELECT min(" + key + ") FROM " + q));
    const int64_t hi = std::stoll(db.Value("SELECT max(" + key + ") FROM " + q));
    const uint64_t pieces =
        std::min<uint64_t>((static_cast<uint64_t>(est) + split - 1) / split, 64);
    const uint64_t step = (static_cast<uint64_t>(hi - lo) + 1 + pieces - 1) / pieces;
    for (uint64_t p = 0; p < pieces; ++p) {
      const int64_t a = lo + static_cast<int64_t>(step * p);
      std::string where;
      if (p > 0) where = key + " >= " + std::to_string(a);
      if (p + 1 < pieces) {
        where += (where.empty() ? "" : " AND ") + key + " < " +
                 std::to_string(a + static_cast<int64_t>(step));
      }
      out.push_back("COPY (" + select + " WHERE " + where + ") TO STDOUT");
    }
  }
  return out;
}

struct Timed {
  double seconds = 0;
  double cpu = 0;  // this process
  uint64_t bytes = 0;
};

Timed CopyTables(const std::string& conninfo, const canopy::cdc::TableMapping& m,
                 const char* options) {
  Timed out;
  const double cpu0 = SelfCpu();
  const auto t0 = Clock::now();
  Conn c(conninfo);
  for (canopy::Table t : canopy::cdc::kAllTables) {
    const canopy::cdc::TableSpec& spec = m.Spec(t);
    out.bytes += c.CopyOut("COPY " + canopy::cdc::QualifiedName(spec) + " (" + ColumnList(spec) +
                           ") TO STDOUT" + options);
  }
  out.seconds = Since(t0);
  out.cpu = SelfCpu() - cpu0;
  return out;
}

Timed CopyPiecesParallel(const std::string& conninfo, const std::vector<std::string>& pieces,
                         int workers) {
  Timed out;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  const double cpu0 = SelfCpu();
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      Conn c(conninfo);
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= pieces.size()) break;
        bytes += c.CopyOut(pieces[i]);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  out.seconds = Since(t0);
  out.cpu = SelfCpu() - cpu0;
  out.bytes = bytes.load();
  return out;
}

// ---------------------------------------------------------------- latency

struct AppliedEvent {
  Clock::time_point at;
  uint64_t lsn;
};

// Filled by ReplicaOptions::on_applied while `recording` is set.
struct AppliedLog {
  std::atomic<bool> recording{false};
  std::mutex mu;
  std::vector<AppliedEvent> events;
};

struct Commit {
  Clock::time_point sent, returned;
  uint32_t xid = 0;
  uint64_t insert_lsn = 0;  // pg_current_wal_insert_lsn() right after COMMIT
  uint64_t end_lsn = 0;     // the commit record's end (pg_walinspect), else insert_lsn
  bool exact = false;       // end_lsn from pg_walinspect
  int kind = 0;
};

struct LatencyResult {
  uint64_t target_rate = 0;
  double achieved_rate = 0;
  size_t commits = 0;
  size_t exact_lsns = 0;     // end LSN from pg_walinspect
  size_t before_return = 0;  // visible before the COMMIT round trip returned
  size_t never_visible = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;  // ms
  double rtt_p50 = 0, rtt_p99 = 0;                                // ms
  double sent_p50 = 0, sent_p99 = 0;  // ms from sending the transaction to visible
  double self_cpu = 0, walsender_cpu = 0, seconds = 0;
  size_t kinds[3] = {0, 0, 0};
};

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

uint64_t ParseLsnOrDie(const std::string& text) {
  auto l = canopy::Lsn::Parse(text);
  if (!l) Die("bad LSN '" + text + "'");
  return l->value;
}

// The writer: small GitLab-style transactions, one round trip each
// (BEGIN; ...; xid; COMMIT; insert LSN), at `rate` per second for `seconds`
// after a warm-up of half a second. Kinds: 0 create a subgroup (INSERT with
// empty traversal_ids, then UPDATE them, as GitLab does), 1 toggle a
// project's archived flag, 2 move a leaf subgroup under another root.
LatencyResult RunLatency(const std::string& conninfo, canopy::cdc::Replica& replica,
                         AppliedLog& log, const Shape& shape, uint64_t rate, double seconds,
                         uint64_t* next_id, int walsender_pid) {
  LatencyResult res;
  res.target_rate = rate;
  Conn w(conninfo);
  Conn side(conninfo);
  const bool walinspect = side.TryExec("CREATE EXTENSION IF NOT EXISTS pg_walinspect");
  // Keep the WAL of the run until its commit records are read back.
  (void)side.TryExec("SELECT pg_drop_replication_slot('canopy_bench_hold')");
  const bool hold =
      side.TryExec("SELECT pg_create_physical_replication_slot('canopy_bench_hold', true)");
  const std::string start_lsn = side.Value("SELECT pg_current_wal_insert_lsn()");

  std::mt19937_64 rng(rate * 7919 + *next_id);
  auto pick = [&rng](uint64_t lo, uint64_t hi) {  // [lo, hi]
    return lo + rng() % (hi - lo + 1);
  };
  const uint64_t leaf_lo = std::max(shape.roots, shape.groups / 3) + 1;
  const size_t warmup = static_cast<size_t>(rate / 2);
  const size_t measured = static_cast<size_t>(static_cast<double>(rate) * seconds);
  std::vector<Commit> commits;
  commits.reserve(warmup + measured);
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.events.clear();
    log.events.reserve((warmup + measured) * 2 + 1024);
  }
  log.recording = true;

  const double cpu0 = SelfCpu();
  const double ws0 = walsender_pid > 0 ? PidCpu(walsender_pid) : -1;
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / static_cast<double>(rate)));
  auto next = Clock::now();
  Clock::time_point measure_start;
  for (size_t i = 0; i < warmup + measured; ++i) {
    if (i == warmup) {
      measure_start = Clock::now();
      next = measure_start;
    }
    Commit c;
    c.kind = static_cast<int>(rng() % 3);
    std::string body;
    if (c.kind == 0) {
      const std::string id = std::to_string((*next_id)++);
      const std::string parent = std::to_string(pick(1, shape.groups));
      body = "INSERT INTO namespaces (id, name, path, type, parent_id) VALUES (" + id + ", 'sub " +
             id + "', 's" + id + "', 'Group', " + parent +
             "); UPDATE namespaces SET traversal_ids = (SELECT " +
             "traversal_ids FROM namespaces WHERE id = " + parent + ") || " + id +
             "::bigint WHERE id = " + id + ";";
    } else if (c.kind == 1) {
      body = "UPDATE projects SET archived = NOT archived WHERE id = " +
             std::to_string(pick(1, shape.projects)) + ";";
    } else {
      const std::string g = std::to_string(pick(leaf_lo, shape.groups));
      const std::string r = std::to_string(pick(1, shape.roots));
      body = "UPDATE namespaces SET parent_id = " + r + ", traversal_ids = ARRAY[" + r + ", " + g +
             "]::bigint[] WHERE id = " + g + ";";
    }
    const std::string sql =
        "BEGIN; " + body +
        " SELECT pg_current_xact_id(); COMMIT; SELECT pg_current_wal_insert_lsn()";
    std::this_thread::sleep_until(next);
    next += period;
    c.sent = Clock::now();
    std::vector<std::string> v = w.Batch(sql);
    c.returned = Clock::now();
    if (v.size() != 2) Die("latency transaction: expected 2 values");
    c.xid = static_cast<uint32_t>(std::strtoull(v[0].c_str(), nullptr, 10) & 0xffffffffULL);
    c.insert_lsn = ParseLsnOrDie(v[1]);
    c.end_lsn = c.insert_lsn;
    commits.push_back(c);
  }
  res.seconds = std::chrono::duration<double>(commits.back().returned - measure_start).count();
  if (auto s = replica.WaitUntilApplied(canopy::Lsn(commits.back().insert_lsn),
                                        std::chrono::seconds(30));
      !s.ok()) {
    Die("latency: " + s.ToString());
  }
  // on_applied runs just after the position is published (and waiters woken):
  // let the last event land before recording stops.
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard<std::mutex> lock(log.mu);
      if (!log.events.empty() && log.events.back().lsn >= commits.back().insert_lsn) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  log.recording = false;
  res.self_cpu = SelfCpu() - cpu0;
  res.walsender_cpu = ws0 >= 0 ? PidCpu(walsender_pid) - ws0 : -1;

  // Exact commit end LSNs: the COMMIT record of each transaction's xid.
  if (walinspect) {
    auto rows =
        side.Rows("SELECT xid::text, end_lsn::text FROM pg_get_wal_records_info('" + start_lsn +
                  "', pg_current_wal_flush_lsn()) WHERE resource_manager = 'Transaction' AND "
                  "record_type = 'COMMIT'");
    if (rows) {
      std::unordered_map<uint32_t, uint64_t> end_of;
      for (const auto& r : *rows) {
        end_of[static_cast<uint32_t>(std::strtoull(r[0].c_str(), nullptr, 10))] =
            ParseLsnOrDie(r[1]);
      }
      for (Commit& c : commits) {
        auto it = end_of.find(c.xid);
        if (it != end_of.end() && it->second <= c.insert_lsn) {
          c.end_lsn = it->second;
          c.exact = true;
        }
      }
    }
  }
  if (hold) side.Exec("SELECT pg_drop_replication_slot('canopy_bench_hold')");

  std::vector<AppliedEvent> events;
  {
    std::lock_guard<std::mutex> lock(log.mu);
    events.swap(log.events);
  }
  std::vector<double> lat, rtt, from_sent;
  double sum = 0;
  for (size_t i = warmup; i < commits.size(); ++i) {
    const Commit& c = commits[i];
    ++res.kinds[c.kind];
    if (c.exact) ++res.exact_lsns;
    rtt.push_back(Ms(c.returned - c.sent));
    // The applied position only grows: the first event at or past the
    // commit's end is when it became visible.
    auto it = std::lower_bound(events.begin(), events.end(), c.end_lsn,
                               [](const AppliedEvent& e, uint64_t lsn) { return e.lsn < lsn; });
    if (it == events.end()) {
      ++res.never_visible;
      continue;
    }
    from_sent.push_back(Ms(it->at - c.sent));
    double ms = Ms(it->at - c.returned);
    if (ms < 0) {
      ++res.before_return;
      ms = 0;
    }
    lat.push_back(ms);
    sum += ms;
  }
  res.commits = commits.size() - warmup;
  res.achieved_rate = static_cast<double>(res.commits) / res.seconds;
  std::sort(lat.begin(), lat.end());
  std::sort(rtt.begin(), rtt.end());
  std::sort(from_sent.begin(), from_sent.end());
  res.sent_p50 = Percentile(from_sent, 0.50);
  res.sent_p99 = Percentile(from_sent, 0.99);
  res.p50 = Percentile(lat, 0.50);
  res.p90 = Percentile(lat, 0.90);
  res.p99 = Percentile(lat, 0.99);
  res.p999 = Percentile(lat, 0.999);
  res.max = lat.empty() ? 0 : lat.back();
  res.mean = lat.empty() ? 0 : sum / static_cast<double>(lat.size());
  res.rtt_p50 = Percentile(rtt, 0.50);
  res.rtt_p99 = Percentile(rtt, 0.99);
  return res;
}

// ---------------------------------------------------------------- pg_recvlogical

struct RecvResult {
  double seconds = 0;
  double cpu = 0;             // pg_recvlogical itself
  double walsender_cpu = -1;  // its walsender (last sample before it ended)
  double sys_cpu = 0;         // pg_recvlogical's system part
  long switches = 0;          // pg_recvlogical's context switches
};

RecvResult RunRecvLogical(Conn& db, const std::string& bindir, const std::string& conninfo,
                          const std::string& slot, const std::string& endpos) {
  const std::string exe = bindir + "/pg_recvlogical";
  std::vector<std::string> args = {
      exe,       "-d",        conninfo,          "-S", slot,
      "--start", "-o",        "proto_version=1", "-o", "publication_names=canopy",
      "-f",      "/dev/null", "--no-loop",       "-E", endpos};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  RecvResult res;
  pid_t pid = 0;
  const auto t0 = Clock::now();
  if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    Die("spawn " + exe);
  int walsender = 0;
  int status = 0;
  rusage usage{};
  for (;;) {
    const pid_t done = wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) break;
    if (done < 0) Die("wait4 pg_recvlogical");
    if (walsender == 0) {
      const std::string p =
          db.Value("SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '" +
                   slot + "'");
      walsender = std::atoi(p.c_str());
    }
    if (walsender > 0) {
      const double c = PidCpu(walsender);
      if (c >= 0) res.walsender_cpu = c;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(walsender == 0 ? 2 : 10));
  }
  res.seconds = Since(t0);
  res.sys_cpu = static_cast<double>(usage.ru_stime.tv_sec) +
                static_cast<double>(usage.ru_stime.tv_usec) / 1e6;
  res.switches = usage.ru_nvcsw + usage.ru_nivcsw;
  res.cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
            static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("pg_recvlogical failed");
  return res;
}

int SlotPid(Conn& db, const std::string& slot) {
  return std::atoi(
      db.Value("SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '" +
               slot + "'")
          .c_str());
}

}  // namespace

int main() {
  const uint64_t namespaces =
      std::max<uint64_t>(EnvU64("CANOPY_CDC_BENCH_NAMESPACES", 200'000), 100);
  const uint64_t projects = EnvU64("CANOPY_CDC_BENCH_PROJECTS", 2 * namespaces);
  const uint64_t changes = EnvU64("CANOPY_CDC_BENCH_CHANGES", 500'000);
  const uint64_t txn_rows = std::max<uint64_t>(EnvU64("CANOPY_CDC_BENCH_TXN_ROWS", 1000), 1);
  const std::vector<uint64_t> rates = EnvList("CANOPY_CDC_BENCH_LATENCY_RATES", "200,1000");
  const double latency_seconds =
      static_cast<double>(EnvU64("CANOPY_CDC_BENCH_LATENCY_SECONDS", 10));
  const char* bindir_env = std::getenv("PG_BINDIR");
  const std::string bindir =
      bindir_env != nullptr && *bindir_env != 0 ? bindir_env : "/usr/lib/postgresql/15/bin";
  const Shape shape = ShapeOf(namespaces, projects);
  std::fprintf(stderr, "cdc_bench: load average at start %s; %u CPUs\n", LoadAvg().c_str(),
               std::thread::hardware_concurrency());

  OwnCluster cluster;
  std::string admin;
  if (const char* c = std::getenv("CANOPY_CDC_BENCH_CONNINFO"); c != nullptr && *c != 0) {
    admin = c;
  } else {
    admin = cluster.Start();
  }
  {
    Conn a(admin);
    a.Exec("DROP DATABASE IF EXISTS canopy_cdc_bench WITH (FORCE)");
    a.Exec("CREATE DATABASE canopy_cdc_bench");
  }
  const std::string conninfo = admin + " dbname=canopy_cdc_bench";
  Conn db(conninfo);
  std::cerr << "creating " << namespaces << " namespaces, " << projects << " projects...\n";
  auto t0 = Clock::now();
  CreateData(db, shape);
  const double create_seconds = Since(t0);
  const uint64_t links = std::stoull(db.Value("SELECT count(*) FROM ci_runner_namespaces"));
  const uint64_t total_rows = namespaces + projects + links;
  std::fprintf(stderr, "data created in %.1f s; database %s\n", create_seconds,
               db.Value("SELECT pg_size_pretty(pg_database_size(current_database()))").c_str());

  canopy::cdc::ReplicaOptions o;
  // The consumer is paused on purpose while the backlog is written, so the
  // walsender must not time it out. The timeout is long but NOT 0: with 0,
  // PostgreSQL 15's WalSndWriteData never takes its fast path, and every
  // message costs the walsender a recv() and the timeout and keepalive checks.
  // That is about 10% more walsender CPU than pg_recvlogical's walsender
  // (default 60 s) spends on the same backlog, and the walsender is the
  // bottleneck of both. CANOPY_CDC_BENCH_WAL_SENDER_TIMEOUT overrides it
  // (e.g. 0, to see that effect).
  const char* timeout_env = std::getenv("CANOPY_CDC_BENCH_WAL_SENDER_TIMEOUT");
  const std::string sender_timeout =
      timeout_env != nullptr && *timeout_env != 0 ? timeout_env : "1h";
  o.conninfo = conninfo + " options='-c wal_sender_timeout=" + sender_timeout + "'";
  o.create_publication = true;
  o.snapshot_workers = static_cast<int>(
      EnvU64("CANOPY_CDC_BENCH_SNAPSHOT_WORKERS", static_cast<uint64_t>(o.snapshot_workers)));

  // --- COPY baselines: before the replica exists, so nothing else runs -----
  Phase("copy-text");
  const Timed copy_text = CopyTables(conninfo, o.mapping, "");
  Phase("copy-binary");
  const Timed copy_binary = CopyTables(conninfo, o.mapping, " (FORMAT binary)");
  const std::vector<std::string> pieces = LoaderPieces(db, o.mapping, o.snapshot_split_rows);
  Phase("copy-pieces");
  const Timed copy_pieces = CopyPiecesParallel(conninfo, pieces, o.snapshot_workers);

  // --- snapshot load -------------------------------------------------------
  std::atomic<bool> paused{false};
  AppliedLog applied_log;
  o.test_pause_stream = [&paused] { return paused.load(); };
  o.on_applied = [&applied_log](const std::shared_ptr<const canopy::HierarchyIndex>&,
                                canopy::Lsn lsn) {
    if (!applied_log.recording.load(std::memory_order_relaxed)) return;
    const auto at = Clock::now();
    std::lock_guard<std::mutex> lock(applied_log.mu);
    applied_log.events.push_back({at, lsn.value});
  };
  canopy::cdc::Replica replica(o);
  Phase("snapshot");
  double cpu0 = SelfCpu();
  t0 = Clock::now();
  if (!replica.Start().ok()) Die("Replica::Start");
  if (auto s = replica.WaitUntilStreaming(std::chrono::minutes(30)); !s.ok())
    Die("snapshot: " + s.ToString());
  const double load_wall = Since(t0);
  const canopy::cdc::ReplicaStatus after_load = replica.status();
  const double load_snapshot = after_load.last_snapshot_seconds;
  double copy_stage = 0;
  for (const canopy::cdc::TableLoadProgress& p : after_load.tables)
    copy_stage = std::max(copy_stage, p.seconds);
  // Time until the first publish after the snapshot. Before commit c476035
  // that publish replayed the whole snapshot onto the index's second
  // (left-right) copy, and no streamed change was visible until it was done.
  // Since then the copy is built before the index serves, and this is ~0.
  // Nothing may have been written since the slot's consistent point, so
  // commit a transaction that holds only a logical message (pgoutput sends
  // nothing for it without the `messages` option): the replica learns the new
  // position from a keepalive and publishes an empty transaction there.
  Phase("second-copy");
  const auto t1 = Clock::now();
  db.Exec("SELECT pg_logical_emit_message(true, 'canopy_cdc_bench', 'settle')");
  if (auto s = replica.WaitUntilApplied(
          canopy::Lsn::Parse(db.Value("SELECT pg_current_wal_lsn()")).value(),
          std::chrono::minutes(10));
      !s.ok()) {
    Die("catch up: " + s.ToString());
  }
  const double second_copy = Since(t1);
  Phase("snapshot-end");
  const double load_cpu = SelfCpu() - cpu0;
  const canopy::IndexStats index_stats = replica.index()->Stats();
  const double rss_after_load = SelfMemMb("VmRSS:");
  const int walsender = SlotPid(db, after_load.slot_name);

  std::fprintf(stderr, "snapshot: slot %s, walsender pid %d\n", after_load.slot_name.c_str(),
               walsender);
  for (const canopy::cdc::TableLoadProgress& p : after_load.tables) {
    std::fprintf(stderr, "  copied %-28s %9llu rows %8.1f MB in %6.2f s (%.0f rows/s)\n",
                 p.table.c_str(), static_cast<unsigned long long>(p.rows),
                 static_cast<double>(p.bytes) / 1e6, p.seconds, p.rows_per_second);
  }

  // --- commit-to-visible latency under a steady write load ------------------
  std::vector<LatencyResult> latency;
  uint64_t next_id = namespaces + 1;
  if (latency_seconds > 0) {
    for (uint64_t rate : rates) {
      if (rate == 0) continue;
      std::cerr << "latency at " << rate << " commits/s for " << latency_seconds << " s...\n";
      Phase("latency");
      latency.push_back(RunLatency(conninfo, replica, applied_log, shape, rate, latency_seconds,
                                   &next_id, walsender));
    }
  }

  // --- apply backlog vs pg_recvlogical -------------------------------------
  db.Exec("SELECT pg_create_logical_replication_slot('canopy_bench_recv', 'pgoutput')");
  if (auto s = replica.WaitUntilApplied(
          canopy::Lsn::Parse(db.Value("SELECT pg_current_wal_lsn()")).value(),
          std::chrono::minutes(1));
      !s.ok()) {
    Die("catch up: " + s.ToString());
  }
  const uint64_t applied_before = replica.status().changes_applied;
  paused = true;
  Phase("backlog-write");
  std::cerr << "writing a backlog of " << changes << " row changes in transactions of " << txn_rows
            << "...\n";
  t0 = Clock::now();
  for (uint64_t done = 0; done < changes;) {
    const uint64_t first = 1 + done % namespaces;
    const uint64_t rows = std::min({txn_rows, changes - done, namespaces - first + 1});
    db.Exec("UPDATE namespaces SET name = name || '.' WHERE id BETWEEN " + std::to_string(first) +
            " AND " + std::to_string(first + rows - 1));
    done += rows;
  }
  const double write_seconds = Since(t0);
  const std::string target_text = db.Value("SELECT pg_current_wal_lsn()");
  const canopy::Lsn target = canopy::Lsn::Parse(target_text).value();
  const std::string backlog_wal = db.Value(
      "SELECT pg_size_pretty(pg_wal_lsn_diff('" + target_text +
      "', confirmed_flush_lsn)) FROM pg_replication_slots WHERE slot_name = 'canopy_bench_recv'");

  Phase("apply");
  cpu0 = SelfCpu();
  const double sys0 = SelfSysCpu();
  const long switches0 = SelfSwitches();
  const double ws0 = walsender > 0 ? PidCpu(walsender) : -1;
  t0 = Clock::now();
  paused = false;
  if (auto s = replica.WaitUntilApplied(target, std::chrono::minutes(30)); !s.ok())
    Die("apply: " + s.ToString());
  const double apply_seconds = Since(t0);
  const double apply_cpu = SelfCpu() - cpu0;
  const double apply_sys = SelfSysCpu() - sys0;
  const long apply_switches = SelfSwitches() - switches0;
  const double apply_ws_cpu = ws0 >= 0 ? PidCpu(walsender) - ws0 : -1;
  const uint64_t applied = replica.status().changes_applied - applied_before;
  replica.Stop();

  Phase("recvlogical");
  const RecvResult recv = RunRecvLogical(db, bindir, conninfo, "canopy_bench_recv", target_text);
  db.Exec("SELECT pg_drop_replication_slot('canopy_bench_recv')");
  Phase("end");
  const double peak_rss = SelfMemMb("VmHWM:");

  // --- report --------------------------------------------------------------
  auto rate_of = [](uint64_t rows, double s) { return static_cast<double>(rows) / s; };
  std::printf(
      "\ncdc_bench: %llu namespaces, %llu projects, %llu runner links (%llu rows); backlog %llu "
      "row "
      "changes in transactions of %llu\n",
      static_cast<unsigned long long>(namespaces), static_cast<unsigned long long>(projects),
      static_cast<unsigned long long>(links), static_cast<unsigned long long>(total_rows),
      static_cast<unsigned long long>(applied), static_cast<unsigned long long>(txn_rows));
  std::printf("%-50s %9s %12s %7s %9s\n", "what", "seconds", "rows/s", "ratio", "bench CPU");
  auto row = [&](const char* what, double s, uint64_t rows, double ratio, double cpu) {
    char cpu_text[32] = "";
    if (cpu >= 0) std::snprintf(cpu_text, sizeof cpu_text, "%.2f", cpu);
    std::printf("%-50s %9.2f %12.0f %7.2f %9s\n", what, s, rate_of(rows, s), ratio, cpu_text);
  };
  row("COPY TO STDOUT, text, 1 connection (base)", copy_text.seconds, total_rows, 1.0,
      copy_text.cpu);
  row("COPY TO STDOUT, binary, 1 connection", copy_binary.seconds, total_rows,
      copy_text.seconds / copy_binary.seconds, copy_binary.cpu);
  char what[96];
  std::snprintf(what, sizeof what, "COPY loader's %zu pieces, text, %d connections", pieces.size(),
                o.snapshot_workers);
  row(what, copy_pieces.seconds, total_rows, copy_text.seconds / copy_pieces.seconds,
      copy_pieces.cpu);
  row("canopy snapshot: copy stage (COPY + parse)", copy_stage, total_rows,
      copy_text.seconds / copy_stage, -1);
  row("canopy snapshot (copy + build), as reported", load_snapshot, total_rows,
      copy_text.seconds / load_snapshot, -1);
  row("canopy start -> streaming (incl. slot)", load_wall, total_rows,
      copy_text.seconds / load_wall, -1);
  row("canopy start -> first publish (+ 2nd copy)", load_wall + second_copy, total_rows,
      copy_text.seconds / (load_wall + second_copy), load_cpu);
  row("pg_recvlogical drain to /dev/null (base)", recv.seconds, applied, 1.0, recv.cpu);
  row("canopy apply from backlog", apply_seconds, applied, recv.seconds / apply_seconds, apply_cpu);
  std::printf(
      "(snapshot: build %.2f s after the copy stage, 2nd copy at first publish %.2f s; bench CPU "
      "for start -> first publish %.2f s; COPY text %.1f MB, binary %.1f MB; index %llu "
      "namespaces, "
      "%llu projects, ~%.0f MB both copies)\n",
      load_snapshot - copy_stage, second_copy, load_cpu, static_cast<double>(copy_text.bytes) / 1e6,
      static_cast<double>(copy_binary.bytes) / 1e6,
      static_cast<unsigned long long>(index_stats.namespaces),
      static_cast<unsigned long long>(index_stats.projects),
      static_cast<double>(index_stats.memory_bytes) / 1e6);
  std::printf(
      "(apply: walsender CPU %.2f s while canopy applied in %.2f s wall (canopy %.2f s CPU, "
      "%.2f s of it system, %ld context switches); %.2f s while pg_recvlogical drained in "
      "%.2f s wall (pg_recvlogical %.2f s CPU, %.2f s system, %ld context switches); backlog %s "
      "of WAL, written in %.2f s)\n",
      apply_ws_cpu, apply_seconds, apply_cpu, apply_sys, apply_switches, recv.walsender_cpu,
      recv.seconds, recv.cpu, recv.sys_cpu, recv.switches, backlog_wal.c_str(), write_seconds);
  if (!latency.empty()) {
    std::printf(
        "\ncommit-to-visible (commit returned on the client -> index applied LSN >= commit end "
        "LSN)\n");
    std::printf("%8s %10s %7s %7s %7s %7s %7s %7s %6s | %8s %8s | %7s %7s\n", "target/s",
                "achieved/s", "commits", "p50 ms", "p90 ms", "p99 ms", "p99.9", "max ms", "early",
                "sent p50", "sent p99", "rtt p50", "rtt p99");
    for (const LatencyResult& l : latency) {
      std::printf(
          "%8llu %10.1f %7zu %7.3f %7.3f %7.3f %7.3f %7.3f %5.1f%% | %8.3f %8.3f | %7.3f %7.3f\n",
          static_cast<unsigned long long>(l.target_rate), l.achieved_rate, l.commits, l.p50, l.p90,
          l.p99, l.p999, l.max,
          l.commits ? 100.0 * static_cast<double>(l.before_return) / static_cast<double>(l.commits)
                    : 0.0,
          l.sent_p50, l.sent_p99, l.rtt_p50, l.rtt_p99);
    }
    std::printf(
        "(early: visible before the COMMIT round trip returned, counted as 0 ms; sent: from "
        "sending the "
        "transaction, i.e. including that round trip; rtt: the transaction's round trip)\n");
    for (const LatencyResult& l : latency) {
      std::printf(
          "(at %llu/s: %zu subgroup creates, %zu archive toggles, %zu subgroup moves; mean %.3f "
          "ms; "
          "%zu/%zu end LSNs from pg_walinspect, the rest pg_current_wal_insert_lsn(); %zu never "
          "visible; bench CPU %.2f s, walsender CPU %.2f s in %.1f s)\n",
          static_cast<unsigned long long>(l.target_rate), l.kinds[0], l.kinds[1], l.kinds[2],
          l.mean, l.exact_lsns, l.commits, l.never_visible, l.self_cpu, l.walsender_cpu, l.seconds);
    }
  }
  std::printf("(memory: bench RSS %.0f MB after the load, peak %.0f MB; load average at end %s)\n",
              rss_after_load, peak_rss, LoadAvg().c_str());
  std::printf(
      "aims: load >= 0.8x raw COPY, apply >= 0.9x pg_recvlogical, visible p99 <= 10 "
      "ms\n");
  if (applied != changes) {
    std::fprintf(stderr, "cdc_bench: applied %llu row changes, expected %llu\n",
                 static_cast<unsigned long long>(applied),
                 static_cast<unsigned long long>(changes));
    return 1;
  }
  return 0;
}
