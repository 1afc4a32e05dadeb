// resolve_case_test.cc — ReadView::Resolve's exact-then-ignoring-case rule.
//
// GitLab's Routable.find_by_full_path tries the exact route first, then
// LOWER(path) = LOWER(?). canopy does the same, folding ASCII only, and picks
// deterministically where several rows match ignoring case: a user/group
// namespace before a project, then the lowest id, over every matching branch.
// Also: the case-insensitive root index stays right through renames, deletes,
// moves, Compact, BulkLoad and truncates. Labels: engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
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
using canopy::Lsn;
using canopy::RowChange;
using canopy::Status;
using canopy::Table;
using canopy::Transaction;

// "ns:ID", "project:ID" or the error code name.
std::string ResolveIn(const HierarchyIndex& index, std::string_view path) {
  canopy::Result<canopy::ResolvedPath> r = index.Read().Resolve(path);
  if (!r.ok()) return std::string(canopy::StatusCodeName(r.status().code()));
  return (r.value().table == Table::kProjects ? "project:" : "ns:") + std::to_string(r.value().id);
}

class ResolveCaseTest : public ::testing::Test {
 protected:
  void MustCommit(std::vector<RowChange> changes) {
    lsn_ += 0x10;
    Status s = index_.Apply(Transaction{Lsn(lsn_), std::move(changes)});
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::string Resolve(std::string_view path) { return ResolveIn(index_, path); }
  // The same answer from both left-right copies: an empty transaction
  // publishes the other copy.
  void ExpectOnBothCopies(std::string_view path, const std::string& want) {
    EXPECT_EQ(Resolve(path), want) << path;
    MustCommit({});
    EXPECT_EQ(Resolve(path), want) << path << " (other copy)";
  }

  HierarchyIndex index_;
  uint64_t lsn_ = 0x1000;
};

TEST_F(ResolveCaseTest, ExactMatchWinsOverACaseVariant) {
  MustCommit({Group(1, std::nullopt, "gitlab-org"), Group(2, std::nullopt, "GitLab-Org"),
              Group(10, 1, "team"), Group(11, 1, "Team"), ProjectNamespace(20, 2, "App"),
              Project(100, 2, 20, "App"), Group(12, 2, "app")});
  EXPECT_EQ(Resolve("gitlab-org"), "ns:1");
  EXPECT_EQ(Resolve("GitLab-Org"), "ns:2") << "exact, although 1 also matches ignoring case";
  EXPECT_EQ(Resolve("GITLAB-ORG"), "ns:1") << "ignoring case: the lowest id";
  EXPECT_EQ(Resolve("gitlab-org/team"), "ns:10");
  EXPECT_EQ(Resolve("gitlab-org/Team"), "ns:11");
  EXPECT_EQ(Resolve("gitlab-org/TEAM"), "ns:10");
  EXPECT_EQ(Resolve("GitLab-Org/App"), "project:100")
      << "an exact project beats a namespace that matches only ignoring case";
  EXPECT_EQ(Resolve("GitLab-Org/app"), "ns:12");
  EXPECT_EQ(Resolve("GitLab-Org/APP"), "ns:12") << "ignoring case: a namespace before a project";
}

TEST_F(ResolveCaseTest, IgnoringCaseFindsNamespacesAndProjects) {
  MustCommit({Group(1, std::nullopt, "gitlab-org"), Group(2, 1, "gitlab"),
              ProjectNamespace(20, 2, "gitlab-runner"), Project(100, 2, 20, "gitlab-runner"),
              User(9, "Alice"), ProjectNamespace(21, 9, "DotFiles"),
              Project(101, 9, 21, "DotFiles")});
  EXPECT_EQ(Resolve("GitLab-Org"), "ns:1");
  EXPECT_EQ(Resolve("GitLab-Org/GitLab"), "ns:2");
  EXPECT_EQ(Resolve("gitlab-org/GITLAB/GitLab-Runner"), "project:100");
  EXPECT_EQ(Resolve("alice"), "ns:9");
  EXPECT_EQ(Resolve("ALICE/dotfiles"), "project:101");
  EXPECT_EQ(Resolve("Alice/DotFiles"), "project:101");
  // Digits, '.', '_' and '-' have no case.
  MustCommit({Group(3, 1, "v1.2_x-Y")});
  EXPECT_EQ(Resolve("gitlab-org/V1.2_X-y"), "ns:3");
  EXPECT_EQ(Resolve("gitlab-org/v1,2_x-y"), "not_found");
  // Project namespaces are never answers, in neither phase.
  EXPECT_EQ(Resolve("gitlab-org/gitlab/GITLAB-RUNNER/x"), "not_found");
  EXPECT_EQ(Resolve("gitlab-org/nope"), "not_found");
  EXPECT_EQ(Resolve("nope"), "not_found");
}

// Rows that differ only in case, applied in several orders (one transaction
// or one per row): the pick depends on ids only.
TEST(ResolveCaseOrderTest, SeveralCaseVariantsPickTheSameRowInAnyInsertionOrder) {
  const std::vector<RowChange> rows = {
      Group(7, std::nullopt, "ORG"), Group(3, std::nullopt, "Org"),
      Group(5, std::nullopt, "oRg"), User(4, "orG"),
      Group(30, 7, "Team"),          Group(31, 5, "TEAM"),
      Group(32, 3, "tEAm"),          ProjectNamespace(40, 3, "App"),
      Project(110, 3, 40, "App"),    ProjectNamespace(41, 5, "APP"),
      Project(105, 5, 41, "APP"),    ProjectNamespace(42, 7, "team"),
      Project(101, 7, 42, "team"),   ProjectNamespace(43, 32, "Repo"),
      Project(120, 32, 43, "Repo"),  ProjectNamespace(44, 31, "REPO"),
      Project(121, 31, 44, "REPO"),
  };
  const std::vector<std::pair<std::string, std::string>> want = {
      {"ORG", "ns:7"},
      {"Org", "ns:3"},
      {"org", "ns:3"},
      {"orG", "ns:4"},
      {"OrG", "ns:3"},
      {"ORG/Team", "ns:30"},
      {"Org/tEAm", "ns:32"},
      {"org/team", "ns:30"},
      {"ORG/team", "project:101"},
      {"org/app", "project:105"},
      {"Org/App", "project:110"},
      {"oRg/app", "project:105"},
      {"org/team/repo", "project:120"},
      {"oRg/TEAM/REPO", "project:121"},
      {"org/team/REPO", "project:120"},
  };
  std::mt19937_64 rng(20240704);
  for (int round = 0; round < 24; ++round) {
    std::vector<RowChange> order = rows;
    if (round > 0) std::shuffle(order.begin(), order.end(), rng);
    HierarchyIndex index;
    uint64_t lsn = 0x100;
    if (round % 2 == 0) {
      ASSERT_TRUE(index.Apply(Transaction{Lsn(lsn), order}).ok());
    } else {
      for (const RowChange& row : order)
        ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), {row}}).ok());
    }
    if (round % 3 == 0) {
      ASSERT_TRUE(index.Compact().ok());
    }
    for (const auto& [path, answer] : want) {
      EXPECT_EQ(ResolveIn(index, path), answer) << path << " (round " << round << ")";
    }
  }
}

// Phase 2 searches every branch: the lowest-id match at one level may have
// nothing matching below it while another case variant does.
TEST_F(ResolveCaseTest, EveryMatchingBranchIsSearched) {
  MustCommit({Group(1, std::nullopt, "Org"), Group(2, std::nullopt, "ORG"), Group(3, 2, "a"),
              Group(4, 1, "A"), Group(5, 3, "x"), ProjectNamespace(20, 2, "p"),
              Project(100, 2, 20, "p"), ProjectNamespace(21, 1, "y"), Project(101, 1, 21, "y"),
              Group(6, 2, "Y")});
  EXPECT_EQ(Resolve("org/a"), "ns:3") << "1 'Org' is tried first but has no 'a' child";
  EXPECT_EQ(Resolve("org/A"), "ns:3") << "4 'A' is under 1 'Org'; 3 < 4";
  EXPECT_EQ(Resolve("Org/A"), "ns:4") << "exact";
  EXPECT_EQ(Resolve("ORG/A/X"), "ns:5") << "4 'A' has no 'x'; 3 'a' has";
  EXPECT_EQ(Resolve("org/P"), "project:100") << "the project hangs under 2 only";
  // A namespace in one branch before a lower-id project in another.
  EXPECT_EQ(Resolve("org/y"), "ns:6");
  EXPECT_EQ(Resolve("Org/y"), "project:101") << "exact: 1 'Org' has project 'y'";
  EXPECT_EQ(Resolve("Org/Y"), "ns:6") << "1 has no exact 'Y'; ignoring case, 6 wins";
  // A row the exact walk misses because it hangs under a higher-id twin of the
  // same path is still found, by the second phase.
  MustCommit({Group(61, 2, "dup"), Group(60, 2, "dup"), Group(62, 61, "below")});
  EXPECT_EQ(Resolve("ORG/dup"), "ns:60");
  EXPECT_EQ(Resolve("ORG/dup/below"), "ns:62");
}

TEST_F(ResolveCaseTest, RenamesMovesAndDeletesKeepTheRootIndexRight) {
  // 1 is indexed first: the entry of the folded key "shared" views its text.
  MustCommit({Group(1, std::nullopt, "shared"), Group(2, std::nullopt, "SHARED"),
              Group(3, std::nullopt, "Other"), Group(10, 2, "child")});
  EXPECT_EQ(Resolve("Shared"), "ns:1");
  EXPECT_EQ(Resolve("shared/child"), "ns:10");
  // Rename the root whose text the key views: the entry must survive with 2.
  MustCommit({Group(1, std::nullopt, "renamed")});
  for (int i = 0; i < 3; ++i) {  // churn, so that freed text would be reused
    MustCommit({Group(100 + i, std::nullopt, std::string(6, static_cast<char>('a' + i)))});
  }
  ExpectOnBothCopies("shared", "ns:2");
  ExpectOnBothCopies("SHARED", "ns:2");
  ExpectOnBothCopies("Renamed", "ns:1");
  ExpectOnBothCopies("shared/CHILD", "ns:10");
  // A rename that changes only the case.
  MustCommit({Group(3, std::nullopt, "OTHER")});
  ExpectOnBothCopies("OTHER", "ns:3");
  ExpectOnBothCopies("Other", "ns:3");
  // Back to two twins (the key now views 2's text), then delete 2.
  MustCommit({Group(1, std::nullopt, "Shared")});
  EXPECT_EQ(Resolve("shared"), "ns:1");
  EXPECT_EQ(Resolve("SHARED"), "ns:2");
  EXPECT_EQ(Resolve("Shared"), "ns:1");
  EXPECT_EQ(Resolve("sHARED"), "ns:1");
  MustCommit({canopy::DeleteNamespace{2}});
  for (int i = 0; i < 3; ++i) {
    MustCommit({Group(200 + i, std::nullopt, std::string(6, static_cast<char>('s' + i)))});
  }
  ExpectOnBothCopies("shared", "ns:1");
  ExpectOnBothCopies("SHARED", "ns:1");
  ExpectOnBothCopies("shared/child", "not_found");  // 10 is an orphan now
  // A root that moves under a parent leaves the index; a child that becomes
  // a root enters it.
  MustCommit({Group(1, 3, "Shared"), Group(10, std::nullopt, "Child")});
  ExpectOnBothCopies("shared", "not_found");
  ExpectOnBothCopies("other/SHARED", "ns:1");
  ExpectOnBothCopies("child", "ns:10");
  MustCommit({canopy::DeleteNamespace{10}});
  ExpectOnBothCopies("child", "not_found");
  ExpectOnBothCopies("Child", "not_found");
  // Project renames.
  MustCommit({ProjectNamespace(20, 3, "Proj"), Project(200, 3, 20, "Proj")});
  EXPECT_EQ(Resolve("other/proj"), "project:200");
  MustCommit({Project(200, 3, 20, "Renamed-Proj")});
  ExpectOnBothCopies("other/proj", "not_found");
  ExpectOnBothCopies("OTHER/renamed-proj", "project:200");
}

TEST_F(ResolveCaseTest, CompactKeepsTheAnswers) {
  MustCommit({Group(5, std::nullopt, "ABC"), Group(4, std::nullopt, "abc"), Group(6, 5, "d"),
              Group(7, 4, "D"), canopy::DeleteNamespace{4}, Group(8, std::nullopt, "aBc"),
              Group(9, 8, "e")});
  const std::vector<std::pair<std::string, std::string>> want = {
      {"abc", "ns:5"}, {"aBc", "ns:8"}, {"ABC/d", "ns:6"}, {"abc/E", "ns:9"}, {"abc/D", "ns:6"}};
  for (const auto& [path, answer] : want) EXPECT_EQ(Resolve(path), answer) << path;
  ASSERT_TRUE(index_.Compact().ok());
  for (const auto& [path, answer] : want) ExpectOnBothCopies(path, answer);
  // and the index keeps working after it
  MustCommit({Group(5, std::nullopt, "xyz")});
  ExpectOnBothCopies("abc", "ns:8");
  ExpectOnBothCopies("XYZ/d", "ns:6");
}

TEST(ResolveCaseBulkLoadTest, BulkLoadedTwinsResolveAndStayRightAfterWrites) {
  HierarchyIndex index;
  Transaction snapshot{
      Lsn(0x500),
      {Group(12, 11, "Sub"), Group(11, std::nullopt, "Org"), Group(10, std::nullopt, "ORG"),
       Group(13, 10, "sub"), ProjectNamespace(20, 11, "P"), Project(100, 11, 20, "P")}};
  ASSERT_TRUE(index.BulkLoad(snapshot).ok());
  uint64_t lsn = 0x500;
  auto expect_both = [&](std::string_view path, const std::string& want) {
    EXPECT_EQ(ResolveIn(index, path), want) << path;
    ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), {}}).ok());
    EXPECT_EQ(ResolveIn(index, path), want) << path << " (other copy)";
  };
  expect_both("org", "ns:10");
  expect_both("Org", "ns:11");
  expect_both("ORG/sub", "ns:13");
  expect_both("org/SUB", "ns:12");
  expect_both("Org/SUB", "ns:12");  // 11 has no exact 'SUB': the lowest id matching
  expect_both("org/p", "project:100");
  // Writes after the load go to both copies (one built, one copied).
  ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), {canopy::DeleteNamespace{10}}}).ok());
  expect_both("org", "ns:11");
  expect_both("ORG", "ns:11");
  expect_both("org/sub", "ns:12");
  ASSERT_TRUE(index.Apply(Transaction{Lsn(++lsn), {Group(11, std::nullopt, "moved")}}).ok());
  expect_both("org", "not_found");
  expect_both("MOVED/sub", "ns:12");
}

TEST_F(ResolveCaseTest, TruncateEmptiesTheRootIndex) {
  MustCommit({Group(1, std::nullopt, "Org"), Group(2, std::nullopt, "org"), Group(3, 1, "a")});
  EXPECT_EQ(Resolve("ORG/A"), "ns:3");
  MustCommit({canopy::TruncateTable{Table::kNamespaces}});
  ExpectOnBothCopies("org", "not_found");
  ExpectOnBothCopies("ORG", "not_found");
  MustCommit({Group(5, std::nullopt, "ORG"), Group(6, 5, "A")});
  ExpectOnBothCopies("org/a", "ns:6");
  ExpectOnBothCopies("Org", "ns:5");
}

// Only A-Z and a-z fold: other bytes (UTF-8 sequences, Latin-1 bytes) compare
// exactly. GitLab's path rules never let them in; PostgreSQL's LOWER would
// fold some of them.
TEST_F(ResolveCaseTest, NonAsciiBytesAreNotFolded) {
  MustCommit({Group(1, std::nullopt, "gr\xC3\xBCppe"),                              // "grüppe"
              Group(2, std::nullopt, "\xC4x"), Group(3, 1, "\xC3\x89t\xC3\xA9")});  // "Été"
  EXPECT_EQ(Resolve("gr\xC3\xBCppe"), "ns:1");
  EXPECT_EQ(Resolve("GR\xC3\xBCPPE"), "ns:1") << "the ASCII letters fold";
  EXPECT_EQ(Resolve("GR\xC3\x9CPPE"), "not_found") << "'Ü' is not 'ü'";
  EXPECT_EQ(Resolve("\xC4X"), "ns:2");
  EXPECT_EQ(Resolve("\xE4x"), "not_found") << "Latin-1 bytes do not fold";
  EXPECT_EQ(Resolve("GR\xC3\xBCppe/\xC3\x89T\xC3\xA9"), "ns:3");
  EXPECT_EQ(Resolve("gr\xC3\xBCppe/\xC3\xA9t\xC3\xA9"), "not_found");
}

TEST_F(ResolveCaseTest, EmptySegmentsAreNeverFound) {
  MustCommit({Group(1, std::nullopt, "Org"), Group(2, 1, "Team"), ProjectNamespace(20, 2, "App"),
              Project(100, 2, 20, "App")});
  for (const char* bad : {"", "/", "//", "org/", "/org", "ORG/", "/Org", "org//team", "Org/Team/",
                          "org/team/app/", "/org/team/app", "org/team//app"}) {
    EXPECT_EQ(Resolve(bad), "not_found") << "\"" << bad << "\"";
  }
  EXPECT_EQ(Resolve("org/team/app"), "project:100");
}

}  // namespace
}  // namespace canopy_test
