// canopy/testing/gitlab_sql.h — GitLab's SQL for every query canopy answers,
// the one copy: the files of testing/sql/queries (see its README.md), compiled
// in with the rest of testing/sql (GitLab's schema: TestingSqlFile). The e2e
// oracle and bench/serving run these; scripts/run shows and
// times the same files.
//
//   std::string sql = canopy::testing::GitlabSql("descendants", canopy::testing::SqlForm::kLinear);
//   // "... WHERE namespaces.type = 'Group' AND namespaces.traversal_ids @> ARRAY[$1::bigint] ..."
//   PGresult* r = PQexecParams(conn, sql.c_str(), 1, nullptr, values, nullptr, nullptr, 0);
//
// Names are the files' names without ".sql": the query kinds ("self_and_ancestors",
// "all_project_ids", ...) and the variants GitLab dispatches on ("..._with_project_namespaces",
// "project_namespace_projects", "counts", "full_path", "resolve_namespace", ...).
//
// Placeholders become bind parameters: :id and :ids are $1; resolve's
// :'full_path' is $1 and :'last' $2. :'type' (GitLab's class scoping) becomes
// the quoted class name the caller gives.
//
// Order: ancestor kinds return rows root first; every other id list comes in
// no order (as GitLab's SQL): sort before comparing.
//
// THREAD SAFETY: pure functions over constant data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace canopy::testing {

// The text of testing/sql/<name>.sql as compiled in ("gitlab_schema",
// "queries/linear/descendants"), or nullptr if there is no such file.
const char* TestingSqlFile(std::string_view name);

// The three ways GitLab asks: a recursive CTE on parent_id
// (Gitlab::ObjectHierarchy), traversal_ids (Namespaces::Traversal::Linear),
// and the namespace_descendants cache (Namespaces::Traversal::Cached).
enum class SqlForm : uint8_t { kRecursive = 0, kLinear = 1, kCache = 2 };
inline constexpr int kSqlFormCount = 3;
const char* SqlFormName(SqlForm form);  // "recursive", "linear", "cache"

// The file's text as written (placeholders and comments included), or
// nullptr when `name` has no text in `form`. A query that walks no hierarchy
// (runners_of_group, project_namespace_projects, full_path, resolve_*) has
// one text, in queries/any/, for kLinear and kRecursive alike; only the kinds
// the cache holds have a kCache text.
const char* GitlabSqlTemplate(std::string_view name, SqlForm form);

// The statement, ready for PQexecParams or PQprepare (placeholders replaced as
// above, comment lines dropped); "" when GitlabSqlTemplate is nullptr.
// REQUIRES: `type` is "Group", "User" or "Project".
std::string GitlabSql(std::string_view name, SqlForm form, std::string_view type = "Group");

}  // namespace canopy::testing
