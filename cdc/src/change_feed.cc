// change_feed.cc — see canopy/cdc/change_feed.h.
#include "canopy/cdc/change_feed.h"

#include <algorithm>
#include <utility>

namespace canopy::cdc {

namespace {

// Columns whose values differ between two rows of one table.
ColumnMask Differing(const NamespaceRow& a, const NamespaceRow& b) {
  ColumnMask m = 0;
  if (a.parent_id != b.parent_id) m |= NamespaceRow::kParentId;
  if (a.type != b.type) m |= NamespaceRow::kType;
  if (a.name != b.name) m |= NamespaceRow::kName;
  if (a.path != b.path) m |= NamespaceRow::kPath;
  if (a.visibility_level != b.visibility_level) m |= NamespaceRow::kVisibilityLevel;
  return m | ((a.present ^ b.present) & kAllColumns);
}

ColumnMask Differing(const ProjectRow& a, const ProjectRow& b) {
  ColumnMask m = 0;
  if (a.namespace_id != b.namespace_id) m |= ProjectRow::kNamespaceId;
  if (a.project_namespace_id != b.project_namespace_id) m |= ProjectRow::kProjectNamespaceId;
  if (a.name != b.name) m |= ProjectRow::kName;
  if (a.path != b.path) m |= ProjectRow::kPath;
  if (a.visibility_level != b.visibility_level) m |= ProjectRow::kVisibilityLevel;
  if (a.archived != b.archived) m |= ProjectRow::kArchived;
  if (a.pending_delete != b.pending_delete) m |= ProjectRow::kPendingDelete;
  return m | ((a.present ^ b.present) & kAllColumns);
}

ColumnMask Differing(const RunnerLinkRow& a, const RunnerLinkRow& b) {
  ColumnMask m = 0;
  if (a.runner_id != b.runner_id) m |= RunnerLinkRow::kRunnerId;
  if (a.namespace_id != b.namespace_id) m |= RunnerLinkRow::kNamespaceId;
  return m | ((a.present ^ b.present) & kAllColumns);
}

// Clears the columns outside `keep` (values back to their defaults, bits off).
void Keep(ColumnMask keep, NamespaceRow* r) {
  const NamespaceRow blank;
  if (!(keep & NamespaceRow::kParentId)) r->parent_id = blank.parent_id;
  if (!(keep & NamespaceRow::kType)) r->type = blank.type;
  if (!(keep & NamespaceRow::kName)) r->name.clear();
  if (!(keep & NamespaceRow::kPath)) r->path.clear();
  if (!(keep & NamespaceRow::kVisibilityLevel)) r->visibility_level = blank.visibility_level;
  r->present &= keep;
}

void Keep(ColumnMask keep, ProjectRow* r) {
  const ProjectRow blank;
  if (!(keep & ProjectRow::kNamespaceId)) r->namespace_id = blank.namespace_id;
  if (!(keep & ProjectRow::kProjectNamespaceId))
    r->project_namespace_id = blank.project_namespace_id;
  if (!(keep & ProjectRow::kName)) r->name.clear();
  if (!(keep & ProjectRow::kPath)) r->path.clear();
  if (!(keep & ProjectRow::kVisibilityLevel)) r->visibility_level = blank.visibility_level;
  if (!(keep & ProjectRow::kArchived)) r->archived = blank.archived;
  if (!(keep & ProjectRow::kPendingDelete)) r->pending_delete = blank.pending_delete;
  r->present &= keep;
}

void Keep(ColumnMask keep, RunnerLinkRow* r) {
  const RunnerLinkRow blank;
  if (!(keep & RunnerLinkRow::kRunnerId)) r->runner_id = blank.runner_id;
  if (!(keep & RunnerLinkRow::kNamespaceId)) r->namespace_id = blank.namespace_id;
  r->present &= keep;
}

size_t RowBytes(const FeedRow& row) {
  if (const auto* n = std::get_if<NamespaceRow>(&row)) return n->name.size() + n->path.size();
  if (const auto* p = std::get_if<ProjectRow>(&row)) return p->name.size() + p->path.size();
  return 0;
}

// What a transaction holds in memory, roughly (for the window's byte bound).
size_t TransactionBytes(const FeedTransaction& txn) {
  size_t bytes = sizeof(FeedTransaction) + txn.changes.capacity() * sizeof(FeedChange);
  for (const FeedChange& c : txn.changes) {
    bytes += RowBytes(c.before) + RowBytes(c.after) + c.subtrees.capacity() * sizeof(int64_t);
  }
  return bytes;
}

bool AfterLsn(const std::shared_ptr<const FeedTransaction>& txn, Lsn lsn) {
  return txn->commit_lsn > lsn;
}

}  // namespace

const char* ChangeOpName(ChangeOp op) {
  switch (op) {
    case ChangeOp::kInsert:
      return "insert";
    case ChangeOp::kUpdate:
      return "update";
    case ChangeOp::kDelete:
      return "delete";
    case ChangeOp::kTruncate:
      return "truncate";
  }
  return "?";
}

std::optional<int64_t> HierarchyParent(const FeedRow& row) {
  if (const auto* n = std::get_if<NamespaceRow>(&row)) return n->parent_id;
  if (const auto* p = std::get_if<ProjectRow>(&row)) return p->namespace_id;
  if (const auto* l = std::get_if<RunnerLinkRow>(&row)) return l->namespace_id;
  return std::nullopt;
}

std::optional<FeedChange> FilterChange(const FeedChange& change, const FeedFilter& filter) {
  if ((filter.tables & (1u << static_cast<unsigned>(change.table))) == 0) return std::nullopt;
  if (change.op == ChangeOp::kTruncate) return change;
  if (filter.subtree &&
      !std::binary_search(change.subtrees.begin(), change.subtrees.end(), *filter.subtree)) {
    return std::nullopt;
  }
  const ColumnMask keep = filter.columns[static_cast<size_t>(change.table)];
  if (keep == kAllColumns) return change;
  if (change.op == ChangeOp::kUpdate) {
    const ColumnMask differing = std::visit(
        [&](const auto& before) -> ColumnMask {
          using Row = std::decay_t<decltype(before)>;
          if constexpr (std::is_same_v<Row, std::monostate>) {
            return kAllColumns;
          } else {
            const Row* after = std::get_if<Row>(&change.after);
            return after == nullptr ? kAllColumns : Differing(before, *after);
          }
        },
        change.before);
    if ((differing & keep) == 0) return std::nullopt;
  }
  FeedChange out = change;
  for (FeedRow* row : {&out.before, &out.after}) {
    std::visit(
        [&](auto& r) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, std::monostate>) Keep(keep, &r);
        },
        *row);
  }
  return out;
}

// ---- ChangeFeed ----

ChangeFeed::ChangeFeed(FeedOptions options, Lsn start)
    : options_(options), floor_(start), newest_(start) {}

std::shared_ptr<ChangeFeed> ChangeFeed::Create(FeedOptions options, Lsn start) {
  return std::shared_ptr<ChangeFeed>(new ChangeFeed(options, start));
}

void ChangeFeed::EvictLocked(std::chrono::steady_clock::time_point now) {
  while (!window_.empty() &&
         (window_.size() > options_.max_transactions || bytes_ > options_.max_bytes ||
          now - window_.front().appended > options_.max_age)) {
    floor_ = window_.front().txn->commit_lsn;
    bytes_ -= window_.front().bytes;
    window_.pop_front();
  }
}

Status ChangeFeed::BehindLocked(Lsn position, uint64_t epoch) const {
  if (epoch == epoch_ && position >= floor_) return Status();
  return Status::OutOfRange("the change feed no longer holds what follows LSN " +
                            position.ToString() + "; its oldest start is LSN " + floor_.ToString() +
                            ": resynchronise from a snapshot and subscribe from its LSN");
}

Result<std::unique_ptr<FeedSubscription>> ChangeFeed::Subscribe(Lsn from, FeedFilter filter) {
  if ((filter.tables & 0b111) == 0) return Status::InvalidArgument("the filter names no table");
  uint64_t epoch = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Status::Unavailable("the change feed is closed");
    epoch = epoch_;
    EvictLocked(std::chrono::steady_clock::now());
    if (from == Lsn()) {
      from = newest_;
    } else if (from > newest_) {
      return Status::InvalidArgument("from LSN " + from.ToString() +
                                     " is in the future: the newest position is " +
                                     newest_.ToString());
    } else if (Status behind = BehindLocked(from, epoch); !behind.ok()) {
      return behind;
    }
  }
  return std::unique_ptr<FeedSubscription>(
      new FeedSubscription(shared_from_this(), from, epoch, std::move(filter)));
}

void ChangeFeed::Append(FeedTransaction txn) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || txn.commit_lsn <= newest_) return;
    newest_ = txn.commit_lsn;
    if (txn.changes.empty() && !window_.empty() && window_.back().txn->changes.empty()) {
      bytes_ -= window_.back().bytes;  // a newer position replaces a position
      window_.pop_back();
    }
    Entry entry;
    entry.bytes = TransactionBytes(txn);
    entry.txn = std::make_shared<const FeedTransaction>(std::move(txn));
    entry.appended = now;
    bytes_ += entry.bytes;
    window_.push_back(std::move(entry));
    EvictLocked(now);
  }
  grew_.notify_all();
}

void ChangeFeed::Reset(Lsn start) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    window_.clear();
    bytes_ = 0;
    floor_ = start;  // (a failover may even go back)
    newest_ = start;
    ++epoch_;
  }
  grew_.notify_all();
}

void ChangeFeed::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  grew_.notify_all();
}

Lsn ChangeFeed::oldest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return floor_;
}

Lsn ChangeFeed::newest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return newest_;
}

size_t ChangeFeed::retained_transactions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return window_.size();
}

size_t ChangeFeed::retained_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

// ---- FeedSubscription ----

FeedSubscription::FeedSubscription(std::shared_ptr<ChangeFeed> feed, Lsn from, uint64_t epoch,
                                   FeedFilter filter)
    : feed_(std::move(feed)), position_(from), epoch_(epoch), filter_(std::move(filter)) {}

FeedSubscription::~FeedSubscription() = default;

Status FeedSubscription::Next(std::vector<FeedTransaction>* out, std::chrono::milliseconds timeout,
                              size_t max) {
  out->clear();
  std::vector<std::shared_ptr<const FeedTransaction>> taken;
  {
    ChangeFeed& f = *feed_;
    std::unique_lock<std::mutex> lock(f.mu_);
    auto first_after = [&] {
      return std::upper_bound(
          f.window_.begin(), f.window_.end(), position_,
          [](Lsn lsn, const ChangeFeed::Entry& e) { return AfterLsn(e.txn, lsn); });
    };
    const auto ready = [&] {
      return f.closed_ || epoch_ != f.epoch_ || position_ < f.floor_ ||
             first_after() != f.window_.end();
    };
    if (!ready()) f.grew_.wait_for(lock, timeout, ready);
    if (f.closed_) return Status::Unavailable("the change feed is closed");
    f.EvictLocked(std::chrono::steady_clock::now());
    if (Status behind = f.BehindLocked(position_, epoch_); !behind.ok()) return behind;
    for (auto it = first_after(); it != f.window_.end() && taken.size() < std::max<size_t>(max, 1);
         ++it) {
      taken.push_back(it->txn);
    }
  }
  for (const auto& txn : taken) {
    FeedTransaction delivered;
    delivered.commit_lsn = txn->commit_lsn;
    delivered.commit_unix_ms = txn->commit_unix_ms;
    for (const FeedChange& change : txn->changes) {
      if (std::optional<FeedChange> kept = FilterChange(change, filter_)) {
        delivered.changes.push_back(std::move(*kept));
      }
    }
    // Position-only deliveries in a row: only the last one says something.
    if (delivered.changes.empty() && !out->empty() && out->back().changes.empty()) {
      out->back() = std::move(delivered);
    } else {
      out->push_back(std::move(delivered));
    }
    position_ = txn->commit_lsn;
  }
  return Status();
}

}  // namespace canopy::cdc
