// canopy/testing/gitlab_schema.h — GitLab's hierarchy tables in a PostgreSQL
// database, from the SQL files in testing/sql (the one copy of that DDL; the
// demo and bench/canopyd-memory load the same files with psql):
//
//   gitlab_schema.sql       namespaces, projects, ci_runner_namespaces with
//                           GitLab's columns and primary keys, and the trigger
//                           that deletes a project's namespace with it;
//   gitlab_indexes.sql      GitLab's lookup indexes (none restricts the data);
//   gitlab_constraints.sql  GitLab's foreign keys, CHECKs and unique indexes
//                           (the benchmarks apply it; the tests, which make
//                           orphans on purpose, do not).
//
//   auto db = canopy::testing::PgConnection::Open(conninfo);
//   canopy::Status s = canopy::testing::CreateGitlabTables(**db);
//   ... load rows ...
//   s = canopy::testing::CreateGitlabIndexes(**db);
//   s = canopy::testing::CreateGitlabConstraints(**db);
//
// The files are compiled in (canopy/testing/gitlab_sql.h, TestingSqlFile);
// the shell users read the same files.
//
// ERRORS: kNotFound for a file testing/sql does not have; SQL errors as
// canopy::testing::PgConnection reports them (kInternal).
//
// THREAD SAFETY: thread-safe; one connection is used by one thread at a time.
#pragma once

#include <string>
#include <string_view>

#include "canopy/status.h"
#include "canopy/testing/pg_connection.h"

namespace canopy::testing {

// The text of `file_name` ("gitlab_schema.sql") in testing/sql.
Result<std::string> ReadTestingSql(std::string_view file_name);

// Runs gitlab_schema.sql. REQUIRES: none of its tables or functions exists.
Status CreateGitlabTables(PgConnection& db);
// Runs gitlab_indexes.sql. REQUIRES: CreateGitlabTables ran.
Status CreateGitlabIndexes(PgConnection& db);
// Runs gitlab_constraints.sql. REQUIRES: CreateGitlabTables ran; the rows
// satisfy GitLab's constraints (a GenerateGitlabForest forest does).
Status CreateGitlabConstraints(PgConnection& db);

}  // namespace canopy::testing
