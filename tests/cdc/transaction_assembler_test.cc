// Tests of TransactionAssembler (and the row builder under it) on hand-built
// pgoutput messages. Label: decoder (pure, no server).
#include "canopy/cdc/transaction_assembler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "canopy/cdc/pgoutput.h"
#include "pgoutput_builder.h"
#include "row_builder.h"

namespace canopy::cdc {
namespace {

using testing::Col;
using testing::RelCol;

constexpr uint32_t kNs = 16384, kProj = 16400, kLinks = 16500, kOther = 17000;

class AssemblerTest : public ::testing::Test {
 protected:
  AssemblerTest() : assembler_(TableMapping{}) {}

  Status Feed(const testing::Bytes& bytes) {
    buffers_.push_back(bytes.vec());  // tuple views must stay valid until Commit
    const auto& b = buffers_.back();
    Status s = PgOutputDecoder().Decode(std::span<const uint8_t>(b.data(), b.size()), &msg_);
    if (!s.ok()) return s;
    return assembler_.Process(msg_);
  }
  void MustFeed(const testing::Bytes& bytes) {
    ASSERT_TRUE(Feed(bytes).ok()) << Feed(bytes).ToString();
  }

  // Relation messages in an odd column order with extra columns, as GitLab's
  // tables have dozens.
  void SendRelations() {
    MustFeed(testing::Relation(kNs, "public", "namespaces",
                               {{"name", false, 1043},
                                {"id", true, 20},
                                {"path", false, 1043},
                                {"owner_id", false, 20},
                                {"type", false, 1043},
                                {"visibility_level", false, 23},
                                {"parent_id", false, 20},
                                {"traversal_ids", false, 1016}}));
    MustFeed(testing::Relation(kProj, "public", "projects",
                               {{"id", true, 20},
                                {"name", false, 1043},
                                {"path", false, 1043},
                                {"description", false, 25},
                                {"namespace_id", false, 20},
                                {"visibility_level", false, 23},
                                {"archived", false, 16},
                                {"pending_delete", false, 16},
                                {"project_namespace_id", false, 20}}));
    MustFeed(testing::Relation(
        kLinks, "public", "ci_runner_namespaces",
        {{"id", true, 20}, {"runner_id", false, 20}, {"namespace_id", false, 20}}));
    MustFeed(testing::Relation(kOther, "public", "users", {{"id", true, 20}, {"name", false, 25}}));
  }

  // name, id, path, owner_id, type, visibility_level, parent_id, traversal_ids
  static std::vector<Col> NsTuple(const std::string& id, const std::string& parent,
                                  const std::string& type, const std::string& name,
                                  const std::string& vis = "20") {
    return {Col::T(name),
            Col::T(id),
            Col::T(name),
            Col::Null(),
            Col::T(type),
            Col::T(vis),
            parent.empty() ? Col::Null() : Col::T(parent),
            Col::T("{}")};
  }

  Transaction Committed() {
    auto t = assembler_.TakeCommitted();
    EXPECT_TRUE(t.has_value());
    return t ? std::move(*t) : Transaction{};
  }

  TransactionAssembler assembler_;
  PgOutputMessage msg_;
  std::vector<std::vector<uint8_t>> buffers_;
};

TEST_F(AssemblerTest, InsertUpdateDeleteMappedByName) {
  SendRelations();
  MustFeed(testing::Begin(0x100, 0, 1));
  MustFeed(testing::Insert(kNs, NsTuple("10", "", "Group", "org")));
  MustFeed(testing::Insert(kNs, NsTuple("11", "10", "Group", "sub", "0")));
  MustFeed(
      testing::Insert(kProj, {Col::T("5"), Col::T("p"), Col::T("p-path"), Col::Toast(),
                              Col::T("11"), Col::T("10"), Col::T("t"), Col::Null(), Col::T("12")}));
  MustFeed(testing::Insert(kLinks, {Col::T("1"), Col::T("900"), Col::T("10")}));
  MustFeed(testing::Insert(kOther, {Col::T("1"), Col::T("alice")}));
  MustFeed(testing::Delete(kProj, 'K',
                           {Col::T("5"), Col::Null(), Col::Null(), Col::Null(), Col::Null(),
                            Col::Null(), Col::Null(), Col::Null(), Col::Null()}));
  EXPECT_FALSE(assembler_.TakeCommitted().has_value());
  EXPECT_TRUE(assembler_.in_transaction());
  MustFeed(testing::Commit(0x100, 0x128, 0));
  EXPECT_FALSE(assembler_.in_transaction());

  Transaction t = Committed();
  EXPECT_EQ(t.commit_lsn, Lsn(0x128));
  ASSERT_EQ(t.changes.size(), 5u);

  const auto& org = std::get<UpsertNamespace>(t.changes[0]).row;
  EXPECT_EQ(org.id, 10);
  EXPECT_FALSE(org.parent_id.has_value());
  EXPECT_EQ(org.type, NamespaceType::kGroup);
  EXPECT_EQ(org.name, "org");
  EXPECT_EQ(org.path, "org");
  EXPECT_EQ(org.visibility_level, 20);
  EXPECT_EQ(org.present,
            ColumnMask{NamespaceRow::kParentId | NamespaceRow::kType | NamespaceRow::kName |
                       NamespaceRow::kPath | NamespaceRow::kVisibilityLevel});

  const auto& sub = std::get<UpsertNamespace>(t.changes[1]).row;
  EXPECT_EQ(sub.parent_id, std::optional<int64_t>(10));
  EXPECT_EQ(sub.visibility_level, 0);

  const auto& p = std::get<UpsertProject>(t.changes[2]).row;
  EXPECT_EQ(p.id, 5);
  EXPECT_EQ(p.namespace_id, 11);
  EXPECT_EQ(p.project_namespace_id, std::optional<int64_t>(12));
  EXPECT_EQ(p.name, "p");
  EXPECT_EQ(p.path, "p-path");
  EXPECT_EQ(p.visibility_level, 10);
  EXPECT_TRUE(p.archived);
  EXPECT_FALSE(p.pending_delete);  // NULL -> false

  const auto& link = std::get<UpsertRunnerLink>(t.changes[3]).row;
  EXPECT_EQ(link.id, 1);
  EXPECT_EQ(link.runner_id, 900);
  EXPECT_EQ(link.namespace_id, 10);

  EXPECT_EQ(std::get<DeleteProject>(t.changes[4]).id, 5);
  EXPECT_EQ(assembler_.stats().unmapped_changes, 1u);
  EXPECT_EQ(assembler_.stats().transactions, 1u);
  EXPECT_EQ(assembler_.stats().changes, 5u);
}

TEST_F(AssemblerTest, UnchangedToastLeavesColumnOutOfMask) {
  SendRelations();
  MustFeed(testing::Begin(0x200, 0, 2));
  auto cols = NsTuple("10", "3", "Group", "org");
  cols[0] = Col::Toast();  // name
  cols[2] = Col::Toast();  // path
  MustFeed(testing::Update(kNs, 0, {}, cols));
  MustFeed(testing::Commit(0x200, 0x230, 0));
  Transaction t = Committed();
  ASSERT_EQ(t.changes.size(), 1u);
  const auto& row = std::get<UpsertNamespace>(t.changes[0]).row;
  EXPECT_EQ(row.present & NamespaceRow::kName, 0u);
  EXPECT_EQ(row.present & NamespaceRow::kPath, 0u);
  EXPECT_NE(row.present & NamespaceRow::kParentId, 0u);
  EXPECT_EQ(row.parent_id, std::optional<int64_t>(3));
  EXPECT_EQ(assembler_.stats().unchanged_toast_values, 2u);
}

TEST_F(AssemblerTest, UnchangedToastTakenFromFullOldRow) {
  SendRelations();
  MustFeed(testing::Begin(0x200, 0, 2));
  auto old_cols = NsTuple("10", "", "Group", "old-name");
  auto new_cols = NsTuple("10", "4", "Group", "ignored");
  new_cols[0] = Col::Toast();
  MustFeed(testing::Update(kNs, 'O', old_cols, new_cols));
  MustFeed(testing::Commit(0x200, 0x230, 0));
  Transaction t = Committed();
  const auto& row = std::get<UpsertNamespace>(t.changes.at(0)).row;
  EXPECT_NE(row.present & NamespaceRow::kName, 0u);
  EXPECT_EQ(row.name, "old-name");
  EXPECT_EQ(row.parent_id, std::optional<int64_t>(4));
}

TEST_F(AssemblerTest, KeyChangingUpdateIsDeletePlusUpsert) {
  SendRelations();
  MustFeed(testing::Begin(0x300, 0, 3));
  std::vector<Col> old_key = {Col::Null(), Col::T("10"), Col::Null(), Col::Null(),
                              Col::Null(), Col::Null(),  Col::Null(), Col::Null()};
  MustFeed(testing::Update(kNs, 'K', old_key, NsTuple("99", "", "Group", "org")));
  // A 'K' tuple with the same key is a plain upsert.
  std::vector<Col> same_key = old_key;
  same_key[1] = Col::T("99");
  MustFeed(testing::Update(kNs, 'K', same_key, NsTuple("99", "", "Group", "org2")));
  MustFeed(testing::Update(kLinks, 'O', {Col::T("1"), Col::T("900"), Col::T("10")},
                           {Col::T("2"), Col::T("900"), Col::T("10")}));
  MustFeed(testing::Commit(0x300, 0x340, 0));
  Transaction t = Committed();
  ASSERT_EQ(t.changes.size(), 5u);
  EXPECT_EQ(std::get<DeleteNamespace>(t.changes[0]).id, 10);
  EXPECT_EQ(std::get<UpsertNamespace>(t.changes[1]).row.id, 99);
  EXPECT_EQ(std::get<UpsertNamespace>(t.changes[2]).row.name, "org2");
  EXPECT_EQ(std::get<DeleteRunnerLink>(t.changes[3]).id, 1);
  EXPECT_EQ(std::get<UpsertRunnerLink>(t.changes[4]).row.id, 2);
}

TEST_F(AssemblerTest, TruncateMapsMappedTablesOnly) {
  SendRelations();
  MustFeed(testing::Begin(0x400, 0, 4));
  MustFeed(testing::Truncate({kLinks, kOther, kProj}, TruncateMessage::kCascade));
  MustFeed(testing::Commit(0x400, 0x440, 0));
  Transaction t = Committed();
  ASSERT_EQ(t.changes.size(), 2u);
  EXPECT_EQ(std::get<TruncateTable>(t.changes[0]).table, Table::kRunnerLinks);
  EXPECT_EQ(std::get<TruncateTable>(t.changes[1]).table, Table::kProjects);
}

TEST_F(AssemblerTest, EmptyTransactionStillAdvancesTheLsn) {
  SendRelations();
  MustFeed(testing::Begin(0x500, 0, 5));
  MustFeed(testing::Insert(kOther, {Col::T("1"), Col::T("x")}));
  MustFeed(testing::Message(1, 0x4F0, "p", "c"));
  MustFeed(testing::Origin(0x1, "o"));
  MustFeed(testing::Type(70000, "public", "t"));
  MustFeed(testing::Commit(0x500, 0x540, 0));
  Transaction t = Committed();
  EXPECT_EQ(t.commit_lsn, Lsn(0x540));
  EXPECT_TRUE(t.changes.empty());
}

TEST_F(AssemblerTest, RelationResentAfterAlterTable) {
  SendRelations();
  // ADD COLUMN + a reorder: columns are found by name again.
  MustFeed(testing::Relation(kLinks, "public", "ci_runner_namespaces",
                             {{"namespace_id", false, 20},
                              {"id", true, 20},
                              {"created_at", false, 1114},
                              {"runner_id", false, 20}}));
  MustFeed(testing::Begin(0x600, 0, 6));
  MustFeed(testing::Insert(kLinks, {Col::T("7"), Col::T("3"), Col::T("2024-01-01"), Col::T("8")}));
  MustFeed(testing::Commit(0x600, 0x640, 0));
  Transaction t = Committed();
  const auto& row = std::get<UpsertRunnerLink>(t.changes.at(0)).row;
  EXPECT_EQ(row.id, 3);
  EXPECT_EQ(row.namespace_id, 7);
  EXPECT_EQ(row.runner_id, 8);
}

// A Relation without a mapped column (a publication column list, a dropped
// column) would leave the field's old value in place on every update: it is
// refused, naming the table and every missing column, before any change.
TEST_F(AssemblerTest, RelationWithoutAMappedColumnIsRefused) {
  Status s =
      Feed(testing::Relation(kNs, "public", "namespaces",
                             {{"id", true, 20}, {"parent_id", false, 20}, {"type", false, 1043}}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("public.namespaces"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("name, path, visibility_level"), std::string::npos) << s.ToString();
  // GitLab's projects published with a column list that leaves out archived
  // (and pending_delete): what made `projects --unarchived` wrong.
  s = Feed(testing::Relation(kProj, "public", "projects",
                             {{"id", true, 20},
                              {"namespace_id", false, 20},
                              {"project_namespace_id", false, 20},
                              {"name", false, 1043},
                              {"path", false, 1043},
                              {"visibility_level", false, 23}}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("public.projects"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("archived, pending_delete"), std::string::npos) << s.ToString();
  // A relation canopy does not mirror may publish what it likes.
  MustFeed(testing::Relation(kOther, "public", "users", {{"id", true, 20}}));
}

// Carried columns (a published column the index does not keep, for the
// change feed) come beside the transaction, indexed by change: a value, a
// NULL, nothing for an unchanged TOAST value (unless a full old row has it),
// right after a key change's delete; and a Relation must carry them.
TEST_F(AssemblerTest, CarriedColumnsComeBesideTheTransaction) {
  TableMapping mapping;
  mapping.projects.carried_columns = {"description"};
  ASSERT_TRUE(mapping.Validate().ok());
  assembler_ = TransactionAssembler(mapping);
  SendRelations();
  auto project = [](const std::string& id, Col description) {
    // id, name, path, description, namespace_id, visibility_level, archived,
    // pending_delete, project_namespace_id
    return std::vector<Col>{Col::T(id),  Col::T("p"), Col::T("p"), std::move(description),
                            Col::T("1"), Col::T("0"), Col::T("f"), Col::T("f"),
                            Col::Null()};
  };
  MustFeed(testing::Begin(0x500, 0, 5));
  MustFeed(testing::Insert(kProj, project("5", Col::T("first words"))));
  MustFeed(testing::Insert(kNs, NsTuple("10", "", "Group", "org")));
  MustFeed(testing::Update(kProj, 0, {}, project("5", Col::Toast())));
  MustFeed(testing::Update(kProj, 0, {}, project("5", Col::Null())));
  MustFeed(testing::Update(kProj, 'O', project("5", Col::T("kept")), project("6", Col::Toast())));
  MustFeed(testing::Commit(0x500, 0x540, 0));
  Transaction t = Committed();
  ASSERT_EQ(t.changes.size(), 6u);  // the key change is a delete, then an upsert
  const std::vector<ChangeCarried> carried = assembler_.TakeCommittedCarried();
  ASSERT_EQ(carried.size(), 3u);
  EXPECT_EQ(carried[0].change, 0u);
  ASSERT_EQ(carried[0].values.size(), 1u);
  EXPECT_EQ(carried[0].values[0].column, "description");
  EXPECT_EQ(carried[0].values[0].text, "first words");
  EXPECT_EQ(carried[1].change, 3u);  // change 2 (the TOAST one) has none
  ASSERT_EQ(carried[1].values.size(), 1u);
  EXPECT_FALSE(carried[1].values[0].text.has_value());  // NULL
  EXPECT_EQ(carried[2].change, 5u);
  EXPECT_EQ(std::get<UpsertProject>(t.changes[5]).row.id, 6);
  ASSERT_EQ(carried[2].values.size(), 1u);
  EXPECT_EQ(carried[2].values[0].text, "kept");            // from the full old row
  EXPECT_TRUE(assembler_.TakeCommittedCarried().empty());  // taken once

  Status s = Feed(testing::Relation(kProj, "public", "projects",
                                    {{"id", true, 20},
                                     {"namespace_id", false, 20},
                                     {"project_namespace_id", false, 20},
                                     {"name", false, 1043},
                                     {"path", false, 1043},
                                     {"visibility_level", false, 23},
                                     {"archived", false, 16},
                                     {"pending_delete", false, 16}}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("description (carried)"), std::string::npos) << s.ToString();
}

// A field mapped to "" is not needed: a Relation without that column is fine.
TEST(AssemblerMapping, UnmappedColumnIsNotNeeded) {
  TableMapping m;
  ASSERT_TRUE(m.Set("projects.archived=").ok());
  ASSERT_TRUE(m.Set("projects.pending_delete=").ok());
  TransactionAssembler a(m);
  PgOutputMessage msg;
  const std::vector<uint8_t> bytes = testing::Relation(kProj, "public", "projects",
                                                       {{"id", true, 20},
                                                        {"namespace_id", false, 20},
                                                        {"project_namespace_id", false, 20},
                                                        {"name", false, 1043},
                                                        {"path", false, 1043},
                                                        {"visibility_level", false, 23}})
                                         .vec();
  ASSERT_TRUE(
      PgOutputDecoder().Decode(std::span<const uint8_t>(bytes.data(), bytes.size()), &msg).ok());
  EXPECT_TRUE(a.Process(msg).ok());
}

TEST_F(AssemblerTest, CustomMapping) {
  TableMapping m;
  m.namespaces.schema = "app";
  m.namespaces.table = "folders";
  m.namespaces.columns = {"folder_id", "parent", "", "title", "slug", ""};
  ASSERT_TRUE(m.Validate().ok());
  TransactionAssembler a(m);
  PgOutputMessage msg;
  auto feed = [&](const testing::Bytes& b) {
    buffers_.push_back(b.vec());
    const auto& v = buffers_.back();
    Status s = PgOutputDecoder().Decode(std::span<const uint8_t>(v.data(), v.size()), &msg);
    return s.ok() ? a.Process(msg) : s;
  };
  ASSERT_TRUE(feed(testing::Relation(1, "app", "folders",
                                     {{"folder_id", true, 23},
                                      {"parent", false, 23},
                                      {"title", false, 25},
                                      {"slug", false, 25},
                                      {"type", false, 25}}))
                  .ok());
  ASSERT_TRUE(feed(testing::Relation(2, "public", "namespaces", {{"id", true, 20}})).ok());
  ASSERT_TRUE(feed(testing::Begin(1, 0, 1)).ok());
  ASSERT_TRUE(feed(testing::Insert(
                       1, {Col::T("4"), Col::T("2"), Col::T("T"), Col::T("s"), Col::T("Group")}))
                  .ok());
  ASSERT_TRUE(feed(testing::Insert(2, {Col::T("1")})).ok());
  ASSERT_TRUE(feed(testing::Commit(1, 2, 0)).ok());
  auto t = a.TakeCommitted();
  ASSERT_TRUE(t);
  ASSERT_EQ(t->changes.size(), 1u);
  const auto& row = std::get<UpsertNamespace>(t->changes[0]).row;
  EXPECT_EQ(row.id, 4);
  EXPECT_EQ(row.parent_id, std::optional<int64_t>(2));
  EXPECT_EQ(row.name, "T");
  EXPECT_EQ(row.path, "s");
  EXPECT_EQ(row.present,
            ColumnMask{NamespaceRow::kParentId | NamespaceRow::kName | NamespaceRow::kPath});
}

TEST_F(AssemblerTest, SkipThroughDropsReplayedTransactions) {
  SendRelations();
  assembler_.set_skip_through(Lsn(0x140));
  MustFeed(testing::Begin(0x100, 0, 1));
  MustFeed(testing::Insert(kNs, NsTuple("1", "", "User", "u")));
  MustFeed(testing::Commit(0x100, 0x140, 0));
  EXPECT_FALSE(assembler_.TakeCommitted().has_value());
  MustFeed(testing::Begin(0x150, 0, 2));
  MustFeed(testing::Insert(kNs, NsTuple("2", "", "User", "v")));
  MustFeed(testing::Commit(0x150, 0x180, 0));
  EXPECT_EQ(Committed().commit_lsn, Lsn(0x180));
  EXPECT_EQ(assembler_.stats().skipped_transactions, 1u);
}

TEST_F(AssemblerTest, ProtocolViolationsAreErrors) {
  SendRelations();
  EXPECT_EQ(Feed(testing::Insert(kNs, NsTuple("1", "", "User", "u"))).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(Feed(testing::Commit(1, 2, 0)).code(), StatusCode::kDataLoss);
  MustFeed(testing::Begin(0x100, 0, 1));
  EXPECT_EQ(Feed(testing::Begin(0x100, 0, 1)).code(), StatusCode::kDataLoss);
  // Unknown relation.
  EXPECT_EQ(Feed(testing::Insert(999, {Col::T("1")})).code(), StatusCode::kDataLoss);
  // Column count differs from the Relation.
  EXPECT_EQ(Feed(testing::Insert(kLinks, {Col::T("1"), Col::T("2")})).code(),
            StatusCode::kDataLoss);
  // Malformed integer / boolean / NULL key.
  EXPECT_EQ(Feed(testing::Insert(kLinks, {Col::T("1x"), Col::T("2"), Col::T("3")})).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(Feed(testing::Insert(kLinks, {Col::T("1"), Col::T(""), Col::T("3")})).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(Feed(testing::Insert(kLinks, {Col::Null(), Col::T("2"), Col::T("3")})).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(
      Feed(testing::Insert(kProj, {Col::T("5"), Col::T("p"), Col::T("p"), Col::Null(), Col::T("1"),
                                   Col::T("0"), Col::T("yes"), Col::Null(), Col::Null()}))
          .code(),
      StatusCode::kDataLoss);
  // Commit LSN must match Begin's final LSN.
  EXPECT_EQ(Feed(testing::Commit(0x101, 0x200, 0)).code(), StatusCode::kDataLoss);
}

TEST_F(AssemblerTest, MappedRelationChecks) {
  // No key column.
  EXPECT_EQ(Feed(testing::Relation(kNs, "public", "namespaces", {{"parent_id", false, 20}})).code(),
            StatusCode::kFailedPrecondition);
  // An integer field of a text type.
  EXPECT_EQ(Feed(testing::Relation(kNs, "public", "namespaces",
                                   {{"id", true, 20}, {"parent_id", false, 25}}))
                .code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Feed(testing::Relation(kProj, "public", "projects",
                                   {{"id", true, 20}, {"archived", false, 23}}))
                .code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(AssemblerTest, DeleteWithoutKeyValueExplainsReplicaIdentity) {
  SendRelations();
  MustFeed(testing::Begin(0x100, 0, 1));
  Status s = Feed(testing::Delete(kLinks, 'K', {Col::Null(), Col::Null(), Col::Null()}));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("replica identity"), std::string::npos) << s.ToString();
}

TEST_F(AssemblerTest, ResetForgetsRelationsAndOpenTransaction) {
  SendRelations();
  MustFeed(testing::Begin(0x100, 0, 1));
  assembler_.Reset();
  EXPECT_FALSE(assembler_.in_transaction());
  MustFeed(testing::Begin(0x100, 0, 1));
  EXPECT_EQ(Feed(testing::Insert(kLinks, {Col::T("1"), Col::T("2"), Col::T("3")})).code(),
            StatusCode::kDataLoss);
}

TEST(TableMapping, ValidateAndQuote) {
  TableMapping m;
  EXPECT_TRUE(m.Validate().ok());
  EXPECT_EQ(m.Find("public", "projects"), std::optional<Table>(Table::kProjects));
  EXPECT_FALSE(m.Find("public", "Projects").has_value());
  TableMapping bad = m;
  bad.projects.columns[0] = "";
  EXPECT_FALSE(bad.Validate().ok());
  bad = m;
  bad.projects.columns.pop_back();
  EXPECT_FALSE(bad.Validate().ok());
  bad = m;
  bad.runner_links.table = "projects";
  EXPECT_FALSE(bad.Validate().ok());
  bad = m;
  bad.namespaces.columns[2] = "name";
  EXPECT_FALSE(bad.Validate().ok());
  EXPECT_EQ(QuoteIdentifier("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(QualifiedName(m.namespaces), "\"public\".\"namespaces\"");
}

TEST(RowBuilder, ParseValues) {
  int64_t v;
  EXPECT_TRUE(internal::ParseInt64("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_FALSE(internal::ParseInt64("9223372036854775808", &v));
  EXPECT_FALSE(internal::ParseInt64("", &v));
  EXPECT_FALSE(internal::ParseInt64("1 ", &v));
  bool b;
  EXPECT_TRUE(internal::ParseBool("t", &b) && b);
  EXPECT_TRUE(internal::ParseBool("false", &b) && !b);
  EXPECT_FALSE(internal::ParseBool("1", &b));
  // visibility_level must fit int32.
  std::vector<internal::FieldValue> f(kNamespaceFieldCount);
  f[0] = {internal::FieldState::kValue, "1"};
  f[kNamespaceVisibilityLevel] = {internal::FieldState::kValue, "3000000000"};
  RowChange out;
  EXPECT_EQ(internal::BuildUpsert(Table::kNamespaces, f, &out).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace canopy::cdc
