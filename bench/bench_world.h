// bench_world.h — the one GitLab-shaped forest and HierarchyIndex that every
// benchmark of canopy_engine_bench shares.
//
// Built once per process, before the first benchmark runs (building 4M
// namespaces + 3M projects takes a while; timing it inside a benchmark would
// spoil that benchmark's iteration estimate). Size from the environment:
//   CANOPY_BENCH_NAMESPACES  users + groups      (default 1,000,000)
//   CANOPY_BENCH_PROJECTS    projects            (default 3,000,000; each adds a project namespace)
//   CANOPY_BENCH_SEED        generator seed      (default 1)
//   CANOPY_BENCH_LOAD_ORDER  "id" (default: each table by id, like COPY) or
//                            "preorder" (ORDER BY traversal_ids: subtrees land
//                            in contiguous slots if the engine allocates in order)
//   CANOPY_BENCH_COMPACT     1 (default): HierarchyIndex::Compact() after the
//                            load, as a bootstrap does; 0: query the load order
//
// THREAD SAFETY: World() is created from main() before any benchmark thread
// exists. Afterwards benchmarks run one at a time; the writer-side members
// (stream, NextLsn) are used only by the benchmark thread, readers use
// `index` concurrently as HierarchyIndex allows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/testing/gitlab_forest.h"

namespace canopy::bench {

struct BenchWorld {
  testing::GitlabForest forest;  // kept equal to the index by `stream`
  std::unique_ptr<HierarchyIndex> index;
  std::unique_ptr<testing::MixedStream> stream;

  // Namespaces (users and groups, never project namespaces) at a given depth,
  // a deterministic sample of at most 4096, always holding the chain node at
  // that depth when there is one.
  std::map<int, std::vector<int64_t>> at_depth;
  // Random live namespace ids of every type (for batches).
  std::vector<int64_t> random_namespaces;

  // Setup figures.
  double generate_seconds = 0;
  double load_seconds = 0;
  uint64_t loaded_namespaces = 0;  // including project namespaces
  uint64_t loaded_projects = 0;
  uint64_t loaded_runner_links = 0;
  uint64_t loaded_row_changes = 0;
  int64_t rss_namespaces_bytes = 0;  // RSS growth while loading the namespaces (both copies)
  int64_t rss_projects_bytes = 0;    // ... the projects
  int64_t rss_index_bytes = 0;       // ... everything, after Compact()
  int64_t rss_before_compact_bytes = 0;
  double compact_seconds = 0;  // 0 = not compacted
  IndexStats stats_after_load;
  double first_writes_ms[3] = {};  // the first three mixed-stream Applies after the load

  // A commit LSN above everything applied so far.
  Lsn NextLsn() { return Lsn(++last_lsn); }
  // The next transactions of the mixed stream, with fresh LSNs.
  std::vector<Transaction> StreamTransactions(size_t n, size_t* row_changes);

  uint64_t last_lsn = 0;
};

// Builds the world on first use (prints what it did to stdout).
BenchWorld& World();
// True once World() has been built.
bool WorldBuilt();

// HierarchyIndexOptions sized for exactly the rows of `forest`.
HierarchyIndexOptions IndexOptionsFor(const testing::GitlabForest& forest);
// HierarchyIndexOptions::grown_runs for the benchmarks' indexes:
// CANOPY_BENCH_GROWN_RUNS=0 turns it off, =1 on (default: the option's).
bool GrownRunsFromEnv();

// Ends the process with a message unless `status` is OK (setup steps).
void Check(const Status& status, const char* what);

}  // namespace canopy::bench
