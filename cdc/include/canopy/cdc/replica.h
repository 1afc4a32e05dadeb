// canopy/cdc/replica.h — an in-process replica of PostgreSQL's namespace
// hierarchy: bootstrap from a consistent snapshot, then follow logical
// replication, in a background thread.
//
//   canopy::cdc::ReplicaOptions options;
//   options.conninfo = "host=/run/postgresql dbname=gitlab";
//   options.create_publication = true;            // else "canopy" must exist
//   canopy::cdc::Replica replica(options);
//   if (Status s = replica.Start(); !s.ok()) die(s);
//   // read-your-writes: wait until an LSN the app saw is applied
//   if (Status s = replica.WaitUntilApplied(lsn, std::chrono::seconds(5)); !s.ok()) ...
//   auto index = replica.index();                 // shared_ptr<const HierarchyIndex>
//   canopy::QueryAnswer a = index->Query({.kind = canopy::QueryKind::kDescendants, .id = 9970});
//   replica.Stop();                               // also done by the destructor
//
// How it works (docs/architecture.md "CDC", docs/design/cdc-notes.md):
//   1. connect with replication=database, IDENTIFY_SYSTEM (system id, timeline);
//   2. check the publication covers the mapped tables (or create/extend it
//      when create_publication is set), every mapped column of them (a
//      PostgreSQL 15 column list) and filters no rows (a row filter);
//   3. CREATE_REPLICATION_SLOT ... LOGICAL pgoutput with an exported snapshot
//      (TEMPORARY unless slot_name is set);
//   4. SnapshotLoader copies every mapped table in parallel inside that
//      snapshot, handing each piece to the index build as soon as it is
//      copied (SnapshotPieces); the rows are applied as one transaction at
//      the slot's consistent point;
//   5. START_REPLICATION (proto_version '1'); each source transaction is
//      buffered from Begin to Commit and applied atomically with commit LSN =
//      Commit.end_lsn. The flush position reported to the server is never
//      ahead of what is applied; while idle, keepalive positions are
//      acknowledged (nothing is pending, so the slot holds no WAL needlessly);
//      reply-requested keepalives are answered at once; status goes out every
//      status_interval. An idle keepalive whose position is past the last
//      commit advances the index's applied LSN too (an empty transaction):
//      nothing mapped committed in between, so the answers reflect it.
//   6. On an error that retrying can heal (connection refused or lost,
//      PostgreSQL restarting, a terminated walsender): reconnect with backoff. With a permanent
//      slot (and the same system id and timeline) streaming resumes from the applied LSN and
//      transactions already applied are skipped; otherwise a fresh snapshot is
//      loaded into a new index while the old one keeps answering (state
//      kStale), then swapped in.
//   7. On an error that retrying cannot heal — the database, role or
//      publication missing, permission denied, a mapped table or column
//      missing or of the wrong type, a publication that lacks mapped tables
//      or columns (a PostgreSQL 15 column list) or filters rows (a row
//      filter) — the replica gives up: state kFailed, last_error says why,
//      on_failed is called, nothing is retried. The publication's columns
//      and filters are checked before the snapshot, on every Relation
//      message of a mapped table and every publication_check_interval while
//      streaming; a Relation that lacks a mapped column is refused before
//      any change it describes is applied. An index already loaded keeps
//      answering (as of its applied LSN), but the state is never kStreaming
//      again.
//
// An index is in memory only: a new process always starts from a snapshot. A
// permanent slot named in options that already exists is therefore dropped
// and re-created at Start (it must not be in use).
//
// THREAD SAFETY: every method may be called from any thread. index() returns
// a reference-counted index; readers use it wait-free (see HierarchyIndex).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "canopy/cdc/table_mapping.h"
#include "canopy/change_feed.h"
#include "canopy/hierarchy_index.h"
#include "canopy/log.h"
#include "canopy/lsn.h"
#include "canopy/status.h"

namespace canopy::cdc {

struct ReplicaOptions {
  // libpq conninfo (keywords or URI) of the database to mirror. Do not put
  // `replication=` in it: canopy adds it for the walsender connection.
  std::string conninfo;
  std::string publication = "canopy";
  // Create the publication for the mapped tables if it does not exist, and
  // add mapped tables it lacks.
  bool create_publication = false;
  // Empty: a TEMPORARY slot (canopy_<pid>_<n>), dropped by the server when
  // the connection ends. Else a permanent slot of that name ([a-z0-9_]).
  std::string slot_name;
  TableMapping mapping;
  // Snapshot stage: parallel COPY connections, rows per piece of a table.
  int snapshot_workers = 4;
  uint64_t snapshot_split_rows = 250'000;
  // Standby status updates go out at least this often (<= 10 s).
  std::chrono::milliseconds status_interval{1000};
  // Reconnect backoff.
  std::chrono::milliseconds reconnect_min_backoff{100};
  std::chrono::milliseconds reconnect_max_backoff{5000};
  std::string application_name = "canopy";
  // Receives one record per notable event (stage changes, progress: info;
  // trouble such as a session that ended and will be retried, a lost slot,
  // a changed system id or timeline: warning; giving up: error). Component
  // "replica", fields "slot" (once known) and "lsn" (the position applied so
  // far). Called from the replica's thread; may be empty.
  LogSink log;
  // Called on the replica thread whenever the applied position grows (a
  // batch of transactions, an idle keepalive) and when a snapshot swaps in a
  // new index, with the index now serving and its applied LSN. Keep it cheap
  // (a server wakes its min_lsn waiters here). May be empty.
  std::function<void(const std::shared_ptr<const HierarchyIndex>& index, Lsn applied)> on_applied;
  // Testing hook (fault tests): while it returns true, the streaming loop
  // neither reads from nor writes to the server — a stalled consumer. Polled
  // about every 5 ms from the replica thread. Empty = never paused.
  std::function<bool()> test_pause_stream;
  // Called once on the replica thread when the replica gives up (state
  // kFailed; see 7. above), with the error. May be empty.
  std::function<void(const Status& error)> on_failed;
  // While streaming, the publication's tables, columns and row filters are
  // checked again this often (and on every Relation message of a mapped
  // table): a publication changed under a running replica must not go
  // unnoticed.
  std::chrono::milliseconds publication_check_interval{5000};
  // The change feed (canopy/change_feed.h): with max_transactions > 0
  // every applied transaction is also kept, with its rows before and after,
  // for Subscribe. The replica then applies one transaction per publish.
  // Its carried_columns come from mapping (TableSpec::carried_columns); Start
  // refuses carried columns while the feed is off.
  FeedOptions feed;
};

enum class ReplicaState : uint8_t {
  kStopped = 0,
  kConnecting = 1,  // no index yet
  kLoading = 2,     // first snapshot being copied / built
  kStreaming = 3,   // following the slot
  kStale = 4,       // connection lost or re-snapshotting; the old index still answers
  kFailed = 5,      // gave up on an error retrying cannot heal (last_error); an old index still
                    // answers as of its applied LSN, nothing is retried
};
const char* ReplicaStateName(ReplicaState state);

struct TableLoadProgress {
  std::string table;  // "schema.table"
  uint64_t rows = 0;
  uint64_t estimated_rows = 0;  // from pg_class.reltuples (0 = unknown)
  uint64_t bytes = 0;
  double seconds = 0;
  double rows_per_second = 0;
  double eta_seconds = -1;  // -1 = unknown
  bool done = false;
};

struct ReplicaStatus {
  ReplicaState state = ReplicaState::kStopped;
  std::string stage;     // "connect", "slot", "copy", "build", "stream", "backoff"
  Lsn applied_lsn;       // what queries reflect (incl. idle keepalive positions)
  Lsn received_lsn;      // highest position the server reported
  Lsn flushed_lsn;       // last flush position sent to the server
  Lsn consistent_point;  // of the current slot
  std::string slot_name;
  bool temporary_slot = true;
  uint64_t system_id = 0;
  uint32_t timeline = 0;
  std::vector<TableLoadProgress> tables;  // of the last (or running) snapshot
  double last_snapshot_seconds = 0;       // copy + build of the last completed snapshot
  uint64_t snapshots = 0;
  uint64_t reconnects = 0;
  uint64_t transactions_applied = 0;  // streamed transactions applied
  uint64_t transactions_skipped = 0;  // replayed ones dropped after a resume
  uint64_t changes_applied = 0;
  uint64_t keepalives = 0;
  uint64_t status_updates_sent = 0;
  // The error that ended the last session (or made the replica fail); empty
  // once the replica streams again (and before any error).
  std::string last_error;
  int64_t last_error_unix_ms = 0;  // when last_error happened (ms since the Unix epoch; 0: none)
  // How old the served data may be: the commit time (ms since the Unix
  // epoch, the source's clock) of the newest streamed transaction applied —
  // pgoutput's Commit carries it — or, before the first one, when the
  // snapshot's slot was created (this host's clock). 0 before any snapshot.
  int64_t last_commit_unix_ms = 0;
};

// Whether `error` (from connecting to PostgreSQL or from its SQL, before
// streaming starts) is one that retrying cannot heal: a database or role
// that does not exist, authentication refused, permission denied, a table,
// column or object that does not exist (SQLSTATE 3D000, 28000, 28P01,
// 42501, 42P01, 42703, 42704). Pure; used by the replica to decide between
// backoff and kFailed.
bool IsPermanentReplicationError(const Status& error);

class Replica {
 public:
  explicit Replica(ReplicaOptions options);
  ~Replica();  // Stop()
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Validates the options (including that libpq can parse the conninfo) and
  // starts the background thread. Returns at once; errors while connecting or
  // loading are retried and shown in status().
  // Errors: kInvalidArgument (options), kFailedPrecondition (already started).
  Status Start();
  // Stops the thread and closes every connection (a temporary slot goes with
  // them). Idempotent.
  void Stop();

  // Blocks until the applied position is >= lsn. Errors: kTimeout, or
  // kUnavailable when stopped. While idle, the replica asks the server for a
  // keepalive to learn that nothing is pending before `lsn`.
  Status WaitUntilApplied(Lsn lsn, std::chrono::milliseconds timeout);
  // Does not block: asks the stream to learn, for up to `for_how_long`,
  // whether the source has reached `lsn` (it requests keepalives; when
  // nothing is pending before their position, the applied position — and
  // the index's LSN — advance to it). For servers that park min_lsn requests
  // and are woken through on_applied.
  void RequestPosition(Lsn lsn, std::chrono::milliseconds for_how_long);
  // Blocks until the first snapshot is applied and streaming has started.
  // Errors: kTimeout, kUnavailable (stopped), kFailedPrecondition (the
  // replica failed: the error in the message).
  Status WaitUntilStreaming(std::chrono::milliseconds timeout);

  // The current index (null before the first snapshot is applied). Keep the
  // shared_ptr only as long as needed: a re-snapshot swaps in a new one.
  std::shared_ptr<const HierarchyIndex> index() const;
  // Convenience: runs one query on the current index (kUnavailable before
  // the first snapshot).
  QueryAnswer Query(const IdQuery& query) const;

  ReplicaStatus status() const;

  // Subscribes to the change feed from `from` (Lsn() = from now); see
  // canopy/change_feed.h for the delivery contract and the filters.
  // Errors: kFailedPrecondition (options.feed is off), kUnavailable (no
  // snapshot yet, or stopped), kNotFound (filter.subtree is not a namespace
  // of the index), and ChangeFeed::Subscribe's (kOutOfRange: `from` older
  // than the window, naming the oldest LSN; kInvalidArgument: in the future).
  Result<std::unique_ptr<FeedSubscription>> Subscribe(Lsn from, const FeedFilter& filter);
  // The feed (null while options.feed is off), from construction on: a
  // server can take it before the first snapshot. Each snapshot resets it.
  std::shared_ptr<ChangeFeed> feed() const { return feed_; }

  class Worker;  // internal

 private:
  ReplicaOptions options_;
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
  std::mutex start_mutex_;
  const std::shared_ptr<ChangeFeed> feed_;
};

}  // namespace canopy::cdc
