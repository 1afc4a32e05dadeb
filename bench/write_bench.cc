// write_bench.cc — memory per entity, apply throughput of the realistic mixed
// stream, subtree moves, and the writer's wait per publish under a reader.
//
// Targets (the benchmark brief): apply >= 500k row changes/s, a 100k-node
// subtree move <= 50 us, <= 100 bytes per entity for both copies.
//
// Every Apply here includes what left-right charges for it: the wait for
// readers, the replay of the previous publish onto the other copy, then this
// transaction. The world's forest follows the index through the MixedStream;
// the move benchmarks put the moved group back where it was.
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_world.h"
#include "benchmarks.h"
#include "canopy/testing/stats.h"

namespace canopy::bench {
namespace {

double PerEntity(int64_t bytes, uint64_t entities) {
  return entities == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(entities);
}

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

void BM_Memory(benchmark::State& state) {
  BenchWorld& w = World();
  for (auto _ : state) benchmark::DoNotOptimize(w.rss_index_bytes);
  const uint64_t entities = w.loaded_namespaces + w.loaded_projects + w.loaded_runner_links;
  state.counters["rss_bytes_per_namespace"] =
      PerEntity(w.rss_namespaces_bytes, w.loaded_namespaces);
  state.counters["rss_bytes_per_project"] = PerEntity(w.rss_projects_bytes, w.loaded_projects);
  state.counters["rss_bytes_per_entity"] = PerEntity(w.rss_index_bytes, entities);
  state.counters["stats_bytes_per_entity"] =
      PerEntity(static_cast<int64_t>(w.stats_after_load.memory_bytes), entities);
  state.counters["rss_index_MiB"] = MiB(w.rss_index_bytes);
  state.counters["stats_index_MiB"] = MiB(static_cast<int64_t>(w.stats_after_load.memory_bytes));
}

// A snapshot of the whole forest into a fresh index, as a bootstrap does:
// HierarchyIndex::BulkLoad (built in passes, laid out, copied), against the
// same rows through Apply + Compact. Wall time in seconds until both copies
// are made (the first write after it has published), rows per second, and
// serving_seconds: until the call returns and readers are served (BulkLoad
// makes its second copy after that, while they read).
void BM_SnapshotBuild(benchmark::State& state, bool bulk) {
  BenchWorld& w = World();
  uint64_t rows = 0;
  double seconds = 0, serving_seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Transaction snapshot = testing::LoadTransaction(w.forest, Lsn(1));
    rows += snapshot.changes.size();
    auto index = std::make_unique<HierarchyIndex>(IndexOptionsFor(w.forest));
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    if (bulk) {
      Check(index->BulkLoad(std::move(snapshot)), "BulkLoad");
    } else {
      Check(index->Apply(std::move(snapshot)), "Apply");
      Check(index->Compact(), "Compact");
    }
    serving_seconds += testing::SecondsSince(start);
    // The replay onto the other copy (Apply + Compact), or the wait for
    // BulkLoad's copy of it.
    Check(index->Apply(Transaction{Lsn(2), {}}), "flush");
    seconds += testing::SecondsSince(start);
    state.PauseTiming();
    // The index the build left, both copies (IndexStats.memory_bytes).
    state.counters["index_mb"] = static_cast<double>(index->Stats().memory_bytes) / 1e6;
    index.reset();
    state.ResumeTiming();
  }
  state.counters["seconds"] = seconds / static_cast<double>(state.iterations());
  state.counters["serving_seconds"] = serving_seconds / static_cast<double>(state.iterations());
  state.counters["rows_per_second"] = static_cast<double>(rows) / seconds;
}

// Applies the next transactions of the mixed stream, `batch` per publish.
void BM_ApplyMixedStream(benchmark::State& state, size_t batch) {
  constexpr size_t kTxnsPerIteration = 256;
  BenchWorld& w = World();
  uint64_t rows = 0, txns_applied = 0;
  for (auto _ : state) {
    state.PauseTiming();
    size_t n = 0;
    std::vector<Transaction> txns = w.StreamTransactions(kTxnsPerIteration, &n);
    rows += n;
    txns_applied += txns.size();
    std::vector<std::vector<Transaction>> batches;
    if (batch > 1) {
      for (size_t i = 0; i < txns.size(); i += batch) {
        const size_t end = std::min(txns.size(), i + batch);
        batches.emplace_back(
            std::make_move_iterator(txns.begin() + static_cast<std::ptrdiff_t>(i)),
            std::make_move_iterator(txns.begin() + static_cast<std::ptrdiff_t>(end)));
      }
    }
    state.ResumeTiming();
    Status s;
    if (batch > 1) {
      for (std::vector<Transaction>& b : batches) {
        s = w.index->ApplyBatch(std::move(b));
        if (!s.ok()) break;
      }
    } else {
      for (Transaction& t : txns) {
        s = w.index->Apply(std::move(t));
        if (!s.ok()) break;
      }
    }
    if (!s.ok()) {
      FailBenchmark(state, ("apply failed: " + s.ToString()).c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.counters["row_changes_per_s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  state.counters["txns_per_s"] =
      benchmark::Counter(static_cast<double>(txns_applied), benchmark::Counter::kIsRate);
  state.counters["rows_per_txn"] =
      txns_applied == 0 ? 0.0 : static_cast<double>(rows) / static_cast<double>(txns_applied);
}

// Some namespace deep inside `root`'s subtree, to check where a move put it.
int64_t DeepestDescendant(int64_t root) {
  std::vector<int64_t> ids;
  ReadView view = World().index->Read();
  if (!view.Descendants(root, false, &ids).ok() || ids.empty()) return root;
  int64_t best = root;
  size_t best_depth = 0;
  std::vector<int64_t> chain;
  for (size_t k = 0; k < ids.size(); k += std::max<size_t>(1, ids.size() / 256)) {
    if (view.SelfAndAncestors(ids[k], HierarchyOrder::kRootFirst, &chain).ok() &&
        chain.size() > best_depth) {
      best_depth = chain.size();
      best = ids[k];
    }
  }
  return best;
}

// The huge group's row, when the forest has it and a group to move it to;
// else null, the benchmark marked skipped.
const NamespaceRow* HugeGroupToMove(BenchWorld& w, benchmark::State& state) {
  const testing::GitlabForestNamedIds& named = w.forest.named;
  const NamespaceRow* row = w.forest.FindNamespace(named.huge_group_id);
  if (row == nullptr || named.transfer_target_a_id == 0) {
    state.SkipWithError("no huge group in this forest");
    return nullptr;
  }
  return row;
}

// The huge group (100k+ descendant groups, with its project namespaces ~1M
// nodes) moved between two top-level groups: one parent_id UPDATE, as the
// engine's O(depth) move sees it.
void BM_MoveSubtree(benchmark::State& state) {
  BenchWorld& w = World();
  const testing::GitlabForestNamedIds& named = w.forest.named;
  const NamespaceRow* row = HugeGroupToMove(w, state);
  if (row == nullptr) return;
  NamespaceRow moved = *row;
  const std::optional<int64_t> home = row->parent_id;
  const int64_t probe = DeepestDescendant(named.huge_group_id);
  if (Result<SubtreeCounts> counts = w.index->Read().Counts(named.huge_group_id); counts.ok()) {
    state.counters["subtree_groups"] = static_cast<double>(counts->descendant_groups + 1);
    state.counters["subtree_nodes"] =
        static_cast<double>(counts->descendant_groups + 1 + counts->descendant_project_namespaces);
    state.counters["subtree_projects"] = static_cast<double>(counts->projects);
  }
  int64_t target = 0;
  for (auto _ : state) {
    target = target == named.transfer_target_a_id ? named.transfer_target_b_id
                                                  : named.transfer_target_a_id;
    moved.parent_id = target;
    Transaction txn{w.NextLsn(), {}};
    txn.changes.push_back(UpsertNamespace{moved});
    const Status s = w.index->Apply(std::move(txn));
    if (!s.ok()) {
      FailBenchmark(state, ("move failed: " + s.ToString()).c_str());
      return;
    }
  }
  // After the loop: untimed.
  bool placed = true;
  if (target != 0) {
    Result<int64_t> root = w.index->Read().RootAncestor(probe);
    placed = root.ok() && *root == target;
  }
  moved.parent_id = home;  // put it back
  const Status s = w.index->Apply(Transaction{w.NextLsn(), {UpsertNamespace{moved}}});
  if (!placed) FailBenchmark(state, "the moved subtree is not under its new parent");
  if (!s.ok()) FailBenchmark(state, ("moving back failed: " + s.ToString()).c_str());
}

// The same transfer as GitLab writes it to the WAL: the parent_id UPDATE plus
// one UPDATE per node of the moved subtree (groups and project namespaces,
// whose traversal_ids change). Two iterations: there, and back home.
void BM_MoveSubtreeGitlabWal(benchmark::State& state) {
  BenchWorld& w = World();
  const testing::GitlabForestNamedIds& named = w.forest.named;
  const NamespaceRow* row = HugeGroupToMove(w, state);
  if (row == nullptr) return;
  std::vector<int64_t> subtree;
  if (!w.index->Read().SelfAndDescendants(named.huge_group_id, true, &subtree).ok()) {
    FailBenchmark(state, "descendants failed");
    return;
  }
  const std::optional<int64_t> home = row->parent_id;
  bool there = false;
  uint64_t rows = 0;
  for (auto _ : state) {
    state.PauseTiming();
    NamespaceRow moved = *w.forest.FindNamespace(named.huge_group_id);
    there = !there;
    moved.parent_id = there ? std::optional<int64_t>(named.transfer_target_a_id) : home;
    Transaction txn{w.NextLsn(), {}};
    txn.changes.reserve(subtree.size() + 1);
    txn.changes.push_back(UpsertNamespace{moved});
    for (int64_t id : subtree) {
      const NamespaceRow* node = w.forest.FindNamespace(id);
      if (node == nullptr) continue;
      txn.changes.push_back(UpsertNamespace{id == named.huge_group_id ? moved : *node});
    }
    rows += txn.changes.size();
    state.ResumeTiming();
    const Status s = w.index->Apply(std::move(txn));
    if (!s.ok()) {
      FailBenchmark(state, ("transfer failed: " + s.ToString()).c_str());
      break;
    }
  }
  if (there) {  // an odd iteration count: go home (after the loop: untimed)
    const NamespaceRow moved = *w.forest.FindNamespace(named.huge_group_id);
    (void)w.index->Apply(Transaction{w.NextLsn(), {UpsertNamespace{moved}}});
  }
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.counters["rows_per_move"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kAvgIterations);
  state.counters["row_changes_per_s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}

enum class ReaderKind { kAncestors, kGitlabOrgProjects };

// The writer applies the mixed stream, one transaction per publish, while one
// reader thread queries without pause; reports the writer's wait per publish.
void BM_PublishWait(benchmark::State& state, ReaderKind kind) {
  BenchWorld& w = World();
  const HierarchyIndex& index = *w.index;
  const std::vector<int64_t>& pool = w.random_namespaces;
  const int64_t org = w.forest.named.gitlab_org_id != 0 ? w.forest.named.gitlab_org_id
                                                        : (pool.empty() ? 0 : pool[0]);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reader_queries{0};
  std::thread reader([&] {
    std::vector<int64_t> out;
    uint64_t n = 0;
    size_t i = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      ReadView view = index.Read();
      if (kind == ReaderKind::kAncestors && !pool.empty()) {
        (void)view.SelfAndAncestors(pool[i], HierarchyOrder::kRootFirst, &out);
        if (++i == pool.size()) i = 0;
      } else {
        (void)view.AllProjectIds(org, &out);
      }
      benchmark::DoNotOptimize(out.data());
      ++n;
    }
    reader_queries.store(n);
  });

  const IndexStats before = index.Stats();
  std::vector<uint64_t> waits;
  uint64_t rows = 0;
  Status s;
  const BenchClock::time_point start = BenchClock::now();
  for (auto _ : state) {
    state.PauseTiming();
    size_t n = 0;
    std::vector<Transaction> txns = w.StreamTransactions(64, &n);
    rows += n;
    state.ResumeTiming();
    for (Transaction& t : txns) {
      s = w.index->Apply(std::move(t));
      if (!s.ok()) break;
      waits.push_back(index.Stats().last_publish_wait_ns);
    }
    if (!s.ok()) break;
  }
  const double seconds = testing::SecondsSince(start);
  stop.store(true);
  reader.join();
  if (!s.ok()) {
    FailBenchmark(state, ("apply failed: " + s.ToString()).c_str());
    return;
  }
  const IndexStats after = index.Stats();
  const uint64_t publishes = after.publishes - before.publishes;
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.counters["publishes"] = static_cast<double>(publishes);
  state.counters["wait_ns_per_publish"] =
      publishes == 0
          ? 0.0
          : static_cast<double>(after.total_publish_wait_ns - before.total_publish_wait_ns) /
                static_cast<double>(publishes);
  if (!waits.empty()) {
    std::sort(waits.begin(), waits.end());
    state.counters["wait_ns_p50"] = static_cast<double>(waits[waits.size() / 2]);
    state.counters["wait_ns_p99"] = static_cast<double>(waits[waits.size() * 99 / 100]);
    state.counters["wait_ns_max"] = static_cast<double>(waits.back());
  }
  state.counters["reader_queries_per_s"] =
      seconds > 0 ? static_cast<double>(reader_queries.load()) / seconds : 0.0;
}

// What one thread has been charged so far: CPU seconds, page faults and
// involuntary context switches (getrusage(RUSAGE_THREAD)).
struct ThreadCharge {
  double cpu_seconds = 0;
  int64_t page_faults = 0;
  int64_t preemptions = 0;
};

ThreadCharge ThreadChargeNow() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return {.cpu_seconds = ThreadCpuSeconds(),
          .page_faults = u.ru_minflt + u.ru_majflt,
          .preemptions = u.ru_nivcsw};
}

// Counts a series of timed steps: how many took over 0.25 ms and over 1 ms
// of both wall and CPU time (a step the machine stalled: CPU time alone is
// sometimes charged in bursts, e.g. 24 ms of CPU in a 0.01 ms step; wall
// time alone includes the guest's preemptions), and of those, how many took
// a page fault or were preempted (involuntary context switch) in the step.
struct StallCount {
  static constexpr double kThresholds[] = {0.25e-3, 1e-3};
  static constexpr const char* kNames[] = {"over_250us", "over_1ms"};
  double max_wall = 0, max_cpu = 0, total_wall = 0;
  uint64_t over[2] = {}, over_faulting[2] = {}, over_preempted[2] = {};

  // Runs `step` once, timed, and counts it.
  template <typename Step>
  void Time(Step&& step) {
    const ThreadCharge before = ThreadChargeNow();
    const auto start = std::chrono::steady_clock::now();
    step();
    const double wall = testing::SecondsSince(start);
    Add(wall, before, ThreadChargeNow());
  }

  void Add(double wall, const ThreadCharge& before, const ThreadCharge& after) {
    const double cpu = after.cpu_seconds - before.cpu_seconds;
    total_wall += wall;
    max_wall = std::max(max_wall, wall);
    max_cpu = std::max(max_cpu, cpu);
    for (size_t t = 0; t < 2; ++t) {
      if (wall <= kThresholds[t] || cpu <= kThresholds[t]) continue;
      ++over[t];
      if (after.page_faults != before.page_faults) ++over_faulting[t];
      if (after.preemptions != before.preemptions) ++over_preempted[t];
    }
  }

  void Report(benchmark::State& state, const std::string& prefix) const {
    state.counters[prefix + "max_wall_ms"] = max_wall * 1e3;
    state.counters[prefix + "max_cpu_ms"] = max_cpu * 1e3;
    for (size_t t = 0; t < 2; ++t) {
      const std::string name = prefix + kNames[t];
      state.counters[name] = static_cast<double>(over[t]);
      state.counters[name + "_faulting"] = static_cast<double>(over_faulting[t]);
      state.counters[name + "_preempted"] = static_cast<double>(over_preempted[t]);
    }
  }
};

// A fixed amount of register-only arithmetic: `rounds` xorshift steps.
uint64_t FixedWork(uint64_t rounds, uint64_t x) {
  for (uint64_t r = 0; r < rounds; ++r) x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  return x;
}

// Growth without stalls: an index that starts empty takes `txns` GitLab
// project creations (a group under an earlier group, a project namespace,
// the project: three rows), one transaction each, so every column array and
// id hash set crosses many capacity doublings on both copies. Reports the
// slowest Apply in wall time and in the writer thread's CPU time, and how
// many took over 0.25 ms and over 1 ms (StallCount). The CPU time is blind to
// the guest's own scheduler but not to the host's: this VM reports no steal
// time, so a vCPU the host takes away in mid-step is charged to the step.
// That is why every Apply is followed by a control step, a fixed amount of
// arithmetic that allocates and touches nothing, about as long as the mean
// Apply and timed the same way (control_* counters): the control's count
// over 1 ms is what this machine adds to the Apply's, side by side.
// Size: CANOPY_BENCH_GROWTH_TXNS (default CANOPY_BENCH_NAMESPACES, 1,000,000:
// 3M rows).
void BM_GrowthStall(benchmark::State& state) {
  const size_t txns = testing::EnvUint64("CANOPY_BENCH_GROWTH_TXNS",
                                         testing::EnvUint64("CANOPY_BENCH_NAMESPACES", 1'000'000));
  // Rounds of FixedWork in about 10 µs (an Apply's mean here is 10-15 µs).
  uint64_t control_rounds = 1'000'000;
  {
    const double cpu_start = ThreadCpuSeconds();
    benchmark::DoNotOptimize(FixedWork(control_rounds, 1));
    const double per_round = (ThreadCpuSeconds() - cpu_start) / static_cast<double>(control_rounds);
    control_rounds = per_round > 0 ? static_cast<uint64_t>(10e-6 / per_round) : 10'000;
  }
  StallCount applies, controls;
  uint64_t rows_at_max_wall = 0, sink = 1;
  for (auto _ : state) {
    // No expected sizes: it grows from nothing.
    HierarchyIndex index(HierarchyIndexOptions{.grown_runs = GrownRunsFromEnv()});
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < txns; ++i) {
      const int64_t group = static_cast<int64_t>(2 * i + 1), pn = group + 1;
      // (appended, not "g" + ...: GCC 12's -Wrestrict false positive at -O3)
      std::string g_path = "g", p_path = "p";
      g_path += std::to_string(i);
      p_path += std::to_string(i);
      NamespaceRow g{.id = group, .type = NamespaceType::kGroup, .name = g_path, .path = g_path};
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      if (i % 64 != 0) g.parent_id = static_cast<int64_t>(2 * (rng % i) + 1);  // an earlier group
      const NamespaceRow p{.id = pn,
                           .parent_id = group,
                           .type = NamespaceType::kProject,
                           .name = p_path,
                           .path = p_path};
      const ProjectRow project{.id = static_cast<int64_t>(i + 1),
                               .namespace_id = group,
                               .project_namespace_id = pn,
                               .name = p_path,
                               .path = p_path};
      Transaction txn{Lsn(i + 1), {UpsertNamespace{g}, UpsertNamespace{p}, UpsertProject{project}}};
      const double max_wall_before = applies.max_wall;
      applies.Time([&] { Check(index.Apply(std::move(txn)), "growth apply"); });
      if (applies.max_wall > max_wall_before) rows_at_max_wall = 3 * (i + 1);
      controls.Time([&] {
        sink = FixedWork(control_rounds, sink);
        benchmark::DoNotOptimize(sink);
      });
    }
  }
  state.counters["txns"] = static_cast<double>(txns);
  state.counters["mean_apply_us"] = applies.total_wall / static_cast<double>(txns) * 1e6;
  state.counters["rows_at_max_wall"] = static_cast<double>(rows_at_max_wall);
  applies.Report(state, "apply_");
  state.counters["control_mean_us"] = controls.total_wall / static_cast<double>(txns) * 1e6;
  controls.Report(state, "control_");
}

// What a first touch of new memory costs on this machine, the floor under
// BM_GrowthStall's faulting writes: maps 256 MiB (4 KiB pages, as the
// arrays grown row by row), writes one byte per page in order, and reports
// the median and p99 time of a touch, the median of the first touch of each
// 2 MiB (where the kernel also makes a page table page; on a virtual
// machine the host may back a whole 2 MiB at once), and how many touches
// took over 0.25 ms and over 1 ms.
void BM_FirstTouch(benchmark::State& state) {
  constexpr size_t kBytes = size_t{256} << 20, kPage = 4096, kPagesPer2MiB = 512;
  std::vector<double> touch_us, first_of_2mib_us;
  touch_us.reserve(kBytes / kPage);  // no growth of its own between the touches
  for (auto _ : state) {
    void* mapping =
        mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    Check(mapping != MAP_FAILED ? Status::Ok() : Status::ResourceExhausted("mmap of 256 MiB"),
          "first touch");
    madvise(mapping, kBytes, MADV_NOHUGEPAGE);
    auto* bytes = static_cast<volatile char*>(mapping);
    for (size_t page = 0; page < kBytes / kPage; ++page) {
      const auto start = std::chrono::steady_clock::now();
      bytes[page * kPage] = 1;
      const double us = testing::SecondsSince(start) * 1e6;
      touch_us.push_back(us);
      if (page % kPagesPer2MiB == 0) first_of_2mib_us.push_back(us);
    }
    munmap(mapping, kBytes);
  }
  const auto over = [&](double us) {
    return static_cast<double>(
        std::count_if(touch_us.begin(), touch_us.end(), [us](double t) { return t > us; }));
  };
  state.counters["touches_over_250us"] = over(250);
  state.counters["touches_over_1ms"] = over(1000);
  state.counters["touch_us_p50"] = testing::Percentile(touch_us, 0.5);
  state.counters["touch_us_p99"] = testing::Percentile(touch_us, 0.99);
  state.counters["touch_us_max"] = testing::Percentile(touch_us, 1.0);
  state.counters["first_of_2MiB_us_p50"] = testing::Percentile(first_of_2mib_us, 0.5);
}

}  // namespace

void RegisterWriteBenchmarks() {
  benchmark::RegisterBenchmark("BM_Memory", BM_Memory)->Iterations(1);
  benchmark::RegisterBenchmark("BM_SnapshotBuild/bulk_load", BM_SnapshotBuild, true)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_SnapshotBuild/apply_compact", BM_SnapshotBuild, false)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_ApplyMixedStream/per_txn", BM_ApplyMixedStream, size_t{1})
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_ApplyMixedStream/batch:64", BM_ApplyMixedStream, size_t{64})
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_GrowthStall", BM_GrowthStall)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_FirstTouch", BM_FirstTouch)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_MoveSubtree/huge", BM_MoveSubtree)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_MoveSubtreeGitlabWal/huge", BM_MoveSubtreeGitlabWal)
      ->Iterations(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_PublishWait/reader:ancestors", BM_PublishWait,
                               ReaderKind::kAncestors)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_PublishWait/reader:gitlab_org_projects", BM_PublishWait,
                               ReaderKind::kGitlabOrgProjects)
      ->UseRealTime();
}

void PrintSetupSummary() {
  if (!WorldBuilt()) return;
  BenchWorld& w = World();
  const uint64_t entities = w.loaded_namespaces + w.loaded_projects + w.loaded_runner_links;
  std::printf("\nmemory (both copies; target <= 100 bytes per entity):\n");
  std::printf(
      "  RSS growth while loading: namespaces %.1f MiB = %.1f B/namespace (%llu incl. project "
      "namespaces); projects %.1f MiB = %.1f B/project\n",
      MiB(w.rss_namespaces_bytes), PerEntity(w.rss_namespaces_bytes, w.loaded_namespaces),
      static_cast<unsigned long long>(w.loaded_namespaces), MiB(w.rss_projects_bytes),
      PerEntity(w.rss_projects_bytes, w.loaded_projects));
  std::printf("  after Compact(): everything %.1f MiB = %.1f B/entity (before it: %.1f MiB)\n",
              MiB(w.rss_index_bytes), PerEntity(w.rss_index_bytes, entities),
              MiB(w.rss_before_compact_bytes));
  std::printf("  IndexStats.memory_bytes after load: %.1f MiB = %.1f B/entity\n",
              MiB(static_cast<int64_t>(w.stats_after_load.memory_bytes)),
              PerEntity(static_cast<int64_t>(w.stats_after_load.memory_bytes), entities));
  std::printf(
      "targets: ancestors <= 200 ns; descendants <= 3 ns/id; 100k-subtree move <= 50 us; "
      "apply >= 500k row changes/s; <= 100 B/entity (both copies)\n");
}

}  // namespace canopy::bench
