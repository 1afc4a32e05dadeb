// canopy/rows.h — the rows canopy mirrors and the transactions that change them.
//
// The three tables mirror GitLab's (see docs/design/gitlab-notes.md):
//   namespaces(id, parent_id, type, name, path, visibility_level)
//   projects(id, namespace_id, project_namespace_id, name, path,
//            visibility_level, archived, pending_delete)
//   ci_runner_namespaces(id, runner_id, namespace_id)
//
// A `Transaction` is what one PostgreSQL transaction did to those tables, in
// commit order, plus its commit LSN. The engine applies it all-or-nothing.
//
//   canopy::Transaction txn;
//   txn.commit_lsn = canopy::Lsn(0x16B3748);
//   txn.changes.push_back(canopy::UpsertNamespace{{.id = 9970, .type =
//   canopy::NamespaceType::kGroup,
//                                                  .name = "GitLab.org", .path = "gitlab-org"}});
//   txn.changes.push_back(canopy::DeleteProject{42});
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "canopy/lsn.h"

namespace canopy {

// namespaces.type: 'User', 'Group' or 'Project' (a project's own namespace).
// Anything else (or NULL) is treated as 'User', as GitLab's user_namespace? does.
enum class NamespaceType : uint8_t { kUser = 0, kGroup = 1, kProject = 2 };

// Returns "User", "Group" or "Project".
const char* NamespaceTypeName(NamespaceType type);
// Maps the column text to a type; unknown text maps to kUser.
NamespaceType NamespaceTypeFromName(std::string_view name);

// Bit set of the columns a row change carries. A column that is absent keeps
// the value the index already has (pgoutput's unchanged-TOAST 'u' value), or
// its default for a row the index does not hold yet. Keys are always present.
using ColumnMask = uint32_t;
inline constexpr ColumnMask kAllColumns = ~ColumnMask{0};

struct NamespaceRow {
  enum Column : ColumnMask {
    kParentId = 1u << 0,
    kType = 1u << 1,
    kName = 1u << 2,
    kPath = 1u << 3,
    kVisibilityLevel = 1u << 4,
  };
  int64_t id = 0;
  std::optional<int64_t> parent_id;  // nullopt = a root (SQL NULL)
  NamespaceType type = NamespaceType::kUser;
  std::string name;
  std::string path;
  int32_t visibility_level = 20;  // the column's default
  ColumnMask present = kAllColumns;
};

struct ProjectRow {
  enum Column : ColumnMask {
    kNamespaceId = 1u << 0,
    kProjectNamespaceId = 1u << 1,
    kName = 1u << 2,
    kPath = 1u << 3,
    kVisibilityLevel = 1u << 4,
    kArchived = 1u << 5,
    kPendingDelete = 1u << 6,
  };
  int64_t id = 0;
  int64_t namespace_id = 0;
  std::optional<int64_t> project_namespace_id;
  std::string name;
  std::string path;
  int32_t visibility_level = 0;  // the column's default
  bool archived = false;
  bool pending_delete = false;
  ColumnMask present = kAllColumns;
};

struct RunnerLinkRow {
  enum Column : ColumnMask {
    kRunnerId = 1u << 0,
    kNamespaceId = 1u << 1,
  };
  int64_t id = 0;
  int64_t runner_id = 0;
  int64_t namespace_id = 0;
  ColumnMask present = kAllColumns;
};

enum class Table : uint8_t { kNamespaces = 0, kProjects = 1, kRunnerLinks = 2 };

// INSERT or UPDATE (the new row). A change of primary key is sent as a delete
// of the old key followed by an upsert of the new row.
struct UpsertNamespace {
  NamespaceRow row;
};
struct UpsertProject {
  ProjectRow row;
};
struct UpsertRunnerLink {
  RunnerLinkRow row;
};
// DELETE by primary key only (replica identity DEFAULT carries nothing else).
struct DeleteNamespace {
  int64_t id = 0;
};
struct DeleteProject {
  int64_t id = 0;
};
struct DeleteRunnerLink {
  int64_t id = 0;
};
// TRUNCATE of one mapped table: every row of it goes.
struct TruncateTable {
  Table table = Table::kNamespaces;
};

using RowChange = std::variant<UpsertNamespace, UpsertProject, UpsertRunnerLink, DeleteNamespace,
                               DeleteProject, DeleteRunnerLink, TruncateTable>;

// One committed source transaction. `changes` are in the order the source
// made them; they may arrive in any order relative to the hierarchy (a child
// before its parent, a move before the moves that make it legal): the engine
// judges only the state at the end of the transaction.
struct Transaction {
  Lsn commit_lsn;  // Commit.end_lsn; becomes the index's applied LSN
  std::vector<RowChange> changes;
};

}  // namespace canopy
