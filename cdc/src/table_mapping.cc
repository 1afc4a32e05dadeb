// table_mapping.cc — TableMapping validation and SQL quoting.
#include "canopy/cdc/table_mapping.h"

#include <algorithm>

#include "canopy/feed.h"

namespace canopy::cdc {

bool TableMapping::CarriesColumns() const {
  for (Table t : kAllTables) {
    if (!Spec(t).carried_columns.empty()) return true;
  }
  return false;
}

const TableSpec& TableMapping::Spec(Table table) const {
  switch (table) {
    case Table::kNamespaces:
      return namespaces;
    case Table::kProjects:
      return projects;
    case Table::kRunnerLinks:
      return runner_links;
  }
  return namespaces;
}

TableSpec& TableMapping::Spec(Table table) {
  return const_cast<TableSpec&>(static_cast<const TableMapping*>(this)->Spec(table));
}

Status TableMapping::Validate() const {
  for (Table t : kAllTables) {
    const TableSpec& s = Spec(t);
    std::string what = std::string("table mapping for ") + TableName(t);
    if (s.schema.empty() || s.table.empty())
      return Status::InvalidArgument(what + ": schema and table must be set");
    if (static_cast<int>(s.columns.size()) != FieldCount(t)) {
      return Status::InvalidArgument(what + ": needs " + std::to_string(FieldCount(t)) +
                                     " column names, has " + std::to_string(s.columns.size()));
    }
    if (s.columns[0].empty())
      return Status::InvalidArgument(what + ": the key column must be mapped");
    for (size_t i = 0; i < s.columns.size(); ++i) {
      for (size_t j = i + 1; j < s.columns.size(); ++j) {
        if (!s.columns[i].empty() && s.columns[i] == s.columns[j]) {
          return Status::InvalidArgument(what + ": column " + s.columns[i] + " is mapped twice");
        }
      }
    }
    for (size_t i = 0; i < s.carried_columns.size(); ++i) {
      const std::string& c = s.carried_columns[i];
      if (c.empty()) return Status::InvalidArgument(what + ": a carried column has no name");
      if (std::find(s.columns.begin(), s.columns.end(), c) != s.columns.end() ||
          FeedColumnFromName(t, c)) {
        return Status::InvalidArgument(what + ": " + c +
                                       " cannot be carried: canopy maps a column by that name");
      }
      if (std::find(s.carried_columns.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                    s.carried_columns.end(), c) != s.carried_columns.end()) {
        return Status::InvalidArgument(what + ": carried column " + c + " is named twice");
      }
    }
    for (Table u : kAllTables) {
      if (u < t && Spec(u).schema == s.schema && Spec(u).table == s.table) {
        return Status::InvalidArgument(what + ": " + QualifiedName(s) + " is also mapped to " +
                                       TableName(u));
      }
    }
  }
  return Status();
}

std::optional<Table> TableMapping::Find(std::string_view schema, std::string_view table) const {
  for (Table t : kAllTables) {
    const TableSpec& s = Spec(t);
    if (s.schema == schema && s.table == table) return t;
  }
  return std::nullopt;
}

Status TableMapping::Set(std::string_view setting) {
  const size_t eq = setting.find('=');
  const size_t dot = setting.find('.');
  if (eq == std::string_view::npos || dot == std::string_view::npos || dot > eq) {
    return Status::InvalidArgument("mapping setting '" + std::string(setting) +
                                   "' is not KIND.KEY=VALUE");
  }
  const std::string_view kind = TrimBlanks(setting.substr(0, dot));
  const std::string_view key = TrimBlanks(setting.substr(dot + 1, eq - dot - 1));
  const std::string_view value = TrimBlanks(setting.substr(eq + 1));
  std::optional<Table> table;
  for (Table t : kAllTables) {
    if (kind == TableName(t)) table = t;
  }
  if (!table) {
    return Status::InvalidArgument("mapping setting '" + std::string(setting) +
                                   "': kind must be namespaces, projects or runner_links");
  }
  TableSpec& spec = Spec(*table);
  if (key == "table") {
    const size_t sep = value.find('.');
    if (sep == std::string_view::npos) {
      spec.table = std::string(value);
    } else {
      spec.schema = std::string(value.substr(0, sep));
      spec.table = std::string(value.substr(sep + 1));
    }
    return Status();
  }
  if (key == "schema") {
    spec.schema = std::string(value);
    return Status();
  }
  if (key == "carried") {
    spec.carried_columns.clear();
    if (!value.empty()) {
      for (std::string_view column : SplitFeedList(value))
        spec.carried_columns.emplace_back(column);
    }
    return Status();
  }
  const TableMapping gitlab;  // the defaults name the fields
  const TableSpec& defaults = gitlab.Spec(*table);
  for (size_t i = 0; i < defaults.columns.size(); ++i) {
    if (key == defaults.columns[i]) {
      spec.columns[i] = std::string(value);
      return Status();
    }
  }
  std::string known;
  for (const std::string& c : defaults.columns) known += " " + c;
  return Status::InvalidArgument("mapping setting '" + std::string(setting) +
                                 "': " + std::string(kind) + " has no field '" + std::string(key) +
                                 "' (fields:" + known + ", or table/schema)");
}

Status TableMapping::SetCarriedColumns(std::string_view list) {
  std::vector<std::string> carried[3];
  if (!TrimBlanks(list).empty()) {
    if (Status s = ParseTableColumns(list, carried); !s.ok()) {
      return Status::InvalidArgument("carried column " + s.message());
    }
  }
  for (Table t : kAllTables) Spec(t).carried_columns = std::move(carried[static_cast<size_t>(t)]);
  return Status();
}

Status TableMapping::SetAll(std::string_view text) {
  int line_number = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = TrimBlanks(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    if (Status s = Set(line); !s.ok()) {
      return Status::InvalidArgument("line " + std::to_string(line_number) + ": " + s.message());
    }
  }
  return Status();
}

std::vector<std::string> MissingColumns(const TableSpec& spec,
                                        const std::vector<std::string>& offered) {
  std::vector<std::string> missing;
  for (const auto* columns : {&spec.columns, &spec.carried_columns}) {
    for (const std::string& c : *columns) {
      if (!c.empty() && std::find(offered.begin(), offered.end(), c) == offered.end()) {
        missing.push_back(c);
      }
    }
  }
  return missing;
}

Status CheckPublishedTable(const TableSpec& spec, std::string_view publication,
                           const PublishedTable& published) {
  const std::string where =
      "publication " + std::string(publication) + " publishes " + QualifiedName(spec);
  const std::vector<std::string> missing = MissingColumns(spec, published.columns);
  if (!missing.empty()) {
    std::string list;
    for (const std::string& c : missing) list += (list.empty() ? "" : ", ") + c;
    return Status::FailedPrecondition(
        where + " without the mapped or carried column(s) " + list +
        " (a column list: add them, or map them to \"\" with --map, or stop carrying them)");
  }
  if (!published.row_filter.empty()) {
    return Status::FailedPrecondition(where + " with a row filter (WHERE " + published.row_filter +
                                      "): canopy needs every row; drop the filter");
  }
  return Status();
}

int FieldCount(Table table) {
  switch (table) {
    case Table::kNamespaces:
      return kNamespaceFieldCount;
    case Table::kProjects:
      return kProjectFieldCount;
    case Table::kRunnerLinks:
      return kRunnerLinkFieldCount;
  }
  return 0;
}

FieldKind KindOfField(Table table, int field) {
  switch (table) {
    case Table::kNamespaces:
      if (field == kNamespaceType || field == kNamespaceName || field == kNamespacePath)
        return FieldKind::kText;
      return FieldKind::kInteger;
    case Table::kProjects:
      if (field == kProjectName || field == kProjectPath) return FieldKind::kText;
      if (field == kProjectArchived || field == kProjectPendingDelete) return FieldKind::kBoolean;
      return FieldKind::kInteger;
    case Table::kRunnerLinks:
      return FieldKind::kInteger;
  }
  return FieldKind::kText;
}

const char* TableName(Table table) {
  switch (table) {
    case Table::kNamespaces:
      return "namespaces";
    case Table::kProjects:
      return "projects";
    case Table::kRunnerLinks:
      return "runner_links";
  }
  return "?";
}

namespace {
std::string Quote(std::string_view text, char q) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back(q);
  for (char c : text) {
    if (c == q) out.push_back(q);
    out.push_back(c);
  }
  out.push_back(q);
  return out;
}
}  // namespace

std::string QuoteIdentifier(std::string_view name) { return Quote(name, '"'); }
std::string QuoteLiteral(std::string_view text) { return Quote(text, '\''); }
std::string QualifiedName(const TableSpec& spec) {
  return QuoteIdentifier(spec.schema) + "." + QuoteIdentifier(spec.table);
}

}  // namespace canopy::cdc
