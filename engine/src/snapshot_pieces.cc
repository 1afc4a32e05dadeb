// snapshot_pieces.cc — pieces of a snapshot handed from a loader to the build.
#include "canopy/snapshot_pieces.h"

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace canopy {

SnapshotPieces::SnapshotPieces(size_t count)
    : rows_(count), kinds_(count, kNotDelivered), missing_(count) {}

SnapshotPieces::SnapshotPieces(std::vector<std::vector<RowChange>> pieces)
    : rows_(std::move(pieces)), kinds_(rows_.size()), missing_(0) {
  for (size_t k = 0; k < rows_.size(); ++k) kinds_[k] = KindOf(rows_[k]);
}

SnapshotPieces::Kind SnapshotPieces::KindOf(const std::vector<RowChange>& rows) {
  Kind kind = kOnlyNamespaceUpserts;
  for (const RowChange& change : rows) {
    if (std::holds_alternative<UpsertNamespace>(change)) continue;
    if (!std::holds_alternative<UpsertProject>(change) &&
        !std::holds_alternative<UpsertRunnerLink>(change)) {
      return kOther;
    }
    kind = kUpserts;
  }
  return kind;
}

Status SnapshotPieces::Deliver(size_t k, std::vector<RowChange> rows) {
  const Kind kind = KindOf(rows);  // (outside the lock)
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (k >= rows_.size() || kinds_[k] != kNotDelivered) {
      return Status::InvalidArgument("snapshot piece " + std::to_string(k) + " of " +
                                     std::to_string(rows_.size()) +
                                     (k >= rows_.size() ? " does not exist" : " came twice"));
    }
    if (wanted()) rows_[k] = std::move(rows);
    kinds_[k] = kind;
    --missing_;
  }
  delivered_.notify_all();
  return Status::Ok();
}

void SnapshotPieces::Abandon(Status error) {
  assert(!error.ok());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return;
    error_ = std::move(error);
  }
  delivered_.notify_all();
}

std::vector<RowChange>* SnapshotPieces::Wait(size_t k) {
  std::unique_lock<std::mutex> lock(mu_);
  delivered_.wait(lock, [&] { return kinds_[k] != kNotDelivered || !error_.ok(); });
  return error_.ok() ? &rows_[k] : nullptr;
}

bool SnapshotPieces::WaitAll() {
  std::unique_lock<std::mutex> lock(mu_);
  delivered_.wait(lock, [&] { return missing_ == 0 || !error_.ok(); });
  return error_.ok();
}

bool SnapshotPieces::Complete() const {
  std::lock_guard<std::mutex> lock(mu_);
  return missing_ == 0 && error_.ok();
}

Status SnapshotPieces::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

}  // namespace canopy
