// gitlab_schema.cc — see canopy/testing/gitlab_schema.h.
#include "canopy/testing/gitlab_schema.h"

#include <fstream>
#include <sstream>

#ifndef CANOPY_TESTING_SQL_DIR
#error "CANOPY_TESTING_SQL_DIR must name testing/sql"
#endif

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

std::string TestingSqlPath(std::string_view file_name) {
  std::string path = CANOPY_TESTING_SQL_DIR;
  path += '/';
  path += file_name;
  return path;
}

Result<std::string> ReadTestingSql(std::string_view file_name) {
  const std::string path = TestingSqlPath(file_name);
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status CreateGitlabTables(PgConnection& db) { return RunFile(db, "gitlab_schema.sql"); }

Status CreateGitlabIndexes(PgConnection& db) { return RunFile(db, "gitlab_indexes.sql"); }

Status CreateGitlabConstraints(PgConnection& db) { return RunFile(db, "gitlab_constraints.sql"); }

}  // namespace canopy::testing
