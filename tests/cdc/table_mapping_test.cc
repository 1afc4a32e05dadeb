// TableMapping settings (canopyd's --map / --mapping): every key kind, the
// errors, and that the result still validates. Labels: decoder, cdc.
#include "canopy/cdc/table_mapping.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace canopy::cdc
