// feed_builder.cc — see feed_builder.h.
#include "feed_builder.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace canopy::cdc::internal {

namespace {

FeedRow IndexRow(const ReadView& view, Table table, int64_t id) {
  switch (table) {
    case Table::kNamespaces:
      if (std::optional<NamespaceRow> r = view.GetNamespace(id)) return std::move(*r);
      break;
    case Table::kProjects:
      if (std::optional<ProjectRow> r = view.GetProject(id)) return std::move(*r);
      break;
    case Table::kRunnerLinks:
      if (std::optional<RunnerLinkRow> r = view.GetRunnerLink(id)) return std::move(*r);
      break;
  }
  return std::monostate{};
}

// Columns a change did not send (pgoutput's unchanged-TOAST value) are the
// ones the row had.
void FillUnsent(const NamespaceRow& old, NamespaceRow* row) {
  const ColumnMask unsent = ~row->present & kAllColumns;
  if (unsent & NamespaceRow::kParentId) row->parent_id = old.parent_id;
  if (unsent & NamespaceRow::kType) row->type = old.type;
  if (unsent & NamespaceRow::kName) row->name = old.name;
  if (unsent & NamespaceRow::kPath) row->path = old.path;
  if (unsent & NamespaceRow::kVisibilityLevel) row->visibility_level = old.visibility_level;
  row->present |= old.present;
}

void FillUnsent(const ProjectRow& old, ProjectRow* row) {
  const ColumnMask unsent = ~row->present & kAllColumns;
  if (unsent & ProjectRow::kNamespaceId) row->namespace_id = old.namespace_id;
  if (unsent & ProjectRow::kProjectNamespaceId)
    row->project_namespace_id = old.project_namespace_id;
  if (unsent & ProjectRow::kName) row->name = old.name;
  if (unsent & ProjectRow::kPath) row->path = old.path;
  if (unsent & ProjectRow::kVisibilityLevel) row->visibility_level = old.visibility_level;
  if (unsent & ProjectRow::kArchived) row->archived = old.archived;
  if (unsent & ProjectRow::kPendingDelete) row->pending_delete = old.pending_delete;
  row->present |= old.present;
}

void FillUnsent(const RunnerLinkRow& old, RunnerLinkRow* row) {
  const ColumnMask unsent = ~row->present & kAllColumns;
  if (unsent & RunnerLinkRow::kRunnerId) row->runner_id = old.runner_id;
  if (unsent & RunnerLinkRow::kNamespaceId) row->namespace_id = old.namespace_id;
  row->present |= old.present;
}

template <typename Row>
FeedRow Upserted(const FeedRow& before, Row row) {
  if (const Row* old = std::get_if<Row>(&before)) FillUnsent(*old, &row);
  return row;
}

// Appends `ns` and its ancestors (nothing for an unknown namespace; an orphan
// whose chain cannot be followed counts as its own root).
void AddChain(const ReadView& view, int64_t ns, std::vector<int64_t>* out) {
  std::vector<int64_t> chain;
  Status s = view.SelfAndAncestors(ns, HierarchyOrder::kRootFirst, &chain);
  if (s.ok()) {
    out->insert(out->end(), chain.begin(), chain.end());
  } else if (s.code() != StatusCode::kNotFound) {
    out->push_back(ns);
  }
}

// The namespace whose chain holds `row` of `table`: a namespace itself, a
// project's or a runner link's namespace; nullopt for no row.
std::optional<int64_t> HolderOf(Table table, int64_t id, const FeedRow& row) {
  if (std::holds_alternative<std::monostate>(row)) return std::nullopt;
  return table == Table::kNamespaces ? std::optional<int64_t>(id) : HierarchyParent(row);
}

using Key = std::pair<int, int64_t>;  // (table, id)
Key KeyOf(const FeedChange& c) { return {static_cast<int>(c.table), c.id}; }

}  // namespace

FeedTransaction DescribeTransaction(const ReadView& before, const Transaction& txn,
                                    int64_t commit_unix_ms, std::vector<ChangeCarried> carried) {
  FeedTransaction out;
  out.commit_lsn = txn.commit_lsn;
  out.commit_unix_ms = commit_unix_ms;
  out.changes.reserve(txn.changes.size());
  // Per row the transaction touches: the row as of its changes so far, and
  // the subtrees that held it before the transaction (read once, from the
  // row as the index had it).
  struct Touched {
    FeedRow current;
    std::vector<int64_t> subtrees;
  };
  std::map<Key, Touched> touched;
  bool truncated[3] = {false, false, false};
  auto touch = [&](Table table, int64_t id) -> Touched& {
    auto [it, first] = touched.try_emplace({static_cast<int>(table), id});
    if (first) {
      FeedRow pre = IndexRow(before, table, id);
      if (std::optional<int64_t> holder = HolderOf(table, id, pre)) {
        AddChain(before, *holder, &it->second.subtrees);
      }
      if (!truncated[static_cast<size_t>(table)]) it->second.current = std::move(pre);
    }
    return it->second;
  };
  for (const RowChange& change : txn.changes) {
    FeedChange c;
    std::visit(
        [&](const auto& ch) {
          using Change = std::decay_t<decltype(ch)>;
          if constexpr (std::is_same_v<Change, TruncateTable>) {
            c.table = ch.table;
            c.op = ChangeOp::kTruncate;
            truncated[static_cast<size_t>(ch.table)] = true;
            for (auto& [key, t] : touched) {
              if (key.first == static_cast<int>(ch.table)) t.current = std::monostate{};
            }
            return;
          } else {
            if constexpr (std::is_same_v<Change, UpsertNamespace> ||
                          std::is_same_v<Change, UpsertProject> ||
                          std::is_same_v<Change, UpsertRunnerLink>) {
              using Row = std::decay_t<decltype(ch.row)>;
              c.table = std::is_same_v<Row, NamespaceRow> ? Table::kNamespaces
                        : std::is_same_v<Row, ProjectRow> ? Table::kProjects
                                                          : Table::kRunnerLinks;
              c.id = ch.row.id;
            } else {
              c.table = std::is_same_v<Change, DeleteNamespace> ? Table::kNamespaces
                        : std::is_same_v<Change, DeleteProject> ? Table::kProjects
                                                                : Table::kRunnerLinks;
              c.id = ch.id;
            }
            Touched& t = touch(c.table, c.id);
            c.before = t.current;
            if constexpr (std::is_same_v<Change, UpsertNamespace> ||
                          std::is_same_v<Change, UpsertProject> ||
                          std::is_same_v<Change, UpsertRunnerLink>) {
              c.op = std::holds_alternative<std::monostate>(c.before) ? ChangeOp::kInsert
                                                                      : ChangeOp::kUpdate;
              c.after = Upserted(c.before, ch.row);
            } else {
              c.op = ChangeOp::kDelete;
            }
            t.current = c.after;
            c.subtrees = t.subtrees;
          }
        },
        change);
    out.changes.push_back(std::move(c));
  }
  for (ChangeCarried& values : carried) {
    if (values.change < out.changes.size()) {
      out.changes[values.change].carried = std::move(values.values);
    }
  }
  return out;
}

void AddSubtreesAfter(const ReadView& after, FeedTransaction* txn) {
  // Each row's holder after the transaction, from its last change (no
  // lookup of the row itself); then its chain, once per row.
  std::map<Key, std::optional<int64_t>> holder;
  for (const FeedChange& c : txn->changes) {
    if (c.op == ChangeOp::kTruncate) {
      for (auto& [key, h] : holder) {
        if (key.first == static_cast<int>(c.table)) h.reset();
      }
    } else {
      holder[KeyOf(c)] = HolderOf(c.table, c.id, c.after);
    }
  }
  std::map<Key, std::vector<int64_t>> chains;
  for (const auto& [key, h] : holder) {
    if (h) AddChain(after, *h, &chains[key]);
  }
  for (FeedChange& c : txn->changes) {
    if (c.op == ChangeOp::kTruncate) continue;
    const std::vector<int64_t>& chain = chains[KeyOf(c)];
    c.subtrees.insert(c.subtrees.end(), chain.begin(), chain.end());
    std::sort(c.subtrees.begin(), c.subtrees.end());
    c.subtrees.erase(std::unique(c.subtrees.begin(), c.subtrees.end()), c.subtrees.end());
  }
}

}  // namespace canopy::cdc::internal
