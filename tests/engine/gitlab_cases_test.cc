// gitlab_cases_test.cc — GitLab's hierarchy edge cases, one at a time.
//
// Mirrors the specs listed in docs/design/gitlab-notes.md §5 (traversal
// examples, ancestors_upto, runner scopes, project namespaces) and the data
// rules of canopy/hierarchy_index.h (orphans, cycles, LSNs, column masks,
// truncates, paging). Expected answers are written out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/lsn.h"
#include "canopy/rows.h"
#include "canopy/status.h"
#include "test_rows.h"

namespace canopy_test {
namespace {

using canopy::HierarchyIndex;
using canopy::HierarchyOrder;
using canopy::IdAnswer;
using canopy::IdQuery;
using canopy::IndexStats;
using canopy::Lsn;
using canopy::QueryKind;
using canopy::ReadView;
using canopy::RowChange;
using canopy::Status;
using canopy::StatusCode;
using canopy::SubtreeCounts;
using canopy::Table;
using canopy::Transaction;
using Ids = std::vector<int64_t>;

// `prefix` + `text` by appending. Not `"literal" + std::string&&`: that
// overload inserts at the front, and GCC 12 at -O3 (Release) reports a false
// -Wrestrict for the memmove it inlines there.
std::string Cat(std::string_view prefix, std::string_view text) {
  std::string out;
  out.reserve(prefix.size() + text.size());
  out.append(prefix);
  out.append(text);
  return out;
}

constexpr HierarchyOrder kRootFirst = HierarchyOrder::kRootFirst;  // GitLab :desc
constexpr HierarchyOrder kSelfFirst = HierarchyOrder::kSelfFirst;  // GitLab :asc

class GitLabCasesTest : public ::testing::Test {
 protected:
  // Applies `changes` as one transaction at the next LSN.
  Status Commit(std::vector<RowChange> changes) {
    lsn_ += 0x10;
    return index_.Apply(Transaction{Lsn(lsn_), std::move(changes)});
  }
  void MustCommit(std::vector<RowChange> changes) {
    Status s = Commit(std::move(changes));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // The organisation of GitLab's traversal examples: a 4-level chain with a
  // project on level 2, an unrelated 2-level tree, a user with a project.
  //   1 gitlab-org ─ 2 l2 ─ 3 l3 ─ 4 l4          (groups)
  //                  └ 20 proj (project ns of project 100)
  //   5 other ─ 6 other-child                     (groups)
  //   9 alice (user) ─ 21 dotfiles (project ns of project 101)
  // Runner links: 500→1, 501→3, 502→5, 500→2 (runner 500 twice).
  void BuildOrg() {
    MustCommit({Group(1, std::nullopt, "gitlab-org"), Group(2, 1, "l2"), Group(3, 2, "l3"),
                Group(4, 3, "l4"), ProjectNamespace(20, 2, "proj"), Project(100, 2, 20, "proj"),
                Group(5, std::nullopt, "other"), Group(6, 5, "other-child"), User(9, "alice"),
                ProjectNamespace(21, 9, "dotfiles"), Project(101, 9, 21, "dotfiles"),
                Link(1, 500, 1), Link(2, 501, 3), Link(3, 502, 5), Link(4, 500, 2)});
  }

  // ---- one-line queries; each pins its own short-lived view ----
  template <typename F>
  Ids Ask(F&& call) {
    ReadView view = index_.Read();
    Ids out;
    Status s = call(view, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  Ids SelfAndAncestors(int64_t ns, HierarchyOrder o = kRootFirst) {
    return Ask([&](const ReadView& v, Ids* out) { return v.SelfAndAncestors(ns, o, out); });
  }
  Ids Ancestors(int64_t ns, HierarchyOrder o = kRootFirst) {
    return Ask([&](const ReadView& v, Ids* out) { return v.Ancestors(ns, o, out); });
  }
  Ids AncestorsUpto(int64_t ns, int64_t top, HierarchyOrder o = kRootFirst) {
    return Ask([&](const ReadView& v, Ids* out) { return v.AncestorsUpto(ns, top, o, out); });
  }
  Ids SelfAndDescendants(int64_t ns, bool pns = false) {
    return Ask([&](const ReadView& v, Ids* out) { return v.SelfAndDescendants(ns, pns, out); });
  }
  Ids Descendants(int64_t ns, bool pns = false) {
    return Ask([&](const ReadView& v, Ids* out) { return v.Descendants(ns, pns, out); });
  }
  Ids SelfAndHierarchy(int64_t ns, bool pns = false) {
    return Ask([&](const ReadView& v, Ids* out) { return v.SelfAndHierarchy(ns, pns, out); });
  }
  Ids AllProjectIds(int64_t ns) {
    return Ask([&](const ReadView& v, Ids* out) { return v.AllProjectIds(ns, out); });
  }
  Ids AllUnarchivedProjectIds(int64_t ns) {
    return Ask([&](const ReadView& v, Ids* out) { return v.AllUnarchivedProjectIds(ns, out); });
  }
  Ids ProjectAncestors(int64_t project, HierarchyOrder o = kRootFirst) {
    return Ask([&](const ReadView& v, Ids* out) { return v.ProjectAncestors(project, o, out); });
  }
  Ids RunnersOfGroupAndAncestors(int64_t ns) {
    return Ask([&](const ReadView& v, Ids* out) { return v.RunnersOfGroupAndAncestors(ns, out); });
  }
  Ids RunnersOfParentGroupsOfProject(int64_t project) {
    return Ask([&](const ReadView& v, Ids* out) {
      return v.RunnersOfParentGroupsOfProject(project, out);
    });
  }
  Ids RunnersOfGroups(Ids namespaces) {
    ReadView view = index_.Read();
    Ids out;
    view.RunnersOfGroups(namespaces, &out);
    return out;
  }
  int64_t RootAncestor(int64_t ns) {
    canopy::Result<int64_t> r = index_.Read().RootAncestor(ns);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : -1;
  }
  std::array<uint64_t, 4> Counts(int64_t ns) {
    canopy::Result<SubtreeCounts> r = index_.Read().Counts(ns);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    const SubtreeCounts& c = r.value();
    return {c.descendant_groups, c.descendant_project_namespaces, c.projects,
            c.unarchived_projects};
  }
  std::string FullPath(int64_t ns) {
    canopy::Result<std::string> r = index_.Read().NamespaceFullPath(ns);
    return r.ok() ? r.value() : Cat("<", r.status().ToString()) + ">";
  }
  std::string ProjectFullPath(int64_t project) {
    canopy::Result<std::string> r = index_.Read().ProjectFullPath(project);
    return r.ok() ? r.value() : Cat("<", r.status().ToString()) + ">";
  }
  // "ns:ID", "project:ID" or the error code name.
  std::string Resolve(std::string_view path) {
    canopy::Result<canopy::ResolvedPath> r = index_.Read().Resolve(path);
    if (!r.ok()) return std::string(canopy::StatusCodeName(r.status().code()));
    return (r.value().table == Table::kProjects ? "project:" : "ns:") +
           std::to_string(r.value().id);
  }
  IndexStats Stats() { return index_.Stats(); }

  HierarchyIndex index_;
  uint64_t lsn_ = 0x16'B374D000;
};

// {descendant groups, descendant project namespaces, projects, unarchived projects}
using CountTuple = std::array<uint64_t, 4>;
CountTuple CountsOf(uint64_t groups, uint64_t pns, uint64_t projects, uint64_t unarchived) {
  return {groups, pns, projects, unarchived};
}

// ------------------------------------------------------------ ancestors

TEST_F(GitLabCasesTest, AncestorsInBothHierarchyOrders) {
  BuildOrg();
  // hierarchy_order: :desc = traversal_ids order = root first
  EXPECT_EQ(SelfAndAncestors(4, kRootFirst), (Ids{1, 2, 3, 4}));
  // hierarchy_order: :asc = nearest first
  EXPECT_EQ(SelfAndAncestors(4, kSelfFirst), (Ids{4, 3, 2, 1}));
  EXPECT_EQ(Ancestors(4, kRootFirst), (Ids{1, 2, 3}));
  EXPECT_EQ(Ancestors(4, kSelfFirst), (Ids{3, 2, 1}));
  EXPECT_EQ(SelfAndAncestors(1), (Ids{1}));
  EXPECT_EQ(Ancestors(1), (Ids{}));
  EXPECT_EQ(Ancestors(6, kSelfFirst), (Ids{5}));
  EXPECT_EQ(RootAncestor(4), 1);
  EXPECT_EQ(RootAncestor(1), 1);
  EXPECT_EQ(RootAncestor(6), 5);
  EXPECT_EQ(RootAncestor(9), 9);
  // self_and_hierarchy from the top, the middle and the bottom
  EXPECT_EQ(SelfAndHierarchy(1), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(SelfAndHierarchy(3), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(SelfAndHierarchy(4), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(SelfAndHierarchy(6), (Ids{5, 6}));
}

TEST_F(GitLabCasesTest, AncestorsUptoTopNonAncestorTopAndBothOrders) {
  BuildOrg();
  EXPECT_EQ(AncestorsUpto(4, 1, kRootFirst), (Ids{2, 3}));
  EXPECT_EQ(AncestorsUpto(4, 1, kSelfFirst), (Ids{3, 2}));
  EXPECT_EQ(AncestorsUpto(4, 2, kRootFirst), (Ids{3}));
  EXPECT_EQ(AncestorsUpto(4, 3, kRootFirst), (Ids{}));  // the parent is the top
  // top not an ancestor (another tree, a descendant, an unknown id): all ancestors
  EXPECT_EQ(AncestorsUpto(4, 6, kRootFirst), (Ids{1, 2, 3}));
  EXPECT_EQ(AncestorsUpto(4, 6, kSelfFirst), (Ids{3, 2, 1}));
  EXPECT_EQ(AncestorsUpto(3, 4, kRootFirst), (Ids{1, 2}));
  EXPECT_EQ(AncestorsUpto(4, 424242, kRootFirst), (Ids{1, 2, 3}));
  EXPECT_EQ(AncestorsUpto(1, 1, kRootFirst), (Ids{}));
  EXPECT_EQ(AncestorsUpto(20, 1, kRootFirst), (Ids{2}));
  // top <= 0: no top
  EXPECT_EQ(AncestorsUpto(4, 0, kRootFirst), (Ids{1, 2, 3}));
  EXPECT_EQ(AncestorsUpto(4, -3, kSelfFirst), (Ids{3, 2, 1}));
  // top == ns is not one of its ancestors: all of them (GitLab's
  // ancestors_upto(self) may differ; canopy follows its header)
  EXPECT_EQ(AncestorsUpto(4, 4, kRootFirst), (Ids{1, 2, 3}));
}

// ------------------------------------------------- project namespaces

TEST_F(GitLabCasesTest, ProjectNamespaceHasItsChainAndItsOwnProject) {
  BuildOrg();
  // canopy answers the linear chain (unnest(traversal_ids)); Rails' class
  // scoping would give [] for ProjectNamespace#ancestors.
  EXPECT_EQ(SelfAndAncestors(20), (Ids{1, 2, 20}));
  EXPECT_EQ(SelfAndAncestors(20, kSelfFirst), (Ids{20, 2, 1}));
  EXPECT_EQ(Ancestors(20), (Ids{1, 2}));
  EXPECT_EQ(RootAncestor(20), 1);
  EXPECT_EQ(AllProjectIds(20), (Ids{100}));  // ProjectNamespace#all_projects
  EXPECT_EQ(SelfAndDescendants(20), (Ids{20}));
  EXPECT_EQ(SelfAndDescendants(20, true), (Ids{20}));
  EXPECT_EQ(Descendants(20), (Ids{}));
  EXPECT_EQ(Counts(20), CountsOf(0, 0, 1, 1));
  EXPECT_EQ(FullPath(20), "gitlab-org/l2/proj");
  EXPECT_EQ(RunnersOfGroupAndAncestors(20), (Ids{}));  // not a group
}

TEST_F(GitLabCasesTest, GroupDescendantsExcludeProjectNamespacesUnlessAsked) {
  BuildOrg();
  EXPECT_EQ(SelfAndDescendants(1), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(SelfAndDescendants(1, true), (Ids{1, 2, 3, 4, 20}));
  EXPECT_EQ(Descendants(1), (Ids{2, 3, 4}));
  EXPECT_EQ(Descendants(2, true), (Ids{3, 4, 20}));
  EXPECT_EQ(Descendants(4), (Ids{}));
  EXPECT_EQ(SelfAndHierarchy(2, true), (Ids{1, 2, 3, 4, 20}));
  EXPECT_EQ(SelfAndHierarchy(3, true), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(Counts(1), CountsOf(3, 1, 1, 1));
  EXPECT_EQ(Counts(3), CountsOf(1, 0, 0, 0));
  EXPECT_EQ(AllProjectIds(1), (Ids{100}));
  EXPECT_EQ(AllProjectIds(3), (Ids{}));
}

TEST_F(GitLabCasesTest, UserNamespaceDescendantsAreItselfAndItsProjectsAreItsOwn) {
  BuildOrg();
  EXPECT_EQ(SelfAndDescendants(9), (Ids{9}));
  EXPECT_EQ(Descendants(9), (Ids{}));
  EXPECT_EQ(SelfAndDescendants(9, true), (Ids{9, 21}));  // skope: Namespace
  EXPECT_EQ(SelfAndAncestors(9), (Ids{9}));
  EXPECT_EQ(AllProjectIds(9), (Ids{101}));
  EXPECT_EQ(SelfAndAncestors(21), (Ids{9, 21}));
  EXPECT_EQ(AllProjectIds(21), (Ids{101}));
  EXPECT_EQ(Counts(9), CountsOf(0, 1, 1, 1));
  // Project#ancestors is group&.self_and_ancestors: none for a user's project
  EXPECT_EQ(ProjectAncestors(101), (Ids{}));
  EXPECT_EQ(RunnersOfParentGroupsOfProject(101), (Ids{}));
  EXPECT_EQ(RunnersOfGroupAndAncestors(9), (Ids{}));
  EXPECT_EQ(ProjectFullPath(101), "alice/dotfiles");
  EXPECT_EQ(Resolve("alice/dotfiles"), "project:101");
}

TEST_F(GitLabCasesTest, ProjectAncestorsIncludeTheProjectsGroup) {
  BuildOrg();
  EXPECT_EQ(ProjectAncestors(100, kRootFirst), (Ids{1, 2}));
  EXPECT_EQ(ProjectAncestors(100, kSelfFirst), (Ids{2, 1}));
  ReadView view = index_.Read();
  Ids out{7};
  EXPECT_EQ(view.ProjectAncestors(2, kRootFirst, &out).code(), StatusCode::kNotFound)
      << "2 is a namespace id, not a project id";
  EXPECT_TRUE(out.empty()) << "*out is cleared first";
}

// --------------------------------------------------------------- runners

TEST_F(GitLabCasesTest, RunnerScopes) {
  BuildOrg();
  // belonging_to_group: exactly these groups, no hierarchy, de-duplicated
  EXPECT_EQ(RunnersOfGroups({1}), (Ids{500}));
  EXPECT_EQ(RunnersOfGroups({3}), (Ids{501}));
  EXPECT_EQ(RunnersOfGroups({4}), (Ids{}));
  EXPECT_EQ(RunnersOfGroups({3, 1}), (Ids{500, 501}));
  EXPECT_EQ(RunnersOfGroups({2, 1, 1}), (Ids{500}));
  EXPECT_EQ(RunnersOfGroups({777, 5}), (Ids{502}));  // unknown ids contribute nothing
  EXPECT_EQ(RunnersOfGroups({}), (Ids{}));
  // belonging_to_group_and_ancestors
  EXPECT_EQ(RunnersOfGroupAndAncestors(4), (Ids{500, 501}));
  EXPECT_EQ(RunnersOfGroupAndAncestors(2), (Ids{500}));
  EXPECT_EQ(RunnersOfGroupAndAncestors(6), (Ids{502}));
  // belonging_to_parent_groups_of_project
  EXPECT_EQ(RunnersOfParentGroupsOfProject(100), (Ids{500}));
  Ids out{1};
  EXPECT_EQ(index_.Read().RunnersOfGroupAndAncestors(999, &out).code(), StatusCode::kNotFound);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(index_.Read().RunnersOfParentGroupsOfProject(999, &out).code(), StatusCode::kNotFound);

  // A link removed, one moved to another group, one added to a deeper group.
  MustCommit({canopy::DeleteRunnerLink{2}, Link(3, 502, 4), Link(5, 503, 4)});
  EXPECT_EQ(RunnersOfGroupAndAncestors(4), (Ids{500, 502, 503}));
  EXPECT_EQ(RunnersOfGroupAndAncestors(6), (Ids{}));
  EXPECT_EQ(Stats().runner_links, 4u);
}

// ---------------------------------------------------------- deep chains

TEST_F(GitLabCasesTest, TwentyOneLevelsAndTwoHundred) {
  // GitLab's limit: 20 ancestors, 21 levels. canopy accepts deeper data.
  std::vector<RowChange> chain;
  Ids expected;
  for (int64_t level = 0; level < 200; ++level) {
    const int64_t id = 1000 + level;
    chain.push_back(Group(id, level ? std::optional<int64_t>(id - 1) : std::nullopt,
                          Cat("d", std::to_string(level))));
    expected.push_back(id);
  }
  std::vector<RowChange> first21(chain.begin(), chain.begin() + 21);
  MustCommit(first21);
  EXPECT_EQ(SelfAndAncestors(1020), Ids(expected.begin(), expected.begin() + 21));
  EXPECT_EQ(Counts(1000)[0], 20u);
  EXPECT_EQ(RootAncestor(1020), 1000);

  MustCommit(std::vector<RowChange>(chain.begin() + 21, chain.end()));
  MustCommit({ProjectNamespace(5000, 1199, "deep-app"), Project(900, 1199, 5000, "deep-app"),
              Link(1, 77, 1000)});
  EXPECT_EQ(SelfAndAncestors(1199), expected);
  Ids reversed(expected.rbegin(), expected.rend());
  EXPECT_EQ(SelfAndAncestors(1199, kSelfFirst), reversed);
  EXPECT_EQ(Descendants(1000).size(), 199u);
  EXPECT_EQ(Counts(1000), CountsOf(199, 1, 1, 1));
  EXPECT_EQ(AllProjectIds(1000), (Ids{900}));
  EXPECT_EQ(ProjectAncestors(900), expected);
  EXPECT_EQ(RunnersOfParentGroupsOfProject(900), (Ids{77}));
  EXPECT_EQ(AncestorsUpto(1199, 1100), Ids(expected.begin() + 101, expected.end() - 1));
  std::string path;
  for (int level = 0; level < 200; ++level) path += (level ? "/d" : "d") + std::to_string(level);
  EXPECT_EQ(FullPath(1199), path);
  EXPECT_EQ(Resolve(path), "ns:1199");
  EXPECT_EQ(Resolve(path + "/deep-app"), "project:900");

  // Move the lower half (level 100 and below) under a new root.
  MustCommit({Group(9000, std::nullopt, "new-root"), Group(1100, 9000, "d100")});
  EXPECT_EQ(Counts(1000), CountsOf(99, 0, 0, 0));
  EXPECT_EQ(Counts(9000), CountsOf(100, 1, 1, 1));
  EXPECT_EQ(SelfAndAncestors(1199).size(), 101u);
  EXPECT_EQ(RootAncestor(1199), 9000);
  EXPECT_EQ(RunnersOfParentGroupsOfProject(900), (Ids{}));
  EXPECT_EQ(Descendants(1000).size(), 99u);
  EXPECT_EQ(Resolve(path), "not_found");
}

// ---------------------------------------------------------------- moves

TEST_F(GitLabCasesTest, TransferMovesTheSubtreeAndItsCounts) {
  BuildOrg();
  MustCommit({ProjectNamespace(22, 4, "deep"), Project(102, 4, 22, "deep", /*archived=*/true)});
  EXPECT_EQ(AllProjectIds(1), (Ids{100, 102}));
  EXPECT_EQ(AllUnarchivedProjectIds(1), (Ids{100}));
  EXPECT_EQ(Counts(1), CountsOf(3, 2, 2, 1));

  // GitLab's transfer: the node's parent_id UPDATE, then one UPDATE per moved
  // node (traversal_ids; same mirrored columns).
  MustCommit({Group(3, 6, "l3"), Group(4, 3, "l4"), ProjectNamespace(22, 4, "deep")});
  EXPECT_EQ(SelfAndAncestors(4), (Ids{5, 6, 3, 4}));
  EXPECT_EQ(SelfAndAncestors(22), (Ids{5, 6, 3, 4, 22}));
  EXPECT_EQ(Descendants(1), (Ids{2}));
  EXPECT_EQ(Descendants(5), (Ids{3, 4, 6}));
  EXPECT_EQ(Descendants(5, true), (Ids{3, 4, 6, 22}));
  EXPECT_EQ(Counts(1), CountsOf(1, 1, 1, 1));
  EXPECT_EQ(Counts(2), CountsOf(0, 1, 1, 1));
  EXPECT_EQ(Counts(5), CountsOf(3, 1, 1, 0));
  EXPECT_EQ(AllProjectIds(5), (Ids{102}));
  EXPECT_EQ(AllUnarchivedProjectIds(5), (Ids{}));
  EXPECT_EQ(RunnersOfGroupAndAncestors(4), (Ids{501, 502}));
  EXPECT_EQ(ProjectAncestors(102), (Ids{5, 6, 3, 4}));
  EXPECT_EQ(FullPath(4), "other/other-child/l3/l4");
  EXPECT_EQ(ProjectFullPath(102), "other/other-child/l3/l4/deep");
  EXPECT_EQ(Resolve("gitlab-org/l2/l3/l4"), "not_found");
  EXPECT_EQ(Resolve("other/other-child/l3/l4"), "ns:4");

  // A project transfer: projects.namespace_id and the project namespace's parent.
  MustCommit({Project(100, 9, 20, "proj"), ProjectNamespace(20, 9, "proj")});
  EXPECT_EQ(ProjectAncestors(100), (Ids{}));
  EXPECT_EQ(AllProjectIds(1), (Ids{}));
  EXPECT_EQ(AllProjectIds(9), (Ids{100, 101}));
  EXPECT_EQ(SelfAndDescendants(9, true), (Ids{9, 20, 21}));
  EXPECT_EQ(Counts(1), CountsOf(1, 0, 0, 0));
  EXPECT_EQ(Counts(9), CountsOf(0, 2, 2, 2));
  EXPECT_EQ(ProjectFullPath(100), "alice/proj");

  // And back to the root level: a group becomes a root.
  MustCommit({Group(3, std::nullopt, "l3")});
  EXPECT_EQ(SelfAndAncestors(22), (Ids{3, 4, 22}));
  EXPECT_EQ(Counts(5), CountsOf(1, 0, 0, 0));
  EXPECT_EQ(Resolve("l3/l4/deep"), "project:102");
}

// --------------------------------------------------- transaction order

TEST_F(GitLabCasesTest, ChildBeforeParentAndInsertThenUpdateInOneTransaction) {
  BuildOrg();
  // The project first, then its project namespace, then the child group,
  // then the parent group: only the end of the transaction counts.
  MustCommit({Project(103, 31, 23, "late"), ProjectNamespace(23, 31, "late"),
              Group(31, 30, "child"), Group(30, 1, "parent-x"),
              Group(30, 1, "parent")});  // INSERT then UPDATE of the same row
  EXPECT_EQ(SelfAndAncestors(31), (Ids{1, 30, 31}));
  EXPECT_EQ(ProjectAncestors(103), (Ids{1, 30, 31}));
  EXPECT_EQ(FullPath(31), "gitlab-org/parent/child");
  EXPECT_EQ(AllProjectIds(30), (Ids{103}));
  EXPECT_EQ(Stats().orphan_namespaces, 0u);
  EXPECT_EQ(Stats().orphan_projects, 0u);
  EXPECT_EQ(Stats().cycles_refused, 0u);
}

TEST_F(GitLabCasesTest, SwapIsLegalAtTheEndOfTheTransaction) {
  BuildOrg();
  // 2 moves under 3 (its own child: a cycle halfway), then 3 moves up to 1.
  MustCommit({Group(2, 3, "l2"), Group(3, 1, "l3")});
  EXPECT_EQ(Stats().cycles_refused, 0u);
  EXPECT_EQ(SelfAndAncestors(2), (Ids{1, 3, 2}));
  EXPECT_EQ(SelfAndAncestors(4), (Ids{1, 3, 4}));
  EXPECT_EQ(SelfAndAncestors(20), (Ids{1, 3, 2, 20}));
  EXPECT_EQ(Descendants(3), (Ids{2, 4}));
  EXPECT_EQ(Counts(1), CountsOf(3, 1, 1, 1));
  EXPECT_EQ(Counts(3), CountsOf(2, 1, 1, 1));
  // The same swap back, in the other row order.
  MustCommit({Group(3, 2, "l3"), Group(2, 1, "l2")});
  EXPECT_EQ(SelfAndAncestors(4), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(Counts(3), CountsOf(1, 0, 0, 0));
  EXPECT_EQ(Stats().cycles_refused, 0u);
}

TEST_F(GitLabCasesTest, MoveUnderOwnDescendantIsRefusedRestOfRowApplied) {
  BuildOrg();
  // group 1 under 4 (its grandchild's child) with a new path: the parent
  // change is refused, the path is applied.
  MustCommit({Group(1, 4, "renamed-org")});
  EXPECT_EQ(Stats().cycles_refused, 1u);
  EXPECT_EQ(SelfAndAncestors(4), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(SelfAndAncestors(1), (Ids{1}));
  EXPECT_EQ(FullPath(4), "renamed-org/l2/l3/l4");
  std::optional<canopy::NamespaceRow> row = index_.Read().GetNamespace(1);
  ASSERT_TRUE(row.has_value());
  EXPECT_FALSE(row->parent_id.has_value()) << "keeps its old parent";
  EXPECT_EQ(row->path, "renamed-org");
  // A node as its own parent.
  MustCommit({Group(6, 6, "other-child")});
  EXPECT_EQ(Stats().cycles_refused, 2u);
  EXPECT_EQ(SelfAndAncestors(6), (Ids{5, 6}));
  // 5 under its child 6 (refused) next to a legal insert in the same transaction.
  MustCommit({Group(5, 6, "other"), Group(9000, 4, "fine")});
  EXPECT_EQ(Stats().cycles_refused, 3u);
  EXPECT_EQ(SelfAndAncestors(6), (Ids{5, 6}));
  EXPECT_EQ(SelfAndAncestors(9000), (Ids{1, 2, 3, 4, 9000})) << "the rest of the txn applied";
  EXPECT_EQ(Counts(1), CountsOf(4, 1, 1, 1));
  EXPECT_EQ(Stats().orphan_namespaces, 0u);
  // Later, legal moves still work.
  MustCommit({Group(3, 6, "l3")});
  EXPECT_EQ(SelfAndAncestors(9000), (Ids{5, 6, 3, 4, 9000}));
  EXPECT_EQ(Stats().cycles_refused, 3u);
}

// -------------------------------------------------------------- deletes

TEST_F(GitLabCasesTest, DeleteChildrenFirstAndProjectThenItsNamespace) {
  BuildOrg();
  // Project delete followed by the trigger's delete of its project namespace.
  MustCommit({canopy::DeleteProject{100}, canopy::DeleteNamespace{20}});
  EXPECT_EQ(AllProjectIds(1), (Ids{}));
  EXPECT_EQ(Counts(1), CountsOf(3, 0, 0, 0));
  // Children before parents.
  MustCommit({canopy::DeleteNamespace{4}, canopy::DeleteNamespace{3}, canopy::DeleteNamespace{2}});
  EXPECT_EQ(Descendants(1), (Ids{}));
  // The link table has no foreign key (ci_runner_namespaces lives in another
  // database; loose foreign keys clean it up later): link 2 still counts.
  EXPECT_EQ(RunnersOfGroups({3}), (Ids{501}));
  EXPECT_EQ(index_.Query({.kind = QueryKind::kRunnersOfGroup, .id = 3}).answer.ids, (Ids{501}));
  EXPECT_EQ(RunnersOfGroupAndAncestors(1), (Ids{500})) << "walks only namespaces it holds";
  IndexStats s = Stats();
  EXPECT_EQ(s.orphan_namespaces, 0u);
  EXPECT_EQ(s.orphan_projects, 0u);
  EXPECT_EQ(s.unknown_deletes, 0u);
  EXPECT_EQ(s.namespaces, 5u);  // 1, 5, 6, 9, 21
  EXPECT_EQ(s.projects, 1u);
  Ids out{1};
  EXPECT_EQ(index_.Read().SelfAndAncestors(3, kRootFirst, &out).code(), StatusCode::kNotFound);
  EXPECT_TRUE(out.empty());
}

TEST_F(GitLabCasesTest, DeleteWithChildrenLeavesOrphansReattachedWhenTheIdReappears) {
  BuildOrg();
  MustCommit({canopy::DeleteNamespace{2}});
  IndexStats s = Stats();
  EXPECT_EQ(s.orphan_namespaces, 2u);  // 3 and project namespace 20
  EXPECT_EQ(s.orphan_projects, 1u);    // project 100 (namespace 2)
  EXPECT_EQ(index_.Read().ListOrphanNamespaceIds(), (Ids{3, 20}));
  // An orphan is a detached root.
  EXPECT_EQ(SelfAndAncestors(4), (Ids{3, 4}));
  EXPECT_EQ(RootAncestor(4), 3);
  EXPECT_EQ(FullPath(4), "l3/l4");
  EXPECT_EQ(Descendants(1), (Ids{}));
  EXPECT_EQ(Counts(1), CountsOf(0, 0, 0, 0));
  EXPECT_EQ(AllProjectIds(1), (Ids{}));
  EXPECT_EQ(ProjectAncestors(100), (Ids{})) << "an orphan project belongs to nothing";
  EXPECT_EQ(RunnersOfGroupAndAncestors(4), (Ids{501}));
  // The orphan project is in no group's answer, but its own project
  // namespace still names it (SQL: projects WHERE project_namespace_id = 20).
  EXPECT_EQ(AllProjectIds(20), (Ids{100}));
  EXPECT_EQ(Counts(20), CountsOf(0, 0, 1, 1));
  // Orphans are not reachable by path.
  EXPECT_EQ(Resolve("l3/l4"), "not_found");
  EXPECT_EQ(Resolve("l3"), "not_found");

  // The id reappears elsewhere: everything waiting for it hangs there again.
  MustCommit({Group(2, 5, "l2-again")});
  s = Stats();
  EXPECT_EQ(s.orphan_namespaces, 0u);
  EXPECT_EQ(s.orphan_projects, 0u);
  EXPECT_EQ(SelfAndAncestors(4), (Ids{5, 2, 3, 4}));
  EXPECT_EQ(SelfAndAncestors(20), (Ids{5, 2, 20}));
  EXPECT_EQ(ProjectAncestors(100), (Ids{5, 2}));
  EXPECT_EQ(AllProjectIds(5), (Ids{100}));
  EXPECT_EQ(AllProjectIds(20), (Ids{100}));
  EXPECT_EQ(Counts(5), CountsOf(4, 1, 1, 1));
  EXPECT_EQ(FullPath(4), "other/l2-again/l3/l4");
  // link 4 (runner 500 -> namespace 2) counts again too
  EXPECT_EQ(RunnersOfGroupAndAncestors(4), (Ids{500, 501, 502}));
}

TEST_F(GitLabCasesTest, ParentArrivingInALaterTransaction) {
  MustCommit({Group(11, 10, "child"), Project(200, 11, 40, "p"), ProjectNamespace(40, 11, "p")});
  EXPECT_EQ(Stats().orphan_namespaces, 1u);
  EXPECT_EQ(Stats().orphan_projects, 0u);
  EXPECT_EQ(SelfAndAncestors(11), (Ids{11}));
  EXPECT_EQ(ProjectAncestors(200), (Ids{11}));
  MustCommit({Group(10, std::nullopt, "parent")});
  EXPECT_EQ(Stats().orphan_namespaces, 0u);
  EXPECT_EQ(SelfAndAncestors(11), (Ids{10, 11}));
  EXPECT_EQ(ProjectAncestors(200), (Ids{10, 11}));
  EXPECT_EQ(Counts(10), CountsOf(1, 1, 1, 1));
  EXPECT_EQ(Resolve("parent/child/p"), "project:200");
}

TEST_F(GitLabCasesTest, UnknownDeletesAreCounted) {
  BuildOrg();
  MustCommit({canopy::DeleteNamespace{12345}, canopy::DeleteProject{12345},
              canopy::DeleteRunnerLink{12345}, canopy::DeleteRunnerLink{4}});
  EXPECT_EQ(Stats().unknown_deletes, 3u);
  EXPECT_EQ(Stats().runner_links, 3u);
  // Project id 1 does not exist although namespace 1 does: the tables are apart.
  MustCommit({canopy::DeleteProject{1}});
  EXPECT_EQ(Stats().unknown_deletes, 4u);
  EXPECT_EQ(SelfAndAncestors(1), (Ids{1}));
}

// ---------------------------------------------------------------- LSNs

TEST_F(GitLabCasesTest, LsnGoingBackwardsIsRefusedAndNothingApplied) {
  BuildOrg();
  const Lsn applied = index_.applied_lsn();
  EXPECT_EQ(applied, Lsn(lsn_));
  Status s = index_.Apply(Transaction{Lsn(applied.value - 1), {Group(50, 1, "late")}});
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(index_.applied_lsn(), applied);
  EXPECT_FALSE(index_.Read().GetNamespace(50).has_value());
  EXPECT_EQ(Stats().namespaces, 9u);

  // A batch whose second member goes backwards: checked before anything is applied.
  std::vector<Transaction> batch;
  batch.push_back(Transaction{Lsn(applied.value + 100), {Group(51, 1, "a")}});
  batch.push_back(Transaction{Lsn(applied.value + 50), {Group(52, 1, "b")}});
  EXPECT_EQ(index_.ApplyBatch(std::move(batch)).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(index_.applied_lsn(), applied);
  EXPECT_FALSE(index_.Read().GetNamespace(51).has_value());
  EXPECT_EQ(Descendants(1), (Ids{2, 3, 4}));
  const uint64_t applied_count = Stats().transactions_applied;

  // An empty transaction just advances the LSN (and is not counted).
  ASSERT_TRUE(index_.Apply(Transaction{Lsn(applied.value + 7), {}}).ok());
  EXPECT_EQ(index_.applied_lsn(), Lsn(applied.value + 7));
  EXPECT_EQ(index_.Read().lsn(), Lsn(applied.value + 7));
  // The same LSN again is not "going backwards" (commit_lsn < applied is).
  EXPECT_TRUE(index_.Apply(Transaction{Lsn(applied.value + 7), {Group(53, 1, "c")}}).ok());
  EXPECT_EQ(Descendants(1), (Ids{2, 3, 4, 53}));

  // A batch: one publish, every member applied, the last LSN wins.
  batch.clear();
  batch.push_back(Transaction{Lsn(applied.value + 8), {Group(54, 1, "d")}});
  batch.push_back(Transaction{Lsn(applied.value + 9), {canopy::DeleteNamespace{54}}});
  batch.push_back(Transaction{Lsn(applied.value + 10), {Group(55, 54, "e")}});
  ASSERT_TRUE(index_.ApplyBatch(std::move(batch)).ok());
  EXPECT_EQ(index_.applied_lsn(), Lsn(applied.value + 10));
  EXPECT_EQ(Stats().orphan_namespaces, 1u);
  EXPECT_EQ(Stats().transactions_applied, applied_count + 4);

  canopy::QueryAnswer answer = index_.Query({.kind = QueryKind::kDescendants, .id = 1});
  EXPECT_EQ(answer.lsn, Lsn(applied.value + 10));
  EXPECT_EQ(answer.answer.ids, (Ids{2, 3, 4, 53}));
}

TEST(LsnTest, ToStringAndParse) {
  EXPECT_EQ(Lsn(0x16B374D848).ToString(), "16/B374D848");
  EXPECT_EQ(Lsn(0).ToString(), "0/0");
  EXPECT_EQ(Lsn(0xFFFFFFFFFFFFFFFF).ToString(), "FFFFFFFF/FFFFFFFF");
  EXPECT_EQ(Lsn(0x100000000).ToString(), "1/0");
  EXPECT_EQ(Lsn(0xA).ToString(), "0/A");
  EXPECT_EQ(Lsn::Parse("16/B374D848"), Lsn(0x16B374D848));
  EXPECT_EQ(Lsn::Parse("16/b374d848"), Lsn(0x16B374D848));
  EXPECT_EQ(Lsn::Parse("0/0"), Lsn(0));
  EXPECT_EQ(Lsn::Parse("FFFFFFFF/FFFFFFFF"), Lsn(0xFFFFFFFFFFFFFFFF));
  EXPECT_EQ(Lsn::Parse("0/A"), Lsn(10));
  for (const char* bad : {"", "/", "16", "16/", "/B374D848", "G/1", "1/2/3", "16/B374D848x", " 1/2",
                          "1 /2", "-1/2", "1/-2", "100000000/0", "0/100000000"}) {
    EXPECT_EQ(Lsn::Parse(bad), std::nullopt) << "\"" << bad << "\"";
  }
  for (uint64_t v : {uint64_t{1}, uint64_t{0xDEADBEEF}, uint64_t{0x123456789ABCDEF0},
                     uint64_t{0xFFFFFFFF}, uint64_t{0x100000001}}) {
    EXPECT_EQ(Lsn::Parse(Lsn(v).ToString()), Lsn(v)) << Lsn(v).ToString();
  }
  EXPECT_LT(Lsn(1), Lsn(2));
}

TEST(NamesTest, StableNames) {
  EXPECT_EQ(std::string(canopy::StatusCodeName(StatusCode::kOk)), "ok");
  EXPECT_EQ(std::string(canopy::StatusCodeName(StatusCode::kNotFound)), "not_found");
  EXPECT_EQ(Status::NotFound("x").ToString().rfind("not_found", 0), 0u);
  EXPECT_EQ(Status().ToString(), "ok");
  EXPECT_EQ(std::string(canopy::NamespaceTypeName(canopy::NamespaceType::kGroup)), "Group");
  EXPECT_EQ(std::string(canopy::NamespaceTypeName(canopy::NamespaceType::kProject)), "Project");
  EXPECT_EQ(std::string(canopy::NamespaceTypeName(canopy::NamespaceType::kUser)), "User");
  EXPECT_EQ(canopy::NamespaceTypeFromName("Group"), canopy::NamespaceType::kGroup);
  EXPECT_EQ(canopy::NamespaceTypeFromName("Project"), canopy::NamespaceType::kProject);
  EXPECT_EQ(canopy::NamespaceTypeFromName("User"), canopy::NamespaceType::kUser);
  EXPECT_EQ(canopy::NamespaceTypeFromName("Namespace"), canopy::NamespaceType::kUser);
  EXPECT_EQ(canopy::NamespaceTypeFromName(""), canopy::NamespaceType::kUser);
  EXPECT_EQ(std::string(canopy::QueryKindName(QueryKind::kSelfAndAncestors)), "self_and_ancestors");
  EXPECT_EQ(std::string(canopy::QueryKindName(QueryKind::kAllProjectIds)), "all_project_ids");
  for (QueryKind kind :
       {QueryKind::kSelfAndDescendants, QueryKind::kDescendants, QueryKind::kSelfAndHierarchy,
        QueryKind::kAllProjectIds, QueryKind::kAllUnarchivedProjectIds, QueryKind::kRunnersOfGroup,
        QueryKind::kRunnersOfGroupAndAncestors, QueryKind::kRunnersOfParentGroupsOfProject}) {
    EXPECT_TRUE(canopy::IsAscendingKind(kind)) << canopy::QueryKindName(kind);
  }
  for (QueryKind kind : {QueryKind::kSelfAndAncestors, QueryKind::kAncestors,
                         QueryKind::kAncestorsUpto, QueryKind::kProjectAncestors}) {
    EXPECT_FALSE(canopy::IsAscendingKind(kind)) << canopy::QueryKindName(kind);
  }
}

// ------------------------------------------------------ partial updates

TEST_F(GitLabCasesTest, ColumnMaskPartialUpsertsKeepOldValues) {
  BuildOrg();
  canopy::NamespaceRow rename;
  rename.id = 3;
  rename.name = "Level Three";
  rename.parent_id = 5;         // absent: ignored
  rename.path = "ignored";      // absent: ignored
  rename.visibility_level = 0;  // absent: ignored
  rename.present = canopy::NamespaceRow::kName;
  canopy::ProjectRow archive;
  archive.id = 100;
  archive.archived = true;
  archive.namespace_id = 5;  // absent: ignored
  archive.present = canopy::ProjectRow::kArchived;
  canopy::RunnerLinkRow relink{
      .id = 2, .runner_id = 999, .namespace_id = 6, .present = canopy::RunnerLinkRow::kNamespaceId};
  MustCommit({canopy::UpsertNamespace{rename}, canopy::UpsertProject{archive},
              canopy::UpsertRunnerLink{relink}});

  ReadView view = index_.Read();
  std::optional<canopy::NamespaceRow> ns = view.GetNamespace(3);
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ(ns->name, "Level Three");
  EXPECT_EQ(ns->path, "l3");
  EXPECT_EQ(ns->parent_id, std::optional<int64_t>(2));
  EXPECT_EQ(ns->type, canopy::NamespaceType::kGroup);
  EXPECT_EQ(ns->visibility_level, 20);
  std::optional<canopy::ProjectRow> project = view.GetProject(100);
  ASSERT_TRUE(project.has_value());
  EXPECT_TRUE(project->archived);
  EXPECT_EQ(project->namespace_id, 2);
  EXPECT_EQ(project->project_namespace_id, std::optional<int64_t>(20));
  EXPECT_EQ(project->path, "proj");
  std::optional<canopy::RunnerLinkRow> link = view.GetRunnerLink(2);
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->runner_id, 501);
  EXPECT_EQ(link->namespace_id, 6);
  Ids out;
  ASSERT_TRUE(view.AllUnarchivedProjectIds(1, &out).ok());
  EXPECT_EQ(out, (Ids{}));
  ASSERT_TRUE(view.AllProjectIds(1, &out).ok());
  EXPECT_EQ(out, (Ids{100}));
  ASSERT_TRUE(view.RunnersOfGroupAndAncestors(6, &out).ok());
  EXPECT_EQ(out, (Ids{501, 502}));
  ASSERT_TRUE(view.SelfAndAncestors(4, kRootFirst, &out).ok());
  EXPECT_EQ(out, (Ids{1, 2, 3, 4}));
  EXPECT_EQ(view.Counts(1).value().unarchived_projects, 0u);
}

TEST_F(GitLabCasesTest, PartialUpsertOfANewRowTakesDefaults) {
  canopy::NamespaceRow row;
  row.id = 70;
  row.type = canopy::NamespaceType::kGroup;
  row.path = "new";
  row.name = "ignored";
  row.visibility_level = 0;
  row.parent_id = 4;
  row.present = canopy::NamespaceRow::kType | canopy::NamespaceRow::kPath;
  canopy::ProjectRow project;
  project.id = 80;
  project.namespace_id = 70;
  project.path = "p";
  project.archived = true;
  project.visibility_level = 20;
  project.present = canopy::ProjectRow::kNamespaceId | canopy::ProjectRow::kPath;
  MustCommit({canopy::UpsertNamespace{row}, canopy::UpsertProject{project}});
  ReadView view = index_.Read();
  std::optional<canopy::NamespaceRow> got = view.GetNamespace(70);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->parent_id.has_value());
  EXPECT_EQ(got->name, "");
  EXPECT_EQ(got->visibility_level, 20);
  EXPECT_EQ(got->type, canopy::NamespaceType::kGroup);
  std::optional<canopy::ProjectRow> got_project = view.GetProject(80);
  ASSERT_TRUE(got_project.has_value());
  EXPECT_FALSE(got_project->archived);
  EXPECT_EQ(got_project->visibility_level, 0);
  EXPECT_FALSE(got_project->project_namespace_id.has_value());
  Ids out;
  ASSERT_TRUE(view.AllUnarchivedProjectIds(70, &out).ok());
  EXPECT_EQ(out, (Ids{80}));
  EXPECT_EQ(view.Stats().orphan_namespaces, 0u);
}

// ------------------------------------------------------------ truncate

TEST_F(GitLabCasesTest, TruncateTables) {
  BuildOrg();
  MustCommit({canopy::TruncateTable{Table::kRunnerLinks}});
  EXPECT_EQ(RunnersOfGroupAndAncestors(4), (Ids{}));
  EXPECT_EQ(Stats().runner_links, 0u);
  EXPECT_EQ(Stats().namespaces, 9u);

  MustCommit({canopy::TruncateTable{Table::kProjects}});
  EXPECT_EQ(Stats().projects, 0u);
  EXPECT_EQ(AllProjectIds(1), (Ids{}));
  EXPECT_EQ(AllProjectIds(20), (Ids{}));
  EXPECT_EQ(Counts(1), CountsOf(3, 1, 0, 0));

  MustCommit({Project(100, 2, 20, "proj"), canopy::TruncateTable{Table::kNamespaces}});
  IndexStats s = Stats();
  EXPECT_EQ(s.namespaces, 0u);
  EXPECT_EQ(s.projects, 1u);
  EXPECT_EQ(s.orphan_projects, 1u);
  EXPECT_EQ(s.orphan_namespaces, 0u);
  Ids out{1};
  EXPECT_EQ(index_.Read().SelfAndDescendants(1, false, &out).code(), StatusCode::kNotFound);
  EXPECT_TRUE(index_.Read().ListNamespaceIds().empty());
  EXPECT_EQ(Resolve("gitlab-org"), "not_found");

  // Rows after a truncate in the same transaction survive it.
  MustCommit({canopy::TruncateTable{Table::kNamespaces}, Group(2, std::nullopt, "back"),
              ProjectNamespace(20, 2, "proj")});
  EXPECT_EQ(Stats().orphan_projects, 0u);
  EXPECT_EQ(AllProjectIds(2), (Ids{100}));
  EXPECT_EQ(Resolve("back/proj"), "project:100");
}

// --------------------------------------------------------------- paging

TEST_F(GitLabCasesTest, PagingWithLimitAfterIdTotalAndMore) {
  std::vector<RowChange> rows{Group(1, std::nullopt, "top")};
  for (int64_t id = 10; id < 20; ++id) rows.push_back(Group(id, 1, Cat("sub", std::to_string(id))));
  MustCommit(rows);

  IdQuery q{.kind = QueryKind::kDescendants, .id = 1, .limit = 3};
  Ids all;
  for (int page = 0; page < 10; ++page) {
    canopy::QueryAnswer a = index_.Query(q);
    ASSERT_TRUE(a.answer.status.ok()) << a.answer.status.ToString();
    EXPECT_EQ(a.answer.total, 10u);
    all.insert(all.end(), a.answer.ids.begin(), a.answer.ids.end());
    if (!a.answer.more) break;
    EXPECT_EQ(a.answer.ids.size(), 3u);
    q.after_id = a.answer.ids.back();
  }
  EXPECT_EQ(all, (Ids{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));

  ReadView view = index_.Read();
  IdAnswer a = view.Run({.kind = QueryKind::kDescendants, .id = 1, .limit = 4, .after_id = 15});
  EXPECT_EQ(a.ids, (Ids{16, 17, 18, 19}));
  EXPECT_FALSE(a.more) << "exactly the rest fits the limit";
  EXPECT_EQ(a.total, 10u);
  a = view.Run({.kind = QueryKind::kDescendants, .id = 1, .after_id = 19});
  EXPECT_EQ(a.ids, (Ids{}));
  EXPECT_FALSE(a.more);
  a = view.Run({.kind = QueryKind::kSelfAndDescendants, .id = 1, .after_id = -5});
  EXPECT_EQ(a.ids.size(), 11u);
  a = view.Run({.kind = QueryKind::kDescendants, .id = 1, .limit = 10});
  EXPECT_EQ(a.ids.size(), 10u);
  EXPECT_FALSE(a.more) << "limit equal to the answer: nothing cut";
}

TEST_F(GitLabCasesTest, PagingOnAncestorKindsAndBadQueries) {
  MustCommit({Group(1, std::nullopt, "a"), Group(2, 1, "b"), Group(3, 2, "c"), Group(4, 3, "d")});
  ReadView view = index_.Read();
  IdAnswer a = view.Run({.kind = QueryKind::kSelfAndAncestors, .id = 4, .limit = 2});
  EXPECT_TRUE(a.status.ok());
  EXPECT_EQ(a.ids, (Ids{1, 2}));
  EXPECT_EQ(a.total, 4u);
  EXPECT_TRUE(a.more);
  a = view.Run({.kind = QueryKind::kSelfAndAncestors, .id = 4, .order = kSelfFirst, .limit = 3});
  EXPECT_EQ(a.ids, (Ids{4, 3, 2}));
  EXPECT_TRUE(a.more);
  a = view.Run({.kind = QueryKind::kAncestorsUpto, .id = 4, .top = 1, .limit = 5});
  EXPECT_EQ(a.ids, (Ids{2, 3}));
  EXPECT_EQ(a.total, 2u);
  EXPECT_FALSE(a.more);
  a = view.Run({.kind = QueryKind::kRootAncestor, .id = 4});
  EXPECT_EQ(a.ids, (Ids{1}));
  EXPECT_EQ(a.total, 1u);
  a = view.Run({.kind = QueryKind::kAncestors, .id = 4, .after_id = 1});
  EXPECT_EQ(a.status.code(), StatusCode::kInvalidArgument);
  a = view.Run({.kind = static_cast<QueryKind>(200), .id = 4});
  EXPECT_EQ(a.status.code(), StatusCode::kInvalidArgument);
  a = view.Run({.kind = QueryKind::kDescendants, .id = 99});
  EXPECT_EQ(a.status.code(), StatusCode::kNotFound);
  EXPECT_TRUE(a.ids.empty());
}

// IdOrder::kAny: the same set as the ascending answer, each id once; no
// cursor; a limit takes some of the ids; ancestor kinds keep their order.
TEST_F(GitLabCasesTest, AnyIdOrderIsTheSameSetWithoutACursor) {
  BuildOrg();
  // Runner 500 is linked to 1 and 2 (and twice to 2 now); 503 to 4 and 1.
  MustCommit({Link(6, 500, 2), Link(7, 503, 4), Link(8, 503, 1), Group(7, 2, "l3b"),
              Group(8, 7, "l4b"), Group(10, 1, "l2b")});
  using canopy::IdOrder;
  ReadView view = index_.Read();
  auto sorted = [](Ids ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  struct Case {
    QueryKind kind;
    int64_t id;
    bool pns;
  };
  const std::vector<Case> cases = {
      {QueryKind::kSelfAndDescendants, 1, false},
      {QueryKind::kSelfAndDescendants, 1, true},
      {QueryKind::kDescendants, 2, true},
      {QueryKind::kSelfAndDescendants, 9, false},  // a user namespace: itself
      {QueryKind::kSelfAndHierarchy, 2, false},
      {QueryKind::kSelfAndHierarchy, 7, true},
      {QueryKind::kAllProjectIds, 1, false},
      {QueryKind::kAllUnarchivedProjectIds, 9, false},
      {QueryKind::kAllProjectIds, 20, false},  // a project namespace: its project
      {QueryKind::kRunnersOfGroup, 2, false},  // 500 twice on one namespace
      {QueryKind::kRunnersOfGroupAndAncestors, 4, false},
      {QueryKind::kRunnersOfGroupAndAncestors, 8, false},
      {QueryKind::kRunnersOfParentGroupsOfProject, 100, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(canopy::QueryKindName(c.kind)) + "(" + std::to_string(c.id) + ")");
    IdQuery q{.kind = c.kind, .id = c.id, .include_project_namespaces = c.pns};
    const IdAnswer want = view.Run(q);
    ASSERT_TRUE(want.status.ok()) << want.status.ToString();
    q.id_order = IdOrder::kAny;
    const IdAnswer any = view.Run(q);
    ASSERT_TRUE(any.status.ok()) << any.status.ToString();
    EXPECT_EQ(sorted(any.ids), want.ids) << "the same ids, each once";
    EXPECT_EQ(any.total, want.total);
    EXPECT_FALSE(any.more);
    // A limit takes `limit` of the ids and says there are more.
    if (want.ids.size() >= 2) {
      q.limit = static_cast<uint32_t>(want.ids.size() - 1);
      const IdAnswer page = view.Run(q);
      ASSERT_TRUE(page.status.ok());
      EXPECT_EQ(page.ids.size(), q.limit);
      EXPECT_TRUE(page.more);
      EXPECT_EQ(page.total, want.total);
      Ids seen = sorted(page.ids);
      EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a duplicate";
      for (int64_t id : seen) {
        EXPECT_TRUE(std::binary_search(want.ids.begin(), want.ids.end(), id)) << id;
      }
      q.limit = 0;
    }
    // No keyset cursor without the order.
    q.after_id = 0;
    EXPECT_EQ(view.Run(q).status.code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(
      view.Run({.kind = QueryKind::kRunnersOfGroupAndAncestors, .id = 4, .id_order = IdOrder::kAny})
          .ids.size(),
      3u)
      << "500 (on 1 and twice on 2), 501, 503 (on 4 and 1): once each";

  // Ancestor kinds ignore it: their hierarchy order stands.
  for (HierarchyOrder order : {kRootFirst, kSelfFirst}) {
    IdQuery q{.kind = QueryKind::kSelfAndAncestors, .id = 8, .order = order};
    const Ids want = view.Run(q).ids;
    q.id_order = IdOrder::kAny;
    EXPECT_EQ(view.Run(q).ids, want);
    q = {.kind = QueryKind::kProjectAncestors, .id = 100, .order = order};
    const Ids want_project = view.Run(q).ids;
    q.id_order = IdOrder::kAny;
    EXPECT_EQ(view.Run(q).ids, want_project);
  }
  // Unknown ids and bad values.
  IdAnswer a = view.Run({.kind = QueryKind::kDescendants, .id = 99, .id_order = IdOrder::kAny});
  EXPECT_EQ(a.status.code(), StatusCode::kNotFound);
  a = view.Run({.kind = QueryKind::kDescendants, .id = 1, .id_order = static_cast<IdOrder>(2)});
  EXPECT_EQ(a.status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(a.ids.empty());
  // The typed ReadView methods stay ascending.
  EXPECT_EQ(SelfAndDescendants(1), (Ids{1, 2, 3, 4, 7, 8, 10}));
}

TEST_F(GitLabCasesTest, KeysetCursorStaysValidAcrossLsnsAndBatchesShareOneState) {
  std::vector<RowChange> rows{Group(1, std::nullopt, "top")};
  for (int64_t id = 10; id < 20; id += 2)
    rows.push_back(Group(id, 1, Cat("s", std::to_string(id))));
  MustCommit(rows);  // descendants 10 12 14 16 18
  IdQuery q{.kind = QueryKind::kDescendants, .id = 1, .limit = 2};
  canopy::QueryAnswer first = index_.Query(q);
  ASSERT_EQ(first.answer.ids, (Ids{10, 12}));
  MustCommit({Group(11, 1, "s11"), Group(15, 1, "s15"), canopy::DeleteNamespace{14}});
  q.after_id = first.answer.ids.back();
  canopy::QueryAnswer second = index_.Query(q);
  EXPECT_GT(second.lsn, first.lsn);
  EXPECT_EQ(second.answer.ids, (Ids{15, 16}));
  EXPECT_EQ(second.answer.total, 6u);
  EXPECT_TRUE(second.answer.more);

  std::vector<IdQuery> batch = {
      {.kind = QueryKind::kDescendants, .id = 1},
      {.kind = QueryKind::kSelfAndAncestors, .id = 424242},  // unknown: not found, not fatal
      {.kind = QueryKind::kSelfAndAncestors, .id = 16, .order = kSelfFirst},
      {.kind = QueryKind::kAncestors, .id = 16, .after_id = 3},  // bad query
      {.kind = QueryKind::kProjectAncestors, .id = 1},           // no project 1
  };
  canopy::BatchAnswer answers = index_.QueryBatch(batch);
  EXPECT_EQ(answers.lsn, index_.applied_lsn());
  ASSERT_EQ(answers.answers.size(), 5u);
  EXPECT_EQ(answers.answers[0].ids, (Ids{10, 11, 12, 15, 16, 18}));
  EXPECT_EQ(answers.answers[1].status.code(), StatusCode::kNotFound);
  EXPECT_EQ(answers.answers[2].ids, (Ids{16, 1}));
  EXPECT_EQ(answers.answers[3].status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(answers.answers[4].status.code(), StatusCode::kNotFound);
  EXPECT_TRUE(index_.QueryBatch({}).answers.empty());
}

// ---------------------------------------------------------------- paths

TEST_F(GitLabCasesTest, FullPathsAndResolve) {
  BuildOrg();
  // a subgroup and a project with the same path under one parent: the group wins
  MustCommit({Group(7, 2, "twin"), ProjectNamespace(27, 2, "twin"), Project(107, 2, 27, "twin"),
              Group(8, 1, "CaseSensitive")});
  EXPECT_EQ(FullPath(4), "gitlab-org/l2/l3/l4");
  EXPECT_EQ(FullPath(9), "alice");
  EXPECT_EQ(ProjectFullPath(100), "gitlab-org/l2/proj");
  EXPECT_EQ(Resolve("gitlab-org"), "ns:1");
  EXPECT_EQ(Resolve("gitlab-org/l2/l3/l4"), "ns:4");
  EXPECT_EQ(Resolve("gitlab-org/l2/proj"), "project:100");
  EXPECT_EQ(Resolve("gitlab-org/l2/twin"), "ns:7");
  EXPECT_EQ(Resolve("gitlab-org/CaseSensitive"), "ns:8");
  // No exact match: then ignoring case (resolve_case_test.cc has the details).
  EXPECT_EQ(Resolve("gitlab-org/casesensitive"), "ns:8");
  EXPECT_EQ(Resolve("GitLab-org"), "ns:1");
  EXPECT_EQ(Resolve("GitLab-Org/L2/Proj"), "project:100");
  EXPECT_EQ(Resolve("gitlab-org/l3"), "not_found");  // l3 is not a child of gitlab-org
  EXPECT_EQ(Resolve("l2"), "not_found");             // not a root
  EXPECT_EQ(Resolve("gitlab-org/l2/proj/x"), "not_found");
  EXPECT_EQ(Resolve("alice/dotfiles"), "project:101");
  EXPECT_EQ(Resolve("other/other-child"), "ns:6");
  for (const char* bad : {"", "/", "gitlab-org/", "/gitlab-org", "gitlab-org//l2"}) {
    EXPECT_NE(Resolve(bad).rfind("ns:", 0), 0u) << "\"" << bad << "\"";
    EXPECT_NE(Resolve(bad).rfind("project:", 0), 0u) << "\"" << bad << "\"";
  }
  // A rename changes every path below it.
  MustCommit({Group(2, 1, "level-two")});
  EXPECT_EQ(Resolve("gitlab-org/level-two/l3/l4"), "ns:4");
  EXPECT_EQ(Resolve("gitlab-org/l2/l3/l4"), "not_found");
  EXPECT_EQ(ProjectFullPath(100), "gitlab-org/level-two/proj");
  EXPECT_FALSE(index_.Read().ProjectFullPath(4242).ok());
  EXPECT_EQ(index_.Read().NamespaceFullPath(4242).status().code(), StatusCode::kNotFound);
}

TEST_F(GitLabCasesTest, EmptyIndexAnswersNotFound) {
  ReadView view = index_.Read();
  EXPECT_EQ(view.lsn(), Lsn(0));
  Ids out{1};
  EXPECT_EQ(view.SelfAndAncestors(1, kRootFirst, &out).code(), StatusCode::kNotFound);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(view.Counts(1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(view.RootAncestor(1).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(view.Resolve("a").ok());
  EXPECT_TRUE(view.ListNamespaceIds().empty());
  IndexStats s = view.Stats();
  EXPECT_EQ(s.namespaces, 0u);
  EXPECT_EQ(s.transactions_applied, 0u);
  for (int k = 0; k < canopy::kQueryKindCount; ++k) {
    const auto kind = static_cast<QueryKind>(k);
    IdAnswer a = view.Run({.kind = kind, .id = 1});
    // kRunnersOfGroup never answers not found (the link table has no foreign key)
    EXPECT_EQ(a.status.code(),
              kind == QueryKind::kRunnersOfGroup ? StatusCode::kOk : StatusCode::kNotFound)
        << canopy::QueryKindName(kind);
    EXPECT_TRUE(a.ids.empty());
  }
}

// A ReadView keeps showing the state it pinned while the writer moves on.
TEST_F(GitLabCasesTest, ReadViewIsASnapshot) {
  BuildOrg();
  const Lsn before = index_.applied_lsn();
  {
    ReadView old_view = index_.Read();
    ReadView moved = std::move(old_view);  // movable
    MustCommit({Group(3, 6, "l3")});       // one publish while pinned
    Ids out;
    ASSERT_TRUE(moved.SelfAndAncestors(4, kRootFirst, &out).ok());
    EXPECT_EQ(out, (Ids{1, 2, 3, 4}));
    EXPECT_EQ(moved.lsn(), before);
    EXPECT_EQ(moved.Counts(1).value().descendant_groups, 3u);
    EXPECT_EQ(SelfAndAncestors(4), (Ids{5, 6, 3, 4})) << "a new view sees the move";
  }
  MustCommit({Group(3, 2, "l3")});  // the next publish must not wait for anyone
  EXPECT_EQ(SelfAndAncestors(4), (Ids{1, 2, 3, 4}));
}

// The writer's own thread holding a view of the copy the next publish must
// write gets kFailedPrecondition (not a deadlock), and nothing is applied.
TEST_F(GitLabCasesTest, ApplyWhileThisThreadPinsTheCopyToWriteFailsCleanly) {
  BuildOrg();
  std::optional<ReadView> pinned(index_.Read());
  const Lsn pinned_lsn = pinned->lsn();
  MustCommit({Group(40, 1, "first")});  // goes to the other copy
  const Lsn after_first = index_.applied_lsn();
  Status s = Commit({Group(41, 1, "second")});  // must write the pinned copy
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(index_.applied_lsn(), after_first);
  EXPECT_FALSE(index_.Read().GetNamespace(41).has_value());
  Ids out;
  ASSERT_TRUE(pinned->Descendants(1, false, &out).ok());
  EXPECT_EQ(out, (Ids{2, 3, 4})) << "the pinned view is untouched";
  EXPECT_EQ(pinned->lsn(), pinned_lsn);
  pinned.reset();  // drop it, retry
  MustCommit({Group(41, 1, "second")});
  EXPECT_EQ(Descendants(1), (Ids{2, 3, 4, 40, 41}));
  EXPECT_EQ(Stats().transactions_applied, 3u);
}

TEST_F(GitLabCasesTest, CompactKeepsAnswersAndLsn) {
  BuildOrg();
  // Churn so that slots are out of tree order: moves, a delete, re-inserts.
  MustCommit({Group(3, 6, "l3"), canopy::DeleteNamespace{2}, Group(30, 4, "x"), Group(31, 30, "y"),
              Link(9, 510, 31)});
  MustCommit({Group(2, 31, "l2"), Group(7, 1, "seven")});
  const Lsn lsn = index_.applied_lsn();
  const IndexStats before = Stats();
  auto snapshot = [&] {
    std::vector<std::string> answers;
    ReadView view = index_.Read();
    for (int64_t id : view.ListNamespaceIds()) {
      for (int k = 0; k < canopy::kQueryKindCount; ++k) {
        for (bool pns : {false, true}) {
          IdAnswer a = view.Run({.kind = static_cast<QueryKind>(k),
                                 .id = id,
                                 .top = 1,
                                 .include_project_namespaces = pns});
          std::string line = std::to_string(id) + "/" + std::to_string(k) + "/" +
                             std::to_string(pns) + ":" +
                             std::string(canopy::StatusCodeName(a.status.code()));
          for (int64_t x : a.ids) line.append(" ").append(std::to_string(x));
          answers.push_back(line);
        }
      }
      const canopy::SubtreeCounts c = view.Counts(id).value();
      answers.push_back(Cat("counts ", std::to_string(c.descendant_groups)) + "," +
                        std::to_string(c.descendant_project_namespaces) + "," +
                        std::to_string(c.projects) + "," + std::to_string(c.unarchived_projects));
      answers.push_back(Cat("path ", view.NamespaceFullPath(id).value()));
    }
    return answers;
  };
  const std::vector<std::string> expected = snapshot();
  ASSERT_TRUE(index_.Compact().ok());
  EXPECT_EQ(index_.applied_lsn(), lsn);
  EXPECT_EQ(snapshot(), expected);
  const IndexStats after = Stats();
  EXPECT_EQ(after.namespaces, before.namespaces);
  EXPECT_EQ(after.orphan_namespaces, before.orphan_namespaces);
  EXPECT_EQ(after.orphan_projects, before.orphan_projects);
  EXPECT_EQ(SelfAndAncestors(2), (Ids{5, 6, 3, 4, 30, 31, 2}));
  EXPECT_EQ(Resolve("other/other-child/l3/l4/x/y/l2/proj"), "project:100");
  // and the index keeps working after it, on both copies
  MustCommit({Group(3, 1, "l3")});
  MustCommit({Group(50, 2, "z")});
  EXPECT_EQ(SelfAndAncestors(50), (Ids{1, 3, 4, 30, 31, 2, 50}));
  EXPECT_EQ(Counts(1), CountsOf(7, 1, 1, 1));
}

TEST_F(GitLabCasesTest, ResolveTiesGoToTheLowestIdAndOrphansAreUnreachable) {
  BuildOrg();
  MustCommit({Group(61, 1, "dup"), Group(60, 1, "dup"), Group(62, 61, "below"),
              ProjectNamespace(81, 2, "same"), Project(201, 2, 81, "same"),
              ProjectNamespace(80, 2, "same"), Project(200, 2, 80, "same"),
              Group(70, 69, "waiting"), Group(71, 70, "child")});
  EXPECT_EQ(Resolve("gitlab-org/dup"), "ns:60");
  // The exact walk follows 60 and finds no "below"; the second phase looks
  // under every "dup" and finds 62 under 61.
  EXPECT_EQ(Resolve("gitlab-org/dup/below"), "ns:62");
  EXPECT_EQ(Resolve("gitlab-org/l2/same"), "project:200");
  EXPECT_EQ(Resolve("waiting"), "not_found");
  EXPECT_EQ(Resolve("waiting/child"), "not_found");
  EXPECT_EQ(FullPath(71), "waiting/child");
  MustCommit({Group(69, 1, "parent")});  // the parent arrives: reachable now
  EXPECT_EQ(Resolve("gitlab-org/parent/waiting/child"), "ns:71");
}

}  // namespace
}  // namespace canopy_test
