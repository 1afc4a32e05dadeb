// TableMapping settings (canopyd's --map / --mapping): every key kind, the
// errors, and that the result still validates. Labels: decoder, cdc.
#include "canopy/cdc/table_mapping.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace canopy::cdc {
namespace {

TEST(TableMappingSet, RenamesTablesSchemasAndColumns) {
  TableMapping m;
  ASSERT_TRUE(m.Set("namespaces.table=app.folders").ok());
  ASSERT_TRUE(m.Set(" namespaces.parent_id = parent ").ok());
  ASSERT_TRUE(m.Set("namespaces.visibility_level=").ok());
  ASSERT_TRUE(m.Set("projects.table=repos").ok());
  ASSERT_TRUE(m.Set("projects.schema=app").ok());
  ASSERT_TRUE(m.Set("runner_links.namespace_id=folder_id").ok());
  EXPECT_EQ(m.namespaces.schema, "app");
  EXPECT_EQ(m.namespaces.table, "folders");
  EXPECT_EQ(m.namespaces.columns[kNamespaceParentId], "parent");
  EXPECT_EQ(m.namespaces.columns[kNamespaceVisibilityLevel], "");
  EXPECT_EQ(m.namespaces.columns[kNamespaceId], "id");  // untouched
  EXPECT_EQ(m.projects.schema, "app");
  EXPECT_EQ(m.projects.table, "repos");
  EXPECT_EQ(m.runner_links.columns[kRunnerLinkNamespaceId], "folder_id");
  EXPECT_TRUE(m.Validate().ok()) << m.Validate().ToString();
  EXPECT_EQ(m.Find("app", "folders"), Table::kNamespaces);
}

TEST(TableMappingSet, RefusesMalformedSettingsWithTheReason) {
  TableMapping m;
  for (const char* bad : {"namespaces", "namespaces.table", "parent_id=x", "groups.table=x",
                          "namespaces.parent=x", "projects.runner_id=x", "=x", ".table=x"}) {
    Status s = m.Set(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
  }
  EXPECT_TRUE(m.Validate().ok());  // nothing was changed by the refused settings
  EXPECT_EQ(m.namespaces.table, "namespaces");
}

TEST(TableMappingSet, KeyColumnCannotBeUnmapped) {
  TableMapping m;
  ASSERT_TRUE(m.Set("projects.id=").ok());
  EXPECT_EQ(m.Validate().code(), StatusCode::kInvalidArgument);
}

// Carried columns (canopyd --feed-columns, or KIND.carried=...): parsed,
// validated against the mapped names, and required from the publication.
TEST(TableMappingCarried, SetValidateAndPublicationCheck) {
  TableMapping m;
  ASSERT_TRUE(m.SetCarriedColumns("projects.description, ci_runner_namespaces.created_at").ok());
  EXPECT_EQ(m.projects.carried_columns, std::vector<std::string>{"description"});
  EXPECT_EQ(m.runner_links.carried_columns, std::vector<std::string>{"created_at"});
  EXPECT_TRUE(m.Validate().ok()) << m.Validate().ToString();
  for (const char* bad : {"description", "issues.title", "projects."}) {
    Status s = m.SetCarriedColumns(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
  }
  EXPECT_EQ(m.projects.carried_columns, std::vector<std::string>{"description"});  // unchanged
  ASSERT_TRUE(m.Set("namespaces.carried=description,created_at").ok());
  EXPECT_EQ(m.namespaces.carried_columns, (std::vector<std::string>{"description", "created_at"}));
  ASSERT_TRUE(m.SetCarriedColumns("").ok());  // none
  EXPECT_TRUE(m.projects.carried_columns.empty() && m.namespaces.carried_columns.empty());
  // A mapped column, a rows.h name, a repeat, an empty name: refused.
  for (const char* bad : {"projects.namespace_id", "projects.archived", "projects.x,projects.x"}) {
    ASSERT_TRUE(m.SetCarriedColumns(bad).ok()) << bad;
    EXPECT_EQ(m.Validate().code(), StatusCode::kInvalidArgument) << bad;
  }
  ASSERT_TRUE(m.Set("projects.name=title").ok());
  ASSERT_TRUE(m.SetCarriedColumns("projects.title").ok());
  EXPECT_EQ(m.Validate().code(), StatusCode::kInvalidArgument);
  m = TableMapping{};
  ASSERT_TRUE(m.SetCarriedColumns("projects.description").ok());
  PublishedTable published;
  published.columns = m.projects.columns;
  Status s = CheckPublishedTable(m.projects, "canopy", published);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("description"), std::string::npos) << s.message();
  published.columns.push_back("description");
  EXPECT_TRUE(CheckPublishedTable(m.projects, "canopy", published).ok());
}

TEST(TableMappingSetAll, SkipsCommentsAndNamesTheBadLine) {
  TableMapping m;
  ASSERT_TRUE(m.SetAll("# a mapping file\n\nnamespaces.table=app.folders\r\n"
                       "  # indented comment\nnamespaces.path=slug\n")
                  .ok());
  EXPECT_EQ(m.namespaces.table, "folders");
  EXPECT_EQ(m.namespaces.columns[kNamespacePath], "slug");
  Status s = m.SetAll("namespaces.name=title\nbogus\n");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("line 2"), std::string::npos) << s.message();
}

// What a publication offers vs what the mapping needs (PostgreSQL 15's
// column lists and row filters).
TEST(PublishedColumns, MissingColumnsInFieldOrder) {
  const TableMapping m;
  EXPECT_TRUE(MissingColumns(m.projects, m.projects.columns).empty());
  // More columns than needed, in another order: nothing missing.
  EXPECT_TRUE(
      MissingColumns(m.runner_links, {"created_at", "namespace_id", "runner_id", "id"}).empty());
  // The column list of the measured problem.
  EXPECT_EQ(MissingColumns(m.projects, {"id", "namespace_id", "project_namespace_id", "path"}),
            (std::vector<std::string>{"name", "visibility_level", "archived", "pending_delete"}));
  EXPECT_EQ(MissingColumns(m.namespaces, {}), m.namespaces.columns);
  // Names are exact (PostgreSQL's stored, case-sensitive names).
  EXPECT_EQ(MissingColumns(m.runner_links, {"ID", "runner_id", "namespace_id"}),
            (std::vector<std::string>{"id"}));
  // An unmapped field is not needed.
  TableMapping u;
  ASSERT_TRUE(u.Set("projects.archived=").ok());
  EXPECT_EQ(MissingColumns(u.projects, {"id", "namespace_id", "project_namespace_id", "name",
                                        "path", "visibility_level", "pending_delete"}),
            std::vector<std::string>{});
}

TEST(PublishedColumns, CheckNamesTableAndColumnsAndRefusesRowFilters) {
  const TableMapping m;
  PublishedTable all{m.projects.columns, ""};
  EXPECT_TRUE(CheckPublishedTable(m.projects, "canopy", all).ok());

  PublishedTable short_list{
      {"id", "namespace_id", "project_namespace_id", "name", "path", "visibility_level"}, ""};
  Status s = CheckPublishedTable(m.projects, "canopy_short", short_list);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("canopy_short"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("\"public\".\"projects\""), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("archived, pending_delete"), std::string::npos) << s.ToString();

  PublishedTable filtered{m.projects.columns, "(archived = false)"};
  s = CheckPublishedTable(m.projects, "canopy", filtered);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("row filter"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("(archived = false)"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace canopy::cdc
