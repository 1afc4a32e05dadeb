// Faults against a PostgreSQL 15 of the test's own (scripts/pg-test-cluster
// in a temporary directory, so the shared fixture cluster is not disturbed):
//   * PostgreSQL restarted (pg_ctl restart -m fast, then -m immediate) while
//     transactions stream;
//   * the consumer paused longer than wal_sender_timeout.
// Each time the replica recovers by itself and ends equal to SQL. With a
// permanent slot no transaction is applied twice or lost: the test writes one
// namespace per transaction with consecutive ids, and the index must hold
// every id and have applied exactly one transaction per committed insert.
// Labels: cdc, e2e.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>

#include "canopy/cdc/replica.h"
#include "canopy/cdc/verify.h"
#include "canopy/testing/gitlab_forest.h"
#include "canopy/testing/pg_connection.h"
#include "gitlab_schema.h"
#include "pg_fixture.h"

namespace canopy::cdc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kCounterBase = 9'000'000;

ReplicaOptions Options(const std::string& conninfo, const std::string& slot) {
  ReplicaOptions o;
  o.conninfo = conninfo;
  o.create_publication = true;
  o.slot_name = slot;
  o.snapshot_workers = 2;
  o.status_interval = milliseconds(200);
  o.reconnect_min_backoff = milliseconds(50);
  o.reconnect_max_backoff = milliseconds(500);
  if (std::getenv("CANOPY_TEST_VERBOSE") != nullptr)
    o.log = [](const LogRecord& r) { std::cerr << r.message << "\n"; };
  return o;
}

// Options whose stream stalls (reads and writes nothing) while *paused.
ReplicaOptions PausableOptions(const std::string& conninfo, const std::string& slot,
                               const std::atomic<bool>* paused) {
  ReplicaOptions o = Options(conninfo, slot);
  o.test_pause_stream = [paused] { return paused->load(); };
  return o;
}

void StartStreaming(Replica& replica) {
  ASSERT_TRUE(replica.Start().ok());
  Status st = replica.WaitUntilStreaming(seconds(60));
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// Inserts namespaces kCounterBase + i, one transaction each, until `count`
// are committed. Survives a server restart: reconnects and continues after
// the highest committed id (so an insert whose commit was cut off is neither
// lost nor doubled). Returns false if the server stayed away for 60 s.
bool WriteCounterTxns(const std::string& conninfo, int64_t count, std::atomic<int64_t>* committed) {
  std::unique_ptr<canopy::testing::PgConnection> conn;
  const auto give_up = [] { return std::chrono::steady_clock::now() + seconds(60); };
  auto deadline = give_up();
  int64_t next = -1;
  while (next < count) {
    if (conn == nullptr || PQstatus(conn->raw()) != CONNECTION_OK) {
      conn.reset();
      auto opened = canopy::testing::PgConnection::Open(conninfo);
      if (!opened.ok()) {
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(milliseconds(50));
        continue;
      }
      conn = std::move(opened).value();
      Result<std::string> first =
          conn->Value("SELECT coalesce(max(id) - " + std::to_string(kCounterBase) +
                      " + 1, 0) FROM namespaces WHERE id >= " + std::to_string(kCounterBase));
      if (!first.ok()) {
        conn.reset();
        continue;
      }
      next = std::stoll(first.value());
      committed->store(next);
    }
    const std::string id = std::to_string(kCounterBase + next);
    const Status inserted = conn->Exec(
        "INSERT INTO namespaces (id, name, path, type, visibility_level, traversal_ids) "
        "VALUES (" +
        id + ", 'counter " + id + "', 'counter-" + id + "', 'User', 20, ARRAY[" + id +
        "]::bigint[])");
    if (inserted.ok()) {
      committed->store(++next);
      deadline = give_up();
    } else {
      conn.reset();  // re-read the committed position after reconnecting
    }
  }
  return next == count;
}

// The replica holds every counter namespace, has applied exactly `count`
// transactions since `applied_before`, and answers like SQL everywhere.
void ExpectExactlyOnceAndEqual(Replica& replica, const std::string& conninfo, int64_t count,
                               uint64_t applied_before) {
  Sql sql(conninfo);
  ASSERT_TRUE(sql.ok());
  ASSERT_EQ(
      sql.Value("SELECT count(*) FROM namespaces WHERE id >= " + std::to_string(kCounterBase)),
      std::to_string(count));
  Status s = replica.WaitUntilApplied(sql.CurrentWalLsn(), seconds(60));
  ASSERT_TRUE(s.ok()) << s.ToString() << " " << replica.status().last_error;
  auto index = replica.index();
  ASSERT_NE(index, nullptr);
  {
    ReadView view = index->Read();
    std::vector<int64_t> ids = view.ListNamespaceIds();
    int64_t found = 0;
    for (int64_t id : ids) {
      if (id >= kCounterBase) {
        EXPECT_EQ(id, kCounterBase + found) << "counter ids not consecutive";
        ++found;
      }
    }
    EXPECT_EQ(found, count) << "lost counter transactions";
  }
  const ReplicaStatus st = replica.status();
  std::cerr << "replica: reconnects " << st.reconnects << ", snapshots " << st.snapshots
            << ", applied " << st.transactions_applied << ", skipped (replayed) "
            << st.transactions_skipped << ", last error: " << st.last_error << "\n";
  EXPECT_EQ(st.snapshots, 1u) << "resumed from the permanent slot, no new snapshot";
  EXPECT_GE(st.reconnects, 1u);
  // One applied index transaction per committed insert: none twice, none lost.
  EXPECT_EQ(index->Stats().transactions_applied - applied_before, static_cast<uint64_t>(count));

  for (SqlForm form : {SqlForm::kLinear, SqlForm::kRecursive}) {
    VerifyOptions o;
    o.sample_namespaces = 0;
    o.sample_projects = 0;
    o.form = form;
    auto report = Verify(conninfo, replica, o);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    std::cerr << "[" << SqlFormName(form) << "] " << report.value().Summary() << "\n";
    EXPECT_EQ(report.value().differences, 0u);
    for (const std::string& d : report.value().reported) ADD_FAILURE() << d;
  }
}

struct OwnWorld {
  OwnCluster cluster;
  std::string conninfo;
};

void PrepareOwn(OwnWorld& w, const std::string& settings, uint64_t seed) {
  std::string error;
  w.conninfo = w.cluster.Start(settings, &error);
  ASSERT_FALSE(w.conninfo.empty()) << error;
  Sql sql(w.conninfo);
  ASSERT_TRUE(sql.ok());
  ASSERT_TRUE(CreateGitlabSchema(sql));
  ASSERT_TRUE(LoadForest(sql, canopy::testing::GenerateTestForest(seed, 400, 600)));
}

void DropSlot(const std::string& conninfo, const std::string& slot) {
  Sql sql(conninfo);
  for (int i = 0; i < 200; ++i) {
    if (sql.Value("SELECT active FROM pg_replication_slots WHERE slot_name = '" + slot + "'") !=
        "t")
      break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  sql.Exec("SELECT pg_drop_replication_slot('" + slot + "')");
}

TEST(ReplicaFault, PostgresRestartMidStream) {
  OwnWorld w;
  ASSERT_NO_FATAL_FAILURE(PrepareOwn(w, "", 41));
  const std::string slot = "canopy_fault_restart";
  ReplicaOptions o = Options(w.conninfo, slot);
  // Rare status updates: the slot's confirmed position lags what is applied,
  // so after the restart only the replica's own applied position (the resume
  // start point, and its skipping of replayed transactions) keeps a
  // transaction from being applied twice.
  o.status_interval = seconds(10);
  Replica replica(o);
  ASSERT_NO_FATAL_FAILURE(StartStreaming(replica));
  const uint64_t applied_before = replica.index()->Stats().transactions_applied;

  constexpr int64_t kCount = 1500;
  std::atomic<int64_t> committed{0};
  bool writer_ok = false;
  std::thread writer([&] { writer_ok = WriteCounterTxns(w.conninfo, kCount, &committed); });
  // Restart while the writer is in the middle and the replica streams: once
  // cleanly, once as a crash (the slot's confirmed position then comes from
  // disk, behind what the replica applied).
  while (committed.load() < kCount / 3) std::this_thread::sleep_for(milliseconds(5));
  const bool restarted_fast = w.cluster.Restart("fast");
  while (committed.load() < 2 * kCount / 3) std::this_thread::sleep_for(milliseconds(5));
  const bool restarted_immediate = w.cluster.Restart("immediate");
  writer.join();
  ASSERT_TRUE(restarted_fast) << "pg_ctl restart -m fast failed";
  ASSERT_TRUE(restarted_immediate) << "pg_ctl restart -m immediate failed";
  ASSERT_TRUE(writer_ok);
  ASSERT_NO_FATAL_FAILURE(ExpectExactlyOnceAndEqual(replica, w.conninfo, kCount, applied_before));
  replica.Stop();
  DropSlot(w.conninfo, slot);
}

TEST(ReplicaFault, ConsumerPausedPastWalSenderTimeout) {
  OwnWorld w;
  ASSERT_NO_FATAL_FAILURE(PrepareOwn(w, "wal_sender_timeout=1s", 43));
  const std::string slot = "canopy_fault_pause";
  std::atomic<bool> paused{false};
  Replica replica(PausableOptions(w.conninfo, slot, &paused));
  ASSERT_NO_FATAL_FAILURE(StartStreaming(replica));
  const uint64_t applied_before = replica.index()->Stats().transactions_applied;
  Sql sql(w.conninfo);
  const std::string walsender_pid =
      sql.Value("SELECT active_pid FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
  ASSERT_FALSE(walsender_pid.empty());

  std::atomic<int64_t> committed{0};
  ASSERT_TRUE(WriteCounterTxns(w.conninfo, 200, &committed));
  paused = true;
  ASSERT_TRUE(WriteCounterTxns(w.conninfo, 400, &committed));
  // The walsender gives up on the silent consumer after wal_sender_timeout.
  bool timed_out = false;
  for (int i = 0; i < 200 && !timed_out; ++i) {
    timed_out =
        sql.Value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + walsender_pid) == "0";
    if (!timed_out) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(timed_out) << "the walsender did not time out";
  ASSERT_TRUE(WriteCounterTxns(w.conninfo, 500, &committed));
  paused = false;
  ASSERT_TRUE(WriteCounterTxns(w.conninfo, 700, &committed));
  ASSERT_NO_FATAL_FAILURE(ExpectExactlyOnceAndEqual(replica, w.conninfo, 700, applied_before));
  replica.Stop();
  DropSlot(w.conninfo, slot);
}

// A permanent slot that PostgreSQL invalidated while canopy was away
// (max_slot_wal_keep_size: its WAL is gone) cannot be resumed: the replica
// must load a fresh snapshot instead of retrying the lost slot forever, and
// end equal to SQL with every transaction, including those in the lost WAL.
TEST(ReplicaFault, SlotThatLostItsWalIsReloaded) {
  OwnWorld w;
  ASSERT_NO_FATAL_FAILURE(PrepareOwn(w, "max_slot_wal_keep_size=1MB", 44));
  const std::string slot = "canopy_fault_lost";
  std::atomic<bool> paused{false};
  Replica replica(PausableOptions(w.conninfo, slot, &paused));
  ASSERT_NO_FATAL_FAILURE(StartStreaming(replica));
  Sql sql(w.conninfo);
  std::atomic<int64_t> committed{0};
  ASSERT_TRUE(WriteCounterTxns(w.conninfo, 100, &committed));
  ASSERT_TRUE(replica.WaitUntilApplied(sql.CurrentWalLsn(), seconds(30)).ok());

  // canopy goes silent and its walsender goes away: the slot is inactive.
  paused = true;
  ASSERT_TRUE(
      sql.Exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
               "WHERE slot_name = '" +
               slot + "' AND active_pid IS NOT NULL"));
  ASSERT_TRUE(WriteCounterTxns(w.conninfo, 300, &committed));
  // Several WAL segments later, a checkpoint invalidates the slot.
  std::string wal_status;
  for (int round = 0; round < 20 && wal_status != "lost"; ++round) {
    ASSERT_TRUE(
        sql.Exec("INSERT INTO audit_events (details) SELECT repeat('w', 1000) "
                 "FROM generate_series(1, 20000)"));
    ASSERT_TRUE(sql.Exec("SELECT pg_switch_wal()"));
    ASSERT_TRUE(sql.Exec("CHECKPOINT"));
    wal_status = sql.Value(
        "SELECT coalesce(wal_status, '') FROM pg_replication_slots "
        "WHERE slot_name = '" +
        slot + "'");
  }
  ASSERT_EQ(wal_status, "lost") << "the test could not make PostgreSQL invalidate the slot";
  ASSERT_TRUE(WriteCounterTxns(w.conninfo, 400, &committed));

  paused = false;
  Status caught_up = replica.WaitUntilApplied(sql.CurrentWalLsn(), seconds(90));
  ASSERT_TRUE(caught_up.ok()) << caught_up.ToString()
                              << "; last error: " << replica.status().last_error;
  const ReplicaStatus status = replica.status();
  EXPECT_GE(status.snapshots, 2u) << "a fresh snapshot replaced the lost slot";
  EXPECT_TRUE(replica.WaitUntilStreaming(seconds(30)).ok())
      << ReplicaStateName(replica.status().state);
  {
    ReadView view = replica.index()->Read();
    int64_t counters = 0;
    for (int64_t id : view.ListNamespaceIds()) counters += id >= kCounterBase ? 1 : 0;
    EXPECT_EQ(counters, 400) << "transactions in the lost WAL must come from the new snapshot";
  }
  VerifyOptions v;
  v.sample_namespaces = 0;
  v.sample_projects = 0;
  auto report = Verify(w.conninfo, replica, v);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report.value().differences, 0u);
  for (const std::string& d : report.value().reported) ADD_FAILURE() << d;
  // The new slot is healthy again.
  EXPECT_EQ(
      sql.Value("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '" + slot + "'"),
      "reserved");
  replica.Stop();
  DropSlot(w.conninfo, slot);
}

}  // namespace
}  // namespace canopy::cdc::testing
