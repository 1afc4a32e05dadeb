// concurrency_test.cc — readers never see a partial or mixed state.
//
// One writer moves a subtree back and forth between two parents, renames a
// node inside it, inserts a leaf and deletes an older one, and flips a
// project's archived flag — one transaction per step, LSN = kBaseLsn + step.
// The committed state is a pure function of the step, so every reader can
// derive what a ReadView must show from view.lsn() alone, and checks that
// every query in that view agrees with it (and with each other): the subtree
// is under exactly one parent, the two parents' descendants are disjoint with
// a fixed union, counts equal the ids returned, paths and runners follow the
// move. The writer also calls Compact() now and then. Also checks that a
// held ReadView keeps its state while the writer publishes.
//
// Bounded (~2 s of writing) so that it also runs under TSan.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "test_rows.h"

namespace canopy_test {
namespace {

using canopy::HierarchyIndex;
using canopy::HierarchyOrder;
using canopy::IdQuery;
using canopy::Lsn;
using canopy::QueryKind;
using canopy::ReadView;
using canopy::RowChange;
using canopy::Status;
using canopy::Transaction;
using Ids = std::vector<int64_t>;

constexpr uint64_t kBaseLsn = 0x2'0000'0000;
constexpr int64_t kMaxSteps = 200'000;
constexpr auto kWriteTime = std::chrono::milliseconds(2000);

// The forest:
//   1 root ─┬ 2 left  ─┬ 10 a ─┬ 11 b ─ 12 c<step> ─┬ leaves 1000+j (groups)
//           │          │       │                     └ 30 (project ns of 300)
//           │          │       ├ 13 d
//           │          │       └ 31 (project ns of 301, archived when step%3==0)
//           │          └ 20 l1
//           └ 3 right ─┬ 21 r1, 22 r2
//                      └ 32 (project ns of 302)
// Subtree 10 sits under 2 on even steps and under 3 on odd ones.
// Runner links: 700 -> 2, 701 -> 3, 702 -> 10.
constexpr int64_t kRoot = 1, kLeft = 2, kRight = 3, kA = 10, kB = 11, kC = 12, kD = 13;
constexpr int64_t kBaseNamespaces = 13;

struct State {
  int64_t step = 0;
  int64_t parent_of_a = kLeft;
  Ids leaves;  // ascending
  std::string c_path;
  bool archived_301 = true;

  static State At(int64_t step) {
    State s;
    s.step = step;
    s.parent_of_a = step % 2 ? kRight : kLeft;
    for (int64_t j = std::max<int64_t>(1, step - 2); j <= step; ++j) s.leaves.push_back(1000 + j);
    s.c_path = "c" + std::to_string(step);
    s.archived_301 = step % 3 == 0;
    return s;
  }
  std::string ParentPath() const { return parent_of_a == kLeft ? "left" : "right"; }
  Ids SubtreeGroups() const {
    Ids ids = {kA, kB, kC, kD};
    ids.insert(ids.end(), leaves.begin(), leaves.end());
    return ids;
  }
  Ids DescendantsOf(int64_t parent) const {
    Ids ids = parent == kLeft ? Ids{20} : Ids{21, 22};
    if (parent == parent_of_a) {
      Ids sub = SubtreeGroups();
      ids.insert(ids.end(), sub.begin(), sub.end());
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  Ids ProjectsOf(int64_t parent, bool unarchived_only) const {
    Ids ids = parent == kRight ? Ids{302} : Ids{};
    if (parent == parent_of_a) {
      ids.push_back(300);
      if (!(unarchived_only && archived_301)) ids.push_back(301);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }
};

Transaction Initial() {
  State s = State::At(0);
  return Transaction{
      Lsn(kBaseLsn),
      {Group(kRoot, std::nullopt, "root"), Group(kLeft, kRoot, "left"),
       Group(kRight, kRoot, "right"), Group(kA, kLeft, "a"), Group(kB, kA, "b"),
       Group(kC, kB, s.c_path), Group(kD, kA, "d"), Group(20, kLeft, "l1"), Group(21, kRight, "r1"),
       Group(22, kRight, "r2"), ProjectNamespace(30, kC, "app"), Project(300, kC, 30, "app"),
       ProjectNamespace(31, kA, "lib"), Project(301, kA, 31, "lib", s.archived_301),
       ProjectNamespace(32, kRight, "svc"), Project(302, kRight, 32, "svc"), Link(1, 700, kLeft),
       Link(2, 701, kRight), Link(3, 702, kA)}};
}

// The transaction that turns State::At(step - 1) into State::At(step).
Transaction Step(int64_t step) {
  State s = State::At(step);
  std::vector<RowChange> rows = {
      Group(kA, s.parent_of_a, "a"),  // the transfer: the node's parent_id UPDATE,
      Group(kB, kA, "b"),             // then one UPDATE per moved node
      Group(kC, kB, s.c_path),        // (with a rename of c)
      Group(kD, kA, "d"),
      ProjectNamespace(30, kC, "app"),
      ProjectNamespace(31, kA, "lib"),
      Group(1000 + step, kC, "leaf" + std::to_string(step)),
      Project(301, kA, 31, "lib", s.archived_301),
  };
  if (step - 3 >= 1) rows.push_back(canopy::DeleteNamespace{1000 + step - 3});
  if (step % 5 == 0) std::reverse(rows.begin(), rows.end());  // rows out of hierarchy order
  return Transaction{Lsn(kBaseLsn + static_cast<uint64_t>(step)), std::move(rows)};
}

std::string Str(const Ids& ids) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? "," : "") << ids[i];
  return out.str() + "]";
}

// Thread-safe failure collection; the main thread asserts on it.
class Failures {
 public:
  void Add(const std::string& what) {
    if (count_.fetch_add(1) < 10) {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back(what);
    }
  }
  uint64_t count() const { return count_.load(); }
  std::string ToString() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& m : messages_) out += m + "\n";
    return out;
  }

 private:
  std::atomic<uint64_t> count_{0};
  std::mutex mu_;
  std::vector<std::string> messages_;
};

// Checks everything one view shows against State::At(its step). Returns
// the step, or -1 after recording a failure.
int64_t CheckView(const ReadView& view, Failures& failures, uint64_t iteration) {
  const Lsn lsn = view.lsn();
  if (lsn.value < kBaseLsn || lsn.value > kBaseLsn + kMaxSteps) {
    failures.Add("view.lsn() out of range: " + lsn.ToString());
    return -1;
  }
  const State s = State::At(static_cast<int64_t>(lsn.value - kBaseLsn));
  bool ok = true;
  auto expect_ids = [&](const char* what, const Status& status, const Ids& got, const Ids& want) {
    if (!status.ok() || got != want) {
      failures.Add("step " + std::to_string(s.step) + ": " + what + " = " +
                   (status.ok() ? Str(got) : status.ToString()) + ", want " + Str(want));
      ok = false;
    }
  };
  const Ids chain = {kRoot, s.parent_of_a, kA, kB, kC};
  Ids got;
  expect_ids("SelfAndAncestors(c)", view.SelfAndAncestors(kC, HierarchyOrder::kRootFirst, &got),
             got, chain);
  expect_ids("SelfAndAncestors(d, self first)",
             view.SelfAndAncestors(kD, HierarchyOrder::kSelfFirst, &got), got,
             Ids{kD, kA, s.parent_of_a, kRoot});

  // The two parents: exactly one holds the subtree; disjoint, fixed union.
  Ids left, right;
  expect_ids("Descendants(left)", view.Descendants(kLeft, false, &left), left,
             s.DescendantsOf(kLeft));
  expect_ids("Descendants(right)", view.Descendants(kRight, false, &right), right,
             s.DescendantsOf(kRight));
  std::set<int64_t> left_set(left.begin(), left.end());
  size_t overlap = 0;
  for (int64_t id : right) overlap += left_set.count(id);
  std::set<int64_t> both(left.begin(), left.end());
  both.insert(right.begin(), right.end());
  Ids want_union = s.SubtreeGroups();
  want_union.insert(want_union.end(), {20, 21, 22});
  std::sort(want_union.begin(), want_union.end());
  if (overlap != 0 || Ids(both.begin(), both.end()) != want_union) {
    failures.Add("step " + std::to_string(s.step) + ": left " + Str(left) + " right " + Str(right) +
                 " not a partition of " + Str(want_union));
    ok = false;
  }
  // Counts agree with the ids of the same view.
  canopy::Result<canopy::SubtreeCounts> left_counts = view.Counts(kLeft);
  canopy::Result<canopy::SubtreeCounts> right_counts = view.Counts(kRight);
  canopy::Result<canopy::SubtreeCounts> root_counts = view.Counts(kRoot);
  if (!left_counts.ok() || !right_counts.ok() || !root_counts.ok() ||
      left_counts.value().descendant_groups != left.size() ||
      right_counts.value().descendant_groups != right.size() ||
      root_counts.value().descendant_groups != 9 + s.leaves.size() ||
      root_counts.value().projects != 3 ||
      left_counts.value().projects != s.ProjectsOf(kLeft, false).size() ||
      right_counts.value().unarchived_projects != s.ProjectsOf(kRight, true).size()) {
    failures.Add("step " + std::to_string(s.step) + ": counts disagree with the ids");
    ok = false;
  }

  if (iteration % 2 == 0) {
    expect_ids("AllProjectIds(left)", view.AllProjectIds(kLeft, &got), got,
               s.ProjectsOf(kLeft, false));
    expect_ids("AllUnarchivedProjectIds(right)", view.AllUnarchivedProjectIds(kRight, &got), got,
               s.ProjectsOf(kRight, true));
    expect_ids("ProjectAncestors(300)",
               view.ProjectAncestors(300, HierarchyOrder::kRootFirst, &got), got, chain);
    expect_ids("RunnersOfGroupAndAncestors(c)", view.RunnersOfGroupAndAncestors(kC, &got), got,
               s.parent_of_a == kLeft ? Ids{700, 702} : Ids{701, 702});
    Ids hierarchy = chain;
    hierarchy.insert(hierarchy.end(), s.leaves.begin(), s.leaves.end());
    std::sort(hierarchy.begin(), hierarchy.end());
    canopy::IdAnswer a = view.Run({.kind = QueryKind::kSelfAndHierarchy, .id = kB});
    expect_ids("Run(self_and_hierarchy(b))", a.status, a.ids, hierarchy);
  } else {
    const std::string want_path = "root/" + s.ParentPath() + "/a/b/" + s.c_path;
    canopy::Result<std::string> path = view.NamespaceFullPath(kC);
    canopy::Result<canopy::ResolvedPath> resolved = view.Resolve(want_path);
    if (!path.ok() || path.value() != want_path || !resolved.ok() || resolved.value().id != kC) {
      failures.Add("step " + std::to_string(s.step) +
                   ": path of c = " + (path.ok() ? path.value() : path.status().ToString()) +
                   ", want " + want_path + (resolved.ok() ? "" : " (does not resolve)"));
      ok = false;
    }
    std::optional<canopy::NamespaceRow> a = view.GetNamespace(kA);
    if (!a || a->parent_id != s.parent_of_a) {
      failures.Add("step " + std::to_string(s.step) + ": GetNamespace(a).parent_id wrong");
      ok = false;
    }
    if (!s.leaves.empty()) {
      const int64_t leaf = s.leaves[iteration % s.leaves.size()];
      Ids want = chain;
      want.push_back(leaf);
      expect_ids("SelfAndAncestors(leaf)",
                 view.SelfAndAncestors(leaf, HierarchyOrder::kRootFirst, &got), got, want);
    }
    if (s.step >= 4) {
      Status gone = view.SelfAndAncestors(1000 + s.step - 3, HierarchyOrder::kRootFirst, &got);
      if (gone.code() != canopy::StatusCode::kNotFound) {
        failures.Add("step " + std::to_string(s.step) + ": deleted leaf still answers");
        ok = false;
      }
    }
    canopy::IndexStats stats = view.Stats();
    if (stats.applied_lsn != lsn || stats.namespaces != kBaseNamespaces + s.leaves.size() ||
        stats.projects != 3 || stats.orphan_namespaces != 0 || stats.cycles_refused != 0) {
      failures.Add("step " + std::to_string(s.step) + ": view.Stats() disagrees with view.lsn()");
      ok = false;
    }
  }
  return ok ? s.step : -1;
}

// The batch form pins its own state: check each member against the LSN it reports.
void CheckBatch(const HierarchyIndex& index, Failures& failures) {
  const std::vector<IdQuery> queries = {
      {.kind = QueryKind::kSelfAndAncestors, .id = kC},
      {.kind = QueryKind::kDescendants, .id = kLeft},
      {.kind = QueryKind::kDescendants, .id = kRight},
      {.kind = QueryKind::kAllProjectIds, .id = kRight},
      {.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = 300},
  };
  canopy::BatchAnswer batch = index.QueryBatch(queries);
  if (batch.answers.size() != queries.size() || batch.lsn.value < kBaseLsn) {
    failures.Add("QueryBatch: bad shape or lsn " + batch.lsn.ToString());
    return;
  }
  const State s = State::At(static_cast<int64_t>(batch.lsn.value - kBaseLsn));
  const Ids want[] = {
      {kRoot, s.parent_of_a, kA, kB, kC},
      s.DescendantsOf(kLeft),
      s.DescendantsOf(kRight),
      s.ProjectsOf(kRight, false),
      s.parent_of_a == kLeft ? Ids{700, 702} : Ids{701, 702},
  };
  for (size_t i = 0; i < queries.size(); ++i) {
    if (!batch.answers[i].status.ok() || batch.answers[i].ids != want[i]) {
      failures.Add("QueryBatch step " + std::to_string(s.step) + " member " + std::to_string(i) +
                   " = " + Str(batch.answers[i].ids) + ", want " + Str(want[i]));
    }
  }
  canopy::QueryAnswer single = index.Query({.kind = QueryKind::kDescendants, .id = kRight});
  const State s2 = State::At(static_cast<int64_t>(single.lsn.value - kBaseLsn));
  if (single.answer.ids != s2.DescendantsOf(kRight)) {
    failures.Add("Query step " + std::to_string(s2.step) + ": " + Str(single.answer.ids));
  }
}

TEST(ConcurrencyTest, ReadersSeeWholeTransactionsWhileSubtreesMove) {
  HierarchyIndex index;
  ASSERT_TRUE(index.Apply(Initial()).ok());
  Failures failures;
  std::atomic<bool> writer_done{false};
  std::atomic<int> readers_started{0};
  const int kReaders = std::max(2u, std::min(4u, std::thread::hardware_concurrency() + 1));
  std::vector<uint64_t> reads(static_cast<size_t>(kReaders), 0);
  std::vector<std::set<int64_t>> seen(static_cast<size_t>(kReaders));

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      int64_t last_step = -1;
      uint64_t i = 0;
      readers_started.fetch_add(1);
      while (!writer_done.load(std::memory_order_acquire) || i < 10) {
        int64_t step;
        {
          ReadView view = index.Read();
          step = CheckView(view, failures, i + static_cast<uint64_t>(r));
        }
        if (step >= 0) {
          if (step < last_step) {
            failures.Add("reader " + std::to_string(r) + " went back from step " +
                         std::to_string(last_step) + " to " + std::to_string(step));
          }
          last_step = step;
          if (seen[static_cast<size_t>(r)].size() < 100000)
            seen[static_cast<size_t>(r)].insert(step);
        }
        if (i % 8 == 0) CheckBatch(index, failures);
        if (failures.count() > 0) break;
        // More readers than cores: let the writer in now and then (a reader
        // preempted inside a view makes the publish wait a whole timeslice).
        if (i % 4 == 3) std::this_thread::yield();
        ++i;
      }
      reads[static_cast<size_t>(r)] = i;
    });
  }
  while (readers_started.load() < kReaders) std::this_thread::yield();

  // The writer, on this thread.
  const auto deadline = std::chrono::steady_clock::now() + kWriteTime;
  int64_t step = 1;
  int compactions = 0;
  for (; step <= kMaxSteps - 3 && std::chrono::steady_clock::now() < deadline; ++step) {
    Status st;
    if (step % 7 == 0) {  // sometimes three transactions, one publish
      std::vector<Transaction> batch = {Step(step), Step(step + 1), Step(step + 2)};
      st = index.ApplyBatch(std::move(batch));
      step += 2;
    } else {
      st = index.Apply(Step(step));
    }
    if (!st.ok()) {
      failures.Add("Apply step " + std::to_string(step) + ": " + st.ToString());
      break;
    }
    if (step % 1000 == 0) {  // re-lay the copies out under the readers' feet
      st = index.Compact();
      if (!st.ok()) failures.Add("Compact at step " + std::to_string(step) + ": " + st.ToString());
      ++compactions;
    }
    if (failures.count() > 0) break;
    if (step % 2 == 0) std::this_thread::yield();  // share the cores with the readers
  }
  writer_done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();

  const int64_t last = step - 1;
  EXPECT_EQ(failures.count(), 0u) << failures.ToString();
  EXPECT_EQ(index.applied_lsn(), Lsn(kBaseLsn + static_cast<uint64_t>(last)));
  // The final state, once more, with nobody else around.
  {
    ReadView view = index.Read();
    EXPECT_EQ(CheckView(view, failures, 0), last) << failures.ToString();
    EXPECT_EQ(CheckView(view, failures, 1), last) << failures.ToString();
  }
  canopy::IndexStats stats = index.Stats();
  EXPECT_GT(stats.publishes, 0u);
  EXPECT_GE(stats.max_publish_wait_ns, stats.last_publish_wait_ns);
  EXPECT_GE(stats.total_publish_wait_ns, stats.max_publish_wait_ns);
  uint64_t total_reads = 0;
  size_t distinct = 0;
  for (int r = 0; r < kReaders; ++r) {
    total_reads += reads[static_cast<size_t>(r)];
    distinct = std::max(distinct, seen[static_cast<size_t>(r)].size());
  }
  EXPECT_GT(total_reads, 0u);
  std::cout << "[ concurr ] " << last << " steps written, " << kReaders << " readers, "
            << total_reads << " views checked, up to " << distinct
            << " distinct states seen by one reader, " << compactions
            << " compactions, max publish wait " << stats.max_publish_wait_ns / 1000 << " us\n";
}

// The checker itself must fail on a state that is not the one its LSN
// names (here: step 1's rows published under step 2's LSN, and a subtree
// under both parents' expectations mixed).
TEST(ConcurrencyTest, CheckerRejectsAStateThatDoesNotMatchItsLsn) {
  HierarchyIndex index;
  ASSERT_TRUE(index.Apply(Initial()).ok());
  Transaction wrong = Step(1);
  wrong.commit_lsn = Lsn(kBaseLsn + 2);
  ASSERT_TRUE(index.Apply(std::move(wrong)).ok());
  Failures failures;
  ReadView view = index.Read();
  EXPECT_EQ(CheckView(view, failures, 0), -1);
  EXPECT_GT(failures.count(), 0u);
  EXPECT_NE(failures.ToString().find("Descendants(left)"), std::string::npos)
      << failures.ToString();
}

TEST(ConcurrencyTest, HeldViewKeepsItsStateWhileTheWriterPublishes) {
  HierarchyIndex index;
  ASSERT_TRUE(index.Apply(Initial()).ok());
  ASSERT_TRUE(index.Apply(Step(1)).ok());
  Failures failures;
  std::atomic<int> applied{0};
  std::thread writer;
  {
    ReadView view = index.Read();
    ASSERT_EQ(view.lsn(), Lsn(kBaseLsn + 1));
    writer = std::thread([&] {
      // The first publish goes to the copy nobody reads; the second one must
      // wait until `view` is released (left-right), but never corrupt it.
      for (int64_t step = 2; step <= 3; ++step) {
        Status st = index.Apply(Step(step));
        if (!st.ok()) failures.Add("Apply: " + st.ToString());
        applied.fetch_add(1);
      }
    });
    // Give the writer a chance to publish step 2 while we hold the view (no
    // assertion on timing: either way the view must still show step 1).
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (applied.load() < 1 && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    for (uint64_t i = 0; i < 200; ++i) {
      EXPECT_EQ(CheckView(view, failures, i), 1) << failures.ToString();
      if (failures.count()) break;
    }
  }
  writer.join();
  EXPECT_EQ(failures.count(), 0u) << failures.ToString();
  EXPECT_EQ(applied.load(), 2);
  ReadView view = index.Read();
  EXPECT_EQ(CheckView(view, failures, 0), 3) << failures.ToString();
  EXPECT_EQ(CheckView(view, failures, 1), 3) << failures.ToString();
}

}  // namespace
}  // namespace canopy_test
