// query_bench.cc — the read side: one pinned ReadView per query, as a server
// request does, answers copied into a reused vector (or, for the Query*
// variants, through the allocating copy-out API the network layer calls).
//
// Targets (docs/architecture.md): ancestors <= 200 ns,
// descendants <= 3 ns per returned id; <= 1 ns per id for a subtree
// unchanged since the last Compact (copied from the pre-order layout).
// The ":changed" variants first add a group below the named one, so that
// its answers are no longer copies of its layout, as after any change
// below it until the next Compact; the ":churned" ones first create 20,000
// projects below it (more than a stale group's delta holds before it is
// folded). Both undo their change and Compact() again afterwards.
#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "bench_world.h"
#include "benchmarks.h"

namespace canopy::bench {
namespace {

// Cycles through `pool`, one ReadView per query.
template <typename Query>
void RunOverPool(benchmark::State& state, const std::vector<int64_t>& pool, Query query) {
  if (pool.empty()) {
    state.SkipWithError("no namespace of that kind in this forest");
    return;
  }
  const HierarchyIndex& index = *World().index;
  std::vector<int64_t> out;
  out.reserve(256);
  size_t i = 0;
  uint64_t ids = 0;
  const LoopStart start;
  for (auto _ : state) {
    ReadView view = index.Read();
    const Status s = query(view, pool[i], &out);
    if (!s.ok()) {
      FailBenchmark(state, ("query failed: " + s.ToString()).c_str());
      break;
    }
    ids += out.size();
    benchmark::DoNotOptimize(out.data());
    if (++i == pool.size()) i = 0;
  }
  ReportPerId(state, start, ids);
  state.counters["pool"] = static_cast<double>(pool.size());
}

// The namespaces at `depth`; empty, the benchmark skipped, when there are none.
const std::vector<int64_t>& DepthPool(benchmark::State& state, int depth) {
  const std::vector<int64_t>& pool = World().at_depth[depth];
  if (pool.empty()) state.SkipWithError("no namespace at that depth");
  return pool;
}

// Cycles `query` through the ids of `pool` on the allocating copy-out path
// (HierarchyIndex::Query, what the server calls).
void RunQueries(benchmark::State& state, const std::vector<int64_t>& pool, IdQuery query) {
  const HierarchyIndex& index = *World().index;
  size_t i = 0;
  uint64_t ids = 0;
  const LoopStart start;
  for (auto _ : state) {
    query.id = pool[i];
    QueryAnswer answer = index.Query(query);
    ids += answer.answer.ids.size();
    benchmark::DoNotOptimize(answer.answer.ids.data());
    if (++i == pool.size()) i = 0;
  }
  ReportPerId(state, start, ids);
}

void BM_SelfAndAncestors(benchmark::State& state, int depth) {
  RunOverPool(state, World().at_depth[depth],
              [](const ReadView& v, int64_t id, std::vector<int64_t>* out) {
                return v.SelfAndAncestors(id, HierarchyOrder::kRootFirst, out);
              });
}

void BM_QuerySelfAndAncestors(benchmark::State& state, int depth) {
  const std::vector<int64_t>& pool = DepthPool(state, depth);
  if (!pool.empty()) RunQueries(state, pool, IdQuery{.kind = QueryKind::kSelfAndAncestors});
}

// The named groups, by benchmark argument name.
int64_t NamedGroup(const std::string& which) {
  const testing::GitlabForestNamedIds& named = World().forest.named;
  if (which == "small") return named.small_group_id;
  if (which == "gitlab_org") return named.gitlab_org_id;
  if (which == "huge") return named.huge_group_id;
  return 0;
}

// GitLab's project creation in `group`: project namespace `pn_id` and
// project `project_id`, both named `path`, in one transaction.
Transaction ProjectCreation(Lsn lsn, int64_t pn_id, int64_t group, int64_t project_id,
                            const char* path) {
  NamespaceRow pn;
  pn.id = pn_id;
  pn.parent_id = group;
  pn.type = NamespaceType::kProject;
  pn.path = pn.name = path;
  ProjectRow project;
  project.id = project_id;
  project.namespace_id = group;
  project.project_namespace_id = pn_id;
  project.path = project.name = path;
  return Transaction{lsn, {UpsertNamespace{pn}, UpsertProject{project}}};
}

// Applies a setup's writes one by one and keeps the slowest but the first
// (which lays out the other copy when a Compact came before: it is
// replayed there).
class SlowestWrite {
 public:
  void Apply(Transaction txn, const char* what) {
    const auto start = std::chrono::steady_clock::now();
    Check(World().index->Apply(std::move(txn)), what);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (writes_++ > 0) slowest_ms_ = std::max(slowest_ms_, ms);
  }
  double slowest_ms() const { return slowest_ms_; }

 private:
  uint64_t writes_ = 0;
  double slowest_ms_ = 0;
};

// Adds a leaf group below `group` for its lifetime: `group` and its
// ancestors are no longer laid out. Then removes it and lays the index out again.
class ChangeBelow {
 public:
  explicit ChangeBelow(int64_t group) : active_(group != 0) {
    if (!active_) return;
    NamespaceRow row;
    row.id = probe_id_;
    row.parent_id = group;
    row.type = NamespaceType::kGroup;
    row.path = row.name = "bench-probe";
    BenchWorld& w = World();
    Check(w.index->Apply(Transaction{w.NextLsn(), {UpsertNamespace{row}}}), "probe insert");
  }
  ~ChangeBelow() {
    if (!active_) return;
    BenchWorld& w = World();
    Check(w.index->Apply(Transaction{w.NextLsn(), {DeleteNamespace{probe_id_}}}), "probe delete");
    Check(w.index->Compact(), "Compact");
  }
  ChangeBelow(const ChangeBelow&) = delete;
  ChangeBelow& operator=(const ChangeBelow&) = delete;

 private:
  // The id a new group would get (the forest's ids are 1..N): far-off ids
  // would make the answer's sort look slower than a real change's.
  const int64_t probe_id_ = static_cast<int64_t>(World().forest.namespaces.size()) + 1;
  bool active_;
};

// Creates `projects` GitLab projects (a project namespace and its project,
// one transaction each) below random groups of `group`'s subtree for its
// lifetime, as a busy group sees between two layouts; then deletes them and
// lays the index out again. Reports the slowest of those Applies but the
// first (SlowestWrite).
class ChurnBelow {
 public:
  ChurnBelow(benchmark::State& state, int64_t group, size_t projects)
      : state_(state), projects_(group == 0 ? 0 : projects) {
    if (projects_ == 0) return;
    BenchWorld& w = World();
    std::vector<int64_t> groups;
    Check(w.index->Read().SelfAndDescendants(group, /*include_project_namespaces=*/false, &groups),
          "churn groups");
    std::mt19937_64 rng(group);
    SlowestWrite writes;
    for (size_t i = 0; i < projects_; ++i) {
      writes.Apply(ProjectCreation(w.NextLsn(), first_namespace_ + static_cast<int64_t>(i),
                                   groups[rng() % groups.size()],
                                   first_project_ + static_cast<int64_t>(i), "bench-churn"),
                   "churn insert");
    }
    state_.counters["churn_slowest_apply_ms"] = writes.slowest_ms();
  }
  ~ChurnBelow() {
    if (projects_ == 0) return;
    BenchWorld& w = World();
    Transaction undo{w.NextLsn(), {}};
    for (size_t i = 0; i < projects_; ++i) {
      undo.changes.push_back(DeleteProject{first_project_ + static_cast<int64_t>(i)});
      undo.changes.push_back(DeleteNamespace{first_namespace_ + static_cast<int64_t>(i)});
    }
    Check(w.index->Apply(std::move(undo)), "churn delete");
    Check(w.index->Compact(), "Compact");
  }
  ChurnBelow(const ChurnBelow&) = delete;
  ChurnBelow& operator=(const ChurnBelow&) = delete;

 private:
  benchmark::State& state_;
  const size_t projects_;
  // The next ids (the forest's ids are 1..N): as a sequence hands them out.
  const int64_t first_namespace_ = static_cast<int64_t>(World().forest.namespaces.size()) + 1;
  const int64_t first_project_ = static_cast<int64_t>(World().forest.projects.size()) + 1;
};

// A group created after the last layout, below `parent`, grown one GitLab
// write per transaction as a new organisation grows: `subgroups` subgroups,
// then `projects` projects (a project namespace and its project each) in
// random ones of them; nothing of it is laid out. Reports the slowest of
// those writes but the first. Deletes it all and lays the index out again
// afterwards.
class GrowNew {
 public:
  GrowNew(benchmark::State& state, int64_t parent, size_t subgroups, size_t projects)
      : subgroups_(parent == 0 ? 0 : subgroups), projects_(parent == 0 ? 0 : projects) {
    if (parent == 0) return;
    BenchWorld& w = World();
    SlowestWrite writes;
    auto apply = [&](Transaction txn) { writes.Apply(std::move(txn), "grow insert"); };
    NamespaceRow group;
    group.id = first_namespace_;
    group.parent_id = parent;
    group.type = NamespaceType::kGroup;
    group.path = group.name = "bench-grown";
    apply(Transaction{w.NextLsn(), {UpsertNamespace{group}}});
    std::vector<int64_t> groups{group.id};
    for (size_t i = 0; i < subgroups_; ++i) {
      NamespaceRow sub = group;
      sub.id = group.id + 1 + static_cast<int64_t>(i);
      sub.parent_id = groups[i / 4];  // four subgroups a group: four levels for 100
      sub.path = sub.name = "bench-grown-" + std::to_string(i);
      apply(Transaction{w.NextLsn(), {UpsertNamespace{sub}}});
      groups.push_back(sub.id);
    }
    std::mt19937_64 rng(parent);
    for (size_t i = 0; i < projects_; ++i) {
      apply(ProjectCreation(w.NextLsn(), group.id + 1 + static_cast<int64_t>(subgroups_ + i),
                            groups[rng() % groups.size()], first_project_ + static_cast<int64_t>(i),
                            "bench-grown-project"));
    }
    state.counters["grow_slowest_apply_ms"] = writes.slowest_ms();
    // Groups answering from stale runs once it has grown (with grown_runs,
    // the new group among them).
    state.counters["stale_run_namespaces"] =
        static_cast<double>(w.index->Stats().stale_run_namespaces);
  }
  ~GrowNew() {
    if (projects_ == 0 && subgroups_ == 0) return;
    BenchWorld& w = World();
    Transaction undo{w.NextLsn(), {}};
    for (size_t i = 0; i < projects_; ++i) {
      undo.changes.push_back(DeleteProject{first_project_ + static_cast<int64_t>(i)});
    }
    // Children before parents: the namespaces from the last one made.
    for (size_t i = 1 + subgroups_ + projects_; i-- > 0;) {
      undo.changes.push_back(DeleteNamespace{first_namespace_ + static_cast<int64_t>(i)});
    }
    Check(w.index->Apply(std::move(undo)), "grow delete");
    Check(w.index->Compact(), "Compact");
  }
  GrowNew(const GrowNew&) = delete;
  GrowNew& operator=(const GrowNew&) = delete;
  int64_t id() const { return first_namespace_; }

 private:
  const size_t subgroups_, projects_;
  const int64_t first_namespace_ = static_cast<int64_t>(World().forest.namespaces.size()) + 1;
  const int64_t first_project_ = static_cast<int64_t>(World().forest.projects.size()) + 1;
};

// How the named group's answers were prepared: laid out, one change below
// it, or a churn of project creations below it; or (kGrown) the answers
// are a new group's, grown below it since the last layout.
enum class Below { kLaidOut, kChanged, kChurned, kGrown };
constexpr size_t kChurnProjects = 20000;
constexpr size_t kGrownSubgroups = 100, kGrownProjects = 20000;

void BM_SelfAndDescendants(benchmark::State& state, std::string which, bool with_project_namespaces,
                           Below below) {
  const int64_t id = NamedGroup(which);
  ChangeBelow change(below == Below::kChanged ? id : 0);
  ChurnBelow churn(state, below == Below::kChurned ? id : 0, kChurnProjects);
  const GrowNew grown(state, below == Below::kGrown ? id : 0, kGrownSubgroups, kGrownProjects);
  const int64_t asked = below == Below::kGrown ? grown.id() : id;
  RunOverPool(state, std::vector<int64_t>(id == 0 ? 0 : 1, asked),
              [&](const ReadView& v, int64_t ns, std::vector<int64_t>* out) {
                return v.SelfAndDescendants(ns, with_project_namespaces, out);
              });
}

void BM_AllProjectIds(benchmark::State& state, std::string which, Below below) {
  const int64_t id = NamedGroup(which);
  ChangeBelow change(below == Below::kChanged ? id : 0);
  ChurnBelow churn(state, below == Below::kChurned ? id : 0, kChurnProjects);
  const GrowNew grown(state, below == Below::kGrown ? id : 0, kGrownSubgroups, kGrownProjects);
  const int64_t asked = below == Below::kGrown ? grown.id() : id;
  RunOverPool(state, std::vector<int64_t>(id == 0 ? 0 : 1, asked),
              [](const ReadView& v, int64_t ns, std::vector<int64_t>* out) {
                return v.AllProjectIds(ns, out);
              });
}

// The generic path (what the server calls), in either id order: kAny skips
// the sort.
void BM_QueryIds(benchmark::State& state, QueryKind kind, std::string which, IdOrder order,
                 bool changed) {
  const int64_t id = NamedGroup(which);
  ChangeBelow change(changed ? id : 0);
  if (id == 0) {
    state.SkipWithError("no such group in this forest");
    return;
  }
  RunQueries(state, {id}, IdQuery{.kind = kind, .id_order = order});
}

void BM_Counts(benchmark::State& state, std::string which) {
  const int64_t id = NamedGroup(which);
  if (id == 0) {
    state.SkipWithError("no such group in this forest");
    return;
  }
  const HierarchyIndex& index = *World().index;
  uint64_t projects = 0;
  for (auto _ : state) {
    ReadView view = index.Read();
    Result<SubtreeCounts> counts = view.Counts(id);
    if (!counts.ok()) {
      FailBenchmark(state, "counts failed");
      break;
    }
    projects = counts->projects;
    benchmark::DoNotOptimize(projects);
  }
  state.counters["projects"] = static_cast<double>(projects);
}

// QueryBatch of 100 SelfAndAncestors over namespaces of every type.
void BM_QueryBatchAncestors(benchmark::State& state) {
  constexpr size_t kBatch = 100;
  const std::vector<int64_t>& pool = World().random_namespaces;
  if (pool.empty()) {
    state.SkipWithError("empty forest");
    return;
  }
  std::vector<std::vector<IdQuery>> batches(32);
  size_t next = 0;
  for (std::vector<IdQuery>& batch : batches) {
    for (size_t k = 0; k < kBatch; ++k) {
      batch.push_back(
          IdQuery{.kind = QueryKind::kSelfAndAncestors, .id = pool[next++ % pool.size()]});
    }
  }
  const HierarchyIndex& index = *World().index;
  size_t b = 0;
  uint64_t ids = 0;
  const LoopStart start;
  for (auto _ : state) {
    BatchAnswer answer = index.QueryBatch(batches[b]);
    for (const IdAnswer& a : answer.answers) ids += a.ids.size();
    benchmark::DoNotOptimize(answer.answers.data());
    if (++b == batches.size()) b = 0;
  }
  const double cpu_ns = (ThreadCpuSeconds() - start.cpu_seconds) * 1e9;
  const double members = static_cast<double>(state.iterations() * kBatch);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["ns_per_member"] = members == 0 ? 0.0 : cpu_ns / members;
  state.counters["ids"] =
      benchmark::Counter(static_cast<double>(ids), benchmark::Counter::kAvgIterations);
}

void BM_NamespaceFullPath(benchmark::State& state, int depth) {
  const std::vector<int64_t>& pool = DepthPool(state, depth);
  if (pool.empty()) return;
  const HierarchyIndex& index = *World().index;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    ReadView view = index.Read();
    Result<std::string> path = view.NamespaceFullPath(pool[i]);
    if (path.ok()) bytes += path->size();
    benchmark::DoNotOptimize(bytes);
    if (++i == pool.size()) i = 0;
  }
  state.counters["path_bytes"] =
      benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kAvgIterations);
}

void BM_Resolve(benchmark::State& state, int depth) {
  const std::vector<int64_t>& pool = DepthPool(state, depth);
  if (pool.empty()) return;
  const HierarchyIndex& index = *World().index;
  std::vector<std::string> paths;
  {
    ReadView view = index.Read();
    for (size_t k = 0; k < pool.size() && k < 512; ++k) {
      Result<std::string> path = view.NamespaceFullPath(pool[k]);
      if (path.ok()) paths.push_back(*path);
    }
  }
  if (paths.empty()) {
    state.SkipWithError("no full paths");
    return;
  }
  size_t i = 0, found = 0;
  for (auto _ : state) {
    ReadView view = index.Read();
    found += view.Resolve(paths[i]).ok();
    if (++i == paths.size()) i = 0;
  }
  state.counters["found"] =
      benchmark::Counter(static_cast<double>(found), benchmark::Counter::kAvgIterations);
}

void BM_RunnersOfGroupAndAncestors(benchmark::State& state, int depth) {
  RunOverPool(state, World().at_depth[depth],
              [](const ReadView& v, int64_t id, std::vector<int64_t>* out) {
                return v.RunnersOfGroupAndAncestors(id, out);
              });
}

}  // namespace

void RegisterQueryBenchmarks() {
  for (int depth : {1, 5, 10, 21}) {
    benchmark::RegisterBenchmark(("BM_SelfAndAncestors/depth:" + std::to_string(depth)).c_str(),
                                 BM_SelfAndAncestors, depth);
  }
  benchmark::RegisterBenchmark("BM_QuerySelfAndAncestors/depth:21", BM_QuerySelfAndAncestors, 21);
  for (Below below : {Below::kLaidOut, Below::kChanged, Below::kChurned}) {
    const std::string suffix = below == Below::kChanged   ? ":changed"
                               : below == Below::kChurned ? ":churned"
                                                          : "";
    for (const char* which : {"small", "gitlab_org", "huge"}) {
      benchmark::RegisterBenchmark((std::string("BM_SelfAndDescendants/") + which + suffix).c_str(),
                                   BM_SelfAndDescendants, std::string(which), false, below);
    }
    for (const char* which : {"gitlab_org", "huge"}) {
      benchmark::RegisterBenchmark(
          (std::string("BM_SelfAndDescendantsWithProjectNamespaces/") + which + suffix).c_str(),
          BM_SelfAndDescendants, std::string(which), true, below);
    }
    for (const char* which : {"small", "gitlab_org", "huge"}) {
      benchmark::RegisterBenchmark((std::string("BM_AllProjectIds/") + which + suffix).c_str(),
                                   BM_AllProjectIds, std::string(which), below);
    }
  }
  // A group grown below gitlab-org since the last layout: its answers.
  benchmark::RegisterBenchmark("BM_SelfAndDescendantsWithProjectNamespaces/new_group:grown",
                               BM_SelfAndDescendants, std::string("gitlab_org"), true,
                               Below::kGrown);
  benchmark::RegisterBenchmark("BM_AllProjectIds/new_group:grown", BM_AllProjectIds,
                               std::string("gitlab_org"), Below::kGrown);
  for (bool changed : {false, true}) {
    for (IdOrder order : {IdOrder::kAscending, IdOrder::kAny}) {
      const std::string suffix =
          std::string(changed ? ":changed" : "") + (order == IdOrder::kAny ? "/order:any" : "");
      for (const char* which : {"gitlab_org", "huge"}) {
        benchmark::RegisterBenchmark(
            (std::string("BM_QueryAllProjectIds/") + which + suffix).c_str(), BM_QueryIds,
            QueryKind::kAllProjectIds, std::string(which), order, changed);
        benchmark::RegisterBenchmark(
            (std::string("BM_QuerySelfAndDescendants/") + which + suffix).c_str(), BM_QueryIds,
            QueryKind::kSelfAndDescendants, std::string(which), order, changed);
      }
    }
  }
  for (const char* which : {"small", "huge"}) {
    benchmark::RegisterBenchmark((std::string("BM_Counts/") + which).c_str(), BM_Counts,
                                 std::string(which));
  }
  benchmark::RegisterBenchmark("BM_QueryBatch/100_ancestors", BM_QueryBatchAncestors);
  benchmark::RegisterBenchmark("BM_NamespaceFullPath/depth:21", BM_NamespaceFullPath, 21);
  benchmark::RegisterBenchmark("BM_Resolve/depth:21", BM_Resolve, 21);
  benchmark::RegisterBenchmark("BM_RunnersOfGroupAndAncestors/depth:21",
                               BM_RunnersOfGroupAndAncestors, 21);
}

}  // namespace canopy::bench
