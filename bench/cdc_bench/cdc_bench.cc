// cdc_bench.cc — canopy_cdc_bench's main: canopy::cdc against a real PostgreSQL 15, side by side
// with PostgreSQL's own tools :
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
// The database is a generated GitLab-shaped forest (canopy::testing) in
// GitLab's schema (testing/sql), on a throwaway cluster or a given server.
// It also prints CPU seconds per phase (this process; the walsender serving
// it) so that "who is the bottleneck" can be read off a run.
//
// Environment:
//   CANOPY_CDC_BENCH_NAMESPACES   users + groups, default 200000 (project
//                                 namespaces come on top, one per project)
//   CANOPY_CDC_BENCH_PROJECTS     default 2 x namespaces
//   CANOPY_CDC_BENCH_CHANGES      backlog row changes, default 500000
//   CANOPY_CDC_BENCH_TXN_ROWS     rows per backlog transaction, default 1000
//   CANOPY_CDC_BENCH_LATENCY_RATES    commits/s of the latency runs, comma
//                                     separated, default "200,1000"
//   CANOPY_CDC_BENCH_LATENCY_SECONDS  seconds measured per rate, default 10
//                                     (0 skips the latency runs)
//   CANOPY_CDC_BENCH_FEED_SUBSCRIBERS with N > 0, the replica keeps a change
//                                     feed and N subscribers read it from the
//                                     snapshot on: the latency runs add
//                                     commit-to-delivered, and the backlog is
//                                     applied while they drain it
//   CANOPY_CDC_BENCH_FEED_OVER        how they read (feed_readers.h): "process"
//                                     (default) or "unix" (canopy::net::Server
//                                     and a canopy::net::Client each)
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
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../machine_facts.h"
#include "canopy/cdc/replica.h"
#include "canopy/testing/pg_cluster.h"
#include "commit_latency.h"
#include "common.h"
#include "copy_baselines.h"
#include "feed_readers.h"
#include "gitlab_data.h"
#include "recvlogical.h"

namespace canopy::bench::cdc_bench {
namespace {

// Waits until `replica` has applied the server's current WAL position.
void CatchUp(canopy::cdc::Replica& replica, PgConnection& db, std::chrono::minutes limit) {
  if (Status s = replica.WaitUntilApplied(OrDie(db.CurrentWalLsn()), limit); !s.ok()) {
    Die("catch up: " + s.ToString());
  }
}

}  // namespace

int Run() {
  const uint64_t namespaces =
      std::max<uint64_t>(EnvUint64("CANOPY_CDC_BENCH_NAMESPACES", 200'000), 100);
  const uint64_t projects = EnvUint64("CANOPY_CDC_BENCH_PROJECTS", 2 * namespaces);
  const uint64_t changes = EnvUint64("CANOPY_CDC_BENCH_CHANGES", 500'000);
  const uint64_t txn_rows = std::max<uint64_t>(EnvUint64("CANOPY_CDC_BENCH_TXN_ROWS", 1000), 1);
  const std::vector<uint64_t> rates = EnvList("CANOPY_CDC_BENCH_LATENCY_RATES", "200,1000");
  const double latency_seconds =
      static_cast<double>(EnvUint64("CANOPY_CDC_BENCH_LATENCY_SECONDS", 10));
  const char* bindir_env = std::getenv("PG_BINDIR");
  const std::string bindir =
      bindir_env != nullptr && *bindir_env != 0 ? bindir_env : "/usr/lib/postgresql/15/bin";
  std::fprintf(stderr, "cdc_bench: load average at start %s; %u CPUs\n", LoadAverage().c_str(),
               std::thread::hardware_concurrency());

  testing::ThrowawayCluster cluster;
  StopClusterOnDie(&cluster);
  struct Unregister {  // before `cluster` goes: a later Die must not reach it
    ~Unregister() { StopClusterOnDie(nullptr); }
  } unregister;
  const char* given = std::getenv("CANOPY_CDC_BENCH_CONNINFO");
  const std::string admin = given != nullptr && *given != 0
                                ? std::string(given)
                                : OrDie(cluster.Start("", "canopy-cdc-bench"));
  const std::string conninfo = OrDie(testing::RecreateDatabase(admin, "canopy_cdc_bench"));
  std::unique_ptr<PgConnection> db_connection = ConnectOrDie(conninfo);
  PgConnection& db = *db_connection;
  std::cerr << "creating " << namespaces << " namespaces, " << projects << " projects...\n";
  auto t0 = Clock::now();
  const BenchData data = CreateBenchData(db, namespaces, projects);
  const double create_seconds = SecondsSince(t0);
  const uint64_t links = data.runner_link_rows;
  const uint64_t total_rows = data.namespace_ids.size() + data.project_ids.size() + links;
  std::fprintf(
      stderr, "data created in %.1f s; database %s\n", create_seconds,
      ValueOrDie(db, "SELECT pg_size_pretty(pg_database_size(current_database()))").c_str());

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
      EnvUint64("CANOPY_CDC_BENCH_SNAPSHOT_WORKERS", static_cast<uint64_t>(o.snapshot_workers)));

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
  const uint64_t subscribers = EnvUint64("CANOPY_CDC_BENCH_FEED_SUBSCRIBERS", 0);
  if (subscribers > 0) {
    o.feed = {.max_transactions = 10'000'000, .max_bytes = size_t{8} << 30};
  }
  canopy::cdc::Replica replica(o);
  Phase("snapshot");
  const double cpu0 = SelfCpuUsage().cpu_seconds;
  t0 = Clock::now();
  if (!replica.Start().ok()) Die("Replica::Start");
  if (auto s = replica.WaitUntilStreaming(std::chrono::minutes(30)); !s.ok())
    Die("snapshot: " + s.ToString());
  const double load_wall = SecondsSince(t0);
  const canopy::cdc::ReplicaStatus after_load = replica.status();
  const double load_snapshot = after_load.last_snapshot_seconds;
  double copy_stage = 0;
  for (const canopy::cdc::TableLoadProgress& p : after_load.tables)
    copy_stage = std::max(copy_stage, p.seconds);
  // Time until the first publish after the snapshot: ~0, as the index's
  // second (left-right) copy is built before the index serves; a replay of
  // the snapshot deferred to this publish would show here.
  // Nothing may have been written since the slot's consistent point, so
  // commit a transaction that holds only a logical message (pgoutput sends
  // nothing for it without the `messages` option): the replica learns the new
  // position from a keepalive and publishes an empty transaction there.
  Phase("second-copy");
  const auto t1 = Clock::now();
  ExecOrDie(db, "SELECT pg_logical_emit_message(true, 'canopy_cdc_bench', 'settle')");
  CatchUp(replica, db, std::chrono::minutes(10));
  const double second_copy = SecondsSince(t1);
  Phase("snapshot-end");
  const double load_cpu = SelfCpuUsage().cpu_seconds - cpu0;
  const canopy::IndexStats index_stats = replica.index()->Stats();
  const double rss_after_load = static_cast<double>(testing::SelfMemoryBytes("VmRSS:")) / (1 << 20);
  const int walsender = SlotPid(db, after_load.slot_name);

  std::fprintf(stderr, "snapshot: slot %s, walsender pid %d\n", after_load.slot_name.c_str(),
               walsender);
  for (const canopy::cdc::TableLoadProgress& p : after_load.tables) {
    std::fprintf(stderr, "  copied %-28s %9" PRIu64 " rows %8.1f MB in %6.2f s (%.0f rows/s)\n",
                 p.table.c_str(), p.rows, static_cast<double>(p.bytes) / 1e6, p.seconds,
                 p.rows_per_second);
  }

  // --- change-feed subscribers (CANOPY_CDC_BENCH_FEED_SUBSCRIBERS) ----------
  // Each reads the feed from here on as a consumer would (batches of up to
  // 256 transactions) and logs (when, position) while the latency runs record.
  const char* over_env = std::getenv("CANOPY_CDC_BENCH_FEED_OVER");
  std::unique_ptr<FeedReaders> readers;
  std::vector<AppliedLog*> delivered;
  if (subscribers > 0) {
    readers = std::make_unique<FeedReaders>(
        replica, subscribers, over_env != nullptr && *over_env != 0 ? over_env : "process");
    delivered = readers->logs();
  }

  // --- commit-to-visible latency under a steady write load ------------------
  std::vector<LatencyResult> latency;
  int64_t next_id = data.next_namespace_id;
  if (latency_seconds > 0) {
    for (uint64_t rate : rates) {
      if (rate == 0) continue;
      std::cerr << "latency at " << rate << " commits/s for " << latency_seconds << " s...\n";
      Phase("latency");
      latency.push_back(RunLatency(conninfo, replica, applied_log, delivered, data, rate,
                                   latency_seconds, &next_id, walsender));
    }
  }

  // --- apply backlog vs pg_recvlogical -------------------------------------
  ExecOrDie(db, "SELECT pg_create_logical_replication_slot('canopy_bench_recv', 'pgoutput')");
  CatchUp(replica, db, std::chrono::minutes(1));
  const uint64_t applied_before = replica.status().changes_applied;
  paused = true;
  Phase("backlog-write");
  std::cerr << "writing a backlog of " << changes << " row changes in transactions of " << txn_rows
            << "...\n";
  t0 = Clock::now();
  // Every namespace row in turn, by position in the ascending id list (one
  // row change per row in the range).
  const std::vector<int64_t>& ids = data.namespace_ids;
  for (uint64_t done = 0; done < changes;) {
    const uint64_t first = done % ids.size();
    const uint64_t rows = std::min({txn_rows, changes - done, ids.size() - first});
    ExecOrDie(db, "UPDATE namespaces SET name = name || '.' WHERE id BETWEEN " +
                      std::to_string(ids[first]) + " AND " + std::to_string(ids[first + rows - 1]));
    done += rows;
  }
  const double write_seconds = SecondsSince(t0);
  const std::string target_text = ValueOrDie(db, "SELECT pg_current_wal_lsn()");
  const canopy::Lsn target = canopy::Lsn::Parse(target_text).value();
  const std::string backlog_wal =
      ValueOrDie(db, "SELECT pg_size_pretty(pg_wal_lsn_diff('" + target_text +
                         "', confirmed_flush_lsn)) FROM pg_replication_slots WHERE slot_name = "
                         "'canopy_bench_recv'");

  Phase("apply");
  const testing::CpuUsage self0 = SelfCpuUsage();
  const double readers_cpu0 = readers ? readers->CpuSeconds() : 0;
  const double ws0 = walsender > 0 ? PidCpu(walsender) : -1;
  t0 = Clock::now();
  paused = false;
  if (auto s = replica.WaitUntilApplied(target, std::chrono::minutes(30)); !s.ok())
    Die("apply: " + s.ToString());
  const double apply_seconds = SecondsSince(t0);
  const testing::CpuUsage self1 = SelfCpuUsage();
  const double apply_cpu = self1.cpu_seconds - self0.cpu_seconds;
  const double apply_sys = self1.system_seconds - self0.system_seconds;
  const long apply_switches = self1.context_switches - self0.context_switches;
  const double readers_cpu = readers ? readers->CpuSeconds() - readers_cpu0 : 0;
  const double apply_ws_cpu = ws0 >= 0 ? PidCpu(walsender) - ws0 : -1;
  const uint64_t applied = replica.status().changes_applied - applied_before;
  const std::string readers_where = readers ? readers->Describe() : "";
  const bool readers_over_socket = readers && readers->over_socket();
  readers.reset();
  replica.Stop();

  Phase("recvlogical");
  const RecvResult recv = RunRecvLogical(db, bindir, conninfo, "canopy_bench_recv", target_text);
  ExecOrDie(db, "SELECT pg_drop_replication_slot('canopy_bench_recv')");
  Phase("end");
  const double peak_rss = static_cast<double>(testing::SelfMemoryBytes("VmHWM:")) / (1 << 20);

  // --- report --------------------------------------------------------------
  std::printf("\ncdc_bench: %zu namespaces, %zu projects, %" PRIu64 " runner links (%" PRIu64
              " rows); backlog %" PRIu64 " row changes in transactions of %" PRIu64 "\n",
              data.namespace_ids.size(), data.project_ids.size(), links, total_rows, applied,
              txn_rows);
  std::printf("%-50s %9s %12s %7s %9s\n", "what", "seconds", "rows/s", "ratio", "bench CPU");
  // ratio: the base's seconds / these (1 for the base itself); cpu < 0: not shown.
  auto row = [&](const char* what, double s, uint64_t rows, double base, double cpu) {
    char cpu_text[32] = "";
    if (cpu >= 0) std::snprintf(cpu_text, sizeof cpu_text, "%.2f", cpu);
    std::printf("%-50s %9.2f %12.0f %7.2f %9s\n", what, s, static_cast<double>(rows) / s, base / s,
                cpu_text);
  };
  const double text = copy_text.seconds;
  row("COPY TO STDOUT, text, 1 connection (base)", text, total_rows, text, copy_text.cpu);
  row("COPY TO STDOUT, binary, 1 connection", copy_binary.seconds, total_rows, text,
      copy_binary.cpu);
  char what[96];
  std::snprintf(what, sizeof what, "COPY loader's %zu pieces, text, %d connections", pieces.size(),
                o.snapshot_workers);
  row(what, copy_pieces.seconds, total_rows, text, copy_pieces.cpu);
  row("canopy snapshot: copy stage (COPY + parse)", copy_stage, total_rows, text, -1);
  row("canopy snapshot (copy + build), as reported", load_snapshot, total_rows, text, -1);
  row("canopy start -> streaming (incl. slot)", load_wall, total_rows, text, -1);
  row("canopy start -> first publish (+ 2nd copy)", load_wall + second_copy, total_rows, text,
      load_cpu);
  row("pg_recvlogical drain to /dev/null (base)", recv.seconds, applied, recv.seconds, recv.cpu);
  if (subscribers > 0) {
    std::snprintf(what, sizeof what, "canopy apply from backlog, %" PRIu64 " feed subscribers%s",
                  subscribers, readers_over_socket ? " (socket)" : "");
  } else {
    std::snprintf(what, sizeof what, "canopy apply from backlog");
  }
  row(what, apply_seconds, applied, recv.seconds, apply_cpu);
  std::printf(
      "(snapshot: build %.2f s after the copy stage, 2nd copy at first publish %.2f s; bench CPU "
      "for start -> first publish %.2f s; COPY text %.1f MB, binary %.1f MB; index %" PRIu64
      " namespaces, %" PRIu64 " projects, ~%.0f MB both copies)\n",
      load_snapshot - copy_stage, second_copy, load_cpu, static_cast<double>(copy_text.bytes) / 1e6,
      static_cast<double>(copy_binary.bytes) / 1e6, index_stats.namespaces, index_stats.projects,
      static_cast<double>(index_stats.memory_bytes) / 1e6);
  std::printf(
      "(apply: walsender CPU %.2f s while canopy applied in %.2f s wall (canopy %.2f s CPU, "
      "%.2f s of it system, %.2f s of it the subscribers' threads, %ld context switches); %.2f s "
      "while pg_recvlogical drained in "
      "%.2f s wall (pg_recvlogical %.2f s CPU, %.2f s system, %ld context switches); backlog %s "
      "of WAL, written in %.2f s)\n",
      apply_ws_cpu, apply_seconds, apply_cpu, apply_sys, readers_cpu, apply_switches,
      recv.walsender_cpu, recv.seconds, recv.cpu, recv.sys_cpu, recv.switches, backlog_wal.c_str(),
      write_seconds);
  if (!latency.empty()) {
    std::printf(
        "\ncommit-to-visible (commit returned on the client -> index applied LSN >= commit end "
        "LSN)\n");
    std::printf("%8s %10s %7s %7s %7s %7s %7s %7s %6s | %8s %8s | %7s %7s\n", "target/s",
                "achieved/s", "commits", "p50 ms", "p90 ms", "p99 ms", "p99.9", "max ms", "early",
                "sent p50", "sent p99", "rtt p50", "rtt p99");
    for (const LatencyResult& l : latency) {
      std::printf(
          "%8" PRIu64
          " %10.1f %7zu %7.3f %7.3f %7.3f %7.3f %7.3f %5.1f%% | %8.3f %8.3f | %7.3f %7.3f\n",
          l.target_rate, l.achieved_rate, l.commits, l.p50, l.p90, l.p99, l.p999, l.max,
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
          "(at %" PRIu64
          "/s: %zu subgroup creates, %zu archive toggles, %zu subgroup moves; mean %.3f "
          "ms; "
          "%zu/%zu end LSNs from pg_walinspect, the rest pg_current_wal_insert_lsn(); %zu never "
          "visible; bench CPU %.2f s, walsender CPU %.2f s in %.1f s)\n",
          l.target_rate, l.kinds[0], l.kinds[1], l.kinds[2], l.mean, l.exact_lsns, l.commits,
          l.never_visible, l.self_cpu, l.walsender_cpu, l.seconds);
    }
    if (subscribers > 0) {
      std::printf("\ncommit-to-delivered, %" PRIu64
                  " change-feed subscribers %s (commit returned -> the subscriber "
                  "received a position >= commit end LSN)\n",
                  subscribers, readers_where.c_str());
      for (const LatencyResult& l : latency) {
        std::printf("  at %" PRIu64
                    "/s: p50 %.3f ms, p99 %.3f ms, max %.3f ms over %zu deliveries (%zu never)\n",
                    l.target_rate, l.delivered.p50, l.delivered.p99, l.delivered.max,
                    l.delivered.deliveries, l.delivered.never);
      }
    }
  }
  std::printf("(memory: bench RSS %.0f MB after the load, peak %.0f MB; load average at end %s)\n",
              rss_after_load, peak_rss, LoadAverage().c_str());
  std::printf(
      "aims: load >= 0.8x raw COPY, apply >= 0.9x pg_recvlogical, visible p99 <= 10 "
      "ms\n");
  if (applied != changes) {
    std::fprintf(stderr, "cdc_bench: applied %" PRIu64 " row changes, expected %" PRIu64 "\n",
                 applied, changes);
    return 1;
  }
  return 0;
}

}  // namespace canopy::bench::cdc_bench

int main() { return canopy::bench::cdc_bench::Run(); }
