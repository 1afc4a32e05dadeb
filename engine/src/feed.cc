// feed.cc — see canopy/feed.h.
#include "canopy/feed.h"

#include "canopy/json_text.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

namespace canopy {

namespace {

// Columns whose values differ between two rows of one table.
ColumnMask Differing(const NamespaceRow& a, const NamespaceRow& b) {
  ColumnMask m = 0;
  if (a.parent_id != b.parent_id) m |= NamespaceRow::kParentId;
  if (a.type != b.type) m |= NamespaceRow::kType;
  if (a.name != b.name) m |= NamespaceRow::kName;
  if (a.path != b.path) m |= NamespaceRow::kPath;
  if (a.visibility_level != b.visibility_level) m |= NamespaceRow::kVisibilityLevel;
  return m | ((a.present ^ b.present) & kAllColumns);
}

ColumnMask Differing(const ProjectRow& a, const ProjectRow& b) {
  ColumnMask m = 0;
  if (a.namespace_id != b.namespace_id) m |= ProjectRow::kNamespaceId;
  if (a.project_namespace_id != b.project_namespace_id) m |= ProjectRow::kProjectNamespaceId;
  if (a.name != b.name) m |= ProjectRow::kName;
  if (a.path != b.path) m |= ProjectRow::kPath;
  if (a.visibility_level != b.visibility_level) m |= ProjectRow::kVisibilityLevel;
  if (a.archived != b.archived) m |= ProjectRow::kArchived;
  if (a.pending_delete != b.pending_delete) m |= ProjectRow::kPendingDelete;
  return m | ((a.present ^ b.present) & kAllColumns);
}

ColumnMask Differing(const RunnerLinkRow& a, const RunnerLinkRow& b) {
  ColumnMask m = 0;
  if (a.runner_id != b.runner_id) m |= RunnerLinkRow::kRunnerId;
  if (a.namespace_id != b.namespace_id) m |= RunnerLinkRow::kNamespaceId;
  return m | ((a.present ^ b.present) & kAllColumns);
}

// Clears the columns outside `keep` (values back to their defaults, bits off).
void Keep(ColumnMask keep, NamespaceRow* r) {
  const NamespaceRow blank;
  if (!(keep & NamespaceRow::kParentId)) r->parent_id = blank.parent_id;
  if (!(keep & NamespaceRow::kType)) r->type = blank.type;
  if (!(keep & NamespaceRow::kName)) r->name.clear();
  if (!(keep & NamespaceRow::kPath)) r->path.clear();
  if (!(keep & NamespaceRow::kVisibilityLevel)) r->visibility_level = blank.visibility_level;
  r->present &= keep;
}

void Keep(ColumnMask keep, ProjectRow* r) {
  const ProjectRow blank;
  if (!(keep & ProjectRow::kNamespaceId)) r->namespace_id = blank.namespace_id;
  if (!(keep & ProjectRow::kProjectNamespaceId))
    r->project_namespace_id = blank.project_namespace_id;
  if (!(keep & ProjectRow::kName)) r->name.clear();
  if (!(keep & ProjectRow::kPath)) r->path.clear();
  if (!(keep & ProjectRow::kVisibilityLevel)) r->visibility_level = blank.visibility_level;
  if (!(keep & ProjectRow::kArchived)) r->archived = blank.archived;
  if (!(keep & ProjectRow::kPendingDelete)) r->pending_delete = blank.pending_delete;
  r->present &= keep;
}

void Keep(ColumnMask keep, RunnerLinkRow* r) {
  const RunnerLinkRow blank;
  if (!(keep & RunnerLinkRow::kRunnerId)) r->runner_id = blank.runner_id;
  if (!(keep & RunnerLinkRow::kNamespaceId)) r->namespace_id = blank.namespace_id;
  r->present &= keep;
}

}  // namespace

const char* ChangeOpName(ChangeOp op) {
  switch (op) {
    case ChangeOp::kInsert:
      return "insert";
    case ChangeOp::kUpdate:
      return "update";
    case ChangeOp::kDelete:
      return "delete";
    case ChangeOp::kTruncate:
      return "truncate";
  }
  return "?";
}

std::optional<int64_t> HierarchyParent(const FeedRow& row) {
  if (const auto* n = std::get_if<NamespaceRow>(&row)) return n->parent_id;
  if (const auto* p = std::get_if<ProjectRow>(&row)) return p->namespace_id;
  if (const auto* l = std::get_if<RunnerLinkRow>(&row)) return l->namespace_id;
  return std::nullopt;
}

namespace {

bool IsWanted(const FeedFilter& filter, Table table, const CarriedValue& v) {
  const std::vector<std::string>& wanted = filter.carried[static_cast<size_t>(table)];
  return std::find(wanted.begin(), wanted.end(), v.column) != wanted.end();
}

}  // namespace

FilterVerdict JudgeChange(const FeedChange& change, const FeedFilter& filter) {
  if ((filter.tables & (1u << static_cast<unsigned>(change.table))) == 0) {
    return FilterVerdict::kDrop;
  }
  if (change.op == ChangeOp::kTruncate) return FilterVerdict::kKeep;
  if (filter.subtree &&
      !std::binary_search(change.subtrees.begin(), change.subtrees.end(), *filter.subtree)) {
    return FilterVerdict::kDrop;
  }
  const ColumnMask keep = filter.columns[static_cast<size_t>(change.table)];
  if (keep == kAllColumns) return FilterVerdict::kKeep;
  auto is_wanted = [&](const CarriedValue& v) { return IsWanted(filter, change.table, v); };
  if (change.op == ChangeOp::kUpdate) {
    const ColumnMask differing = std::visit(
        [&](const auto& before) -> ColumnMask {
          using Row = std::decay_t<decltype(before)>;
          if constexpr (std::is_same_v<Row, std::monostate>) {
            return kAllColumns;
          } else {
            const Row* after = std::get_if<Row>(&change.after);
            return after == nullptr ? kAllColumns : Differing(before, *after);
          }
        },
        change.before);
    // canopy does not hold a carried column's old value: one the update sent
    // may have changed.
    if ((differing & keep) == 0 &&
        std::none_of(change.carried.begin(), change.carried.end(), is_wanted)) {
      return FilterVerdict::kDrop;
    }
  }
  return FilterVerdict::kProject;
}

std::optional<FeedChange> FilterChange(const FeedChange& change, const FeedFilter& filter) {
  switch (JudgeChange(change, filter)) {
    case FilterVerdict::kDrop:
      return std::nullopt;
    case FilterVerdict::kKeep:
      return change;
    case FilterVerdict::kProject:
      break;
  }
  const ColumnMask keep = filter.columns[static_cast<size_t>(change.table)];
  FeedChange out = change;
  for (FeedRow* row : {&out.before, &out.after}) {
    std::visit(
        [&](auto& r) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, std::monostate>) Keep(keep, &r);
        },
        *row);
  }
  std::erase_if(out.carried,
                [&](const CarriedValue& v) { return !IsWanted(filter, change.table, v); });
  return out;
}

namespace {

void AppendInt(int64_t v, std::string* out) { out->append(std::to_string(v)); }

void AppendKey(std::string_view key, std::string* out, bool* first) {
  if (!*first) out->push_back(',');
  *first = false;
  AppendJsonString(key, out);
  out->push_back(':');
}

}  // namespace

void AppendFeedRowJson(const FeedRow& row, std::string* out,
                       const std::vector<CarriedValue>& carried) {
  if (std::holds_alternative<std::monostate>(row)) {
    out->append("null");
    return;
  }
  bool first = true;
  out->push_back('{');
  if (const auto* n = std::get_if<NamespaceRow>(&row)) {
    if (n->present & NamespaceRow::kParentId) {
      AppendKey("parent_id", out, &first);
      if (n->parent_id) {
        AppendInt(*n->parent_id, out);
      } else {
        out->append("null");
      }
    }
    if (n->present & NamespaceRow::kType) {
      AppendKey("type", out, &first);
      AppendJsonString(NamespaceTypeName(n->type), out);
    }
    if (n->present & NamespaceRow::kName) {
      AppendKey("name", out, &first);
      AppendJsonString(n->name, out);
    }
    if (n->present & NamespaceRow::kPath) {
      AppendKey("path", out, &first);
      AppendJsonString(n->path, out);
    }
    if (n->present & NamespaceRow::kVisibilityLevel) {
      AppendKey("visibility_level", out, &first);
      AppendInt(n->visibility_level, out);
    }
  } else if (const auto* p = std::get_if<ProjectRow>(&row)) {
    if (p->present & ProjectRow::kNamespaceId) {
      AppendKey("namespace_id", out, &first);
      AppendInt(p->namespace_id, out);
    }
    if (p->present & ProjectRow::kProjectNamespaceId) {
      AppendKey("project_namespace_id", out, &first);
      if (p->project_namespace_id) {
        AppendInt(*p->project_namespace_id, out);
      } else {
        out->append("null");
      }
    }
    if (p->present & ProjectRow::kName) {
      AppendKey("name", out, &first);
      AppendJsonString(p->name, out);
    }
    if (p->present & ProjectRow::kPath) {
      AppendKey("path", out, &first);
      AppendJsonString(p->path, out);
    }
    if (p->present & ProjectRow::kVisibilityLevel) {
      AppendKey("visibility_level", out, &first);
      AppendInt(p->visibility_level, out);
    }
    if (p->present & ProjectRow::kArchived) {
      AppendKey("archived", out, &first);
      out->append(p->archived ? "true" : "false");
    }
    if (p->present & ProjectRow::kPendingDelete) {
      AppendKey("pending_delete", out, &first);
      out->append(p->pending_delete ? "true" : "false");
    }
  } else if (const auto* l = std::get_if<RunnerLinkRow>(&row)) {
    if (l->present & RunnerLinkRow::kRunnerId) {
      AppendKey("runner_id", out, &first);
      AppendInt(l->runner_id, out);
    }
    if (l->present & RunnerLinkRow::kNamespaceId) {
      AppendKey("namespace_id", out, &first);
      AppendInt(l->namespace_id, out);
    }
  }
  for (const CarriedValue& v : carried) {
    AppendKey(v.column, out, &first);
    if (v.text) {
      AppendJsonString(*v.text, out);
    } else {
      out->append("null");
    }
  }
  out->push_back('}');
}

namespace {

void AppendPosition(const FeedTransaction& txn, std::string* out, bool* first) {
  AppendKey("lsn", out, first);
  AppendJsonString(txn.commit_lsn.ToString(), out);
  AppendKey("commit_time", out, first);
  if (txn.commit_unix_ms > 0) {
    AppendJsonString(FormatUtcMillis(txn.commit_unix_ms), out);
  } else {
    out->append("null");
  }
}

void AppendChangeFields(const FeedChange& change, std::string* out, bool* first) {
  AppendKey("table", out, first);
  AppendJsonString(FeedTableName(change.table), out);
  AppendKey("op", out, first);
  AppendJsonString(ChangeOpName(change.op), out);
  AppendKey("id", out, first);
  AppendInt(change.id, out);
  AppendKey("before", out, first);
  AppendFeedRowJson(change.before, out);
  AppendKey("after", out, first);
  AppendFeedRowJson(change.after, out, change.carried);
  AppendKey("subtrees", out, first);
  out->push_back('[');
  for (size_t i = 0; i < change.subtrees.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendInt(change.subtrees[i], out);
  }
  out->push_back(']');
}

}  // namespace

const char* FeedTableName(Table table) {
  switch (table) {
    case Table::kNamespaces:
      return "namespaces";
    case Table::kProjects:
      return "projects";
    case Table::kRunnerLinks:
      return "ci_runner_namespaces";
  }
  return "?";
}

std::optional<Table> FeedTableFromName(std::string_view name) {
  if (name == "namespaces") return Table::kNamespaces;
  if (name == "projects") return Table::kProjects;
  if (name == "ci_runner_namespaces" || name == "runner_links") return Table::kRunnerLinks;
  return std::nullopt;
}

std::optional<ColumnMask> FeedColumnFromName(Table table, std::string_view column) {
  struct Named {
    const char* name;
    ColumnMask bit;
  };
  static constexpr Named kNamespaces[] = {{"parent_id", NamespaceRow::kParentId},
                                          {"type", NamespaceRow::kType},
                                          {"name", NamespaceRow::kName},
                                          {"path", NamespaceRow::kPath},
                                          {"visibility_level", NamespaceRow::kVisibilityLevel}};
  static constexpr Named kProjects[] = {{"namespace_id", ProjectRow::kNamespaceId},
                                        {"project_namespace_id", ProjectRow::kProjectNamespaceId},
                                        {"name", ProjectRow::kName},
                                        {"path", ProjectRow::kPath},
                                        {"visibility_level", ProjectRow::kVisibilityLevel},
                                        {"archived", ProjectRow::kArchived},
                                        {"pending_delete", ProjectRow::kPendingDelete}};
  static constexpr Named kLinks[] = {{"runner_id", RunnerLinkRow::kRunnerId},
                                     {"namespace_id", RunnerLinkRow::kNamespaceId}};
  auto find = [&](const auto& names) -> std::optional<ColumnMask> {
    for (const Named& n : names) {
      if (column == n.name) return n.bit;
    }
    return std::nullopt;
  };
  switch (table) {
    case Table::kNamespaces:
      return find(kNamespaces);
    case Table::kProjects:
      return find(kProjects);
    case Table::kRunnerLinks:
      return find(kLinks);
  }
  return std::nullopt;
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> SplitFeedList(std::string_view list) {
  std::vector<std::string_view> items;
  for (size_t start = 0;;) {
    const size_t comma = list.find(',', start);
    items.push_back(
        TrimBlanks(list.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

Status ParseTableColumns(std::string_view list, std::vector<std::string> (&columns)[3]) {
  for (std::string_view item : SplitFeedList(list)) {
    if (Status s = ParseTableColumn(item, columns); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ParseTableColumn(std::string_view item, std::vector<std::string> (&columns)[3]) {
  const size_t dot = item.find('.');
  const std::optional<Table> table =
      dot == std::string_view::npos ? std::nullopt : FeedTableFromName(item.substr(0, dot));
  if (!table || dot + 1 == item.size()) {
    std::string message = "'";
    message.append(item).append(
        "' is not TABLE.COLUMN (TABLE: namespaces, projects or ci_runner_namespaces)");
    return Status::InvalidArgument(std::move(message));
  }
  columns[static_cast<size_t>(*table)].emplace_back(item.substr(dot + 1));
  return Status::Ok();
}

Status ParseFeedTables(std::string_view tables, FeedFilter* filter) {
  uint32_t mask = 0;
  for (std::string_view item : SplitFeedList(tables)) {
    std::optional<Table> table = FeedTableFromName(item);
    if (!table) {
      std::string message = "unknown table '";
      message.append(item).append("' (namespaces, projects, ci_runner_namespaces)");
      return Status::InvalidArgument(std::move(message));
    }
    mask |= 1u << static_cast<unsigned>(*table);
  }
  filter->tables = mask;
  return Status::Ok();
}

Status ParseFeedColumns(std::string_view columns, FeedFilter* filter) {
  std::vector<std::string> named[3];
  CANOPY_RETURN_IF_ERROR(ParseTableColumns(columns, named));
  for (Table table : {Table::kNamespaces, Table::kProjects, Table::kRunnerLinks}) {
    const size_t t = static_cast<size_t>(table);
    if (named[t].empty()) continue;  // not named: all its columns
    ColumnMask mask = 0;
    std::vector<std::string> carried;
    for (std::string& column : named[t]) {
      if (std::optional<ColumnMask> bit = FeedColumnFromName(table, column)) {
        mask |= *bit;
      } else if (std::find(carried.begin(), carried.end(), column) == carried.end()) {
        carried.push_back(std::move(column));
      }
    }
    filter->columns[t] = mask;
    filter->carried[t] = std::move(carried);
  }
  return Status::Ok();
}

void AppendFeedChangeJson(const FeedTransaction& txn, const FeedChange& change, std::string* out) {
  bool first = true;
  out->push_back('{');
  AppendPosition(txn, out, &first);
  AppendChangeFields(change, out, &first);
  out->push_back('}');
}

void AppendFeedTransactionJson(const FeedTransaction& txn, std::string* out) {
  bool first = true;
  out->push_back('{');
  AppendPosition(txn, out, &first);
  AppendKey("changes", out, &first);
  out->push_back('[');
  for (size_t i = 0; i < txn.changes.size(); ++i) {
    if (i > 0) out->push_back(',');
    bool change_first = true;
    out->push_back('{');
    AppendChangeFields(txn.changes[i], out, &change_first);
    out->push_back('}');
  }
  out->append("]}");
}

}  // namespace canopy
