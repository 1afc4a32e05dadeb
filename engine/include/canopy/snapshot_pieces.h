// canopy/snapshot_pieces.h — a snapshot's rows handed over piece by piece while
// HierarchyIndex::BulkLoad builds the index from them.
//
// A parallel loader copies a snapshot in pieces; the build need not wait for
// the last one to start. The number of pieces is fixed up front; each piece is
// delivered once, from any thread, in any order; the snapshot is their
// concatenation in index order, whatever order they arrive in.
//
//   canopy::SnapshotPieces pieces(n);
//   std::thread loader([&] {
//     for (size_t k = 0; k < n; ++k) pieces.Deliver(k, CopyPiece(k));
//     // (or, when the copy fails: pieces.Abandon(status))
//   });
//   canopy::Status s = index.BulkLoad(at, pieces);  // builds as pieces arrive
//   loader.join();
//
// BulkLoad returns once every piece is delivered and the index is built, or
// with the error given to Abandon (the index is then read-only: discard it).
// An Abandon after the last Deliver may still fail the build, or come after
// BulkLoad has returned OK: a loader checks its own result as well. BulkLoad
// may also return early (an index that is not fresh, out of memory); from
// then on wanted() is false, later pieces are dropped, and a loader should
// stop copying. The build frees each piece's rows once it no longer needs
// them; `pieces` must outlive both BulkLoad and the last Deliver / Abandon.
//
// THREAD SAFETY: Deliver and Abandon may be called from any threads, also
// while BulkLoad runs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy {

class HierarchyIndex;
namespace internal {
class Forest;
}

class SnapshotPieces {
 public:
  // `count` pieces, none delivered yet.
  explicit SnapshotPieces(size_t count);
  // Every piece delivered already.
  explicit SnapshotPieces(std::vector<std::vector<RowChange>> pieces);
  SnapshotPieces(const SnapshotPieces&) = delete;
  SnapshotPieces& operator=(const SnapshotPieces&) = delete;

  size_t size() const { return rows_.size(); }

  // Hands over piece `k` (dropped when !wanted()). Errors: kInvalidArgument
  // (nothing is delivered) if k >= size() or piece k was delivered before.
  Status Deliver(size_t k, std::vector<RowChange> rows);
  // No more pieces will come: BulkLoad returns `error`. REQUIRES: !error.ok().
  // The first call wins; later ones are ignored.
  void Abandon(Status error);
  // False once BulkLoad has returned with an error: no piece is needed any more.
  bool wanted() const { return wanted_.load(std::memory_order_relaxed); }

 private:
  friend class HierarchyIndex;
  friend class internal::Forest;

  // What a piece holds, noted when it is delivered.
  enum Kind : uint8_t {
    kNotDelivered = 0,
    kOnlyNamespaceUpserts = 1,  // (or nothing)
    kUpserts = 2,               // upserts, not only of namespaces
    kOther = 3,                 // a delete or a truncate too
  };
  static Kind KindOf(const std::vector<RowChange>& rows);

  // Waits until piece `k` is delivered and returns its rows (the build may
  // empty them), or null once the pieces are abandoned.
  std::vector<RowChange>* Wait(size_t k);
  // Waits until every piece is delivered (true) or the pieces are abandoned.
  bool WaitAll();
  // Whether every piece is delivered (and none abandoned), without waiting.
  bool Complete() const;
  // The piece's kind. REQUIRES: Wait(k) returned it, or Complete() returned true.
  Kind kind(size_t k) const { return kinds_[k]; }
  // Abandon's error; OK if not abandoned.
  Status error() const;
  // REQUIRES: WaitAll() returned true; no Deliver can run any more.
  std::vector<std::vector<RowChange>>& all() { return rows_; }

  mutable std::mutex mu_;
  std::condition_variable delivered_;
  std::vector<std::vector<RowChange>> rows_;  // never resized: each piece stays where it is
  std::vector<Kind> kinds_;                   // under mu_ until the piece is delivered
  size_t missing_;                            // under mu_
  Status error_;                              // under mu_
  std::atomic<bool> wanted_{true};
};

}  // namespace canopy
