// replica_worker.h — the background side of canopy::cdc::Replica.
//
// One Worker runs on the replica's thread: sessions of connect -> (slot +
// snapshot | resume) -> stream, with backoff between failed sessions.
//
// THREAD SAFETY
//   * Run() and everything it calls (Session, Stream, ...) execute on the
//     replica thread only; the connections, the assembler and the stream
//     state belong to it.
//   * Shared with API threads, all under mu_: status_, index_, loader_. The
//     applied position is also an atomic (applied_) for cheap reads; it only
//     grows within one index, and changes (with index_) under mu_, with cv_
//     notified.
//   * stop_ and wait_target_ are atomics written by API threads; wake_ and
//     stop_pipe_ wake the replica thread (and snapshot workers) out of poll().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "canopy/cdc/replica.h"
#include "canopy/cdc/transaction_assembler.h"
#include "canopy/hierarchy_index.h"
#include "pg_connection.h"

namespace canopy::cdc {

namespace internal {
class SnapshotLoader;
}

class Replica::Worker {
 public:
  // `feed` may be null (the feed is off).
  Worker(const ReplicaOptions& options, std::shared_ptr<ChangeFeed> feed);
  ~Worker();

  void Run();
  void RequestStop();

  Status WaitUntilApplied(Lsn lsn, std::chrono::milliseconds timeout);
  void RequestPosition(Lsn lsn, std::chrono::milliseconds for_how_long);
  Status WaitUntilStreaming(std::chrono::milliseconds timeout);
  std::shared_ptr<const HierarchyIndex> index() const;
  ReplicaStatus status() const;

 private:
  // One connect..stream cycle. Returns when the stream ends (error or stop).
  Status Session();
  Status CheckPublication(internal::PgConnection& sql);
  // The publication carries every mapped column of every mapped table and
  // filters no rows (PostgreSQL 15+). Errors from the check itself are marked
  // permanent; SQL errors are returned as they are.
  Status CheckPublishedColumns(internal::PgConnection& sql);
  // CheckPublishedColumns on check_sql_ (while streaming); an SQL failure of
  // the check is a transient error of the session.
  Status CheckPublicationNow();
  // Marks the session's error as one retrying cannot heal.
  Status Permanent(Status s);
  // Creates the slot and loads a fresh snapshot into a new index, swapped in
  // on success. *start receives the slot's consistent point.
  Status Bootstrap(internal::PgConnection& repl, internal::PgConnection& sql, Lsn* start);
  // Whether a permanent slot can be resumed from the applied position.
  Result<bool> CanResume(internal::PgConnection& sql);
  Status Stream(internal::PgConnection& repl);
  Status SendStatus(internal::PgConnection& repl, bool reply_requested);
  Status ApplyPending();
  // ApplyPending with the feed on: one transaction per publish, each
  // described to the feed from the index before and after it.
  Status ApplyPendingToFeed(HierarchyIndex& index, ChangeFeed& feed);

  void SetState(ReplicaState state, const char* stage);
  void SetApplied(Lsn lsn);  // grows the position
  // An idle keepalive at `wal_end`: the index's LSN and the position advance.
  Status AdvanceIdle(Lsn wal_end);
  // Whether a caller waits for a position not applied yet (ask for keepalives).
  bool HasWaiter() const;
  void NotifyApplied(std::shared_ptr<HierarchyIndex> index, Lsn lsn) const;
  // A record of component "replica" with the fields slot (once known) and
  // lsn (the position applied so far). Replica thread only (slot_name_).
  void Log(LogLevel level, std::string message) const;
  bool Sleep(std::chrono::milliseconds d);  // false if stopped meanwhile

  const ReplicaOptions options_;
  const std::shared_ptr<ChangeFeed> feed_;  // null: off; reset by every snapshot
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> wait_target_{0};
  std::atomic<int64_t> wait_deadline_ns_{0};  // steady_clock; waiters give up after it
  std::atomic<uint64_t> applied_{0};
  internal::WakePipe wake_;       // waiters and stop: wakes the stream (drained by it)
  internal::WakePipe stop_pipe_;  // stop only: never drained (stop is final)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  ReplicaStatus status_;                        // under mu_
  std::shared_ptr<HierarchyIndex> index_;       // under mu_
  internal::SnapshotLoader* loader_ = nullptr;  // under mu_, while a copy runs

  // Replica thread only.
  TransactionAssembler assembler_;
  std::string slot_name_;
  bool temporary_slot_ = true;
  std::vector<Transaction> pending_;
  size_t pending_changes_ = 0;
  int64_t pending_commit_time_ = 0;  // pgoutput's commit time of pending_.back()
  // With the feed on, what the feed needs of each of pending_ beside it.
  struct PendingForFeed {
    int64_t commit_time = 0;  // pgoutput's
    std::vector<ChangeCarried> carried;
  };
  std::vector<PendingForFeed> pending_for_feed_;
  Lsn received_;
  Lsn last_flush_sent_;
  std::chrono::steady_clock::time_point next_status_;
  std::chrono::steady_clock::time_point last_reply_request_;
  uint64_t slot_counter_ = 0;
  bool permanent_ = false;       // the session's error is permanent (set by Permanent)
  bool stream_started_ = false;  // the session reached START_REPLICATION
  // An SQL connection kept while streaming, for publication re-checks.
  std::unique_ptr<internal::PgConnection> check_sql_;
  std::chrono::steady_clock::time_point next_publication_check_;
};

}  // namespace canopy::cdc
