// canopy/cdc/table_mapping.h — which PostgreSQL tables and columns feed
// canopy's three row kinds.
//
// The default is GitLab's schema (docs/design/gitlab-notes.md):
//   public.namespaces(id, parent_id, type, name, path, visibility_level)
//   public.projects(id, namespace_id, project_namespace_id, name, path,
//                   visibility_level, archived, pending_delete)
//   public.ci_runner_namespaces(id, runner_id, namespace_id)
// Any adjacency-list hierarchy can be mirrored by renaming schema, table and
// columns:
//
//   canopy::cdc::TableMapping m;                       // GitLab defaults
//   m.namespaces.schema = "app";
//   m.namespaces.table = "folders";
//   m.namespaces.columns[canopy::cdc::kNamespaceParentId] = "parent";
//   m.namespaces.columns[canopy::cdc::kNamespaceVisibilityLevel] = "";  // not mapped
//
// Columns are matched BY NAME against each Relation message (and named in the
// snapshot's COPY), so column order, extra columns, and columns added or
// dropped later do not matter. An empty column name means "not mapped": the
// field is never present in row changes (ColumnMask) and keeps the engine's
// default. The key column (index 0) must be mapped.
//
// Identifiers are always quoted when canopy builds SQL (QuoteIdentifier).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy::cdc {

// Field positions in TableSpec::columns. For every field but the key, the
// field at index i is ColumnMask bit (1 << (i - 1)) of its row type (see
// canopy/rows.h).
enum NamespaceField : int {
  kNamespaceId = 0,
  kNamespaceParentId = 1,
  kNamespaceType = 2,
  kNamespaceName = 3,
  kNamespacePath = 4,
  kNamespaceVisibilityLevel = 5,
  kNamespaceFieldCount = 6,
};
enum ProjectField : int {
  kProjectId = 0,
  kProjectNamespaceId = 1,
  kProjectProjectNamespaceId = 2,
  kProjectName = 3,
  kProjectPath = 4,
  kProjectVisibilityLevel = 5,
  kProjectArchived = 6,
  kProjectPendingDelete = 7,
  kProjectFieldCount = 8,
};
enum RunnerLinkField : int {
  kRunnerLinkId = 0,
  kRunnerLinkRunnerId = 1,
  kRunnerLinkNamespaceId = 2,
  kRunnerLinkFieldCount = 3,
};

// The kind of value a field holds (for type checks and parsing).
enum class FieldKind : uint8_t { kInteger, kBoolean, kText };

struct TableSpec {
  std::string schema;
  std::string table;
  std::vector<std::string> columns;  // canopy field order; see the enums above
  // Carried columns: published columns the index does not keep but the change
  // feed hands to its subscribers (canopy/change_feed.h), e.g. projects'
  // description. Read in their text form; the publication must carry them.
  std::vector<std::string> carried_columns;
};

struct TableMapping {
  TableSpec namespaces{
      "public", "namespaces", {"id", "parent_id", "type", "name", "path", "visibility_level"}};
  TableSpec projects{"public",
                     "projects",
                     {"id", "namespace_id", "project_namespace_id", "name", "path",
                      "visibility_level", "archived", "pending_delete"}};
  TableSpec runner_links{"public", "ci_runner_namespaces", {"id", "runner_id", "namespace_id"}};

  const TableSpec& Spec(Table table) const;
  TableSpec& Spec(Table table);
  // Whether any table carries columns (only the change feed reads them).
  bool CarriesColumns() const;

  // OK when every spec names a schema and a table, has exactly its field
  // count of columns, maps its key, and no two specs name the same table;
  // and when no carried column is empty, repeated, mapped, or named like a
  // column of canopy/rows.h (its name is the change feed's key for it).
  Status Validate() const;

  // The canopy table that (schema, table) feeds, if any. Exact, case-sensitive
  // match (PostgreSQL's stored names).
  std::optional<Table> Find(std::string_view schema, std::string_view table) const;

  // Applies one setting "KIND.KEY=VALUE" (canopyd's --map flag and mapping
  // file). KIND is namespaces, projects or runner_links; KEY is `table`
  // (VALUE "schema.table" or "table" in public), `schema`, or a field named
  // by its GitLab column (namespaces: id parent_id type name path
  // visibility_level; projects: id namespace_id project_namespace_id name
  // path visibility_level archived pending_delete; runner_links: id
  // runner_id namespace_id) with VALUE the column to read, or empty for "not
  // mapped"; or `carried` with VALUE a comma-separated list of carried
  // columns (empty: none). Errors: kInvalidArgument naming the bad part.
  Status Set(std::string_view setting);
  // Replaces the carried columns of every table with `list`, "TABLE.COLUMN"
  // items separated by commas (canopyd --feed-columns): TABLE is namespaces,
  // projects, ci_runner_namespaces or runner_links. Errors: kInvalidArgument
  // naming the bad item (Validate checks the names).
  Status SetCarriedColumns(std::string_view list);
  // Applies every line of a mapping file: one setting per line; blank lines
  // and lines starting with '#' are skipped. Errors name the line.
  Status SetAll(std::string_view text);
};

// What a publication offers for one table (PostgreSQL 15+:
// pg_publication_tables.attnames and .rowfilter; before 15 every column and
// no filter).
struct PublishedTable {
  std::vector<std::string> columns;  // the published columns
  std::string row_filter;            // the WHERE of the publication; empty: none
};

// The mapped (non-empty) and carried columns of `spec` that `offered` lacks,
// in field order, then the carried ones. Exact, case-sensitive names.
std::vector<std::string> MissingColumns(const TableSpec& spec,
                                        const std::vector<std::string>& offered);

// OK when `published` carries every mapped and carried column of `spec` and has no row
// filter (a filtered table hides rows, so answers would be wrong). Else
// kFailedPrecondition naming the publication, the table and the missing
// columns (or the filter).
Status CheckPublishedTable(const TableSpec& spec, std::string_view publication,
                           const PublishedTable& published);

inline constexpr Table kAllTables[] = {Table::kNamespaces, Table::kProjects, Table::kRunnerLinks};

// Number of fields of a table's rows.
int FieldCount(Table table);
// The kind of value field `field` of `table` holds.
FieldKind KindOfField(Table table, int field);
// "namespaces", "projects" or "runner_links".
const char* TableName(Table table);

// "name" with embedded quotes doubled: always safe as an SQL identifier.
std::string QuoteIdentifier(std::string_view name);
// 'text' with embedded quotes doubled: a standard-conforming SQL literal.
std::string QuoteLiteral(std::string_view text);
// "schema"."table"
std::string QualifiedName(const TableSpec& spec);

}  // namespace canopy::cdc
