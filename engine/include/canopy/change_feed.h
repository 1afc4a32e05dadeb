// canopy/change_feed.h — the replica's committed transactions, handed to
// consumers in commit order (the values: canopy/feed.h): what GitLab builds today with triggers
// that write sync events into queue tables and workers that poll them.
//
//   canopy::cdc::ReplicaOptions options;  ...
//   options.feed.max_transactions = 100'000;     // the retained window (0: no feed)
//   canopy::cdc::Replica replica(options);  replica.Start();  ...
//   canopy::FeedFilter filter;
//   filter.subtree = 9970;                       // rows inside group 9970, before or after
//   Result<std::unique_ptr<canopy::FeedSubscription>> sub =
//       replica.Subscribe(stored_lsn, filter);   // Lsn() = from now
//   if (!sub.ok() && sub.status().code() == StatusCode::kOutOfRange) resynchronise();
//   std::vector<canopy::SharedFeedTransaction> batch;
//   while ((*sub)->Next(&batch, std::chrono::seconds(1)).ok()) {
//     for (const auto& txn : batch) { apply(txn->changes); store(txn->commit_lsn); }
//   }
//
// DELIVERY CONTRACT
//   * Whole committed source transactions, in commit order, each once per
//     subscription, each with its commit LSN (Commit.end_lsn) and commit time.
//   * A subscription from LSN L delivers every transaction whose commit LSN is
//     greater than L. Resuming from the last LSN a consumer processed
//     therefore neither repeats nor skips anything.
//   * The feed keeps a bounded window of recent transactions in memory
//     (FeedOptions: count, bytes, age). A `from` older than the window, or a
//     subscription that falls behind it (a slow consumer), gets kOutOfRange
//     naming the oldest LSN the feed can still start from. The consumer then
//     resynchronises: it reads the state from a snapshot (SQL, or canopy's
//     own queries) and subscribes from the LSN that snapshot reflects. A
//     re-snapshot of the replica (a lost slot, a failover) empties the window
//     the same way: nothing between the old position and the new snapshot can
//     be delivered.
//   * Transactions with no matching change still advance the subscriber's
//     position: Next delivers them with no changes, as does an advance of the
//     replica's position without a transaction (an idle keepalive). Several
//     such in a row are delivered as the last of them.
//   * The feed never slows the replica: appending is O(changes) under a
//     short lock, and a consumer that does not keep up only loses its place.
//
// WHAT A CHANGE SAYS
//   `op`: kInsert when the row did not exist before the change (as the index
//   knew it), kUpdate when it did, kDelete, kTruncate (the whole table).
//   `before`/`after`: the row before and after the change, with the columns
//   canopy maps (TableMapping). Columns a change did not send (pgoutput's
//   unchanged-TOAST value) are filled from `before`; a column that stays
//   unknown has its bit cleared in `present` — reported as unknown, never as
//   empty. `carried`: the new values of the carried columns
//   (FeedOptions::carried_columns) an insert or update sent; canopy does not
//   hold their old values, and one an update left unchanged as a TOASTed
//   value is left out (unknown). `subtrees`: the namespace ids whose subtree held the row before or
//   after the transaction (for a namespace its ancestors and itself; for a
//   project or a runner link those of its namespace), ascending: a transfer
//   shows as a change whose before and after parents differ, with both
//   chains in `subtrees`.
//
// FILTERS (FeedFilter)
//   tables: only changes of these tables. subtree: only changes whose
//   `subtrees` contain it — rows inside it, rows entering it (a transfer in:
//   GitLab's transfer updates every moved namespace row, so each moved group
//   and project namespace shows) and rows leaving it; a TRUNCATE always
//   passes. columns: per table, the columns the consumer wants; the others
//   are cleared from before/after, and an UPDATE that changed none of the
//   wanted columns is dropped (GitLab's trigger semantics: "when name,
//   description or visibility_level change"). A wanted carried column that
//   an update sent counts as changed (its old value is not known).
//
// THREAD SAFETY: ChangeFeed is thread-safe (one appender, any number of
// subscriptions). A FeedSubscription is used by one thread at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "canopy/feed.h"
#include "canopy/hierarchy_index.h"
#include "canopy/lsn.h"
#include "canopy/status.h"

namespace canopy {

struct FeedOptions {
  // The window: the newest transactions within all three bounds are kept.
  // max_transactions 0 turns the feed off.
  size_t max_transactions = 0;
  size_t max_bytes = size_t{256} << 20;
  std::chrono::seconds max_age{3600};
  // Per table, the carried columns: published columns the index does not
  // keep that changes carry (FeedChange::carried). The replica fills them
  // from its TableMapping.
  std::vector<std::string> carried_columns[3];
};

class ChangeFeed;

class FeedSubscription {
 public:
  ~FeedSubscription();
  FeedSubscription(const FeedSubscription&) = delete;
  FeedSubscription& operator=(const FeedSubscription&) = delete;

  // Replaces *out with the next transactions (up to `max`, and past the
  // first up to `max_bytes` of them as the window counts them, filtered),
  // waiting up to `timeout` for the first. Ok with an empty *out on timeout. A
  // transaction the filter keeps whole is the feed's own (shared, not
  // copied); one it changes is a new copy of what it keeps.
  // Errors: kOutOfRange (fell behind the window, or the replica
  // re-snapshotted; the message names the oldest LSN to resume from),
  // kUnavailable (the feed was closed).
  Status Next(std::vector<SharedFeedTransaction>* out, std::chrono::milliseconds timeout,
              size_t max = 256, size_t max_bytes = SIZE_MAX);
  // The commit LSN of the last transaction delivered (or the start).
  Lsn position() const { return position_; }

 private:
  friend class ChangeFeed;
  FeedSubscription(std::shared_ptr<ChangeFeed> feed, Lsn from, uint64_t epoch, FeedFilter filter);

  std::shared_ptr<ChangeFeed> feed_;
  Lsn position_;
  uint64_t epoch_;  // the feed's Reset count when subscribed
  FeedFilter filter_;
};

class ChangeFeed : public std::enable_shared_from_this<ChangeFeed> {
 public:
  // Starts empty at `start` (a snapshot's LSN): subscriptions may start from
  // `start` on.
  static std::shared_ptr<ChangeFeed> Create(FeedOptions options, Lsn start);

  // Errors: kOutOfRange (`from` older than the window; names the oldest LSN),
  // kInvalidArgument (`from` newer than the newest position, a filter
  // without tables, or one asking for a column the feed does not carry), kNotFound (with `index`:
  // filter.subtree is not a namespace it holds), kUnavailable (closed). Lsn() = from the newest
  // position.
  Result<std::unique_ptr<FeedSubscription>> Subscribe(Lsn from, FeedFilter filter,
                                                      const HierarchyIndex* index = nullptr);

  // The appender (the replica). Commit LSNs must grow; a position-only
  // transaction (no changes) replaces a position-only newest one.
  void Append(FeedTransaction txn);
  // Forgets the window: nothing at or before `start` can be delivered any
  // more (a new snapshot). Subscriptions behind it get kOutOfRange.
  void Reset(Lsn start);
  // Wakes every waiting Next with kUnavailable; later calls fail too.
  void Close();

  // Calls `listener` (on the appender's thread, after the feed changed:
  // Append, Reset, Close) until RemoveListener returns. Keep it cheap and
  // never call back into the feed's appender from it (an event loop posts a
  // poll). Returns the id for RemoveListener.
  uint64_t AddListener(std::function<void()> listener);
  void RemoveListener(uint64_t id);

  // The oldest LSN a subscription may start from, and the newest position.
  Lsn oldest() const;
  Lsn newest() const;
  size_t retained_transactions() const;
  size_t retained_bytes() const;

 private:
  friend class FeedSubscription;
  struct Entry {
    SharedFeedTransaction txn;
    size_t bytes = 0;
    std::chrono::steady_clock::time_point appended;
  };
  explicit ChangeFeed(FeedOptions options, Lsn start);
  void EvictLocked(std::chrono::steady_clock::time_point now);
  void NotifyListeners();
  Status BehindLocked(Lsn position, uint64_t epoch) const;

  const FeedOptions options_;
  mutable std::mutex mu_;
  std::condition_variable grew_;
  std::deque<Entry> window_;  // ascending commit LSN
  Lsn floor_;                 // everything at or before it is gone
  Lsn newest_;
  size_t bytes_ = 0;
  uint64_t epoch_ = 0;       // Reset count
  std::mutex listeners_mu_;  // held while listeners run: none runs after RemoveListener
  std::vector<std::pair<uint64_t, std::function<void()>>> listeners_;
  uint64_t next_listener_ = 1;
  bool closed_ = false;
};

}  // namespace canopy
