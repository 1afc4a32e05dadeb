// bench_world.cc — generating and loading the shared forest, measuring what
// the index costs in memory on the way.
#include "bench_world.h"
#include "canopy/testing/child_process.h"
#include "canopy/testing/stats.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace canopy::bench {
namespace {

using Clock = std::chrono::steady_clock;
using testing::EnvUint64;
using testing::SecondsSince;

// Returns freed heap to the kernel so RSS deltas show live memory only.
int64_t SettledResidentBytes() {
  malloc_trim(0);
  return testing::SelfMemoryBytes("VmRSS:");
}

// Applies one table's rows in chunks, then two empty transactions so that the
// deferred replay has reached both copies before memory is measured.
void LoadTable(BenchWorld* w, testing::LoadOrder order, bool namespaces, bool projects,
               bool links) {
  testing::LoadOptions options;
  options.order = order;
  options.max_changes_per_transaction = 16'384;  // small chunks: little transient heap
  options.first_lsn = Lsn(w->last_lsn + 1);
  options.namespaces = namespaces;
  options.projects = projects;
  options.runner_links = links;
  const size_t txns = testing::ForEachLoadTransaction(w->forest, options, [&](Transaction txn) {
    w->loaded_row_changes += txn.changes.size();
    Check(w->index->Apply(std::move(txn)), "loading the forest");
  });
  w->last_lsn += txns;
  for (int i = 0; i < 2; ++i) Check(w->index->Apply(Transaction{w->NextLsn(), {}}), "flush");
}

std::vector<int64_t> Sample(std::vector<int64_t> ids, size_t n, uint64_t seed) {
  // Deterministic partial Fisher-Yates with a tiny LCG.
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  const size_t k = std::min(n, ids.size());
  for (size_t i = 0; i < k; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t j = i + static_cast<size_t>((x >> 33) % (ids.size() - i));
    std::swap(ids[i], ids[j]);
  }
  ids.resize(k);
  return ids;
}

std::unique_ptr<BenchWorld> BuildWorld() {
  auto w = std::make_unique<BenchWorld>();
  testing::GitlabForestOptions options;
  options.namespaces = EnvUint64("CANOPY_BENCH_NAMESPACES", 1'000'000);
  options.projects = EnvUint64("CANOPY_BENCH_PROJECTS", 3'000'000);
  options.seed = EnvUint64("CANOPY_BENCH_SEED", 1);

  Clock::time_point start = Clock::now();
  w->forest = testing::GenerateGitlabForest(options);
  w->generate_seconds = SecondsSince(start);
  const testing::GitlabForestCounts counts = testing::CountForest(w->forest);
  std::printf(
      "forest: %zu users, %zu groups, %zu project namespaces, %zu projects, %zu runner "
      "links, max depth %d (seed %" PRIu64 ", generated in %.2f s)\n",
      counts.users, counts.groups, counts.project_namespaces, counts.projects, counts.runner_links,
      counts.max_depth, options.seed, w->generate_seconds);

  // Row order of the initial load: "id" (each table by id, as a plain COPY
  // gives it; the default) or "preorder" (ORDER BY traversal_ids).
  testing::LoadOrder order = testing::LoadOrder::kById;
  const char* order_name = std::getenv("CANOPY_BENCH_LOAD_ORDER");
  if (order_name != nullptr && std::string(order_name) == "preorder") {
    order = testing::LoadOrder::kPreorder;
  } else if (order_name != nullptr && *order_name != '\0' && std::string(order_name) != "id") {
    std::fprintf(stderr, "ignoring CANOPY_BENCH_LOAD_ORDER=%s (id or preorder)\n", order_name);
  }

  const int64_t rss_start = SettledResidentBytes();
  start = Clock::now();
  w->index = std::make_unique<HierarchyIndex>(IndexOptionsFor(w->forest));
  LoadTable(w.get(), order, true, false, false);
  const int64_t rss_namespaces = SettledResidentBytes();
  LoadTable(w.get(), order, false, true, false);
  const int64_t rss_projects = SettledResidentBytes();
  LoadTable(w.get(), order, false, false, true);
  w->load_seconds = SecondsSince(start);
  w->rss_before_compact_bytes = SettledResidentBytes() - rss_start;
  // What a bootstrap does after a snapshot load (CANOPY_BENCH_COMPACT=0 skips it).
  if (EnvUint64("CANOPY_BENCH_COMPACT", 1) != 0) {
    start = Clock::now();
    Check(w->index->Compact(), "Compact");
    for (int i = 0; i < 2; ++i) Check(w->index->Apply(Transaction{w->NextLsn(), {}}), "flush");
    w->compact_seconds = SecondsSince(start);
  }
  const int64_t rss_end = SettledResidentBytes();
  w->rss_namespaces_bytes = rss_namespaces - rss_start;
  w->rss_projects_bytes = rss_projects - rss_namespaces;
  w->rss_index_bytes = rss_end - rss_start;
  w->stats_after_load = w->index->Stats();
  w->loaded_namespaces = counts.users + counts.groups + counts.project_namespaces;
  w->loaded_projects = counts.projects;
  w->loaded_runner_links = counts.runner_links;
  std::printf("index: loaded %" PRIu64
              " row changes (%s order) in %.2f s (%.0f rows/s, both copies), "
              "IndexStats: %" PRIu64 " namespaces, %" PRIu64 " projects, %" PRIu64
              " links, %" PRIu64 " orphans\n",
              w->loaded_row_changes, order == testing::LoadOrder::kPreorder ? "preorder" : "id",
              w->load_seconds, static_cast<double>(w->loaded_row_changes) / w->load_seconds,
              w->stats_after_load.namespaces, w->stats_after_load.projects,
              w->stats_after_load.runner_links,
              w->stats_after_load.orphan_namespaces + w->stats_after_load.orphan_projects);
  if (w->compact_seconds > 0) {
    std::printf("index: Compact() after the load took %.2f s\n", w->compact_seconds);
  } else {
    std::printf("index: not compacted (CANOPY_BENCH_COMPACT=0)\n");
  }

  w->stream = std::make_unique<testing::MixedStream>(
      &w->forest,
      testing::MixedStreamOptions{.seed = options.seed, .first_lsn = Lsn(w->last_lsn + 1)});

  // The first writes after the load: the index was sized for exactly the
  // loaded rows, so the first new namespace/project grows its arrays and hash
  // sets (once per copy: this publish and the replay at the next one). Timed
  // here, then a warm-up, so the apply benchmarks see the steady state.
  for (int i = 0; i < 256; ++i) {
    std::vector<Transaction> txn = w->StreamTransactions(1, nullptr);
    start = Clock::now();
    Check(w->index->Apply(std::move(txn.front())), "warm-up");
    if (i < 3) w->first_writes_ms[i] = SecondsSince(start) * 1e3;
  }
  std::printf(
      "first writes after the load (capacity growth, one copy each): %.1f ms, %.1f ms, "
      "%.3f ms\n",
      w->first_writes_ms[0], w->first_writes_ms[1], w->first_writes_ms[2]);
  // The warm-up changed subtrees (they answer by walking until the next
  // Compact); lay the index out again so that the plain query benchmarks
  // measure a laid-out index and the ":changed" ones the walk.
  const uint64_t laid_out_after_warmup = w->index->Stats().laid_out_namespaces;
  if (EnvUint64("CANOPY_BENCH_COMPACT", 1) != 0) Check(w->index->Compact(), "Compact");
  std::printf("laid-out namespaces: %" PRIu64 " after the warm-up, %" PRIu64 " after Compact()\n",
              laid_out_after_warmup, w->index->Stats().laid_out_namespaces);

  // Query pools (after the warm-up, which deleted a few rows).
  const std::vector<uint8_t> depth = testing::NamespaceDepths(w->forest);
  std::map<int, std::vector<int64_t>> by_depth;
  std::vector<int64_t> all;
  all.reserve(w->forest.namespaces.size());
  for (size_t i = 0; i < depth.size(); ++i) {
    const NamespaceRow& row = w->forest.namespaces[i];
    if (row.id == 0) continue;
    all.push_back(row.id);
    if (row.type != NamespaceType::kProject) by_depth[depth[i]].push_back(row.id);
  }
  for (auto& [d, ids] : by_depth) {
    std::vector<int64_t> pool = Sample(std::move(ids), 4096, static_cast<uint64_t>(d));
    const std::vector<int64_t>& chain = w->forest.named.chain_21;
    if (d >= 1 && static_cast<size_t>(d) <= chain.size() &&
        std::find(pool.begin(), pool.end(), chain[d - 1]) == pool.end()) {
      pool.back() = chain[d - 1];
    }
    w->at_depth[d] = std::move(pool);
  }
  w->random_namespaces = Sample(std::move(all), 8192, 99);

  return w;
}

// Set by the first World() (constant-initialized: no static order issue).
std::unique_ptr<BenchWorld> world;

}  // namespace

bool GrownRunsFromEnv() {
  return EnvUint64("CANOPY_BENCH_GROWN_RUNS", HierarchyIndexOptions{}.grown_runs ? 1 : 0) != 0;
}

HierarchyIndexOptions IndexOptionsFor(const testing::GitlabForest& forest) {
  return {.expected_namespaces = forest.namespaces.size(),
          .expected_projects = forest.projects.size(),
          .expected_runner_links = forest.runner_links.size(),
          .grown_runs = GrownRunsFromEnv()};
}

void Check(const Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "canopy_engine_bench: %s failed: %s\n", what, status.ToString().c_str());
  std::exit(1);
}

std::vector<Transaction> BenchWorld::StreamTransactions(size_t n, size_t* row_changes) {
  std::vector<Transaction> txns;
  txns.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    txns.push_back(stream->Next());
    txns.back().commit_lsn = NextLsn();
  }
  if (row_changes != nullptr) *row_changes = testing::CountRowChanges(txns);
  return txns;
}

BenchWorld& World() {
  if (!world) world = BuildWorld();
  return *world;
}

bool WorldBuilt() { return world != nullptr; }

}  // namespace canopy::bench
