// End-to-end: how canopyd fails, and how it does not. A real PostgreSQL 15,
// the canopyd binary as a child process and the canopy CLI. Checks:
//   * a publication that cannot give right answers — a column list without
//     mapped columns (projects.archived), a row filter — is refused: at start
//     canopyd exits 4 at once, naming the table and the missing columns (or
//     the filter); reached with ALTER PUBLICATION while streaming, the state
//     becomes `failed` with the reason, `status --check` exits 5, canopyd
//     exits 4 within --fail-exit-after, and no answer given while the state
//     said `streaming` is wrong;
//   * a missing publication or database: `failed`, exit 4 at start, no
//     endless retries; the hint names canopyd's flag;
//   * transient trouble is survived: a killed walsender and a PostgreSQL
//     restart (own cluster) are retried, last_error clears once streaming
//     again, a write made meanwhile is answered; received_lsn is never shown
//     below applied_lsn; the reason of a stream the server ended is never
//     empty.
// Each test has its own database (and canopyd); every wait is bounded only to
// fail instead of hanging. Labels: e2e, cdc.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "canopy/lsn.h"
#include "e2e_util.h"
#include "gitlab_schema.h"
#include "pg_fixture.h"

namespace canopy::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kExitOk = 0;
constexpr int kExitReplicationFailed = 4;  // canopyd
constexpr int kExitNotStreaming = 5;       // canopy status --check

// The column list that made `projects --unarchived` wrong: projects without
// archived (and the other columns canopy maps).
const char kShortTables[] =
    "namespaces (id, parent_id, type, path), projects (id, namespace_id, project_namespace_id, "
    "path), "
    "ci_runner_namespaces (id, runner_id, namespace_id)";
// A row filter: odd projects are never sent.
const char kFilteredTables[] = "namespaces, projects WHERE (id % 2 = 0), ci_runner_namespaces";

class FailureE2E : public DaemonTest {
 protected:
  // A small hierarchy: group 1 with projects 10 and 11 (project namespaces
  // 2 and 3), none archived.
  void PrepareSmall(const std::string& name) {
    ASSERT_NO_FATAL_FAILURE(Prepare(name, /*load=*/false));
    ASSERT_TRUE(sql_->Exec(
        "BEGIN;"
        "INSERT INTO namespaces (id, name, path, type, parent_id) VALUES (1, 'g', 'g', 'Group', "
        "NULL),"
        " (2, 'p10', 'p10', 'Project', 1), (3, 'p11', 'p11', 'Project', 1);"
        "UPDATE namespaces SET traversal_ids = canopy_test_path(id);"
        "INSERT INTO projects (id, name, path, namespace_id, project_namespace_id) VALUES"
        " (10, 'p10', 'p10', 1, 2), (11, 'p11', 'p11', 1, 3);"
        "COMMIT"));
  }

  // canopyd with `extra` flags (no --create-publication), run to its end.
  ProgramRun RunDaemon(const std::string& conninfo, const std::vector<std::string>& extra,
                       milliseconds timeout = seconds(60)) {
    std::vector<std::string> argv = {CANOPYD_PATH, "--pg",     conninfo, "--unix",
                                     sock_,        "--listen", "none"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProgram(argv, timeout);
  }

  std::string StatusJson() {
    ProgramRun r = Cli({"--json", "status"});
    return r.code() == kExitOk ? r.out : "";
  }

  // In a status JSON: received_lsn >= applied_lsn.
  static void ExpectReceivedNotBelowApplied(const std::string& json) {
    std::optional<Lsn> applied = Lsn::Parse(JsonField(json, "applied_lsn").value_or(""));
    std::optional<Lsn> received = Lsn::Parse(JsonField(json, "received_lsn").value_or(""));
    ASSERT_TRUE(applied && received) << json;
    EXPECT_GE(received->value, applied->value) << json;
  }

  // The publication `canopy` (created by canopyd) is changed under a
  // streaming canopyd to `tables`, then project 10 is archived. Until
  // canopyd exits, every answer to `projects 1 --unarchived` given while the
  // status (asked after the answer) said streaming must be right for the LSN
  // it names; the state must become failed with `reason` in last_error, and
  // canopyd must exit 4 within the bound.
  void AlterWhileStreaming(const std::string& tables, const std::string& reason) {
    ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr, {"--fail-exit-after", "3"}));
    {
      ProgramRun r = Cli({"projects", "1", "--unarchived"});
      ASSERT_EQ(r.code(), kExitOk) << r.Describe();
      EXPECT_EQ(r.out, "10\n11\n");
      EXPECT_EQ(Cli({"status", "--check"}).code(), kExitOk);
      ExpectReceivedNotBelowApplied(StatusJson());
    }
    ASSERT_TRUE(sql_->Exec("ALTER PUBLICATION canopy SET TABLE " + tables));
    ASSERT_TRUE(sql_->Exec("UPDATE projects SET archived = true WHERE id = 10"));
    const Lsn archived_at = WalLsn();

    // Watch until canopyd exits.
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> failed_at;
    std::string failed_status;
    int streaming_answers = 0, checked = 0;
    std::optional<ProcessExit> exit;
    while (std::chrono::steady_clock::now() - t0 < seconds(60)) {
      if ((exit = daemon_->Poll())) break;
      ProgramRun q = Cli({"--json", "projects", "1", "--unarchived"});
      const std::string status = StatusJson();
      const std::string state = JsonField(status, "state").value_or("");
      if (state == "streaming" && q.code() == kExitOk) {
        // Right for its LSN: once the archive is applied, 10 is gone.
        std::optional<Lsn> lsn = Lsn::Parse(JsonField(q.out, "lsn").value_or(""));
        std::optional<std::vector<int64_t>> ids = JsonIds(q.out);
        ASSERT_TRUE(lsn && ids) << q.out;
        ++streaming_answers;
        if (lsn->value >= archived_at.value) {
          ++checked;
          EXPECT_EQ(*ids, (std::vector<int64_t>{11}))
              << "a wrong answer while streaming: " << q.out;
        }
      }
      if (state == "failed" && !failed_at) {
        failed_at = std::chrono::steady_clock::now();
        failed_status = status;
        // Probes see it: --check says not streaming.
        EXPECT_EQ(Cli({"status", "--check"}).code(), kExitNotStreaming);
        // The old index still answers, as of an LSN before the archive.
        ProgramRun old = Cli({"--json", "projects", "1", "--unarchived"});
        if (old.code() == kExitOk) {
          std::optional<Lsn> lsn = Lsn::Parse(JsonField(old.out, "lsn").value_or(""));
          ASSERT_TRUE(lsn) << old.out;
          EXPECT_LT(lsn->value, archived_at.value) << old.out;
        }
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    ASSERT_TRUE(exit.has_value()) << "canopyd did not exit after its publication went wrong\n"
                                  << daemon_->Log();
    EXPECT_TRUE(exit->exited && exit->code == kExitReplicationFailed) << exit->Describe();
    ASSERT_TRUE(failed_at.has_value()) << "state `failed` never seen\n" << daemon_->Log();
    const std::string last_error = JsonField(failed_status, "last_error").value_or("");
    EXPECT_NE(last_error.find(reason), std::string::npos) << failed_status;
    EXPECT_NE(last_error.find("projects"), std::string::npos) << failed_status;
    EXPECT_NE(JsonField(failed_status, "last_error_unix_ms").value_or("0"), "0") << failed_status;
    EXPECT_FALSE(JsonField(failed_status, "last_error_time").value_or("").empty()) << failed_status;
    // Exit within --fail-exit-after (3 s) plus slack, not at once.
    const auto exited_after = std::chrono::steady_clock::now() - *failed_at;
    EXPECT_LT(exited_after, seconds(15));
    EXPECT_NE(daemon_->Log().find("replication failed"), std::string::npos) << daemon_->Log();
    std::cerr << "[e2e] " << streaming_answers << " answers while streaming (" << checked
              << " after the archive), failed: " << last_error << "\n";
    daemon_.reset();
  }
};

TEST_F(FailureE2E, ColumnListOrRowFilterAtStartExitsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(PrepareSmall("canopy_e2e_fail_start"));
  ASSERT_TRUE(sql_->Exec(std::string("CREATE PUBLICATION canopy_short FOR TABLE ") + kShortTables));
  ASSERT_TRUE(
      sql_->Exec(std::string("CREATE PUBLICATION canopy_filtered FOR TABLE ") + kFilteredTables));

  ProgramRun r = RunDaemon(db_->conninfo(), {"--publication", "canopy_short"});
  EXPECT_EQ(r.code(), kExitReplicationFailed) << r.Describe();
  // The first table it finds wanting, and every missing column of it.
  EXPECT_NE(r.err.find("\"public\".\"namespaces\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("name, visibility_level"), std::string::npos) << r.err;

  // Only projects short of its columns: named with archived.
  ASSERT_TRUE(
      sql_->Exec("ALTER PUBLICATION canopy_short SET TABLE namespaces, ci_runner_namespaces, "
                 "projects (id, namespace_id, "
                 "project_namespace_id, name, path, visibility_level, pending_delete)"));
  r = RunDaemon(db_->conninfo(), {"--publication", "canopy_short"});
  EXPECT_EQ(r.code(), kExitReplicationFailed) << r.Describe();
  EXPECT_NE(r.err.find("\"public\".\"projects\" without the mapped or carried column(s) archived"),
            std::string::npos)
      << r.err;
  // Mapped to nothing, archived is not needed (and the rest is fine).
  {
    DaemonProcess d;
    ASSERT_TRUE(d.Start({CANOPYD_PATH, "--pg", db_->conninfo(), "--unix", sock_, "--listen", "none",
                         "--publication", "canopy_short", "--map", "projects.archived="},
                        log_path_));
    std::string state;
    for (int i = 0; i < 300 && state != "streaming" && !d.Poll(); ++i) {
      state = JsonField(StatusJson(), "state").value_or("");
      std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_EQ(state, "streaming") << d.Log();
    EXPECT_EQ(d.Stop(SIGTERM).code, 0);
  }

  r = RunDaemon(db_->conninfo(), {"--publication", "canopy_filtered"});
  EXPECT_EQ(r.code(), kExitReplicationFailed) << r.Describe();
  EXPECT_NE(r.err.find("\"public\".\"projects\" with a row filter"), std::string::npos) << r.err;
}

TEST_F(FailureE2E, ColumnListReachedWhileStreaming) {
  ASSERT_NO_FATAL_FAILURE(PrepareSmall("canopy_e2e_fail_cols"));
  ASSERT_NO_FATAL_FAILURE(AlterWhileStreaming(kShortTables, "archived"));
}

TEST_F(FailureE2E, RowFilterReachedWhileStreaming) {
  ASSERT_NO_FATAL_FAILURE(PrepareSmall("canopy_e2e_fail_filter"));
  ASSERT_NO_FATAL_FAILURE(AlterWhileStreaming(kFilteredTables, "row filter"));
}

TEST_F(FailureE2E, MissingPublicationOrDatabaseExitsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(PrepareSmall("canopy_e2e_fail_missing"));
  ProgramRun r = RunDaemon(db_->conninfo(), {"--publication", "nope"}, seconds(30));
  EXPECT_EQ(r.code(), kExitReplicationFailed) << r.Describe();
  EXPECT_NE(r.err.find("publication nope does not exist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--create-publication"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("create_publication"), std::string::npos) << r.err;

  r = RunDaemon(db_->conninfo() + "_missing", {"--create-publication"}, seconds(30));
  EXPECT_EQ(r.code(), kExitReplicationFailed) << r.Describe();
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  // Said once, not retried.
  EXPECT_EQ(r.err.find("retrying in"), std::string::npos) << r.err;
}

// A terminated walsender: retried; last_error clears when streaming again.
TEST_F(FailureE2E, KilledWalsenderIsRetriedAndLastErrorClears) {
  ASSERT_NO_FATAL_FAILURE(PrepareSmall("canopy_e2e_fail_walsender"));
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  ASSERT_EQ(sql_->Value("SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots "
                        "WHERE database = current_database() AND active_pid IS NOT NULL"),
            "1");
  ASSERT_TRUE(sql_->Exec("UPDATE projects SET archived = true WHERE id = 10"));
  const Lsn lsn = WalLsn();
  ProgramRun r =
      Cli({"--min-lsn", lsn.ToString(), "--wait-ms", "30000", "projects", "1", "--unarchived"});
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();
  EXPECT_EQ(r.out, "11\n");
  std::string json;
  ASSERT_NO_FATAL_FAILURE(WaitForState("streaming", seconds(30), &json));
  EXPECT_EQ(JsonField(json, "last_error"), "") << json;
  EXPECT_EQ(JsonField(json, "last_error_unix_ms"), "0") << json;
  // The archive above was streamed: its commit time is the newest one applied
  // (PostgreSQL runs on this host, so within a minute of this clock).
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t last_commit_ms = std::stoll(JsonField(json, "last_commit_unix_ms").value_or("0"));
  EXPECT_GT(last_commit_ms, now_ms - 60'000) << json;
  EXPECT_LE(last_commit_ms, now_ms) << json;
  EXPECT_TRUE(JsonField(json, "lag_seconds").has_value()) << json;
  ExpectReceivedNotBelowApplied(json);
  EXPECT_EQ(Cli({"status", "--check"}).code(), kExitOk);
  EXPECT_NE(daemon_->Log().find("session ended"), std::string::npos) << daemon_->Log();
}

// PostgreSQL restarted under canopyd (a cluster of the test's own): retried,
// the stream's end has a reason, last_error clears, a write made across the
// restart is answered.
TEST_F(FailureE2E, PostgresRestartIsSurvived) {
  cdc::testing::OwnCluster cluster;
  std::string error;
  const std::string conninfo = cluster.Start("", &error);
  ASSERT_FALSE(conninfo.empty()) << error;
  sock_ = dir_.path() + "/canopyd.sock";
  log_path_ = dir_.path() + "/canopyd.log";
  {
    cdc::testing::Sql sql(conninfo);
    ASSERT_TRUE(cdc::testing::CreateGitlabSchema(sql));
    ASSERT_TRUE(
        sql.Exec("INSERT INTO namespaces (id, name, path, type) VALUES (1, 'g', 'g', 'Group');"
                 "UPDATE namespaces SET traversal_ids = canopy_test_path(id);"));
  }
  daemon_ = std::make_unique<DaemonProcess>();
  ASSERT_TRUE(daemon_->Start(
      {CANOPYD_PATH, "--pg", conninfo, "--create-publication", "--unix", sock_, "--listen", "none"},
      log_path_));
  ASSERT_NO_FATAL_FAILURE(WaitForState("streaming", seconds(60), nullptr));
  ASSERT_TRUE(cluster.Restart("fast"));
  Lsn lsn;
  {
    cdc::testing::Sql sql(conninfo);
    ASSERT_TRUE(sql.Exec(
        "INSERT INTO namespaces (id, name, path, type, parent_id) VALUES (5, 's', 's', 'Group', 1);"
        "UPDATE namespaces SET traversal_ids = canopy_test_path(id) WHERE id = 5;"));
    lsn = sql.CurrentWalLsn();
  }
  ProgramRun r = Cli({"--min-lsn", lsn.ToString(), "--wait-ms", "60000", "descendants", "1"});
  EXPECT_EQ(r.code(), kExitOk) << r.Describe();
  EXPECT_EQ(r.out, "5\n");
  std::string json;
  ASSERT_NO_FATAL_FAILURE(WaitForState("streaming", seconds(30), &json));
  EXPECT_EQ(JsonField(json, "last_error"), "") << json;
  ExpectReceivedNotBelowApplied(json);
  const std::string log = daemon_->Log();
  EXPECT_NE(log.find("session ended"), std::string::npos) << log;
  EXPECT_EQ(log.find("ended by the server: ;"), std::string::npos) << log;
  std::cerr << "[e2e] restart log:\n" << log.substr(0, 4000) << "\n";
  const ProcessExit e = daemon_->Stop(SIGTERM);
  EXPECT_TRUE(e.exited && e.code == 0) << e.Describe();
  daemon_.reset();
}

}  // namespace
}  // namespace canopy::e2e
