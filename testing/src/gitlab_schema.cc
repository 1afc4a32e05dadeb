// gitlab_schema.cc — see canopy/testing/gitlab_schema.h.
#include "canopy/testing/gitlab_schema.h"

#include "canopy/testing/gitlab_sql.h"

namespace canopy::testing {

namespace {

Status RunFile(PgConnection& db, std::string_view file_name) {
  Result<std::string> sql = ReadTestingSql(file_name);
  if (!sql.ok()) return sql.status();
  Status s = db.Exec(sql.value());
  if (!s.ok()) return Status::Internal(std::string(file_name) + ": " + s.ToString());
  return s;
}

}  // namespace

Result<std::string> ReadTestingSql(std::string_view file_name) {
  std::string_view name = file_name;
  if (name.ends_with(".sql")) name.remove_suffix(4);
  const char* text = TestingSqlFile(name);
  if (text == nullptr) return Status::NotFound("no testing/sql/" + std::string(file_name));
  return std::string(text);
}

Status CreateGitlabTables(PgConnection& db) { return RunFile(db, "gitlab_schema.sql"); }

Status CreateGitlabIndexes(PgConnection& db) { return RunFile(db, "gitlab_indexes.sql"); }

Status CreateGitlabConstraints(PgConnection& db) { return RunFile(db, "gitlab_constraints.sql"); }

}  // namespace canopy::testing
