// canopy/feed.h — the change feed's vocabulary (canopy::core): a committed
// transaction as a consumer sees it, each change with its row before and
// after, and the filters. The window that keeps them is canopy/change_feed.h;
// the replica fills it (canopy/cdc/replica.h), canopyd serves it.
//
// THREAD SAFETY: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy {

enum class ChangeOp : uint8_t { kInsert = 0, kUpdate = 1, kDelete = 2, kTruncate = 3 };
const char* ChangeOpName(ChangeOp op);  // "insert", "update", "delete", "truncate"

// No row (an insert's before, a delete's after, both of a truncate).
using FeedRow = std::variant<std::monostate, NamespaceRow, ProjectRow, RunnerLinkRow>;

// The value of a carried column: one the source publishes and the feed
// carries although the index does not keep it (FeedOptions::carried_columns,
// e.g. projects.description), in PostgreSQL's text form.
struct CarriedValue {
  std::string column;
  std::optional<std::string> text;  // nullopt: NULL
};

struct FeedChange {
  Table table = Table::kNamespaces;
  ChangeOp op = ChangeOp::kInsert;
  int64_t id = 0;  // the primary key; 0 for kTruncate
  FeedRow before;
  FeedRow after;
  std::vector<int64_t> subtrees;  // ascending; see WHAT A CHANGE SAYS
  // An insert's or update's new values of the carried columns it sent. One
  // left out is unknown (an update that left a TOASTed value unchanged).
  std::vector<CarriedValue> carried;
};

// The parent (namespaces) or namespace (projects, runner links) of a row;
// nullopt for no row or a root.
std::optional<int64_t> HierarchyParent(const FeedRow& row);

struct FeedTransaction {
  Lsn commit_lsn;
  int64_t commit_unix_ms = 0;  // the source's commit time; 0 for a position-only advance
  std::vector<FeedChange> changes;
};

// A delivered transaction, immutable: a filter that keeps one whole hands
// out the feed's own copy (shared by every such subscriber, never copied).
using SharedFeedTransaction = std::shared_ptr<const FeedTransaction>;

struct FeedFilter {
  // Bit (1 << Table) per table delivered.
  uint32_t tables = 0b111;
  std::optional<int64_t> subtree;
  // Per table (indexed by Table), the wanted columns (the row types' Column
  // bits); kAllColumns = all of them and no update is dropped.
  ColumnMask columns[3] = {kAllColumns, kAllColumns, kAllColumns};
  // Per table whose columns[] is not kAllColumns, the wanted carried
  // columns (ChangeFeed::Subscribe checks that the feed carries them).
  std::vector<std::string> carried[3];

  // Whether every change passes whole (JudgeChange's kKeep for all).
  bool KeepsEverything() const {
    return (tables & 0b111) == 0b111 && !subtree && columns[0] == kAllColumns &&
           columns[1] == kAllColumns && columns[2] == kAllColumns;
  }
};

// What `filter` does with `change`: drops it, keeps it as it is, or keeps a
// projection of it (some columns cleared). Pure, and copies nothing.
enum class FilterVerdict : uint8_t { kDrop, kKeep, kProject };
FilterVerdict JudgeChange(const FeedChange& change, const FeedFilter& filter);

// The change as `filter` delivers it (nullopt: dropped). Pure.
std::optional<FeedChange> FilterChange(const FeedChange& change, const FeedFilter& filter);

// "namespaces", "projects", "ci_runner_namespaces" (GitLab's table names).
const char* FeedTableName(Table table);
// The table of `name` (FeedTableName's names; also "runner_links"), or nullopt.
std::optional<Table> FeedTableFromName(std::string_view name);
// The Column bit of `column` in `table` ("parent_id", "name", "archived", ...:
// the columns of rows.h), or nullopt.
std::optional<ColumnMask> FeedColumnFromName(Table table, std::string_view column);

// `s` without the blanks (spaces, tabs, a trailing CR) around it.
std::string_view TrimBlanks(std::string_view s);
// The comma-separated items of `list`, each trimmed (TrimBlanks; "" is one
// empty item: callers say what is wrong with it).
std::vector<std::string_view> SplitFeedList(std::string_view list);
// Parses one "TABLE.COLUMN" (TABLE as FeedTableFromName takes it, no comma
// split: one wire entry) and appends COLUMN to columns[TABLE]. Errors:
// kInvalidArgument naming the item.
Status ParseTableColumn(std::string_view item, std::vector<std::string> (&columns)[3]);
// ParseTableColumn over each item of the list "TABLE.COLUMN,...", in order:
// the one reading of the --columns and --feed-columns lists. Errors: the
// first bad item's (columns is then partly appended).
Status ParseTableColumns(std::string_view list, std::vector<std::string> (&columns)[3]);

// Parses the textual filters the CLI (`canopy watch --tables --columns`)
// and RESP's FEED take: `tables` "namespaces,projects" (FeedTableName's
// names, also "runner_links"); `columns` "projects.name,projects.archived":
// per table it names, the wanted columns (tables it does not name keep all);
// a name that is not a column of rows.h is taken as a carried column, which
// ChangeFeed::Subscribe checks. Both leave the filter as it was on error.
// Errors: kInvalidArgument naming the unknown table or the malformed item.
Status ParseFeedTables(std::string_view tables, FeedFilter* filter);
Status ParseFeedColumns(std::string_view columns, FeedFilter* filter);

// One change as a JSON object (a line of `canopy watch --json`), with its
// transaction's position and time: {"lsn":"0/16B3748","commit_time":
// "2026-12-06T01:23:45.678Z","table":"projects","op":"update","id":42,
// "before":{...},"after":{...},"subtrees":[1,5]}. A row object holds the
// columns it knows (`present`), so a column left out is unknown, never empty;
// before/after are null when there is no row; `after` also holds the carried
// values. docs/feed.md shows every field.
void AppendFeedChangeJson(const FeedTransaction& txn, const FeedChange& change, std::string* out);
// A row as a JSON object of the columns it knows, then the `carried` values
// (JSON strings, null for NULL); null for no row.
void AppendFeedRowJson(const FeedRow& row, std::string* out,
                       const std::vector<CarriedValue>& carried = {});
// A whole transaction: {"lsn":...,"commit_time":...,"changes":[change
// objects without lsn and commit_time]} (RESP's FEED). commit_time is null
// for a position-only transaction.
void AppendFeedTransactionJson(const FeedTransaction& txn, std::string* out);

}  // namespace canopy
