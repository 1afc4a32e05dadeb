// cdc_bench — canopy::cdc against a real PostgreSQL 15, side by side with
// PostgreSQL's own tools:
//   * snapshot load (Replica start -> streaming: slot, parallel COPY, build)
//     vs a plain `COPY ... TO STDOUT` of the same tables and columns;
//   * apply throughput from a backlog of row changes (the consumer paused
//     while the backlog is written, then released) vs pg_recvlogical
//     (pgoutput, proto_version 1) draining the same backlog to /dev/null.
// A plain program (not Google Benchmark): prints one small table.
//
// Environment:
//   CANOPY_CDC_BENCH_NAMESPACES   default 200000
//   CANOPY_CDC_BENCH_PROJECTS     default 2 x namespaces
//   CANOPY_CDC_BENCH_CHANGES      backlog row changes, default 500000
//   CANOPY_CDC_BENCH_TXN_ROWS     rows per backlog transaction, default 1000
//   CANOPY_CDC_BENCH_CONNINFO     an existing server (superuser); else a
//                                 throwaway cluster is started with
//                                 scripts/pg-test-cluster and removed after
//   PG_BINDIR                     where pg_recvlogical is (default
//                                 /usr/lib/postgresql/15/bin)
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "canopy/cdc/replica.h"

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0 ? std::strtoull(v, nullptr, 10) : fallback;
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "cdc_bench: " << what << "\n";
  std::exit(1);
}

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
  std::string Value(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
      Die(sql + ": " + PQerrorMessage(c_));
    std::string v = PQgetvalue(r, 0, 0);
    PQclear(r);
    return v;
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

void CreateData(Conn& db, uint64_t namespaces, uint64_t projects) {
  const std::string n = std::to_string(namespaces), groups = std::to_string(namespaces / 2),
                    roots = std::to_string(std::max<uint64_t>(namespaces / 100, 1)),
                    p = std::to_string(projects);
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
  // Groups 1..n/2 (a forest: roots 1..n/100, every other group under id/3),
  // user namespaces above; projects in groups; runner links on some groups.
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
          " FROM generate_series(1, " + std::to_string(namespaces / 20 + 1) + ") g");
  db.Exec("VACUUM ANALYZE");
}

}  // namespace

int main() {
  const uint64_t namespaces = EnvU64("CANOPY_CDC_BENCH_NAMESPACES", 200'000);
  const uint64_t projects = EnvU64("CANOPY_CDC_BENCH_PROJECTS", 2 * namespaces);
  const uint64_t changes = EnvU64("CANOPY_CDC_BENCH_CHANGES", 500'000);
  const uint64_t txn_rows = std::max<uint64_t>(EnvU64("CANOPY_CDC_BENCH_TXN_ROWS", 1000), 1);
  const char* bindir_env = std::getenv("PG_BINDIR");
  const std::string bindir =
      bindir_env != nullptr && *bindir_env != 0 ? bindir_env : "/usr/lib/postgresql/15/bin";

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
  CreateData(db, namespaces, projects);
  const uint64_t links = std::stoull(db.Value("SELECT count(*) FROM ci_runner_namespaces"));
  const uint64_t total_rows = namespaces + projects + links;

  // --- snapshot load vs COPY TO STDOUT -------------------------------------
  std::atomic<bool> paused{false};
  canopy::cdc::ReplicaOptions o;
  o.conninfo =
      conninfo + " options='-c wal_sender_timeout=0'";  // the consumer is paused on purpose
  o.create_publication = true;
  o.test_pause_stream = [&paused] { return paused.load(); };
  canopy::cdc::Replica replica(o);
  auto t0 = Clock::now();
  if (!replica.Start().ok()) Die("Replica::Start");
  if (auto s = replica.WaitUntilStreaming(std::chrono::minutes(30)); !s.ok())
    Die("snapshot: " + s.ToString());
  const double load_wall = Since(t0);
  const double load_snapshot = replica.status().last_snapshot_seconds;

  t0 = Clock::now();
  uint64_t copy_bytes = 0;
  {
    Conn c(conninfo);
    copy_bytes +=
        c.CopyOut("COPY namespaces (id, parent_id, type, name, path, visibility_level) TO STDOUT");
    copy_bytes += c.CopyOut(
        "COPY projects (id, namespace_id, project_namespace_id, name, path, visibility_level, "
        "archived, pending_delete) TO STDOUT");
    copy_bytes += c.CopyOut("COPY ci_runner_namespaces (id, runner_id, namespace_id) TO STDOUT");
  }
  const double copy_seconds = Since(t0);

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

  t0 = Clock::now();
  paused = false;
  if (auto s = replica.WaitUntilApplied(target, std::chrono::minutes(30)); !s.ok())
    Die("apply: " + s.ToString());
  const double apply_seconds = Since(t0);
  const uint64_t applied = replica.status().changes_applied - applied_before;
  replica.Stop();

  const std::string recv =
      "'" + bindir + "/pg_recvlogical' -d \"" + conninfo +
      "\" -S canopy_bench_recv --start -o proto_version=1 -o publication_names=canopy "
      "-f /dev/null --no-loop -E " +
      target_text;
  t0 = Clock::now();
  if (std::system(recv.c_str()) != 0) Die("pg_recvlogical failed: " + recv);
  const double recv_seconds = Since(t0);
  db.Exec("SELECT pg_drop_replication_slot('canopy_bench_recv')");

  std::printf(
      "\ncdc_bench: %llu namespaces, %llu projects, %llu runner links; backlog %llu row changes\n",
      static_cast<unsigned long long>(namespaces), static_cast<unsigned long long>(projects),
      static_cast<unsigned long long>(links), static_cast<unsigned long long>(applied));
  std::printf("%-44s %10s %14s %8s\n", "what", "seconds", "rows/s", "ratio");
  std::printf("%-44s %10.2f %14.0f %8s\n", "COPY TO STDOUT, 3 tables, 1 connection", copy_seconds,
              static_cast<double>(total_rows) / copy_seconds, "1.00");
  std::printf("%-44s %10.2f %14.0f %8.2f\n", "canopy snapshot (copy + build)", load_snapshot,
              static_cast<double>(total_rows) / load_snapshot, copy_seconds / load_snapshot);
  std::printf("%-44s %10.2f %14.0f %8.2f\n", "canopy start -> streaming (incl. slot)", load_wall,
              static_cast<double>(total_rows) / load_wall, copy_seconds / load_wall);
  std::printf("%-44s %10.2f %14.0f %8s\n", "pg_recvlogical drain to /dev/null", recv_seconds,
              static_cast<double>(applied) / recv_seconds, "1.00");
  std::printf("%-44s %10.2f %14.0f %8.2f\n", "canopy apply from backlog", apply_seconds,
              static_cast<double>(applied) / apply_seconds, recv_seconds / apply_seconds);
  std::printf("(backlog written in %.2f s; COPY %.1f MB)\n", write_seconds,
              static_cast<double>(copy_bytes) / 1e6);
  if (applied != changes) {
    std::fprintf(stderr, "cdc_bench: applied %llu row changes, expected %llu\n",
                 static_cast<unsigned long long>(applied),
                 static_cast<unsigned long long>(changes));
    return 1;
  }
  return 0;
}
