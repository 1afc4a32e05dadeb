// hierarchy_index.cc — the left-right publication protocol around two Forest
// copies, with one read indicator per copy (as evmap does) and the replay onto
// the second copy deferred to the next publish.
//
// Reader:  lr = left_right_; indicators_[lr].Arrive();
//          if left_right_ still == lr: read copies_[lr] ... Depart();
//          else Depart() and start over (a publish flipped in between).
// Writer:  stale = 1 - left_right_; wait until indicators_[stale] is empty
//          (no reader can enter stale now: a reader that arrives re-checks
//          left_right_, which still names the live copy); replay the previous
//          batch onto stale, apply the new batch, flip left_right_ to stale.
//          The flip is the publication.
// All of these atomics are sequentially consistent: the argument relies on
// one total order of Arrive, the writer's emptiness check and the flip.
#include "canopy/hierarchy_index.h"

#include <chrono>
#include <exception>
#include <new>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "forest.h"
#include "read_indicator.h"

namespace canopy {

using internal::Forest;
using internal::PreparedTransaction;
using internal::ReadIndicator;

namespace {

// The read indicators this thread holds views on, so that a writer thread
// that pins the copy it must update gets an error instead of a deadlock.
struct HeldIndicators {
  static constexpr int kSlots = 8;
  const ReadIndicator* indicator[kSlots] = {};
  int count[kSlots] = {};

  void Add(const ReadIndicator* ind) {
    int free_slot = -1;
    for (int i = 0; i < kSlots; ++i) {
      if (indicator[i] == ind) {
        ++count[i];
        return;
      }
      if (count[i] == 0 && free_slot < 0) free_slot = i;
    }
    if (free_slot >= 0) {  // more than kSlots distinct indexes pinned at once: not tracked
      indicator[free_slot] = ind;
      count[free_slot] = 1;
    }
  }
  void Remove(const ReadIndicator* ind) {
    for (int i = 0; i < kSlots; ++i) {
      if (indicator[i] == ind && count[i] > 0) {
        --count[i];
        return;
      }
    }
  }
  bool Holds(const ReadIndicator* ind) const {
    for (int i = 0; i < kSlots; ++i) {
      if (indicator[i] == ind && count[i] > 0) return true;
    }
    return false;
  }
};
thread_local HeldIndicators held_by_this_thread;

// Runs `fn` and turns an allocation failure into a Status, so that no
// exception leaves the public API.
template <typename Fn>
Status Guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(e.what());
  }
}
}  // namespace

// ---------------------------------------------------------------------------
// ReadView

ReadView::ReadView(const Forest* forest, ReadIndicator* indicator, int stripe)
    : forest_(forest), indicator_(indicator), stripe_(stripe) {
  held_by_this_thread.Add(indicator);
}

ReadView::ReadView(ReadView&& other) noexcept
    : forest_(other.forest_), indicator_(other.indicator_), stripe_(other.stripe_) {
  other.indicator_ = nullptr;
}

ReadView::~ReadView() {
  if (indicator_ != nullptr) {
    held_by_this_thread.Remove(indicator_);
    indicator_->Depart(stripe_);
  }
}

Lsn ReadView::lsn() const { return forest_->lsn(); }

Status ReadView::SelfAndAncestors(int64_t ns, HierarchyOrder order,
                                  std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->SelfAndAncestors(ns, order, true, out); });
}
Status ReadView::Ancestors(int64_t ns, HierarchyOrder order, std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->SelfAndAncestors(ns, order, false, out); });
}
Status ReadView::AncestorsUpto(int64_t ns, int64_t top, HierarchyOrder order,
                               std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->AncestorsUpto(ns, top, order, out); });
}
Result<int64_t> ReadView::RootAncestor(int64_t ns) const { return forest_->RootAncestor(ns); }
Status ReadView::SelfAndDescendants(int64_t ns, bool include_project_namespaces,
                                    std::vector<int64_t>* out) const {
  return Guarded(
      [&] { return forest_->SelfAndDescendants(ns, include_project_namespaces, true, out); });
}
Status ReadView::Descendants(int64_t ns, bool include_project_namespaces,
                             std::vector<int64_t>* out) const {
  return Guarded(
      [&] { return forest_->SelfAndDescendants(ns, include_project_namespaces, false, out); });
}
Status ReadView::SelfAndHierarchy(int64_t ns, bool include_project_namespaces,
                                  std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->SelfAndHierarchy(ns, include_project_namespaces, out); });
}
Status ReadView::AllProjectIds(int64_t ns, std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->ProjectIds(ns, false, out); });
}
Status ReadView::AllUnarchivedProjectIds(int64_t ns, std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->ProjectIds(ns, true, out); });
}
Status ReadView::ProjectAncestors(int64_t project, HierarchyOrder order,
                                  std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->ProjectAncestors(project, order, out); });
}
void ReadView::RunnersOfGroups(std::span<const int64_t> namespaces,
                               std::vector<int64_t>* out) const {
  Status s = Guarded([&] {
    forest_->RunnersOfGroups(namespaces, out);
    return Status::Ok();
  });
  if (!s.ok()) out->clear();
}
Status ReadView::RunnersOfGroupAndAncestors(int64_t ns, std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->RunnersOfGroupAndAncestors(ns, out); });
}
Status ReadView::RunnersOfParentGroupsOfProject(int64_t project, std::vector<int64_t>* out) const {
  return Guarded([&] { return forest_->RunnersOfParentGroupsOfProject(project, out); });
}
Result<SubtreeCounts> ReadView::Counts(int64_t ns) const { return forest_->Counts(ns); }

Result<std::string> ReadView::NamespaceFullPath(int64_t ns) const {
  try {
    return forest_->NamespaceFullPath(ns);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  }
}
Result<std::string> ReadView::ProjectFullPath(int64_t project) const {
  try {
    return forest_->ProjectFullPath(project);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  }
}
Result<ResolvedPath> ReadView::Resolve(std::string_view full_path) const {
  try {
    return forest_->Resolve(full_path);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  }
}
std::optional<NamespaceRow> ReadView::GetNamespace(int64_t id) const {
  return forest_->GetNamespace(id);
}
std::optional<ProjectRow> ReadView::GetProject(int64_t id) const { return forest_->GetProject(id); }
std::optional<RunnerLinkRow> ReadView::GetRunnerLink(int64_t id) const {
  return forest_->GetRunnerLink(id);
}
std::vector<int64_t> ReadView::ListNamespaceIds() const { return forest_->ListNamespaceIds(); }
std::vector<int64_t> ReadView::ListProjectIds() const { return forest_->ListProjectIds(); }
std::vector<int64_t> ReadView::ListOrphanNamespaceIds() const {
  return forest_->ListOrphanNamespaceIds();
}

IdAnswer ReadView::Run(const IdQuery& query) const {
  IdAnswer answer;
  Status s = Guarded([&] {
    answer = forest_->Run(query);
    return Status::Ok();
  });
  if (!s.ok()) {
    answer = IdAnswer{};
    answer.status = s;
  }
  return answer;
}

void ReadView::Run(const IdQuery& query, IdAnswer* out) const {
  Status s = Guarded([&] {
    forest_->Run(query, out);
    return Status::Ok();
  });
  if (!s.ok()) {
    out->ids.clear();
    out->total = 0;
    out->more = false;
    out->status = s;
  }
}

IndexStats ReadView::Stats() const {
  IndexStats s = forest_->Stats();
  // Both copies have the same shape; strings are shared between them.
  s.memory_bytes = 2 * s.memory_bytes + forest_->string_bytes();
  return s;
}

// ---------------------------------------------------------------------------
// HierarchyIndex

HierarchyIndex::HierarchyIndex(HierarchyIndexOptions options) {
  for (int i = 0; i < 2; ++i) {
    copies_[i] = std::make_unique<Forest>(options);
    indicators_[i] = std::make_unique<ReadIndicator>();
  }
}

HierarchyIndex::~HierarchyIndex() {
  if (second_copy_.joinable()) second_copy_.join();
  // pending_ holds string references; drop them before the copies.
  pending_.clear();
}

ReadView HierarchyIndex::Read() const {
  const int stripe = ReadIndicator::StripeOfThisThread();
  for (;;) {
    const int lr = left_right_.load(std::memory_order_seq_cst);
    ReadIndicator* indicator = indicators_[lr].get();
    indicator->Arrive(stripe);
    if (left_right_.load(std::memory_order_seq_cst) == lr) {
      return ReadView(copies_[lr].get(), indicator, stripe);
    }
    indicator->Depart(stripe);  // a publish flipped in between: take the new copy
  }
}

QueryAnswer HierarchyIndex::Query(const IdQuery& query) const {
  ReadView view = Read();
  return QueryAnswer{view.lsn(), view.Run(query)};
}

BatchAnswer HierarchyIndex::QueryBatch(std::span<const IdQuery> queries) const {
  ReadView view = Read();
  BatchAnswer batch;
  batch.lsn = view.lsn();
  try {
    batch.answers.reserve(queries.size());
    for (const IdQuery& q : queries) batch.answers.push_back(view.Run(q));
  } catch (const std::bad_alloc&) {
    batch.answers.clear();
  }
  return batch;
}

Lsn HierarchyIndex::applied_lsn() const { return Read().lsn(); }

IndexStats HierarchyIndex::Stats() const {
  IndexStats s = Read().Stats();
  s.publishes = publishes_.load(std::memory_order_relaxed);
  s.last_publish_wait_ns = last_wait_ns_.load(std::memory_order_relaxed);
  s.max_publish_wait_ns = max_wait_ns_.load(std::memory_order_relaxed);
  s.total_publish_wait_ns = total_wait_ns_.load(std::memory_order_relaxed);
  return s;
}

Status HierarchyIndex::Apply(Transaction txn) {
  std::vector<Transaction> batch;
  batch.push_back(std::move(txn));
  return ApplyBatch(std::move(batch));
}

Status HierarchyIndex::ApplyBatch(std::vector<Transaction> txns) {
  if (txns.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(writer_mutex_);
  if (Status s = BeginWrite(); !s.ok()) return s;
  // Validate before anything is applied.
  Lsn last = copies_[left_right_.load(std::memory_order_seq_cst)]->lsn();
  for (const Transaction& t : txns) {
    if (t.commit_lsn < last) {
      return Status::OutOfRange("transaction LSN " + t.commit_lsn.ToString() +
                                " is behind the applied LSN " + last.ToString());
    }
    last = t.commit_lsn;
  }
  return Publish(txns);
}

// REQUIRES: writer_mutex_ held.
Status HierarchyIndex::BeginWrite() {
  const int stale = 1 - left_right_.load(std::memory_order_seq_cst);
  if (held_by_this_thread.Holds(indicators_[stale].get())) {
    return Status::FailedPrecondition(
        "this thread holds a ReadView of the copy the writer must update; drop it first");
  }
  if (failed_) {
    return Status::FailedPrecondition("the index stopped taking writes after an earlier failure");
  }
  return FinishSecondCopy();
}

Status HierarchyIndex::Compact() {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  if (Status s = BeginWrite(); !s.ok()) return s;
  const int live = left_right_.load(std::memory_order_seq_cst);
  std::vector<PreparedTransaction> prepared;
  try {
    prepared.emplace_back(PreparedTransaction::CompactTag{}, copies_[live]->lsn());
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  }
  return PublishPrepared(prepared);
}

Status HierarchyIndex::BulkLoad(Transaction snapshot) {
  std::vector<std::vector<RowChange>> pieces;
  try {
    pieces.push_back(std::move(snapshot.changes));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory preparing a transaction");
  }
  return BulkLoad(snapshot.commit_lsn, std::move(pieces));
}

Status HierarchyIndex::BulkLoad(Lsn at, std::vector<std::vector<RowChange>> pieces) {
  std::optional<SnapshotPieces> delivered;
  try {
    delivered.emplace(std::move(pieces));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory preparing a transaction");
  }
  return BulkLoad(at, *delivered);
}

Status HierarchyIndex::BulkLoad(Lsn at, SnapshotPieces& pieces) {
  Status s = BuildFrom(at, pieces);
  if (!s.ok()) pieces.wanted_.store(false, std::memory_order_relaxed);  // (the loader may stop)
  return s;
}

Status HierarchyIndex::BuildFrom(Lsn at, SnapshotPieces& pieces) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  if (Status s = BeginWrite(); !s.ok()) return s;
  if (publishes_.load(std::memory_order_relaxed) != 0 || !pending_.empty()) {
    return Status::FailedPrecondition("BulkLoad needs a fresh index; this one was written before");
  }
  std::vector<PreparedTransaction> prepared;
  try {
    // Read in place by the build: nothing is prepared or copied up front.
    prepared.emplace_back(PreparedTransaction::SnapshotTag{}, at, &pieces);
    prepared.emplace_back(PreparedTransaction::CompactTag{}, at);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory preparing a transaction");
  }
  // Builds and publishes one copy; the other is left with the two to replay.
  if (Status s = PublishPrepared(prepared); !s.ok()) return s;
  pending_.clear();
  if (Status s = pieces.error(); !s.ok()) {
    failed_ = true;  // the published copy is empty; this index is not the snapshot
    return s;
  }
  // Instead, copy the published copy onto the other one once its readers
  // (of the empty index) have left it. The pass-wise build has freed the rows
  // already; after Apply's rules they are freed here, so that they and the
  // second copy are never held at once (pending_ pointed into them).
  std::vector<std::vector<RowChange>>().swap(pieces.all());
  // The copy runs while the published copy serves (readers only read it, as
  // the copy does); nothing else writes until FinishSecondCopy joins it.
  const int stale = 1 - left_right_.load(std::memory_order_seq_cst);
  auto copy = [this, stale] {
    WaitForReadersToLeave(stale);
    // Into the arrays the build laid the published copy out of (resident).
    copies_[stale]->TakeRoomFrom(*copies_[1 - stale]);
    try {
      copies_[stale]->CopyFrom(*copies_[1 - stale]);
    } catch (const std::bad_alloc&) {
      // Half made: readers keep the published copy, writes stop.
      second_copy_status_ =
          Status::ResourceExhausted("out of memory copying the index; it is read-only now");
    }
  };
  try {
    second_copy_ = std::thread(copy);
  } catch (const std::system_error&) {
    copy();  // no thread: copy before returning
    return FinishSecondCopy();
  }
  return Status::Ok();
}

Status HierarchyIndex::FinishSecondCopy() {
  if (second_copy_.joinable()) second_copy_.join();
  if (second_copy_status_.ok()) return Status::Ok();
  failed_ = true;
  return std::exchange(second_copy_status_, Status::Ok());
}

// REQUIRES: writer_mutex_ held (or, for BulkLoad's second copy, no writer
// until it is joined) and `copy` is not the published one.
uint64_t HierarchyIndex::WaitForReadersToLeave(int copy) {
  const auto wait_start = std::chrono::steady_clock::now();
  // Readers leave within a query's time unless preempted: spin a little,
  // then back off so that a preempted reader gets the CPU back.
  for (int round = 0; !indicators_[copy]->IsEmpty(); ++round) {
    if (round < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(round < 128 ? 20 : 200));
    }
  }
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now() - wait_start)
                                   .count());
}

Status HierarchyIndex::Publish(std::vector<Transaction>& txns) {
  std::vector<PreparedTransaction> prepared;
  try {
    prepared.reserve(txns.size());
    for (const Transaction& t : txns) prepared.emplace_back(t);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory preparing a transaction");
  }
  txns.clear();
  return PublishPrepared(prepared);
}

Status HierarchyIndex::PublishPrepared(std::vector<PreparedTransaction>& prepared) {
  const int live = left_right_.load(std::memory_order_seq_cst);
  const int stale = 1 - live;

  // Wait until the readers that entered the stale copy before the last flip
  // have left it.
  const uint64_t waited = WaitForReadersToLeave(stale);

  try {
    Forest& target = *copies_[stale];
    const Forest* published = copies_[live].get();  // readers only read it meanwhile
    for (const PreparedTransaction& p : pending_) target.Apply(p, published);
    for (const PreparedTransaction& p : prepared) target.Apply(p, published);
  } catch (const std::bad_alloc&) {
    // The stale copy is half-written; readers keep the live copy, writes stop.
    failed_ = true;
    return Status::ResourceExhausted(
        "out of memory applying a transaction; the index is read-only now");
  }
  left_right_.store(stale, std::memory_order_seq_cst);
  pending_ = std::move(prepared);

  publishes_.fetch_add(1, std::memory_order_relaxed);
  last_wait_ns_.store(waited, std::memory_order_relaxed);
  total_wait_ns_.fetch_add(waited, std::memory_order_relaxed);
  if (waited > max_wait_ns_.load(std::memory_order_relaxed)) {
    max_wait_ns_.store(waited, std::memory_order_relaxed);
  }
  return Status::Ok();
}

}  // namespace canopy
