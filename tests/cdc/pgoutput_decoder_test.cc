// Tests of PgOutputDecoder and the walsender envelope on hand-built bytes:
// every message kind, every tuple value kind, truncation at every offset,
// malformed fields, and seeded random garbage. Label: decoder (these also run
// under ASan+UBSan).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "canopy/cdc/pgoutput.h"
#include "canopy/cdc/walsender_protocol.h"
#include "pgoutput_builder.h"

namespace canopy::cdc {
namespace {

using testing::Bytes;
using testing::Col;

// Decodes `bytes`, keeping them alive until the next call: decoded messages
// hold string_views into their input. Moving keeps the heap block, so a
// shrunk-to-fit prefix stays exactly as large as its contents (for ASan).
Status DecodeBytes(std::vector<uint8_t> bytes, PgOutputMessage* out) {
  static std::vector<uint8_t> live;
  live = std::move(bytes);
  return PgOutputDecoder().Decode(std::span<const uint8_t>(live.data(), live.size()), out);
}

std::string Sv(std::string_view v) { return std::string(v); }

// Every valid message kind the tests build, for the sweep tests below.
std::vector<std::vector<uint8_t>> AllValidMessages() {
  using namespace testing;
  return {
      Begin(0x16B3748, 123456, 777).vec(),
      Commit(0x16B3748, 0x16B3780, 123456).vec(),
      Origin(0x10, "node_a").vec(),
      Relation(
          16384, "public", "namespaces",
          {{"id", true, 20}, {"parent_id", false, 20}, {"type", false, 1043}, {"name", false, 25}})
          .vec(),
      Type(90000, "public", "my_enum").vec(),
      Insert(16384, {Col::T("1"), Col::Null(), Col::T("Group"), Col::Toast()}).vec(),
      Update(16384, 0, {}, {Col::T("1"), Col::T("2"), Col::Toast(), Col::T("x")}).vec(),
      Update(16384, 'K', {Col::T("1"), Col::Null()}, {Col::T("5"), Col::T("2")}).vec(),
      Update(16384, 'O', {Col::T("1"), Col::T("2")}, {Col::T("1"), Col::T("3")}).vec(),
      Delete(16384, 'K', {Col::T("1"), Col::Null()}).vec(),
      Delete(16384, 'O', {Col::T("1"), Col::T("2")}).vec(),
      Truncate({16384, 16390}, 3).vec(),
      Message(1, 0x99, "canopy", "hello").vec(),
  };
}

TEST(PgOutputDecoder, Begin) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Begin(0x0000000116B3748ull, -5, 4000000000u), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kBegin);
  EXPECT_EQ(m.begin.final_lsn, Lsn(0x0000000116B3748ull));
  EXPECT_EQ(m.begin.commit_time, -5);
  EXPECT_EQ(m.begin.xid, 4000000000u);
}

TEST(PgOutputDecoder, Commit) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Commit(0x100, 0x1A0, 42, 0), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kCommit);
  EXPECT_EQ(m.commit.flags, 0);
  EXPECT_EQ(m.commit.commit_lsn, Lsn(0x100));
  EXPECT_EQ(m.commit.end_lsn, Lsn(0x1A0));
  EXPECT_EQ(m.commit.commit_time, 42);
}

TEST(PgOutputDecoder, Origin) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Origin(0xABCDEF0123ull, "pg_16400"), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kOrigin);
  EXPECT_EQ(m.origin.commit_lsn, Lsn(0xABCDEF0123ull));
  EXPECT_EQ(Sv(m.origin.name), "pg_16400");
}

TEST(PgOutputDecoder, Relation) {
  PgOutputMessage m;
  auto bytes = testing::Relation(
      16384, "public", "namespaces",
      {{"id", true, 20, -1}, {"name", false, 1043, 259}, {"traversal_ids", false, 1016}}, 'f');
  ASSERT_TRUE(DecodeBytes(bytes, &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kRelation);
  EXPECT_EQ(m.relation.relation_id, 16384u);
  EXPECT_EQ(m.relation.namespace_name, "public");
  EXPECT_EQ(m.relation.relation_name, "namespaces");
  EXPECT_EQ(m.relation.replica_identity, 'f');
  ASSERT_EQ(m.relation.columns.size(), 3u);
  EXPECT_TRUE(m.relation.columns[0].is_key);
  EXPECT_EQ(m.relation.columns[0].name, "id");
  EXPECT_EQ(m.relation.columns[0].type_oid, 20u);
  EXPECT_FALSE(m.relation.columns[1].is_key);
  EXPECT_EQ(m.relation.columns[1].type_modifier, 259);
  EXPECT_EQ(m.relation.columns[2].name, "traversal_ids");
  EXPECT_EQ(m.relation.columns[2].type_oid, 1016u);
}

TEST(PgOutputDecoder, RelationWithNoColumnsAndEmptyNamespace) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Relation(7, "", "t", {}, 'n'), &m).ok());
  EXPECT_EQ(m.relation.namespace_name, "");
  EXPECT_TRUE(m.relation.columns.empty());
}

TEST(PgOutputDecoder, RelationRejectsUnknownReplicaIdentity) {
  PgOutputMessage m;
  Status s = DecodeBytes(testing::Relation(7, "public", "t", {{"id", true}}, 'x'), &m);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("replica identity"), std::string::npos) << s.ToString();
}

TEST(PgOutputDecoder, Type) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Type(90001, "public", "visibility"), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kType);
  EXPECT_EQ(m.type_info.type_id, 90001u);
  EXPECT_EQ(Sv(m.type_info.namespace_name), "public");
  EXPECT_EQ(Sv(m.type_info.type_name), "visibility");
}

TEST(PgOutputDecoder, InsertWithEveryValueKind) {
  PgOutputMessage m;
  std::string with_nul("a\0b", 3);
  ASSERT_TRUE(DecodeBytes(testing::Insert(16384, {Col::T("9970"), Col::Null(), Col::Toast(),
                                                  Col::T(""), Col::T(with_nul)}),
                          &m)
                  .ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kInsert);
  EXPECT_EQ(m.insert.relation_id, 16384u);
  const auto& v = m.insert.new_tuple.values;
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].kind, TupleValueKind::kText);
  EXPECT_EQ(Sv(v[0].data), "9970");
  EXPECT_EQ(v[1].kind, TupleValueKind::kNull);
  EXPECT_EQ(v[2].kind, TupleValueKind::kUnchangedToast);
  EXPECT_EQ(v[3].kind, TupleValueKind::kText);
  EXPECT_EQ(Sv(v[3].data), "");
  EXPECT_EQ(Sv(v[4].data), with_nul);  // text values are length-delimited, NULs and all
}

TEST(PgOutputDecoder, InsertBinaryValue) {
  PgOutputMessage m;
  auto bytes = Bytes().Ch('I').U32(1).Ch('N').I16(1).Ch('b').I32(8).U64(42);
  ASSERT_TRUE(DecodeBytes(bytes, &m).ok());
  EXPECT_EQ(m.insert.new_tuple.values[0].kind, TupleValueKind::kBinary);
  EXPECT_EQ(m.insert.new_tuple.values[0].data.size(), 8u);
}

TEST(PgOutputDecoder, InsertWithZeroColumns) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Insert(5, {}), &m).ok());
  EXPECT_TRUE(m.insert.new_tuple.values.empty());
}

TEST(PgOutputDecoder, UpdateWithoutOldTuple) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Update(16384, 0, {}, {Col::T("1"), Col::Toast()}), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kUpdate);
  EXPECT_EQ(m.update.old_kind, OldTupleKind::kNone);
  EXPECT_TRUE(m.update.old_tuple.values.empty());
  ASSERT_EQ(m.update.new_tuple.values.size(), 2u);
  EXPECT_EQ(m.update.new_tuple.values[1].kind, TupleValueKind::kUnchangedToast);
}

TEST(PgOutputDecoder, UpdateWithOldKey) {
  PgOutputMessage m;
  ASSERT_TRUE(
      DecodeBytes(
          testing::Update(16384, 'K', {Col::T("1"), Col::Null()}, {Col::T("2"), Col::T("x")}), &m)
          .ok());
  EXPECT_EQ(m.update.old_kind, OldTupleKind::kKey);
  ASSERT_EQ(m.update.old_tuple.values.size(), 2u);
  EXPECT_EQ(Sv(m.update.old_tuple.values[0].data), "1");
  EXPECT_EQ(m.update.old_tuple.values[1].kind, TupleValueKind::kNull);
  EXPECT_EQ(Sv(m.update.new_tuple.values[0].data), "2");
}

TEST(PgOutputDecoder, UpdateWithOldTuple) {
  PgOutputMessage m;
  ASSERT_TRUE(
      DecodeBytes(
          testing::Update(16384, 'O', {Col::T("1"), Col::T("a")}, {Col::T("1"), Col::T("b")}), &m)
          .ok());
  EXPECT_EQ(m.update.old_kind, OldTupleKind::kFull);
  EXPECT_EQ(Sv(m.update.old_tuple.values[1].data), "a");
  EXPECT_EQ(Sv(m.update.new_tuple.values[1].data), "b");
}

TEST(PgOutputDecoder, UpdateReusedMessageClearsOldTuple) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Update(1, 'K', {Col::T("1")}, {Col::T("2")}), &m).ok());
  ASSERT_TRUE(DecodeBytes(testing::Update(1, 0, {}, {Col::T("3")}), &m).ok());
  EXPECT_EQ(m.update.old_kind, OldTupleKind::kNone);
  EXPECT_TRUE(m.update.old_tuple.values.empty());
}

TEST(PgOutputDecoder, UpdateRejectsBadTupleTags) {
  PgOutputMessage m;
  EXPECT_EQ(DecodeBytes(Bytes().Ch('U').U32(1).Ch('X').Append(testing::Tuple({})), &m).code(),
            StatusCode::kDataLoss);
  // 'K' old key must be followed by 'N'.
  auto bytes =
      Bytes().Ch('U').U32(1).Ch('K').Append(testing::Tuple({})).Ch('K').Append(testing::Tuple({}));
  Status s = DecodeBytes(bytes, &m);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("expected 'N'"), std::string::npos) << s.ToString();
}

TEST(PgOutputDecoder, Delete) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Delete(16384, 'K', {Col::T("77"), Col::Null()}), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kDelete);
  EXPECT_EQ(m.del.old_kind, OldTupleKind::kKey);
  EXPECT_EQ(Sv(m.del.old_tuple.values[0].data), "77");
  ASSERT_TRUE(DecodeBytes(testing::Delete(16384, 'O', {Col::T("78"), Col::T("a")}), &m).ok());
  EXPECT_EQ(m.del.old_kind, OldTupleKind::kFull);
  // A delete always carries an old key or row.
  EXPECT_EQ(DecodeBytes(Bytes().Ch('D').U32(1).Ch('N').Append(testing::Tuple({})), &m).code(),
            StatusCode::kDataLoss);
}

TEST(PgOutputDecoder, Truncate) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Truncate({1, 2, 3}, TruncateMessage::kCascade), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kTruncate);
  EXPECT_EQ(m.truncate.options, TruncateMessage::kCascade);
  EXPECT_EQ(m.truncate.relation_ids, (std::vector<uint32_t>{1, 2, 3}));
  ASSERT_TRUE(DecodeBytes(testing::Truncate({}), &m).ok());
  EXPECT_TRUE(m.truncate.relation_ids.empty());
}

TEST(PgOutputDecoder, Message) {
  PgOutputMessage m;
  std::string content("\x00\x01\x02zz", 5);
  ASSERT_TRUE(
      DecodeBytes(testing::Message(LogicalMessage::kTransactional, 0x55, "canopy", content), &m)
          .ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kMessage);
  EXPECT_EQ(m.message.flags, LogicalMessage::kTransactional);
  EXPECT_EQ(m.message.lsn, Lsn(0x55));
  EXPECT_EQ(Sv(m.message.prefix), "canopy");
  EXPECT_EQ(Sv(m.message.content), content);
}

TEST(PgOutputDecoder, EmptyInputIsAnError) {
  PgOutputMessage m;
  Status s = DecodeBytes({}, &m);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("empty"), std::string::npos);
}

TEST(PgOutputDecoder, UnknownTypesAreErrors) {
  PgOutputMessage m;
  for (int tag = 0; tag < 256; ++tag) {
    if (std::string_view("BCORYIUDTM").find(static_cast<char>(tag)) != std::string_view::npos)
      continue;
    std::vector<uint8_t> bytes = {static_cast<uint8_t>(tag), 0, 0, 0, 0};
    Status s = DecodeBytes(bytes, &m);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << tag;
    EXPECT_NE(s.message().find("unknown message type"), std::string::npos) << s.ToString();
  }
  // Protocol v2 streaming messages get a hint.
  Status s = DecodeBytes(Bytes().Ch('S').U32(5).U8(1), &m);
  EXPECT_NE(s.message().find("proto_version"), std::string::npos) << s.ToString();
}

TEST(PgOutputDecoder, TrailingBytesAreErrors) {
  for (auto bytes : AllValidMessages()) {
    bytes.push_back(0);
    PgOutputMessage m;
    Status s = DecodeBytes(bytes, &m);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "tag " << char(bytes[0]);
    EXPECT_NE(s.message().find("trailing"), std::string::npos) << s.ToString();
  }
}

// Every prefix of every valid message is an error, and decoding it never
// reads past the prefix (ASan checks that: each prefix is its own heap block).
TEST(PgOutputDecoder, TruncatedAtEveryOffset) {
  for (const auto& full : AllValidMessages()) {
    PgOutputMessage m;
    ASSERT_TRUE(DecodeBytes(full, &m).ok()) << "tag " << char(full[0]);
    for (size_t len = 0; len < full.size(); ++len) {
      std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(len));
      prefix.shrink_to_fit();
      Status s = DecodeBytes(prefix, &m);
      EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "tag " << char(full[0]) << " cut at " << len;
      EXPECT_FALSE(s.message().empty());
    }
  }
}

TEST(PgOutputDecoder, TruncationErrorNamesTheField) {
  PgOutputMessage m;
  auto full = testing::Commit(1, 2, 3).vec();
  full.resize(8);
  Status s = DecodeBytes(full, &m);
  EXPECT_NE(s.message().find("Commit"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("commit_lsn"), std::string::npos) << s.ToString();
}

TEST(PgOutputDecoder, NegativeCountsAndLengths) {
  PgOutputMessage m;
  EXPECT_EQ(DecodeBytes(Bytes().Ch('I').U32(1).Ch('N').I16(-1), &m).code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBytes(Bytes().Ch('I').U32(1).Ch('N').I16(1).Ch('t').I32(-1), &m).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBytes(Bytes().Ch('T').I32(-2).U8(0), &m).code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBytes(Bytes().Ch('R').U32(1).Str("a").Str("b").Ch('d').I16(-3), &m).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBytes(Bytes().Ch('M').U8(0).U64(1).Str("p").I32(-1), &m).code(),
            StatusCode::kDataLoss);
}

// Counts far larger than the input must fail before allocating for them.
TEST(PgOutputDecoder, HugeCountsFailWithoutHugeAllocations) {
  PgOutputMessage m;
  EXPECT_EQ(DecodeBytes(Bytes().Ch('I').U32(1).Ch('N').I16(32767).Ch('n'), &m).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBytes(Bytes().Ch('T').I32(0x7fffffff).U8(0).U32(1), &m).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBytes(Bytes().Ch('R').U32(1).Str("a").Str("b").Ch('d').I16(32767), &m).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(
      DecodeBytes(Bytes().Ch('I').U32(1).Ch('N').I16(1).Ch('t').I32(0x7fffffff).Raw("abc"), &m)
          .code(),
      StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBytes(Bytes().Ch('M').U8(0).U64(1).Str("p").I32(0x7fffffff).Raw("x"), &m).code(),
            StatusCode::kDataLoss);
}

TEST(PgOutputDecoder, UnknownTupleValueKind) {
  PgOutputMessage m;
  Status s = DecodeBytes(Bytes().Ch('I').U32(1).Ch('N').I16(2).Ch('n').Ch('z'), &m);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("unknown value kind"), std::string::npos) << s.ToString();
}

TEST(PgOutputDecoder, StringWithoutNul) {
  PgOutputMessage m;
  Status s = DecodeBytes(Bytes().Ch('O').U64(1).Raw("no-terminator"), &m);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("NUL"), std::string::npos) << s.ToString();
}

TEST(PgOutputDecoder, FailedDecodeKeepsPreviousType) {
  PgOutputMessage m;
  ASSERT_TRUE(DecodeBytes(testing::Begin(1, 2, 3), &m).ok());
  ASSERT_FALSE(DecodeBytes(Bytes().Ch('C').U8(0), &m).ok());
  EXPECT_EQ(m.type, PgOutputMessageType::kBegin);
}

uint64_t TestSeed() {
  if (const char* env = std::getenv("CANOPY_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

// Random garbage and random single-byte mutations of valid messages: the
// decoder either succeeds or returns kDataLoss; it never crashes or reads out
// of bounds. Replay a failure with CANOPY_TEST_SEED=<seed>.
TEST(PgOutputDecoder, RandomGarbageAndMutations) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("CANOPY_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::string tags = "BCORYIUDTMSEcAwkKNnut";
  PgOutputMessage m;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> bytes(rng() % 64);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    if (!bytes.empty() && rng() % 2) bytes[0] = static_cast<uint8_t>(tags[rng() % tags.size()]);
    bytes.shrink_to_fit();
    Status s = DecodeBytes(bytes, &m);
    if (!s.ok()) {
      ASSERT_EQ(s.code(), StatusCode::kDataLoss);
    }
  }
  const auto valid = AllValidMessages();
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> bytes = valid[rng() % valid.size()];
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) bytes.resize(rng() % (bytes.size() + 1));
    bytes.shrink_to_fit();
    Status s = DecodeBytes(bytes, &m);
    if (!s.ok()) {
      ASSERT_EQ(s.code(), StatusCode::kDataLoss);
    }
  }
}

// ---- the walsender envelope ----

Status ParseBytes(const std::vector<uint8_t>& bytes, CopyDataMessage* out) {
  return ParseCopyData(std::span<const uint8_t>(bytes.data(), bytes.size()), out);
}

TEST(WalsenderProtocol, XLogData) {
  auto bytes = Bytes().Ch('w').U64(0x10).U64(0x20).I64(99).Append(testing::Begin(1, 2, 3)).vec();
  CopyDataMessage m;
  ASSERT_TRUE(ParseBytes(bytes, &m).ok());
  EXPECT_EQ(m.kind, CopyDataMessage::Kind::kXLogData);
  EXPECT_EQ(m.xlog.data_start, Lsn(0x10));
  EXPECT_EQ(m.xlog.wal_end, Lsn(0x20));
  EXPECT_EQ(m.xlog.send_time, 99);
  ASSERT_EQ(m.xlog.payload.size(), testing::Begin(1, 2, 3).vec().size());
  EXPECT_EQ(m.xlog.payload[0], 'B');
}

TEST(WalsenderProtocol, Keepalive) {
  CopyDataMessage m;
  ASSERT_TRUE(ParseBytes(Bytes().Ch('k').U64(0xABC).I64(5).U8(1), &m).ok());
  EXPECT_EQ(m.kind, CopyDataMessage::Kind::kKeepalive);
  EXPECT_EQ(m.keepalive.wal_end, Lsn(0xABC));
  EXPECT_TRUE(m.keepalive.reply_requested);
  ASSERT_TRUE(ParseBytes(Bytes().Ch('k').U64(0xABC).I64(5).U8(0), &m).ok());
  EXPECT_FALSE(m.keepalive.reply_requested);
  EXPECT_FALSE(ParseBytes(Bytes().Ch('k').U64(0xABC).I64(5).U8(0).U8(0), &m).ok());
}

TEST(WalsenderProtocol, TruncatedAndUnknown) {
  CopyDataMessage m;
  auto w = Bytes().Ch('w').U64(1).U64(2).I64(3).vec();
  for (size_t len = 0; len < w.size(); ++len) {
    std::vector<uint8_t> prefix(w.begin(), w.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(ParseBytes(prefix, &m).code(), StatusCode::kDataLoss) << len;
  }
  EXPECT_TRUE(ParseBytes(w, &m).ok());  // an empty payload is the decoder's problem
  auto k = Bytes().Ch('k').U64(1).I64(2).U8(0).vec();
  for (size_t len = 0; len < k.size(); ++len) {
    std::vector<uint8_t> prefix(k.begin(), k.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_EQ(ParseBytes(prefix, &m).code(), StatusCode::kDataLoss) << len;
  }
  EXPECT_EQ(ParseBytes(Bytes().Ch('q').U64(1), &m).code(), StatusCode::kDataLoss);
}

TEST(WalsenderProtocol, StandbyStatusUpdate) {
  auto bytes = EncodeStandbyStatusUpdate({.write = Lsn(0x0102030405060708ull),
                                          .flush = Lsn(0x10),
                                          .apply = Lsn(0x20),
                                          .client_time = 0x30,
                                          .reply_requested = true});
  auto want = Bytes().Ch('r').U64(0x0102030405060708ull).U64(0x10).U64(0x20).I64(0x30).U8(1).vec();
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), want);
}

TEST(WalsenderProtocol, PgEpochIsAfter2020) {
  // 2020-01-01 is 631152000 s after 2000-01-01.
  EXPECT_GT(PgEpochMicrosNow(), int64_t{631152000} * 1000000);
}

}  // namespace
}  // namespace canopy::cdc
