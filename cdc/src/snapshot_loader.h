// snapshot_loader.h — stage "copy" of a bootstrap: every mapped table read in
// parallel inside one exported snapshot.
//
// A planner connection imports the snapshot and splits each large table into
// id ranges (by pg_class.reltuples, or by the id span when the table was never
// analyzed); then `workers` connections, each in its own REPEATABLE READ
// transaction that imported the same snapshot (SET TRANSACTION SNAPSHOT), run
// `COPY (SELECT <mapped columns> FROM t WHERE id range) TO STDOUT` for one
// piece at a time and turn the lines into upserts. Every piece sees the same
// state: exactly the database as of the slot's consistent point.
//
// Progress (rows, bytes, rate, ETA per table) can be read at any time from
// another thread.
//
// Each piece is handed to a SnapshotPieces as soon as it is copied, so that
// HierarchyIndex::BulkLoad can build from it while the others are copied.
//
// THREAD SAFETY: Plan() then Copy(), one after the other (Copy starts the
// workers); Progress() may be called concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "canopy/cdc/replica.h"
#include "canopy/cdc/table_mapping.h"
#include "canopy/rows.h"
#include "canopy/snapshot_pieces.h"
#include "canopy/status.h"
#include "pg_connection.h"

namespace canopy::cdc::internal {

struct SnapshotLoaderOptions {
  std::string conninfo;
  TableMapping mapping;
  int workers = 4;
  uint64_t split_rows = 250'000;  // pieces of about this many rows
  std::string application_name = "canopy-snapshot";
};

class SnapshotLoader {
 public:
  // `cancel` (may be null) stops the copy early with kUnavailable; `wake`
  // (may be null; woken only when cancel is set, never drained here)
  // interrupts waits so cancel is seen at once.
  SnapshotLoader(SnapshotLoaderOptions options, const std::atomic<bool>* cancel,
                 const WakePipe* wake);

  // Splits every mapped table into pieces, as of `snapshot_name`: after it,
  // piece_count() and EstimatedRows() are known. Errors: as Copy's.
  Status Plan(const std::string& snapshot_name);
  size_t piece_count() const { return pieces_.size(); }
  // The table's row estimate (pg_class.reltuples; 0 if never analyzed).
  uint64_t EstimatedRows(Table table) const;

  // Copies every piece and delivers its rows as upserts to `out` (piece k of
  // the plan as piece k; namespaces, projects, runner links; by id within
  // each piece) as soon as it is copied, for HierarchyIndex::BulkLoad to
  // read in place. On an error abandons `out` with it, and returns it.
  // REQUIRES: Plan() succeeded; out->size() == piece_count().
  // Errors: kUnavailable (connection, cancel), kFailedPrecondition (SQL error,
  // e.g. a mapped column that does not exist, an expired snapshot), kDataLoss
  // (a malformed value).
  Status Copy(const std::string& snapshot_name, SnapshotPieces* out);

  std::vector<TableLoadProgress> Progress() const;

 private:
  struct Piece {
    Table table;
    std::string sql;
    uint64_t expected_rows = 0;  // from the table's estimate; 0 if unknown
    std::vector<RowChange> rows;
  };
  struct TableCounters {
    std::string name;
    std::atomic<uint64_t> estimated_rows{0};
    std::atomic<uint64_t> rows{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<int> pieces_left{0};
    std::atomic<int64_t> done_ns{0};
  };

  Status RunWorker(const std::string& snapshot_name, std::atomic<size_t>* next,
                   std::atomic<bool>* failed, SnapshotPieces* out);
  Status CopyPiece(PgConnection& conn, Piece& piece, std::atomic<bool>* failed);
  bool Cancelled(const std::atomic<bool>* failed) const;

  SnapshotLoaderOptions options_;
  const std::atomic<bool>* cancel_;
  const WakePipe* wake_;
  std::vector<Piece> pieces_;
  std::unique_ptr<TableCounters[]> counters_;  // one per Table, indexed by Table
  std::chrono::steady_clock::time_point start_;
};

// Opens a transaction on `conn` that sees the exported snapshot.
Status ImportSnapshot(PgConnection& conn, const std::string& snapshot_name);

}  // namespace canopy::cdc::internal
