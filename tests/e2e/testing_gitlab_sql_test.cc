// testing_gitlab_sql_test.cc — canopy::testing's GitLab SQL texts
// (canopy/testing/gitlab_sql.h): which names exist in which form, and how
// placeholders become bind parameters. (That the texts answer like canopy is
// what the e2e tests and bench/serving's smoke run check on PostgreSQL.)
#include <gtest/gtest.h>

#include <string>

#include "canopy/testing/gitlab_sql.h"

namespace canopy::testing {
namespace {

// Every query kind the oracle and the benchmarks name, in both hierarchy forms.
constexpr const char* kHierarchyNames[] = {
    "self_and_ancestors",
    "self_and_descendants",
    "self_and_descendants_with_project_namespaces",
    "all_project_ids",
    "all_unarchived_project_ids",
    "project_ancestors",
    "runners_of_group_and_ancestors",
    "runners_of_parent_groups_of_project",
    "counts",
    "batch_self_and_ancestors",
};

TEST(GitlabSql, EveryHierarchyKindHasBothForms) {
  for (const char* name : kHierarchyNames) {
    SCOPED_TRACE(name);
    EXPECT_NE(GitlabSqlTemplate(name, SqlForm::kLinear), nullptr);
    EXPECT_NE(GitlabSqlTemplate(name, SqlForm::kRecursive), nullptr);
    EXPECT_NE(GitlabSqlTemplate(name, SqlForm::kLinear),
              GitlabSqlTemplate(name, SqlForm::kRecursive));
  }
}

TEST(GitlabSql, WalklessKindsHaveOneTextForBothForms) {
  for (const char* name : {"runners_of_group", "project_namespace_projects", "full_path",
                           "resolve_namespace", "resolve_project_ignoring_case"}) {
    SCOPED_TRACE(name);
    ASSERT_NE(GitlabSqlTemplate(name, SqlForm::kLinear), nullptr);
    EXPECT_EQ(GitlabSqlTemplate(name, SqlForm::kRecursive),
              GitlabSqlTemplate(name, SqlForm::kLinear));
    EXPECT_EQ(GitlabSqlTemplate(name, SqlForm::kCache), nullptr);
  }
}

TEST(GitlabSql, OnlyWhatTheCacheHoldsHasACacheForm) {
  for (const char* name : {"self_and_descendants", "all_project_ids", "counts"}) {
    EXPECT_NE(GitlabSqlTemplate(name, SqlForm::kCache), nullptr) << name;
  }
  for (const char* name :
       {"self_and_ancestors", "project_ancestors", "all_unarchived_project_ids"}) {
    EXPECT_EQ(GitlabSqlTemplate(name, SqlForm::kCache), nullptr) << name;
    EXPECT_EQ(GitlabSql(name, SqlForm::kCache), "") << name;
  }
}

TEST(GitlabSql, UnknownNamesHaveNoText) {
  EXPECT_EQ(GitlabSqlTemplate("no_such_kind", SqlForm::kLinear), nullptr);
  EXPECT_EQ(GitlabSqlTemplate("", SqlForm::kRecursive), nullptr);
  EXPECT_EQ(GitlabSql("no_such_kind", SqlForm::kLinear), "");
  // A prefix of a real name is not that name.
  EXPECT_EQ(GitlabSqlTemplate("self_and", SqlForm::kLinear), nullptr);
}

TEST(GitlabSql, PlaceholdersBecomeBindParameters) {
  const std::string sql = GitlabSql("self_and_descendants", SqlForm::kLinear, "User");
  EXPECT_NE(sql.find("namespaces.type = 'User'"), std::string::npos) << sql;
  EXPECT_NE(sql.find("ARRAY[$1::bigint]"), std::string::npos) << sql;  // a cast stays a cast
  EXPECT_EQ(sql.find(':' + std::string("id")), std::string::npos) << sql;
  EXPECT_EQ(sql.find(":'type'"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("--"), std::string::npos) << "comment lines are dropped: " << sql;

  const std::string batch = GitlabSql("batch_self_and_ancestors", SqlForm::kLinear);
  EXPECT_NE(batch.find("ANY($1::bigint[])"), std::string::npos) << batch;

  const std::string resolve = GitlabSql("resolve_project_ignoring_case", SqlForm::kLinear);
  EXPECT_NE(resolve.find("LOWER($2)"), std::string::npos) << resolve;  // :'last'
  EXPECT_NE(resolve.find("LOWER($1)"), std::string::npos) << resolve;  // :'full_path'
}

TEST(GitlabSql, TheSchemaFilesAreThereToo) {
  for (const char* name : {"gitlab_schema", "gitlab_indexes", "gitlab_constraints"}) {
    const char* text = TestingSqlFile(name);
    ASSERT_NE(text, nullptr) << name;
    EXPECT_NE(std::string(text).find("namespaces"), std::string::npos) << name;
  }
  EXPECT_EQ(TestingSqlFile("queries/linear/no_such_kind"), nullptr);
}

}  // namespace
}  // namespace canopy::testing
