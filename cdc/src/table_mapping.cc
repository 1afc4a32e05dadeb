// table_mapping.cc — TableMapping validation and SQL quoting.
#include "canopy/cdc/table_mapping.h"

namespace canopy::cdc {

const TableSpec& TableMapping::Spec(Table table) const {
  switch (table) {
    case Table::kNamespaces: return namespaces;
    case Table::kProjects: return projects;
    case Table::kRunnerLinks: return runner_links;
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
    if (s.schema.empty() || s.table.empty()) return Status::InvalidArgument(what + ": schema and table must be set");
    if (static_cast<int>(s.columns.size()) != FieldCount(t)) {
      return Status::InvalidArgument(what + ": needs " + std::to_string(FieldCount(t)) + " column names, has " +
                                     std::to_string(s.columns.size()));
    }
    if (s.columns[0].empty()) return Status::InvalidArgument(what + ": the key column must be mapped");
    for (size_t i = 0; i < s.columns.size(); ++i) {
      for (size_t j = i + 1; j < s.columns.size(); ++j) {
        if (!s.columns[i].empty() && s.columns[i] == s.columns[j]) {
          return Status::InvalidArgument(what + ": column " + s.columns[i] + " is mapped twice");
        }
      }
    }
    for (Table u : kAllTables) {
      if (u < t && Spec(u).schema == s.schema && Spec(u).table == s.table) {
        return Status::InvalidArgument(what + ": " + QualifiedName(s) + " is also mapped to " + TableName(u));
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

int FieldCount(Table table) {
  switch (table) {
    case Table::kNamespaces: return kNamespaceFieldCount;
    case Table::kProjects: return kProjectFieldCount;
    case Table::kRunnerLinks: return kRunnerLinkFieldCount;
  }
  return 0;
}

FieldKind KindOfField(Table table, int field) {
  switch (table) {
    case Table::kNamespaces:
      if (field == kNamespaceType || field == kNamespaceName || field == kNamespacePath) return FieldKind::kText;
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
    case Table::kNamespaces: return "namespaces";
    case Table::kProjects: return "projects";
    case Table::kRunnerLinks: return "runner_links";
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
