// bench_setup.h — what canopy_compare_bench and canopy_serving_bench stand
// on: the GitLab-shaped database loaded from a generated forest
// (canopy/testing/gitlab_database.h) on a given server or a throwaway one
// (canopy/testing/pg_cluster.h), and a description of the machine.
//
// THREAD SAFETY: main-thread helpers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canopy/status.h"
#include "canopy/testing/gitlab_forest.h"

namespace canopy::bench::compare {

struct DatabaseLoad {
  bool reused = false;  // an existing database of the same shape was kept
  double create_seconds = 0, copy_seconds = 0, index_seconds = 0, cache_seconds = 0;
  uint64_t cached_groups = 0;  // namespace_descendants rows
  uint64_t namespace_rows = 0, project_rows = 0, runner_link_rows = 0;
};

// Creates database `database` on the server of `admin_conninfo` and loads
// `forest` into it (canopy::testing's CreateGitlabTables,
// CreateNamespaceDescendantsTable, LoadGitlabForest,
// AddGitlabIndexesAndConstraints, PopulateNamespaceDescendants). With `reuse`, a database already
// loaded with the same `shape_key` is kept as it is. Logs progress to stderr.
Result<DatabaseLoad> PrepareDatabase(const std::string& admin_conninfo, const std::string& database,
                                     const testing::GitlabForest& forest,
                                     const std::string& shape_key, bool reuse);

// One-line facts for the report header.
std::string CpuDescription();     // "2 x Intel(R) Xeon(R) ... (nproc 2)"
std::string MemoryDescription();  // "23.4 GiB"
std::string KernelDescription();  // uname -sr
std::string LoadAverage();        // /proc/loadavg's first three fields
std::string UtcNow();             // "2025-01-31 12:00 UTC"
// First line of `command`'s output (trimmed), or "" on failure.
std::string CommandOutput(const std::string& command);

}  // namespace canopy::bench::compare
