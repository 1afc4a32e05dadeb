// canopy::cdc::Verify against a real PostgreSQL 15: a replica that follows the
// database verifies clean on a sample, in both SQL forms; an index that was
// deliberately made to diverge does not. Labels: cdc, e2e.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
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

TEST(VerifyE2E, LoadedReplicaHasNoDifferences) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(31, 1500, 3000);
  TestDatabase db("canopy_e2e_verify");
  ASSERT_TRUE(db.ok());
  Sql sql(db.conninfo());
  ASSERT_TRUE(CreateGitlabSchema(sql));
  ASSERT_TRUE(LoadForest(sql, forest));

  ReplicaOptions ro;
  ro.conninfo = db.conninfo();
  ro.create_publication = true;
  ro.status_interval = milliseconds(200);
  Replica replica(ro);
  ASSERT_TRUE(replica.Start().ok());
  Status st = replica.WaitUntilStreaming(seconds(60));
  ASSERT_TRUE(st.ok()) << st.ToString();

  // Some streamed GitLab-style writes, then unpublished ones (only the
  // replica's keepalive position covers those).
  SqlWriter writer(forest);
  canopy::testing::MixedStream stream(&forest, {.seed = 31});
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(writer.Apply(sql, stream.Next()));
  ASSERT_TRUE(
      sql.Exec("INSERT INTO audit_events (details) SELECT 'x' FROM generate_series(1, 100)"));

  for (SqlForm form : {SqlForm::kLinear, SqlForm::kRecursive}) {
    VerifyOptions o;
    o.sample_namespaces = 200;
    o.sample_projects = 200;
    o.seed = 7;
    o.form = form;
    o.wait_timeout = seconds(60);
    auto report = Verify(db.conninfo(), replica, o);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    const VerifyReport& r = report.value();
    std::cerr << "[verify " << SqlFormName(form) << "] " << r.Summary() << "\n";
    EXPECT_EQ(r.namespaces_checked, 200u);
    EXPECT_EQ(r.projects_checked, 200u);
    EXPECT_GT(r.namespaces, 200u);
    EXPECT_GT(r.checks, 200u * 10);
    EXPECT_EQ(r.differences, 0u);
    for (const std::string& d : r.reported) ADD_FAILURE() << SqlFormName(form) << ": " << d;
  }
}

// A separate index loaded from the same forest as the database verifies
// clean; after a bogus transaction (a rename SQL never saw, a project SQL
// still has) Verify reports the differences.
TEST(VerifyE2E, DivergedIndexIsReported) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(37, 1500, 3000);
  TestDatabase db("canopy_e2e_verify_diverged");
  ASSERT_TRUE(db.ok());
  Sql sql(db.conninfo());
  ASSERT_TRUE(CreateGitlabSchema(sql));
  ASSERT_TRUE(LoadForest(sql, forest));

  HierarchyIndex index;
  ASSERT_TRUE(index.Apply(canopy::testing::LoadTransaction(forest, Lsn(100))).ok());
  VerifyOptions o;
  o.sample_namespaces = 0;  // all
  o.sample_projects = 0;
  o.lsn = Lsn(100);
  auto clean = Verify(db.conninfo(), index, o);
  ASSERT_TRUE(clean.ok()) << clean.status().ToString();
  EXPECT_EQ(clean.value().differences, 0u);
  for (const std::string& d : clean.value().reported) ADD_FAILURE() << d;

  // Diverge: rename a group that has descendants, drop a project.
  const std::vector<int64_t> ns_ids = index.Read().ListNamespaceIds();
  const std::vector<int64_t> project_ids = index.Read().ListProjectIds();
  ASSERT_FALSE(project_ids.empty());
  int64_t renamed = 0;
  for (int64_t id : ns_ids) {
    std::vector<int64_t> d;
    if (index.Read().Descendants(id, false, &d).ok() && d.size() >= 3) {
      renamed = id;
      break;
    }
  }
  ASSERT_NE(renamed, 0);
  Transaction bogus{Lsn(200), {}};
  bogus.changes.push_back(UpsertNamespace{
      NamespaceRow{.id = renamed, .path = "bogus-path", .present = NamespaceRow::kPath}});
  bogus.changes.push_back(DeleteProject{project_ids.front()});
  ASSERT_TRUE(index.Apply(std::move(bogus)).ok());

  o.lsn = Lsn(200);
  o.max_reported = 5;
  for (SqlForm form : {SqlForm::kLinear, SqlForm::kRecursive}) {
    o.form = form;
    auto diverged = Verify(db.conninfo(), index, o);
    ASSERT_TRUE(diverged.ok()) << diverged.status().ToString();
    const VerifyReport& r = diverged.value();
    std::cerr << "[diverged " << SqlFormName(form) << "] " << r.Summary() << "\n";
    for (const std::string& d : r.reported) std::cerr << "  " << d << "\n";
    EXPECT_GT(r.differences, 3u);  // id set, the subtree's paths, the project's answers
    EXPECT_EQ(r.reported.size(), 5u);
  }
  // A sample of the renamed namespace alone still sees it.
  o.sample_namespaces = 1;
  o.sample_projects = 1;
  o.seed = 1;
  auto sampled = Verify(db.conninfo(), index, o);
  ASSERT_TRUE(sampled.ok());
  EXPECT_GE(sampled.value().differences, 1u);  // at least the project id set
}

// "Not quiescent" means the source's WAL position moved during the check:
// an index whose own position moves (or not) does not matter. On an idle
// database the report is quiescent (a few tries: autovacuum may write WAL);
// while a writer commits throughout the check it is not.
TEST(VerifyE2E, QuiescentOnlyWhenTheSourceWalDidNotMove) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(41, 1500, 3000);
  TestDatabase db("canopy_e2e_verify_quiescent");
  ASSERT_TRUE(db.ok());
  Sql sql(db.conninfo());
  ASSERT_TRUE(CreateGitlabSchema(sql));
  ASSERT_TRUE(LoadForest(sql, forest));
  ASSERT_TRUE(sql.Exec("VACUUM ANALYZE"));  // no autovacuum WAL during the idle checks
  ASSERT_TRUE(sql.Exec("CHECKPOINT"));
  HierarchyIndex index;
  ASSERT_TRUE(index.Apply(canopy::testing::LoadTransaction(forest, Lsn(100))).ok());
  VerifyOptions o;
  o.sample_namespaces = 0;  // all: the check takes a while
  o.sample_projects = 0;
  o.lsn = Lsn(100);

  bool quiescent = false;
  for (int attempt = 0; attempt < 5 && !quiescent; ++attempt) {
    auto idle = Verify(db.conninfo(), index, o);
    ASSERT_TRUE(idle.ok()) << idle.status().ToString();
    EXPECT_EQ(idle.value().differences, 0u);
    quiescent = idle.value().quiescent;
    std::cerr << "[idle] " << idle.value().Summary() << ", wal "
              << idle.value().wal_lsn_before.ToString() << " -> "
              << idle.value().wal_lsn_after.ToString() << "\n";
  }
  EXPECT_TRUE(quiescent) << "an idle source reported as not quiescent";

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    Sql w(db.conninfo());
    while (!stop.load()) {
      w.Exec("INSERT INTO audit_events (details) VALUES ('x')");
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  std::this_thread::sleep_for(milliseconds(50));
  auto busy = Verify(db.conninfo(), index, o);
  stop.store(true);
  writer.join();
  ASSERT_TRUE(busy.ok()) << busy.status().ToString();
  std::cerr << "[busy] " << busy.value().Summary() << ", wal "
            << busy.value().wal_lsn_before.ToString() << " -> "
            << busy.value().wal_lsn_after.ToString() << "\n";
  EXPECT_FALSE(busy.value().quiescent);
  EXPECT_GT(busy.value().wal_lsn_after.value, busy.value().wal_lsn_before.value);
}

}  // namespace
}  // namespace canopy::cdc::testing
