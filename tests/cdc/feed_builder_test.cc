// feed_builder_test.cc — the replica's description of a transaction for the
// change feed (feed_builder.h) against a real HierarchyIndex. No PostgreSQL:
// e2e/change_feed_e2e_test.cc runs the feed behind a replica.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "feed_builder.h"

namespace canopy::cdc {
namespace {

NamespaceRow Group(int64_t id, std::optional<int64_t> parent, std::string path = "") {
  NamespaceRow r;
  r.id = id;
  r.parent_id = parent;
  r.type = NamespaceType::kGroup;
  char generated[32];
  std::snprintf(generated, sizeof(generated), "g%lld", static_cast<long long>(id));
  r.path = path.empty() ? std::string(generated) : path;
  r.name = r.path;
  return r;
}

ProjectRow Project(int64_t id, int64_t ns) {
  ProjectRow p;
  p.id = id;
  p.namespace_id = ns;
  char generated[32];
  std::snprintf(generated, sizeof(generated), "p%lld", static_cast<long long>(id));
  p.name = p.path = generated;
  return p;
}

// ---- DescribeTransaction / AddSubtreesAfter on a real index ----

FeedTransaction Describe(HierarchyIndex& index, Transaction txn) {
  FeedTransaction described;
  {
    const ReadView before = index.Read();
    described = internal::DescribeTransaction(before, txn, 1234);
  }
  EXPECT_TRUE(index.Apply(std::move(txn)).ok());
  {
    const ReadView after = index.Read();
    internal::AddSubtreesAfter(after, &described);
  }
  return described;
}

TEST(FeedBuilder, OpsRowsAndSubtreesBeforeAndAfter) {
  HierarchyIndex index;
  // 1 <- 2 <- 3, and 10 (another root); project 100 in 3.
  FeedTransaction load = Describe(
      index, Transaction{Lsn(10),
                         {UpsertNamespace{Group(1, std::nullopt)}, UpsertNamespace{Group(2, 1)},
                          UpsertNamespace{Group(3, 2)}, UpsertNamespace{Group(10, std::nullopt)},
                          UpsertProject{Project(100, 3)}}});
  ASSERT_EQ(load.changes.size(), 5u);
  EXPECT_EQ(load.commit_unix_ms, 1234);
  for (const FeedChange& c : load.changes) EXPECT_EQ(c.op, ChangeOp::kInsert) << c.id;
  EXPECT_EQ(load.changes[2].subtrees, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(load.changes[4].subtrees, (std::vector<int64_t>{1, 2, 3}));

  // Transfer 2 (with 3 and project 100) under 10, GitLab style: the parent
  // UPDATE, then an UPDATE of the moved rows; and a rename that sends no path.
  NamespaceRow moved = Group(2, 10);
  NamespaceRow renamed = Group(3, 2);
  renamed.name = "three";
  renamed.path.clear();
  renamed.present = kAllColumns & ~NamespaceRow::kPath;  // path unchanged (not sent)
  FeedTransaction transfer =
      Describe(index, Transaction{Lsn(11), {UpsertNamespace{moved}, UpsertNamespace{renamed}}});
  ASSERT_EQ(transfer.changes.size(), 2u);
  const FeedChange& move = transfer.changes[0];
  EXPECT_EQ(move.op, ChangeOp::kUpdate);
  EXPECT_EQ(HierarchyParent(move.before), std::optional<int64_t>(1));
  EXPECT_EQ(HierarchyParent(move.after), std::optional<int64_t>(10));
  EXPECT_EQ(move.subtrees, (std::vector<int64_t>{1, 2, 10}));  // left 1, entered 10
  const FeedChange& rename = transfer.changes[1];
  EXPECT_EQ(rename.subtrees, (std::vector<int64_t>{1, 2, 3, 10}));
  const auto& after = std::get<NamespaceRow>(rename.after);
  EXPECT_EQ(after.path, "g3");  // filled from the row before
  EXPECT_EQ(after.name, "three");
  EXPECT_EQ(after.present, kAllColumns);

  // Insert then update of one row in one transaction; a delete; a truncate.
  NamespaceRow created = Group(20, 10);
  NamespaceRow updated = Group(20, 10, "twenty");
  FeedTransaction mixed =
      Describe(index, Transaction{Lsn(12),
                                  {UpsertNamespace{created}, UpsertNamespace{updated},
                                   DeleteProject{100}, TruncateTable{Table::kRunnerLinks}}});
  ASSERT_EQ(mixed.changes.size(), 4u);
  EXPECT_EQ(mixed.changes[0].op, ChangeOp::kInsert);
  EXPECT_EQ(mixed.changes[1].op, ChangeOp::kUpdate);  // its before is the insert's row
  EXPECT_EQ(std::get<NamespaceRow>(mixed.changes[1].before).path, "g20");
  EXPECT_EQ(mixed.changes[0].subtrees, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(mixed.changes[2].op, ChangeOp::kDelete);
  EXPECT_EQ(std::get<ProjectRow>(mixed.changes[2].before).namespace_id, 3);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(mixed.changes[2].after));
  EXPECT_EQ(mixed.changes[2].subtrees, (std::vector<int64_t>{2, 3, 10}));  // where it was
  EXPECT_EQ(mixed.changes[3].op, ChangeOp::kTruncate);
  EXPECT_EQ(mixed.changes[3].table, Table::kRunnerLinks);
}

// The assembler's carried values land on the changes they belong to.
TEST(FeedBuilder, CarriedValuesLandOnTheirChanges) {
  HierarchyIndex index;
  const Transaction txn{Lsn(10),
                        {UpsertNamespace{Group(1, std::nullopt)}, UpsertProject{Project(100, 1)},
                         UpsertProject{Project(101, 1)}}};
  std::vector<ChangeCarried> carried = {{1, {{"description", std::string("one")}}},
                                        {2, {{"description", std::nullopt}}}};
  const ReadView before = index.Read();
  FeedTransaction described = internal::DescribeTransaction(before, txn, 1, std::move(carried));
  ASSERT_EQ(described.changes.size(), 3u);
  EXPECT_TRUE(described.changes[0].carried.empty());
  ASSERT_EQ(described.changes[1].carried.size(), 1u);
  EXPECT_EQ(described.changes[1].carried[0].text, std::optional<std::string>("one"));
  ASSERT_EQ(described.changes[2].carried.size(), 1u);
  EXPECT_FALSE(described.changes[2].carried[0].text.has_value());
}

}  // namespace
}  // namespace canopy::cdc
