// End-to-end: a real PostgreSQL 15 (scripts/pg-test-cluster), GitLab-shaped
// tables loaded from a generated forest, a canopy Replica bootstrapped from a
// slot's exported snapshot and then streaming GitLab-style transactions.
// After each phase every query kind is compared with SQL (the linear
// traversal_ids form and the recursive form) for every namespace and project.
// Labels: cdc, e2e.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "canopy/cdc/replica.h"
#include "canopy/cdc/verify.h"
#include "canopy/testing/gitlab_forest.h"
#include "gitlab_schema.h"
#include "pg_fixture.h"

namespace canopy::cdc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ReplicaOptions Options(const std::string& conninfo) {
  ReplicaOptions o;
  o.conninfo = conninfo;
  o.create_publication = true;
  o.snapshot_workers = 3;
  o.snapshot_split_rows = 2000;  // several pieces per table even at test size
  o.status_interval = milliseconds(200);
  o.reconnect_min_backoff = milliseconds(50);
  o.reconnect_max_backoff = milliseconds(500);
  if (std::getenv("CANOPY_TEST_VERBOSE") != nullptr)
    o.log = [](const LogRecord& r) { std::cerr << r.message << "\n"; };
  return o;
}

// Waits until the replica has applied everything PostgreSQL has written.
void CatchUp(Replica& replica, Sql& sql) {
  const Lsn target = sql.CurrentWalLsn();
  Status s = replica.WaitUntilApplied(target, seconds(60));
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// Every query kind for every namespace and project, both SQL forms, through
// canopy::cdc::Verify (sample = everything) at the index's applied LSN.
void ExpectEqualToSql(Replica& replica, const std::string& conninfo, const char* phase) {
  auto index = replica.index();
  ASSERT_NE(index, nullptr);
  for (SqlForm form : {SqlForm::kLinear, SqlForm::kRecursive}) {
    VerifyOptions o;
    o.sample_namespaces = 0;
    o.sample_projects = 0;
    o.form = form;
    o.lsn = index->applied_lsn();
    auto report = Verify(conninfo, *index, o);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    const VerifyReport& r = report.value();
    ASSERT_GT(r.namespaces, 0u);
    // Nothing mapped was written meanwhile (the position may still move with
    // keepalives: other tests write to the same cluster).
    EXPECT_GE(r.index_lsn, *o.lsn);
    EXPECT_EQ(r.namespaces_checked, r.namespaces);
    EXPECT_EQ(r.projects_checked, r.projects);
    std::cerr << "[" << phase << ", " << SqlFormName(form) << " SQL] " << r.Summary() << "\n";
    EXPECT_EQ(r.differences, 0u) << phase << " (" << SqlFormName(form) << ")";
    for (const std::string& d : r.reported)
      ADD_FAILURE() << phase << " (" << SqlFormName(form) << "): " << d;
  }
}

struct TestWorld {
  explicit TestWorld(const std::string& db_name) : db(db_name) {}
  TestDatabase db;
  std::unique_ptr<Sql> sql;
};

// Creates the database, the schema and the data.
void Prepare(TestWorld& s, const canopy::testing::GitlabForest& forest) {
  ASSERT_TRUE(s.db.ok());
  s.sql = std::make_unique<Sql>(s.db.conninfo());
  ASSERT_TRUE(s.sql->ok());
  ASSERT_TRUE(CreateGitlabSchema(*s.sql));
  ASSERT_TRUE(LoadForest(*s.sql, forest));
}

// Snapshot equality, then thousands of GitLab-style transactions, then a
// TRUNCATE, ALTER TABLEs and one large transaction: equal to SQL after each.
TEST(ReplicaE2E, SnapshotThenStreamEqualsSql) {
  const uint64_t seed = TestSeed(20240611);
  SCOPED_TRACE("CANOPY_TEST_SEED=" + std::to_string(seed));
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(seed, 3000, 6000);
  TestWorld s("canopy_e2e_stream");
  ASSERT_NO_FATAL_FAILURE(Prepare(s, forest));
  Sql& sql = *s.sql;
  // Paths that need escaping in COPY's text format (tab, backslash, newline,
  // non-ASCII).
  ASSERT_TRUE(
      sql.Exec("UPDATE namespaces SET path = path || E'-tab\\there\\\\back\\nnl-\u00e9' "
               "WHERE id IN (SELECT id FROM namespaces WHERE type = 'Group' ORDER BY id LIMIT 5)"));

  const auto unix_ms_now = [] {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t started_ms = unix_ms_now();
  Replica replica(Options(s.db.conninfo()));
  ASSERT_TRUE(replica.Start().ok());
  Status st = replica.WaitUntilStreaming(seconds(60));
  ASSERT_TRUE(st.ok()) << st.ToString();
  ReplicaStatus status = replica.status();
  // Before any streamed commit, the data is as old as the snapshot.
  EXPECT_GE(status.last_commit_unix_ms, started_ms);
  EXPECT_LE(status.last_commit_unix_ms, unix_ms_now());
  EXPECT_TRUE(status.temporary_slot);
  EXPECT_EQ(status.snapshots, 1u);
  ASSERT_EQ(status.tables.size(), 3u);
  uint64_t copied = 0;
  for (const auto& t : status.tables) {
    EXPECT_TRUE(t.done) << t.table;
    copied += t.rows;
  }
  EXPECT_EQ(copied, forest.namespaces.size() + forest.projects.size() + forest.runner_links.size());
  std::cerr << "snapshot: " << copied << " rows in " << status.last_snapshot_seconds << " s at "
            << status.consistent_point.ToString() << "\n";
  ASSERT_NO_FATAL_FAILURE(CatchUp(replica, sql));
  ASSERT_NO_FATAL_FAILURE(ExpectEqualToSql(replica, s.db.conninfo(), "after snapshot"));

  // Stream GitLab-style transactions (the generator's forest follows them).
  SqlWriter writer(forest);
  canopy::testing::MixedStream stream(&forest, {.seed = seed});
  const int kTransactions = 2500;
  const auto t0 = std::chrono::steady_clock::now();
  // PostgreSQL runs on this host and stamps commits with this same clock.
  const int64_t stream_started_ms = unix_ms_now();
  for (int i = 0; i < kTransactions; ++i) {
    Transaction txn = stream.Next();
    ASSERT_TRUE(writer.Apply(sql, txn)) << "transaction " << i;
  }
  const double write_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_NO_FATAL_FAILURE(CatchUp(replica, sql));
  std::cerr << kTransactions << " transactions written in " << write_s << " s; applied "
            << replica.status().transactions_applied << " / " << replica.status().changes_applied
            << " changes\n";
  // The newest applied transaction's commit time came with its Commit.
  EXPECT_GE(replica.status().last_commit_unix_ms, stream_started_ms);
  EXPECT_LE(replica.status().last_commit_unix_ms, unix_ms_now() + 1000);
  ASSERT_NO_FATAL_FAILURE(ExpectEqualToSql(replica, s.db.conninfo(), "after mixed stream"));

  // Schema changes: Relation messages are re-sent and columns re-bound by name.
  // (A column GitLab's schema does not have: the tables carry all of its.)
  ASSERT_TRUE(sql.Exec(
      "ALTER TABLE namespaces ADD COLUMN canopy_test_added boolean DEFAULT true NOT NULL"));
  ASSERT_TRUE(sql.Exec("ALTER TABLE projects DROP COLUMN description"));
  ASSERT_TRUE(sql.Exec(
      "UPDATE namespaces SET name = name || ' (renamed)', path = path || '-r' "
      "WHERE id IN (SELECT id FROM namespaces WHERE type = 'Group' ORDER BY id LIMIT 50)"));
  ASSERT_TRUE(sql.Exec("UPDATE projects SET archived = NOT archived WHERE id % 7 = 0"));
  // A TRUNCATE, then new runner links.
  ASSERT_TRUE(sql.Exec("TRUNCATE ci_runner_namespaces"));
  ASSERT_TRUE(
      sql.Exec("INSERT INTO ci_runner_namespaces (id, runner_id, namespace_id) "
               "SELECT 1000000 + row_number() OVER (), 5000 + (id % 37), id FROM namespaces "
               "WHERE type = 'Group' AND id % 3 = 0"));
  // One large transaction (~110k row changes): 10k new user namespaces,
  // each with a project and its project namespace, then every namespace and
  // project updated.
  ASSERT_TRUE(sql.Exec(
      "BEGIN;"
      "INSERT INTO namespaces (id, name, path, type, visibility_level, traversal_ids) "
      "SELECT 5000000 + g, 'bulk user ' || g, 'bulk-user-' || g, 'User', 20, ARRAY[5000000 + "
      "g]::bigint[] "
      "FROM generate_series(1, 10000) g;"
      "INSERT INTO namespaces (id, name, path, type, visibility_level, parent_id, traversal_ids) "
      "SELECT 6000000 + g, 'bulk project ' || g, 'bulk-project-' || g, 'Project', 20, 5000000 + g, "
      "ARRAY[5000000 + g, 6000000 + g]::bigint[] FROM generate_series(1, 10000) g;"
      "INSERT INTO projects (id, name, path, namespace_id, project_namespace_id) "
      "SELECT 7000000 + g, 'bulk project ' || g, 'bulk-project-' || g, 5000000 + g, 6000000 + g "
      "FROM generate_series(1, 10000) g;"
      "UPDATE namespaces SET visibility_level = 10;"
      "UPDATE namespaces SET name = name || '.' WHERE type = 'Project';"
      "UPDATE projects SET visibility_level = 10, pending_delete = NOT coalesce(pending_delete, "
      "false);"
      "COMMIT"));
  // Unpublished writes only move the slot (keepalives).
  ASSERT_TRUE(
      sql.Exec("INSERT INTO audit_events (details) SELECT 'x' FROM generate_series(1, 1000)"));
  ASSERT_NO_FATAL_FAILURE(CatchUp(replica, sql));
  ASSERT_NO_FATAL_FAILURE(ExpectEqualToSql(replica, s.db.conninfo(),
                                           "after truncate, alter table and a large transaction"));

  status = replica.status();
  EXPECT_EQ(status.state, ReplicaState::kStreaming);
  EXPECT_EQ(status.reconnects, 0u) << status.last_error;
  EXPECT_LE(status.flushed_lsn, status.applied_lsn);
  EXPECT_GT(status.keepalives, 0u);
  // The server never holds more than what canopy applied as confirmed.
  auto rows = sql.Rows("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" +
                       status.slot_name + "'");
  ASSERT_EQ(rows.size(), 1u);
  auto confirmed = Lsn::Parse(rows[0][0]);
  ASSERT_TRUE(confirmed.has_value());
  EXPECT_LE(*confirmed, replica.index()->applied_lsn() > status.applied_lsn
                            ? replica.index()->applied_lsn()
                            : status.applied_lsn);
  replica.Stop();
  EXPECT_EQ(replica.status().state, ReplicaState::kStopped);
  // The temporary slot went with the connection. PostgreSQL drops it when
  // the walsender backend exits, which can be a moment after our connection
  // closed: wait for it (bounded), then check.
  const std::string slot_count =
      "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + status.slot_name + "'";
  for (int i = 0; i < 200 && sql.Value(slot_count) != "0"; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(sql.Value(slot_count), "0");
}

// While idle, keepalive positions are acknowledged: writes to tables outside
// the publication do not pin WAL in the slot.
TEST(ReplicaE2E, IdleKeepalivesAdvanceTheSlot) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(7, 200, 300);
  TestWorld s("canopy_e2e_idle");
  ASSERT_NO_FATAL_FAILURE(Prepare(s, forest));
  Sql& sql = *s.sql;
  Replica replica(Options(s.db.conninfo()));
  ASSERT_TRUE(replica.Start().ok());
  ASSERT_TRUE(replica.WaitUntilStreaming(seconds(60)).ok());
  const Lsn applied_before = replica.index()->applied_lsn();
  ASSERT_TRUE(sql.Exec(
      "INSERT INTO audit_events (details) SELECT repeat('x', 100) FROM generate_series(1, 5000)"));
  const uint64_t namespaces_before = replica.index()->Stats().namespaces;
  const Lsn target = sql.CurrentWalLsn();
  ASSERT_GT(target, applied_before);
  ASSERT_TRUE(replica.WaitUntilApplied(target, seconds(30)).ok());
  // No published change: the index's rows did not change, but its position
  // (what answers carry) moved with the keepalives.
  EXPECT_EQ(replica.index()->Stats().namespaces, namespaces_before);
  EXPECT_GE(replica.index()->applied_lsn(), target);
  EXPECT_GE(replica.status().applied_lsn, target);
  // The slot's confirmed position follows (status goes out every 200 ms).
  const std::string slot = replica.status().slot_name;
  Lsn confirmed;
  for (int i = 0; i < 100; ++i) {
    confirmed =
        Lsn::Parse(
            sql.Value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" +
                      slot + "'"))
            .value_or(Lsn());
    if (confirmed >= target) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GE(confirmed, target);
}

// What a server in front of the replica relies on: on_applied reports every
// index swap and applied position, in order, up to a position past the last
// commit that the replica learns while idle. RequestPosition is called as
// canopyd calls it; whether the walsender's keepalive came unasked or because
// of it cannot be told apart here (PostgreSQL sends one unasked after new
// WAL), so this test does not prove RequestPosition on its own.
TEST(ReplicaE2E, OnAppliedFollowsEveryIndexAndPosition) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(9, 300, 400);
  TestWorld s("canopy_e2e_on_applied");
  ASSERT_NO_FATAL_FAILURE(Prepare(s, forest));
  Sql& sql = *s.sql;
  struct Seen {
    const HierarchyIndex* index;
    Lsn lsn;
  };
  std::mutex mu;
  std::vector<Seen> seen;
  ReplicaOptions o = Options(s.db.conninfo());
  o.status_interval = seconds(10);  // rare periodic status
  o.on_applied = [&](const std::shared_ptr<const HierarchyIndex>& index, Lsn lsn) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back({index.get(), lsn});
  };
  Replica replica(o);
  ASSERT_TRUE(replica.Start().ok());
  ASSERT_TRUE(replica.WaitUntilStreaming(seconds(60)).ok());
  ASSERT_TRUE(sql.Exec(
      "UPDATE namespaces SET name = name || '!' WHERE id IN (SELECT id FROM namespaces LIMIT 3)"));
  ASSERT_NO_FATAL_FAILURE(CatchUp(replica, sql));

  // Unpublished writes only; then ask for the position without blocking on it.
  ASSERT_TRUE(
      sql.Exec("INSERT INTO audit_events (details) SELECT 'y' FROM generate_series(1, 1000)"));
  const Lsn target = sql.CurrentWalLsn();
  replica.RequestPosition(target, seconds(20));
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  auto last_seen = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.empty() ? Lsn() : seen.back().lsn;
  };
  while ((replica.index()->applied_lsn() < target || last_seen() < target) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_GE(replica.index()->applied_lsn(), target);

  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(seen.empty());
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i].lsn, seen[i - 1].lsn) << i;
  EXPECT_EQ(seen.front().index, replica.index().get());  // the snapshot's index, never swapped
  EXPECT_EQ(seen.front().lsn, replica.status().consistent_point);
  EXPECT_EQ(seen.back().index, replica.index().get());
  EXPECT_GE(seen.back().lsn, target);
  EXPECT_LE(seen.back().lsn, replica.index()->applied_lsn());
}

// With wal_sender_timeout far below the status interval, the connection
// survives only if reply-requested keepalives are answered at once.
TEST(ReplicaE2E, ReplyRequestedKeepalivesAreAnsweredAtOnce) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(5, 100, 100);
  TestWorld s("canopy_e2e_reply");
  ASSERT_NO_FATAL_FAILURE(Prepare(s, forest));
  ReplicaOptions o = Options(s.db.conninfo() + " options='-c wal_sender_timeout=1000'");
  o.status_interval = seconds(10);
  Replica replica(o);
  ASSERT_TRUE(replica.Start().ok());
  ASSERT_TRUE(replica.WaitUntilStreaming(seconds(60)).ok());
  const uint64_t sent_before = replica.status().status_updates_sent;
  std::this_thread::sleep_for(seconds(4));
  ReplicaStatus status = replica.status();
  EXPECT_EQ(status.reconnects, 0u) << status.last_error;
  EXPECT_EQ(status.state, ReplicaState::kStreaming);
  EXPECT_GE(status.keepalives, 4u);
  EXPECT_GE(status.status_updates_sent - sent_before, 4u);  // answers, not the 10 s timer
}

// A walsender killed mid-stream: with a permanent slot the replica resumes
// from its applied LSN (no new snapshot, nothing applied twice or lost).
TEST(ReplicaE2E, PermanentSlotResumesAfterWalsenderIsTerminated) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(11, 500, 1000);
  TestWorld s("canopy_e2e_resume");
  ASSERT_NO_FATAL_FAILURE(Prepare(s, forest));
  Sql& sql = *s.sql;
  ReplicaOptions o = Options(s.db.conninfo());
  o.slot_name = "canopy_e2e_resume_slot";
  Replica replica(o);
  ASSERT_TRUE(replica.Start().ok());
  ASSERT_TRUE(replica.WaitUntilStreaming(seconds(60)).ok());
  EXPECT_FALSE(replica.status().temporary_slot);

  SqlWriter writer(forest);
  canopy::testing::MixedStream stream(&forest, {.seed = 11});
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 150; ++i) ASSERT_TRUE(writer.Apply(sql, stream.Next()));
    // Kill the walsender while transactions may still be in flight.
    sql.Exec(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" +
        o.slot_name + "' AND active_pid IS NOT NULL");
    for (int i = 0; i < 150; ++i) ASSERT_TRUE(writer.Apply(sql, stream.Next()));
  }
  ASSERT_NO_FATAL_FAILURE(CatchUp(replica, sql));
  ReplicaStatus status = replica.status();
  EXPECT_GE(status.reconnects, 1u);
  EXPECT_EQ(status.snapshots, 1u) << "resumed, not re-snapshotted";
  ASSERT_NO_FATAL_FAILURE(ExpectEqualToSql(replica, s.db.conninfo(), "after walsender kills"));
  replica.Stop();
  EXPECT_EQ(sql.Value("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" +
                      o.slot_name + "'"),
            "1");
  // The walsender lets go of the slot shortly after the connection closes.
  for (int i = 0; i < 200; ++i) {
    if (sql.Value("SELECT active FROM pg_replication_slots WHERE slot_name = '" + o.slot_name +
                  "'") == "f")
      break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  sql.Exec("SELECT pg_drop_replication_slot('" + o.slot_name + "')");
}

// With a temporary slot a lost connection means a fresh snapshot; the old
// index keeps answering meanwhile.
TEST(ReplicaE2E, TemporarySlotReloadsAfterWalsenderIsTerminated) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(13, 500, 1000);
  TestWorld s("canopy_e2e_reload");
  ASSERT_NO_FATAL_FAILURE(Prepare(s, forest));
  Sql& sql = *s.sql;
  Replica replica(Options(s.db.conninfo()));
  ASSERT_TRUE(replica.Start().ok());
  ASSERT_TRUE(replica.WaitUntilStreaming(seconds(60)).ok());
  auto first_index = replica.index();
  SqlWriter writer(forest);
  canopy::testing::MixedStream stream(&forest, {.seed = 13});
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(writer.Apply(sql, stream.Next()));
  const std::string slot = replica.status().slot_name;
  sql.Exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" +
           slot + "'");
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(writer.Apply(sql, stream.Next()));
  // The old index still answers while the new one loads.
  EXPECT_NE(first_index->Read().ListNamespaceIds().size(), 0u);
  ASSERT_NO_FATAL_FAILURE(CatchUp(replica, sql));
  ReplicaStatus status = replica.status();
  EXPECT_GE(status.snapshots, 2u);
  EXPECT_NE(status.slot_name, slot);
  EXPECT_NE(replica.index(), first_index);
  ASSERT_NO_FATAL_FAILURE(ExpectEqualToSql(replica, s.db.conninfo(), "after reload"));
}

TEST(ReplicaE2E, MissingPublicationIsReported) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(17, 100, 100);
  TestWorld s("canopy_e2e_nopub");
  ASSERT_NO_FATAL_FAILURE(Prepare(s, forest));
  ReplicaOptions o = Options(s.db.conninfo());
  o.create_publication = false;
  o.publication = "nope";
  Replica replica(o);
  ASSERT_TRUE(replica.Start().ok());
  // Retrying cannot create it: the replica fails (at once, not at the timeout).
  const auto t0 = std::chrono::steady_clock::now();
  Status st = replica.WaitUntilStreaming(std::chrono::seconds(30));
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  const ReplicaStatus status = replica.status();
  EXPECT_EQ(status.state, ReplicaState::kFailed);
  EXPECT_NE(status.last_error.find("publication nope does not exist"), std::string::npos)
      << status.last_error;
  EXPECT_GT(status.last_error_unix_ms, 0);
  EXPECT_EQ(status.reconnects, 0u) << "not retried";
  EXPECT_EQ(replica.index(), nullptr);
}

TEST(ReplicaE2E, InvalidOptionsAreRejected) {
  ReplicaOptions o;
  EXPECT_EQ(Replica(o).Start().code(), StatusCode::kInvalidArgument);
  o.conninfo = "dbname=x";
  o.slot_name = "Bad-Name";
  EXPECT_EQ(Replica(o).Start().code(), StatusCode::kInvalidArgument);
  o.slot_name = "";
  o.mapping.namespaces.columns.clear();
  EXPECT_EQ(Replica(o).Start().code(), StatusCode::kInvalidArgument);
  o.mapping = TableMapping{};
  o.conninfo = "this is = not a conninfo";
  Status s = Replica(o).Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("conninfo"), std::string::npos) << s.ToString();
  // Carried columns without the change feed: nothing would ever read them.
  o.conninfo = "dbname=x";
  o.mapping.projects.carried_columns = {"description"};
  s = Replica(o).Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("change feed is off"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace canopy::cdc::testing
