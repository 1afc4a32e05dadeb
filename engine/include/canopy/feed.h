// canopy/feed.h — the change feed's vocabulary (canopy::core): a committed
// transaction as a consumer sees it, each change with its row before and
// after, and the filters. The window that keeps them is canopy/change_feed.h;
// the replica fills it (canopy/cdc/replica.h), canopyd serves it.
//
// THREAD SAFETY: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/rows.h"

namespace canopy {

enum class ChangeOp : uint8_t { kInsert = 0, kUpdate = 1, kDelete = 2, kTruncate = 3 };
const char* ChangeOpName(ChangeOp op);  // "insert", "update", "delete", "truncate"

// No row (an insert's before, a delete's after, both of a truncate).
using FeedRow = std::variant<std::monostate, NamespaceRow, ProjectRow, RunnerLinkRow>;

struct FeedChange {
  Table table = Table::kNamespaces;
  ChangeOp op = ChangeOp::kInsert;
  int64_t id = 0;  // the primary key; 0 for kTruncate
  FeedRow before;
  FeedRow after;
  std::vector<int64_t> subtrees;  // ascending; see WHAT A CHANGE SAYS
};

// The parent (namespaces) or namespace (projects, runner links) of a row;
// nullopt for no row or a root.
std::optional<int64_t> HierarchyParent(const FeedRow& row);

struct FeedTransaction {
  Lsn commit_lsn;
  int64_t commit_unix_ms = 0;  // the source's commit time; 0 for a position-only advance
  std::vector<FeedChange> changes;
};

struct FeedFilter {
  // Bit (1 << Table) per table delivered.
  uint32_t tables = 0b111;
  std::optional<int64_t> subtree;
  // Per table (indexed by Table), the wanted columns (the row types' Column
  // bits); kAllColumns = all of them and no update is dropped.
  ColumnMask columns[3] = {kAllColumns, kAllColumns, kAllColumns};
};

// Whether `change` passes `filter`, and the change as delivered (columns
// cleared). Pure; exposed for tests.
std::optional<FeedChange> FilterChange(const FeedChange& change, const FeedFilter& filter);

}  // namespace canopy
