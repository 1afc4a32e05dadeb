// compact_rows_test.cc — the row columns the engine does not keep in its
// node arrays (forest.h, ROW COLUMNS).
//
// A namespace's parent_id and a project's namespace_id and
// project_namespace_id follow from the slot links for attached rows and live
// in side tables where the links do not determine them (orphans, projects
// waiting for their namespace or their project namespace);
// visibility_level is 16 bits with a side table for other values.
// GetNamespace / GetProject must give back the exact columns in every case,
// on both left-right copies, through Compact, truncates, slot reuse and
// BulkLoad (which copies one copy into the other).
//   CANOPY_TEST_SEED=<n>   replays the randomized test (printed on failure)
//   CANOPY_TEST_SCALE=<x>  lengthens/shortens it (default 1)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/lsn.h"
#include "canopy/rows.h"
#include "canopy/status.h"
#include "test_seed.h"

namespace canopy_test {
namespace {

using canopy::HierarchyIndex;
using canopy::Lsn;
using canopy::NamespaceRow;
using canopy::NamespaceType;
using canopy::ProjectRow;
using canopy::ReadView;
using canopy::RowChange;
using canopy::Status;
using canopy::Table;
using canopy::Transaction;
using Ids = std::vector<int64_t>;

constexpr int32_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();

std::string Describe(const NamespaceRow& r) {
  return "ns " + std::to_string(r.id) +
         " parent=" + (r.parent_id ? std::to_string(*r.parent_id) : "NULL") +
         " type=" + std::to_string(static_cast<int>(r.type)) + " name='" + r.name + "' path='" +
         r.path + "' vis=" + std::to_string(r.visibility_level);
}
std::string Describe(const ProjectRow& r) {
  return "project " + std::to_string(r.id) + " ns=" + std::to_string(r.namespace_id) +
         " pn=" + (r.project_namespace_id ? std::to_string(*r.project_namespace_id) : "NULL") +
         " name='" + r.name + "' path='" + r.path + "' vis=" + std::to_string(r.visibility_level) +
         " archived=" + std::to_string(r.archived) +
         " pending_delete=" + std::to_string(r.pending_delete);
}
bool SameColumns(const NamespaceRow& a, const NamespaceRow& b) {
  return a.id == b.id && a.parent_id == b.parent_id && a.type == b.type && a.name == b.name &&
         a.path == b.path && a.visibility_level == b.visibility_level;
}
bool SameColumns(const ProjectRow& a, const ProjectRow& b) {
  return a.id == b.id && a.namespace_id == b.namespace_id &&
         a.project_namespace_id == b.project_namespace_id && a.name == b.name && a.path == b.path &&
         a.visibility_level == b.visibility_level && a.archived == b.archived &&
         a.pending_delete == b.pending_delete;
}

NamespaceRow Ns(int64_t id, std::optional<int64_t> parent, NamespaceType type, std::string path,
                int32_t visibility = 20) {
  NamespaceRow r;
  r.id = id;
  r.parent_id = parent;
  r.type = type;
  r.name = "Name of " + path;
  r.path = std::move(path);
  r.visibility_level = visibility;
  return r;
}
NamespaceRow GroupRow(int64_t id, std::optional<int64_t> parent, std::string path,
                      int32_t visibility = 20) {
  return Ns(id, parent, NamespaceType::kGroup, std::move(path), visibility);
}
NamespaceRow PnRow(int64_t id, int64_t parent, std::string path) {
  NamespaceRow r = Ns(id, parent, NamespaceType::kProject, path, 0);
  r.name = r.path;
  return r;
}
ProjectRow ProjRow(int64_t id, int64_t namespace_id, std::optional<int64_t> pn, std::string path,
                   int32_t visibility = 0, bool archived = false, bool pending_delete = false) {
  ProjectRow r;
  r.id = id;
  r.namespace_id = namespace_id;
  r.project_namespace_id = pn;
  r.name = "Project " + path;
  r.path = std::move(path);
  r.visibility_level = visibility;
  r.archived = archived;
  r.pending_delete = pending_delete;
  return r;
}

// The expected rows: every column of every live row, as last written. The
// checks compare them with GetNamespace / GetProject on both copies.
struct Expected {
  std::map<int64_t, NamespaceRow> namespaces;
  std::map<int64_t, ProjectRow> projects;
};

// Every expected row with its exact columns, no other row, on the copy that
// `view` reads.
void ExpectRowsIn(const ReadView& view, const Expected& want, const std::string& where) {
  for (const auto& [id, row] : want.namespaces) {
    std::optional<NamespaceRow> got = view.GetNamespace(id);
    if (!got) {
      ADD_FAILURE() << where << ": GetNamespace(" << id << ") = nullopt, want " << Describe(row);
    } else if (!SameColumns(*got, row)) {
      ADD_FAILURE() << where << ": got " << Describe(*got) << ", want " << Describe(row);
    }
  }
  for (const auto& [id, row] : want.projects) {
    std::optional<ProjectRow> got = view.GetProject(id);
    if (!got) {
      ADD_FAILURE() << where << ": GetProject(" << id << ") = nullopt, want " << Describe(row);
    } else if (!SameColumns(*got, row)) {
      ADD_FAILURE() << where << ": got " << Describe(*got) << ", want " << Describe(row);
    }
  }
  Ids ns_ids, project_ids;
  for (const auto& [id, row] : want.namespaces) ns_ids.push_back(id);
  for (const auto& [id, row] : want.projects) project_ids.push_back(id);
  EXPECT_EQ(view.ListNamespaceIds(), ns_ids) << where;
  EXPECT_EQ(view.ListProjectIds(), project_ids) << where;
  // Orphans: a parent_id naming no live namespace.
  Ids orphans;
  for (const auto& [id, row] : want.namespaces) {
    if (row.parent_id && !want.namespaces.count(*row.parent_id)) orphans.push_back(id);
  }
  EXPECT_EQ(view.ListOrphanNamespaceIds(), orphans) << where;
  uint64_t orphan_projects = 0;
  for (const auto& [id, row] : want.projects) {
    orphan_projects += want.namespaces.count(row.namespace_id) == 0 ? 1 : 0;
  }
  EXPECT_EQ(view.Stats().orphan_projects, orphan_projects) << where;
}

void IdsOf(const HierarchyIndex& index, canopy::QueryKind kind, int64_t id, const Ids& want,
           const std::string& where) {
  canopy::IdQuery q;
  q.kind = kind;
  q.id = id;
  canopy::QueryAnswer a = index.Query(q);
  EXPECT_TRUE(a.answer.status.ok()) << where << ": " << a.answer.status.ToString();
  EXPECT_EQ(a.answer.ids, want) << where << ": query " << static_cast<int>(kind) << " of " << id;
}

class CompactRowsTest : public ::testing::Test {
 protected:
  void MustCommit(std::vector<RowChange> changes) {
    lsn_ += 0x10;
    Status s = index_.Apply(Transaction{Lsn(lsn_), std::move(changes)});
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Upserts (whole rows) and deletes, recorded in want_.
  RowChange Put(const NamespaceRow& r) {
    want_.namespaces[r.id] = r;
    return canopy::UpsertNamespace{r};
  }
  RowChange Put(const ProjectRow& r) {
    want_.projects[r.id] = r;
    return canopy::UpsertProject{r};
  }
  RowChange DropNamespace(int64_t id) {
    want_.namespaces.erase(id);
    return canopy::DeleteNamespace{id};
  }
  RowChange DropProject(int64_t id) {
    want_.projects.erase(id);
    return canopy::DeleteProject{id};
  }
  // want_ on both copies: an empty transaction publishes the other one.
  void ExpectRows(const std::string& where) {
    ExpectRowsIn(index_.Read(), want_, where);
    MustCommit({});
    ExpectRowsIn(index_.Read(), want_, where + " (other copy)");
  }
  // The same after a Compact (which renumbers every slot).
  void CompactAndExpectRows(const std::string& where) {
    ASSERT_TRUE(index_.Compact().ok());
    ExpectRows(where + ", compacted");
  }
  Ids Ask(canopy::QueryKind kind, int64_t id) {
    canopy::IdQuery q;
    q.kind = kind;
    q.id = id;
    canopy::QueryAnswer a = index_.Query(q);
    EXPECT_TRUE(a.answer.status.ok()) << a.answer.status.ToString();
    return a.answer.ids;
  }
  Ids Ancestors(int64_t ns) { return Ask(canopy::QueryKind::kSelfAndAncestors, ns); }
  Ids Projects(int64_t ns) { return Ask(canopy::QueryKind::kAllProjectIds, ns); }

  HierarchyIndex index_;
  Expected want_;
  uint64_t lsn_ = 0x1000;
};

TEST_F(CompactRowsTest, OrphanParentIdsAreKeptUntilAdopted) {
  // 3 -> 2 -> 1, with 1 missing: 2 waits for 1, 3 is a child of 2.
  MustCommit({Put(GroupRow(2, 1, "b")), Put(GroupRow(3, 2, "c")), Put(GroupRow(9, 7, "i"))});
  ExpectRows("2 waits for 1, 9 for 7");
  EXPECT_EQ(Ancestors(3), (Ids{2, 3}));
  CompactAndExpectRows("orphans");
  // Another orphan of the same missing parent, then the parent arrives.
  MustCommit({Put(PnRow(4, 1, "d"))});
  ExpectRows("two orphans of 1");
  MustCommit({Put(GroupRow(1, std::nullopt, "a"))});
  ExpectRows("1 adopted 2 and 4");
  EXPECT_EQ(Ancestors(3), (Ids{1, 2, 3}));
  EXPECT_EQ(Ancestors(4), (Ids{1, 4}));
  // An orphan moved to another missing parent, then to a live one.
  MustCommit({Put(GroupRow(9, 8, "i"))});
  ExpectRows("9 waits for 8");
  CompactAndExpectRows("9 waits for 8");
  MustCommit({Put(GroupRow(9, 3, "i"))});
  ExpectRows("9 under 3");
  EXPECT_EQ(Ancestors(9), (Ids{1, 2, 3, 9}));
  // An orphan deleted while it waits, and its slot reused by a root.
  MustCommit({Put(GroupRow(10, 77, "j"))});
  MustCommit({DropNamespace(10)});
  MustCommit({Put(GroupRow(11, std::nullopt, "k"))});
  ExpectRows("orphan 10 deleted, 11 a root");
  MustCommit({Put(GroupRow(77, std::nullopt, "l"))});
  EXPECT_EQ(Projects(77), Ids{});
  EXPECT_EQ(Ask(canopy::QueryKind::kDescendants, 77), Ids{});
  ExpectRows("77 arrived after its orphan went");
}

TEST_F(CompactRowsTest, OrphansOfADeletedParent) {
  MustCommit({Put(GroupRow(1, std::nullopt, "a")), Put(GroupRow(2, 1, "b")),
              Put(GroupRow(3, 2, "c")), Put(PnRow(4, 2, "p")), Put(ProjRow(100, 2, 4, "p")),
              Put(ProjRow(101, 3, std::nullopt, "q", 10, true))});
  ExpectRows("tree");
  // Deleting 2 orphans 3 and 4 (parent_id 2) and project 100 (namespace_id
  // 2); 100 keeps its project namespace 4, which still exists.
  MustCommit({DropNamespace(2)});
  ExpectRows("2 deleted");
  EXPECT_EQ(Ancestors(3), (Ids{3}));
  EXPECT_EQ(Projects(4), (Ids{100}));
  CompactAndExpectRows("2 deleted");
  // Recreated elsewhere: everything waiting for 2 comes back under it.
  MustCommit({Put(GroupRow(5, std::nullopt, "e")), Put(GroupRow(2, 5, "b2"))});
  ExpectRows("2 recreated under 5");
  EXPECT_EQ(Ancestors(3), (Ids{5, 2, 3}));
  EXPECT_EQ(Projects(5), (Ids{100, 101}));
  // Deleted and re-inserted in one transaction: its children stay children.
  MustCommit({canopy::DeleteNamespace{2}, Put(GroupRow(2, 1, "b3"))});
  ExpectRows("2 deleted and re-inserted");
  EXPECT_EQ(Ancestors(3), (Ids{1, 2, 3}));
  // A parent and its child deleted together; the grandchild waits for 3.
  MustCommit({Put(GroupRow(6, 3, "f")), DropNamespace(2), DropNamespace(3)});
  ExpectRows("2 and 3 deleted");
  CompactAndExpectRows("2 and 3 deleted");
}

TEST_F(CompactRowsTest, CycleRefusalKeepsTheOldParent) {
  MustCommit({Put(GroupRow(1, std::nullopt, "a")), Put(GroupRow(2, 1, "b")),
              Put(GroupRow(3, 2, "c")), Put(GroupRow(4, 3, "d"))});
  // 1 under 4 would close a cycle: refused, 1 stays a root.
  MustCommit({canopy::UpsertNamespace{GroupRow(1, 4, "a")}});
  ExpectRows("root 1 under its descendant 4");
  // 2 under 4: refused, 2 keeps parent 1.
  MustCommit({canopy::UpsertNamespace{GroupRow(2, 4, "b")}});
  ExpectRows("2 under its descendant 4");
  EXPECT_EQ(Ancestors(4), (Ids{1, 2, 3, 4}));
  // An orphan moved under its own descendant keeps waiting for its old parent.
  MustCommit({Put(GroupRow(10, 99, "x")), Put(GroupRow(11, 10, "y"))});
  MustCommit({canopy::UpsertNamespace{GroupRow(10, 11, "x")}});
  ExpectRows("orphan 10 under its descendant 11");
  EXPECT_EQ(index_.Read().ListOrphanNamespaceIds(), (Ids{10}));
  CompactAndExpectRows("after the refusals");
  MustCommit({Put(GroupRow(99, std::nullopt, "z"))});
  ExpectRows("10 adopted by 99");
  EXPECT_EQ(Ancestors(11), (Ids{99, 10, 11}));
  // Two new rows naming each other: one of them is linked, the other becomes
  // a root (its parent_id NULL).
  MustCommit({canopy::UpsertNamespace{GroupRow(20, 21, "m")},
              canopy::UpsertNamespace{GroupRow(21, 20, "n")}});
  std::optional<NamespaceRow> a = index_.Read().GetNamespace(20);
  std::optional<NamespaceRow> b = index_.Read().GetNamespace(21);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->parent_id.has_value(), b->parent_id.has_value());
  want_.namespaces[20] = *a;
  want_.namespaces[21] = *b;
  EXPECT_EQ(Ancestors(a->parent_id ? 20 : 21).size(), 2u);
  EXPECT_EQ(index_.Stats().cycles_refused, 4u);
  ExpectRows("two new rows naming each other");
}

TEST_F(CompactRowsTest, ProjectsWhoseNamespaceDisappearsAndReappears) {
  MustCommit({Put(GroupRow(1, std::nullopt, "a")), Put(GroupRow(2, 1, "b")), Put(PnRow(20, 2, "p")),
              Put(ProjRow(100, 2, 20, "p", 20)),
              Put(ProjRow(101, 2, std::nullopt, "q", 10, true, true))});
  ExpectRows("linked");
  MustCommit({DropNamespace(2)});
  ExpectRows("namespace 2 gone");
  EXPECT_EQ(Projects(1), Ids{});
  EXPECT_EQ(index_.Read().ProjectFullPath(100).status().code(), canopy::StatusCode::kNotFound);
  EXPECT_NE(index_.Read().ProjectFullPath(100).status().message().find("namespace 2"),
            std::string::npos);
  CompactAndExpectRows("namespace 2 gone");
  // Moved to another missing namespace, then back.
  MustCommit({Put(ProjRow(101, 3, std::nullopt, "q", 10, true, true))});
  ExpectRows("101 waits for 3");
  MustCommit({Put(GroupRow(2, 1, "b"))});
  ExpectRows("2 is back");
  EXPECT_EQ(Projects(1), (Ids{100}));
  // Archived flag changes relink the project: its namespace_id stays.
  MustCommit({Put(ProjRow(100, 2, 20, "p", 20, true))});
  MustCommit({Put(ProjRow(101, 2, std::nullopt, "q", 10, false, true))});
  ExpectRows("archived flags flipped");
  EXPECT_EQ(Ask(canopy::QueryKind::kAllUnarchivedProjectIds, 1), (Ids{101}));
  // TRUNCATE namespaces: every project waits for its namespace and its own
  // namespace, by the ids it had.
  MustCommit({canopy::TruncateTable{Table::kNamespaces}});
  want_.namespaces.clear();
  ExpectRows("namespaces truncated");
  CompactAndExpectRows("namespaces truncated");
  MustCommit({Put(GroupRow(2, std::nullopt, "b")), Put(PnRow(20, 2, "p"))});
  ExpectRows("namespaces back");
  EXPECT_EQ(Projects(2), (Ids{100, 101}));
  EXPECT_EQ(Projects(20), (Ids{100}));
  // TRUNCATE projects, then new projects in the old slots.
  MustCommit({canopy::TruncateTable{Table::kProjects}});
  want_.projects.clear();
  ExpectRows("projects truncated");
  MustCommit({Put(ProjRow(200, 5, 20, "r"))});
  ExpectRows("a project after the truncate");
}

TEST_F(CompactRowsTest, ProjectNamespaceMissingSharedOrNull) {
  MustCommit({Put(GroupRow(1, std::nullopt, "a"))});
  // Its project namespace does not exist yet.
  MustCommit({Put(ProjRow(100, 1, 20, "p"))});
  ExpectRows("project namespace 20 missing");
  MustCommit({Put(PnRow(20, 1, "p"))});
  ExpectRows("20 arrived");
  EXPECT_EQ(Projects(20), (Ids{100}));
  // A second and a third project naming the same project namespace wait.
  MustCommit({Put(ProjRow(101, 1, 20, "p2")), Put(ProjRow(102, 1, 20, "p3"))});
  ExpectRows("20 shared");
  EXPECT_EQ(Projects(20), (Ids{100}));
  CompactAndExpectRows("20 shared");
  // The owner goes: the next waiting project takes its place.
  MustCommit({DropProject(100)});
  ExpectRows("owner 100 deleted");
  EXPECT_EQ(Projects(20), (Ids{101}));
  // The owner names another (missing) project namespace: the next takes over.
  MustCommit({Put(ProjRow(101, 1, 21, "p2"))});
  ExpectRows("101 moved to missing 21");
  EXPECT_EQ(Projects(20), (Ids{102}));
  // NULL, and back from NULL.
  MustCommit({Put(ProjRow(102, 1, std::nullopt, "p3"))});
  ExpectRows("102 to NULL");
  EXPECT_EQ(Projects(20), Ids{});
  MustCommit({Put(ProjRow(103, 1, std::nullopt, "p4"))});
  MustCommit({Put(ProjRow(103, 1, 20, "p4"))});
  ExpectRows("103 from NULL to 20");
  EXPECT_EQ(Projects(20), (Ids{103}));
  // The project namespace is deleted and comes back: 103 owns it again, 104
  // (also naming it) waits behind.
  MustCommit({DropNamespace(20), Put(ProjRow(104, 1, 20, "p5"))});
  ExpectRows("20 deleted");
  CompactAndExpectRows("20 deleted");
  MustCommit({Put(PnRow(20, 1, "p"))});
  ExpectRows("20 back");
  EXPECT_EQ(Projects(20), (Ids{103}));
  // A project naming a group (not a project namespace) and one naming itself
  // as its namespace's project namespace.
  MustCommit({Put(ProjRow(105, 1, 1, "g")), Put(PnRow(22, 1, "own"))});
  MustCommit({Put(ProjRow(106, 22, 22, "own"))});
  ExpectRows("odd project namespaces");
  CompactAndExpectRows("odd project namespaces");
  // Deleted and re-inserted in one transaction with another project namespace.
  MustCommit({canopy::DeleteProject{103}, Put(ProjRow(103, 1, 21, "p4"))});
  ExpectRows("103 re-inserted naming 21");
  EXPECT_EQ(Projects(20), (Ids{104}));
  MustCommit({Put(PnRow(21, 1, "p2"))});
  ExpectRows("21 arrived: 101 owns it");
  EXPECT_EQ(Projects(21), (Ids{101}));
}

// Compact gives a project its project namespace's text when both have the
// same name and path (one allocation for both rows). Renaming, deleting and
// re-creating either row afterwards must leave each with its own columns, on
// both copies (under ASan, a text released too early is caught here).
TEST_F(CompactRowsTest, ATextSharedWithTheProjectNamespaceStaysRight) {
  const auto pn = [](int64_t id, std::string name, std::string path) {
    NamespaceRow r = PnRow(id, 1, std::move(path));
    r.name = std::move(name);
    return r;
  };
  const auto project = [](int64_t id, int64_t pn_id, std::string name, std::string path) {
    ProjectRow r = ProjRow(id, 1, pn_id, std::move(path));
    r.name = std::move(name);
    return r;
  };
  MustCommit({Put(GroupRow(1, std::nullopt, "a"))});
  MustCommit({Put(pn(20, "Web", "web")), Put(project(100, 20, "Web", "web")),
              Put(pn(21, "Api", "api")), Put(project(101, 21, "API", "api")),  // name differs
              Put(pn(22, "", "")), Put(project(102, 22, "", ""))});            // empty texts
  CompactAndExpectRows("equal texts");
  CompactAndExpectRows("equal texts, again");
  MustCommit({Put(pn(20, "Web 2", "web"))});
  ExpectRows("project namespace renamed");
  CompactAndExpectRows("project namespace renamed");
  MustCommit({Put(project(100, 20, "Web 2", "web")), Put(project(101, 21, "Api", "api"))});
  CompactAndExpectRows("equal again");
  MustCommit({Put(project(100, 20, "Web 3", "web3"))});
  ExpectRows("project renamed");
  MustCommit({Put(project(100, 20, "Web 2", "web")), DropNamespace(21)});
  CompactAndExpectRows("project namespace 21 deleted");
  MustCommit({DropNamespace(20)});
  CompactAndExpectRows("project namespace 20 deleted");
  MustCommit({Put(pn(20, "Web 2", "web"))});
  CompactAndExpectRows("project namespace 20 back");
  MustCommit({DropProject(100), DropProject(101)});
  CompactAndExpectRows("projects deleted");
  MustCommit({Put(project(100, 20, "Web 2", "web"))});
  CompactAndExpectRows("project 100 back");
}

TEST_F(CompactRowsTest, VisibilityLevelsOutsideInt16RoundTrip) {
  const std::vector<int32_t> levels = {0,      10,    20,     -1,    32767,     -32767,
                                       -32768, 32768, -32769, 65536, kInt32Min, kInt32Max};
  std::vector<RowChange> changes;
  for (size_t i = 0; i < levels.size(); ++i) {
    const int64_t id = static_cast<int64_t>(i) + 1;
    // append, not "g" + std::string&&: GCC 12 at -O3 reports a false
    // -Wrestrict for the insert-at-front that overload inlines.
    changes.push_back(
        Put(GroupRow(id, std::nullopt, std::string("g").append(std::to_string(id)), levels[i])));
    changes.push_back(Put(ProjRow(100 + id, id, std::nullopt,
                                  std::string("p").append(std::to_string(id)), levels[i])));
  }
  MustCommit(std::move(changes));
  ExpectRows("every level");
  CompactAndExpectRows("every level");
  // Wide to narrow, narrow to wide, wide to another wide value.
  MustCommit({Put(GroupRow(12, std::nullopt, "g12", 20)),
              Put(GroupRow(1, std::nullopt, "g1", -40000)),
              Put(GroupRow(11, std::nullopt, "g11", 1 << 20)),
              Put(ProjRow(112, 12, std::nullopt, "p12", 0)),
              Put(ProjRow(101, 1, std::nullopt, "p1", kInt32Min)),
              Put(ProjRow(111, 11, std::nullopt, "p11", 99999))});
  ExpectRows("levels changed");
  // A partial update that leaves the level out keeps it.
  NamespaceRow rename = GroupRow(11, std::nullopt, "g11-renamed");
  rename.present = NamespaceRow::kPath | NamespaceRow::kName;
  want_.namespaces[11].path = rename.path;
  want_.namespaces[11].name = rename.name;
  MustCommit({canopy::UpsertNamespace{rename}});
  ExpectRows("renamed, level kept");
  // Deleted and re-inserted without the column: the default, not the old value.
  NamespaceRow bare;
  bare.id = 1;
  bare.present = NamespaceRow::kPath;
  bare.path = "g1";
  ProjectRow bare_project;
  bare_project.id = 101;
  bare_project.present = ProjectRow::kNamespaceId | ProjectRow::kPath;
  bare_project.namespace_id = 1;
  bare_project.path = "p1";
  MustCommit({canopy::DeleteNamespace{1}, canopy::UpsertNamespace{bare}, canopy::DeleteProject{101},
              canopy::UpsertProject{bare_project}});
  want_.namespaces[1] = Ns(1, std::nullopt, NamespaceType::kUser, "g1", 20);
  want_.namespaces[1].name = "";
  want_.projects[101] = ProjRow(101, 1, std::nullopt, "p1", 0);
  want_.projects[101].name = "";
  ExpectRows("reset to defaults");
  // Freed wide rows; their slots reused by rows with narrow levels.
  MustCommit({DropNamespace(7), DropNamespace(9), DropProject(107), DropProject(110)});
  MustCommit({Put(GroupRow(30, std::nullopt, "n30", 10)), Put(GroupRow(31, 30, "n31")),
              Put(ProjRow(130, 30, std::nullopt, "q30", 10)),
              Put(ProjRow(131, 31, std::nullopt, "q31"))});
  ExpectRows("slots reused");
  CompactAndExpectRows("slots reused");
  // Truncates drop the wide levels with their rows.
  MustCommit({canopy::TruncateTable{Table::kProjects}});
  want_.projects.clear();
  MustCommit({Put(ProjRow(140, 30, std::nullopt, "q40"))});
  ExpectRows("projects truncated");
  MustCommit({canopy::TruncateTable{Table::kNamespaces}});
  want_.namespaces.clear();
  MustCommit({Put(GroupRow(40, std::nullopt, "n40"))});
  ExpectRows("namespaces truncated");
}

// BulkLoad builds one copy and copies it into the other (side tables too).
TEST(CompactRowsBulkLoadTest, TheCopiedCopyHasTheSideTables) {
  Expected want;
  auto ns = [&](const NamespaceRow& r) {
    want.namespaces[r.id] = r;
    return RowChange{canopy::UpsertNamespace{r}};
  };
  auto project = [&](const ProjectRow& r) {
    want.projects[r.id] = r;
    return RowChange{canopy::UpsertProject{r}};
  };
  Transaction snapshot{
      Lsn(0x500),
      {ns(GroupRow(1, std::nullopt, "a", 40000)), ns(GroupRow(2, 1, "b", -32768)),
       ns(GroupRow(3, 99, "orphan")), ns(GroupRow(4, 3, "under-orphan", kInt32Min)),
       ns(PnRow(20, 2, "p")), project(ProjRow(100, 2, 20, "p", 70000, true)),
       project(ProjRow(101, 2, 20, "shares-20")), project(ProjRow(102, 98, 21, "waits-twice")),
       project(ProjRow(103, 4, std::nullopt, "null-pn", -70000, false, true))}};
  HierarchyIndex index;
  ASSERT_TRUE(index.BulkLoad(snapshot).ok());
  uint64_t lsn = 0x500;
  ExpectRowsIn(index.Read(), want, "bulk loaded");
  ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), {}}).ok());
  ExpectRowsIn(index.Read(), want, "bulk loaded, copied copy");
  // Writes on both copies: the missing rows arrive, the owner leaves.
  std::vector<RowChange> more = {ns(GroupRow(99, std::nullopt, "z")),
                                 ns(GroupRow(98, std::nullopt, "y")), ns(PnRow(21, 98, "q"))};
  more.push_back(canopy::DeleteProject{100});
  want.projects.erase(100);
  ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), std::move(more)}).ok());
  for (int copy = 0; copy < 2; ++copy) {
    const std::string where = copy == 0 ? "after writes" : "after writes, other copy";
    ExpectRowsIn(index.Read(), want, where);
    IdsOf(index, canopy::QueryKind::kAllProjectIds, 20, Ids{101}, where);
    IdsOf(index, canopy::QueryKind::kAllProjectIds, 21, Ids{102}, where);
    IdsOf(index, canopy::QueryKind::kSelfAndAncestors, 4, Ids{99, 3, 4}, where);
    ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), {}}).ok());
  }
}

// ---- randomized: every column against a plain map, through everything ----

uint64_t BaseSeed() { return canopy_test::TestRandomSeed(); }

double Scale() { return canopy_test::TestScale(); }

class RandomRows {
 public:
  explicit RandomRows(uint64_t seed) : rng_(seed) {}

  // One transaction: changes to distinct keys, so that the expected state is
  // each change applied to `want` in turn. Parents have smaller ids than
  // their children, so no cycle is ever refused.
  std::vector<RowChange> Next(Expected* want) {
    std::vector<RowChange> out;
    if (Chance(0.01)) {
      out.push_back(canopy::TruncateTable{Table::kProjects});
      want->projects.clear();
      return out;
    }
    if (Chance(0.005)) {
      out.push_back(canopy::TruncateTable{Table::kNamespaces});
      want->namespaces.clear();
      return out;
    }
    std::set<int64_t> ns_used, project_used;
    const int changes = static_cast<int>(Below(6)) + 1;
    for (int i = 0; i < changes; ++i) {
      if (Chance(0.45)) {
        const int64_t id = Id(kNamespaces);
        if (!ns_used.insert(id).second) continue;
        if (Chance(0.15)) {
          out.push_back(canopy::DeleteNamespace{id});
          want->namespaces.erase(id);
        } else {
          out.push_back(canopy::UpsertNamespace{UpsertNamespace(id, want)});
        }
      } else {
        const int64_t id = Id(kProjects);
        if (!project_used.insert(id).second) continue;
        if (Chance(0.15)) {
          out.push_back(canopy::DeleteProject{id});
          want->projects.erase(id);
        } else {
          out.push_back(canopy::UpsertProject{UpsertProject(id, want)});
        }
      }
    }
    return out;
  }

  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

 private:
  static constexpr int64_t kNamespaces = 80, kProjects = 120;
  int64_t Id(int64_t n) { return static_cast<int64_t>(Below(static_cast<uint64_t>(n))) + 1; }
  int32_t Visibility() {
    static constexpr int32_t kLevels[] = {0,      10,    20,     32767,     -32767,
                                          -32768, 32768, -40000, kInt32Min, kInt32Max};
    return Chance(0.7) ? kLevels[Below(3)] : kLevels[Below(std::size(kLevels))];
  }
  std::string Path() { return "p" + std::to_string(Below(1000)); }

  NamespaceRow UpsertNamespace(int64_t id, Expected* want) {
    NamespaceRow r;
    r.id = id;
    if (id > 1 && Chance(0.75)) r.parent_id = static_cast<int64_t>(Below(id - 1)) + 1;
    r.type = static_cast<NamespaceType>(Below(3));
    r.path = Path();
    r.name = Chance(0.5) ? r.path : "Name " + r.path;
    r.visibility_level = Visibility();
    auto it = want->namespaces.find(id);
    if (Chance(0.3)) {  // some columns only
      r.present = static_cast<canopy::ColumnMask>(Below(32));
      NamespaceRow merged = it != want->namespaces.end() ? it->second : NamespaceRow{};
      merged.id = id;
      if (r.present & NamespaceRow::kParentId) merged.parent_id = r.parent_id;
      if (r.present & NamespaceRow::kType) merged.type = r.type;
      if (r.present & NamespaceRow::kName) merged.name = r.name;
      if (r.present & NamespaceRow::kPath) merged.path = r.path;
      if (r.present & NamespaceRow::kVisibilityLevel) merged.visibility_level = r.visibility_level;
      want->namespaces[id] = merged;
    } else {
      want->namespaces[id] = r;
    }
    return r;
  }

  ProjectRow UpsertProject(int64_t id, Expected* want) {
    ProjectRow r;
    r.id = id;
    r.namespace_id = Id(kNamespaces + 10);  // sometimes never a namespace
    if (Chance(0.85)) r.project_namespace_id = Id(kNamespaces + 10);
    r.path = Path();
    r.name = Chance(0.5) ? r.path : "Project " + r.path;
    r.visibility_level = Visibility();
    r.archived = Chance(0.3);
    r.pending_delete = Chance(0.1);
    auto it = want->projects.find(id);
    if (Chance(0.3)) {
      r.present = static_cast<canopy::ColumnMask>(Below(128));
      ProjectRow merged = it != want->projects.end() ? it->second : ProjectRow{};
      merged.id = id;
      if (r.present & ProjectRow::kNamespaceId) merged.namespace_id = r.namespace_id;
      if (r.present & ProjectRow::kProjectNamespaceId) {
        merged.project_namespace_id = r.project_namespace_id;
      }
      if (r.present & ProjectRow::kName) merged.name = r.name;
      if (r.present & ProjectRow::kPath) merged.path = r.path;
      if (r.present & ProjectRow::kVisibilityLevel) merged.visibility_level = r.visibility_level;
      if (r.present & ProjectRow::kArchived) merged.archived = r.archived;
      if (r.present & ProjectRow::kPendingDelete) merged.pending_delete = r.pending_delete;
      want->projects[id] = merged;
    } else {
      want->projects[id] = r;
    }
    return r;
  }

  std::mt19937_64 rng_;
};

// The expected state as one snapshot transaction, rows in id order.
Transaction Snapshot(const Expected& want, Lsn lsn) {
  Transaction t{lsn, {}};
  for (const auto& [id, row] : want.namespaces) t.changes.push_back(canopy::UpsertNamespace{row});
  for (const auto& [id, row] : want.projects) t.changes.push_back(canopy::UpsertProject{row});
  return t;
}

TEST(CompactRowsRandomTest, EveryColumnRoundTripsThroughWritesCompactsAndBulkLoad) {
  for (int round = 0; round < 4; ++round) {
    const uint64_t seed = BaseSeed() + static_cast<uint64_t>(round);
    SCOPED_TRACE("replay with CANOPY_TEST_SEED=" + std::to_string(BaseSeed()) + " (round " +
                 std::to_string(round) + ")");
    RandomRows random(seed);
    HierarchyIndex index;
    Expected want;
    uint64_t lsn = 0x1000;
    const int steps = std::max(1, static_cast<int>(1500 * Scale()));
    for (int step = 0; step < steps; ++step) {
      std::vector<RowChange> changes = random.Next(&want);
      ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), std::move(changes)}).ok());
      if (random.Chance(0.03)) {
        ASSERT_TRUE(index.Compact().ok());
      }
      const std::string where = "step " + std::to_string(step);
      ExpectRowsIn(index.Read(), want, where);
      if (::testing::Test::HasFailure()) return;
    }
    // The other copy, then a BulkLoad of the same rows: the loaded copy and
    // the one copied from it.
    ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), {}}).ok());
    ExpectRowsIn(index.Read(), want, "end, other copy");
    HierarchyIndex loaded;
    ASSERT_TRUE(loaded.BulkLoad(Snapshot(want, Lsn(++lsn))).ok());
    ExpectRowsIn(loaded.Read(), want, "bulk loaded");
    ASSERT_TRUE(loaded.Apply(Transaction{Lsn(++lsn), {}}).ok());
    ExpectRowsIn(loaded.Read(), want, "bulk loaded, copied copy");
    // The same rows in pieces, each namespace row alone (the build frees such
    // a piece as soon as its node is made), then the projects, then the first
    // namespace once more with its parent only: a repeated key, so the build
    // gives up and Apply's rules take the rows, the freed ones made again
    // from their nodes. Every column must come back.
    if (!want.namespaces.empty()) {
      const auto& [first_id, first_row] = *want.namespaces.begin();
      std::vector<std::vector<RowChange>> pieces(1);  // the projects
      for (RowChange& change : Snapshot(want, Lsn(lsn)).changes) {
        if (std::holds_alternative<canopy::UpsertNamespace>(change)) {
          pieces.insert(pieces.end() - 1, {std::move(change)});
        } else {
          pieces.back().push_back(std::move(change));
        }
      }
      NamespaceRow again;
      again.id = first_id;
      again.parent_id = first_row.parent_id;
      again.present = NamespaceRow::kParentId;
      pieces.push_back({canopy::UpsertNamespace{again}});
      // And a row with one column present, alone in the first piece, then
      // another column of it after the projects: the columns it lacks take
      // their defaults, as when Apply creates it.
      NamespaceRow partial;
      partial.id = 1000;
      partial.path = "partial";
      partial.present = NamespaceRow::kPath;
      pieces.insert(pieces.begin(), {canopy::UpsertNamespace{partial}});
      NamespaceRow later;
      later.id = 1000;
      later.visibility_level = 10;
      later.present = NamespaceRow::kVisibilityLevel;
      pieces.push_back({canopy::UpsertNamespace{later}});
      Expected want_given_up = want;
      NamespaceRow merged;
      merged.id = 1000;
      merged.path = "partial";
      merged.visibility_level = 10;
      want_given_up.namespaces[1000] = merged;
      HierarchyIndex given_up;
      ASSERT_TRUE(given_up.BulkLoad(Lsn(lsn), std::move(pieces)).ok());
      ExpectRowsIn(given_up.Read(), want_given_up, "bulk loaded in pieces, a key twice");
    }
    // Writes after the load reach both copies.
    for (int step = 0; step < 50; ++step) {
      std::vector<RowChange> changes = random.Next(&want);
      ASSERT_TRUE(loaded.Apply(Transaction{Lsn(++lsn), std::move(changes)}).ok());
    }
    ExpectRowsIn(loaded.Read(), want, "after writes on the loaded index");
    ASSERT_TRUE(loaded.Apply(Transaction{Lsn(++lsn), {}}).ok());
    ExpectRowsIn(loaded.Read(), want, "after writes on the loaded index, other copy");
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace canopy_test
