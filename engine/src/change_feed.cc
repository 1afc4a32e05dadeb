// change_feed.cc — see canopy/change_feed.h.
#include "canopy/change_feed.h"

#include <algorithm>
#include <utility>

namespace canopy {

namespace {

size_t RowBytes(const FeedRow& row) {
  if (const auto* n = std::get_if<NamespaceRow>(&row)) return n->name.size() + n->path.size();
  if (const auto* p = std::get_if<ProjectRow>(&row)) return p->name.size() + p->path.size();
  return 0;
}

// What a transaction holds in memory, roughly (for the window's byte bound).
size_t TransactionBytes(const FeedTransaction& txn) {
  size_t bytes = sizeof(FeedTransaction) + txn.changes.capacity() * sizeof(FeedChange);
  for (const FeedChange& c : txn.changes) {
    bytes += RowBytes(c.before) + RowBytes(c.after) + c.subtrees.capacity() * sizeof(int64_t) +
             c.carried.capacity() * sizeof(CarriedValue);
    for (const CarriedValue& v : c.carried) bytes += v.text ? v.text->size() : 0;
  }
  return bytes;
}

bool AfterLsn(const std::shared_ptr<const FeedTransaction>& txn, Lsn lsn) {
  return txn->commit_lsn > lsn;
}

}  // namespace

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

Result<std::unique_ptr<FeedSubscription>> ChangeFeed::Subscribe(Lsn from, FeedFilter filter,
                                                                const HierarchyIndex* index) {
  if ((filter.tables & 0b111) == 0) return Status::InvalidArgument("the filter names no table");
  for (Table table : {Table::kNamespaces, Table::kProjects, Table::kRunnerLinks}) {
    const std::vector<std::string>& carried = options_.carried_columns[static_cast<size_t>(table)];
    for (const std::string& column : filter.carried[static_cast<size_t>(table)]) {
      if (std::find(carried.begin(), carried.end(), column) != carried.end()) continue;
      return Status::InvalidArgument("unknown column '" + column + "' of " + FeedTableName(table) +
                                     ": neither a column canopy keeps nor one this feed carries "
                                     "(canopyd --feed-columns)");
    }
  }
  if (index != nullptr && filter.subtree && !index->Read().GetNamespace(*filter.subtree)) {
    return Status::NotFound("subtree " + std::to_string(*filter.subtree) +
                            " is not a namespace canopy holds");
  }
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
  NotifyListeners();
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
  NotifyListeners();
}

void ChangeFeed::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  grew_.notify_all();
  NotifyListeners();
}

uint64_t ChangeFeed::AddListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  listeners_.emplace_back(next_listener_, std::move(listener));
  return next_listener_++;
}

void ChangeFeed::RemoveListener(uint64_t id) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  std::erase_if(listeners_, [id](const auto& l) { return l.first == id; });
}

void ChangeFeed::NotifyListeners() {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  for (const auto& [id, listener] : listeners_) listener();
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

Status FeedSubscription::Next(std::vector<SharedFeedTransaction>* out,
                              std::chrono::milliseconds timeout, size_t max, size_t max_bytes) {
  out->clear();
  std::vector<SharedFeedTransaction>& taken = *out;
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
    size_t bytes = 0;
    for (auto it = first_after(); it != f.window_.end() && taken.size() < std::max<size_t>(max, 1);
         ++it) {
      if (!taken.empty() && bytes + it->bytes > max_bytes) break;
      bytes += it->bytes;
      taken.push_back(it->txn);
    }
  }
  // Filtered in place: out[kept] is the next delivery. A filter that keeps
  // everything looks at no change.
  const bool keeps_everything = filter_.KeepsEverything();
  size_t kept = 0;
  for (size_t i = 0; i < taken.size(); ++i) {
    SharedFeedTransaction txn = std::move(taken[i]);
    position_ = txn->commit_lsn;
    // The changes before the first one the filter does not keep whole are
    // judged once here and copied as they are; from it on, FilterChange
    // judges each once.
    const auto first_cut =
        keeps_everything
            ? txn->changes.end()
            : std::find_if(txn->changes.begin(), txn->changes.end(), [&](const auto& c) {
                return JudgeChange(c, filter_) != FilterVerdict::kKeep;
              });
    if (first_cut != txn->changes.end()) {
      auto filtered = std::make_shared<FeedTransaction>();
      filtered->commit_lsn = txn->commit_lsn;
      filtered->commit_unix_ms = txn->commit_unix_ms;
      filtered->changes.assign(txn->changes.begin(), first_cut);
      for (auto it = first_cut; it != txn->changes.end(); ++it) {
        if (std::optional<FeedChange> c = FilterChange(*it, filter_)) {
          filtered->changes.push_back(std::move(*c));
        }
      }
      txn = std::move(filtered);
    }
    // Position-only deliveries in a row: only the last one says something.
    if (txn->changes.empty() && kept > 0 && taken[kept - 1]->changes.empty()) --kept;
    taken[kept++] = std::move(txn);
  }
  taken.resize(kept);
  return Status();
}

}  // namespace canopy
