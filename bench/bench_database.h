// bench_database.h — what canopy_serving_bench stands on: PostgreSQL (the --pg server, or a
// throwaway cluster), a generated GitLab-shaped forest with the questions picked on it, and that
// forest loaded as GitLab's database (canopy/testing/gitlab_database.h); plus the lines of its
// report header.
//
//   BenchDatabase db;
//   if (Status s = StartPostgres(flags, "serving", &db); !s.ok()) ...
//   GenerateForest(flags, "serving_bench", &db);   // db.forest, db.questions
//   if (Status s = LoadDatabase(flags, "serving_bench", &db); !s.ok()) ...
//   // db.db_conninfo, db.load, db.pg_version, ...; db.forest is released
//
// THREAD SAFETY: main-thread helpers.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "bench_flags.h"
#include "canopy/status.h"
#include "canopy/testing/gitlab_database.h"
#include "canopy/testing/gitlab_forest.h"
#include "canopy/testing/pg_cluster.h"
#include "canopy/testing/questions.h"

namespace canopy::bench {

struct BenchDatabase {
  testing::ThrowawayCluster cluster;              // started when no --pg was given
  std::string admin_conninfo;                     // the server's `postgres` database
  std::unique_ptr<testing::GitlabForest> forest;  // until LoadDatabase
  std::vector<testing::Question> questions;       // PickQuestions(forest, seed)
  testing::GitlabForestCounts counts;
  double generate_seconds = 0;
  // After LoadDatabase:
  testing::GitlabDatabaseLoad load;
  std::string db_conninfo;  // the database of --database
  std::string pg_version;   // SHOW server_version
  std::string pg_settings;  // "shared_buffers=1GB, work_mem=4MB, jit=off, ..."
  pid_t postmaster = 0;     // 0 when PostgreSQL's processes are not readable here
};

// admin_conninfo = flags.pg, or a throwaway cluster named "canopy-NAME-pg".
Status StartPostgres(const DatabaseFlags& flags, const std::string& name, BenchDatabase* db);

// Generates the forest of `flags` (logged to stderr with `log_prefix`), counts
// it and picks the questions on it.
void GenerateForest(const DatabaseFlags& flags, const std::string& log_prefix, BenchDatabase* db);

// Loads db->forest into database flags.database (PrepareGitlabDatabase; kept
// with --reuse-db when it holds the same forest), releases the forest and
// reads the server's version, settings and postmaster.
Status LoadDatabase(const DatabaseFlags& flags, const std::string& log_prefix, BenchDatabase* db);

// Report header lines.
// "Run: <UTC time>, canopy <revision>[ (with uncommitted changes)], whole run N s"
std::string RunLine(double run_seconds);
// "Machine: <CPU>, <memory> RAM, <kernel>; load average at start A, at end B."
std::string MachineLine(const std::string& load_at_start);
// "Data (generator seed S): U users, G groups, ... namespace_descendants rows: C (...)"
std::string DataLine(const DatabaseFlags& flags, const BenchDatabase& db);

}  // namespace canopy::bench
