// change_feed_test.cc — canopy::ChangeFeed (the window, resuming, the errors,
// concurrent subscribers) and the filters of canopy/feed.h. The replica's
// side is tests/cdc (feed_builder_test.cc, e2e/change_feed_e2e_test.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "canopy/change_feed.h"

namespace canopy {
namespace {

using std::chrono::milliseconds;

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

FeedTransaction Txn(uint64_t lsn, std::vector<FeedChange> changes = {}) {
  return FeedTransaction{Lsn(lsn), static_cast<int64_t>(lsn), std::move(changes)};
}

FeedChange Change(int64_t id, std::vector<int64_t> subtrees = {}) {
  FeedChange c;
  c.table = Table::kNamespaces;
  c.op = ChangeOp::kUpdate;
  c.id = id;
  c.before = Group(id, std::nullopt);
  c.after = Group(id, std::nullopt);
  c.subtrees = std::move(subtrees);
  return c;
}

std::vector<uint64_t> Lsns(const std::vector<SharedFeedTransaction>& txns) {
  std::vector<uint64_t> out;
  for (const auto& t : txns) out.push_back(t->commit_lsn.value);
  return out;
}

FeedOptions Window(size_t n) {
  FeedOptions o;
  o.max_transactions = n;
  return o;
}

TEST(ChangeFeed, DeliversAfterFromInOrderOnceAndResumes) {
  auto feed = ChangeFeed::Create(Window(100), Lsn(10));
  for (uint64_t lsn = 11; lsn <= 15; ++lsn) feed->Append(Txn(lsn, {Change(1)}));
  auto sub = feed->Subscribe(Lsn(12), {});
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  std::vector<SharedFeedTransaction> got;
  ASSERT_TRUE((*sub)->Next(&got, milliseconds(0)).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{13, 14, 15}));
  EXPECT_EQ((*sub)->position(), Lsn(15));
  ASSERT_TRUE((*sub)->Next(&got, milliseconds(0)).ok());
  EXPECT_TRUE(got.empty());  // nothing new: a timeout, not a repeat
  feed->Append(Txn(16, {Change(1)}));
  ASSERT_TRUE((*sub)->Next(&got, milliseconds(0)).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{16}));
  // From the start of the feed, and "now" (Lsn()).
  auto all = feed->Subscribe(Lsn(10), {});
  ASSERT_TRUE(all.ok());
  ASSERT_TRUE((*all)->Next(&got, milliseconds(0), 2).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{11, 12}));  // at most `max`
  auto now = feed->Subscribe(Lsn(), {});
  ASSERT_TRUE(now.ok());
  EXPECT_EQ((*now)->position(), Lsn(16));
}

TEST(ChangeFeed, TooOldFutureAndNoTablesAreClearErrors) {
  auto feed = ChangeFeed::Create(Window(3), Lsn(10));
  for (uint64_t lsn = 11; lsn <= 20; ++lsn) feed->Append(Txn(lsn, {Change(1)}));
  EXPECT_EQ(feed->retained_transactions(), 3u);
  EXPECT_EQ(feed->oldest(), Lsn(17));  // 18, 19, 20 are kept
  auto old = feed->Subscribe(Lsn(16), {});
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(old.status().message().find(Lsn(17).ToString()), std::string::npos)
      << old.status().message();
  EXPECT_TRUE(feed->Subscribe(Lsn(17), {}).ok());
  auto future = feed->Subscribe(Lsn(21), {});
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.status().code(), StatusCode::kInvalidArgument);
  FeedFilter none;
  none.tables = 0;
  EXPECT_EQ(feed->Subscribe(Lsn(), none).status().code(), StatusCode::kInvalidArgument);
}

TEST(ChangeFeed, ASlowSubscriberLosesItsPlaceNotTheFeed) {
  auto feed = ChangeFeed::Create(Window(4), Lsn(1));
  auto slow = feed->Subscribe(Lsn(), {});
  ASSERT_TRUE(slow.ok());
  for (uint64_t lsn = 2; lsn <= 50; ++lsn) feed->Append(Txn(lsn, {Change(1)}));
  EXPECT_EQ(feed->retained_transactions(), 4u);  // bounded whatever the subscriber does
  std::vector<SharedFeedTransaction> got;
  Status s = (*slow)->Next(&got, milliseconds(0));
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s.ToString();
  EXPECT_NE(s.message().find(feed->oldest().ToString()), std::string::npos) << s.message();
  // It resubscribes from the oldest start the error named.
  auto again = feed->Subscribe(feed->oldest(), {});
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Next(&got, milliseconds(0)).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{47, 48, 49, 50}));
}

TEST(ChangeFeed, ByteAndAgeBounds) {
  FeedOptions bytes = Window(1000);
  bytes.max_bytes = 4096;
  auto feed = ChangeFeed::Create(bytes, Lsn(1));
  for (uint64_t lsn = 2; lsn <= 200; ++lsn) feed->Append(Txn(lsn, {Change(1), Change(2)}));
  EXPECT_LE(feed->retained_bytes(), 4096u);
  EXPECT_GT(feed->retained_transactions(), 0u);
  EXPECT_LT(feed->retained_transactions(), 199u);

  FeedOptions age = Window(1000);
  age.max_age = std::chrono::seconds(0);
  auto aged = ChangeFeed::Create(age, Lsn(1));
  aged->Append(Txn(2, {Change(1)}));
  std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(aged->Subscribe(Lsn(1), {}).status().code(), StatusCode::kOutOfRange);
}

TEST(ChangeFeed, PositionsAdvanceAndCoalesce) {
  auto feed = ChangeFeed::Create(Window(100), Lsn(1));
  auto sub = feed->Subscribe(Lsn(), {});
  ASSERT_TRUE(sub.ok());
  feed->Append(Txn(2));  // idle keepalives: positions only
  feed->Append(Txn(3));
  EXPECT_EQ(feed->retained_transactions(), 1u);  // the newer position replaced the older
  feed->Append(Txn(4, {Change(7)}));
  feed->Append(Txn(5));
  std::vector<SharedFeedTransaction> got;
  ASSERT_TRUE((*sub)->Next(&got, milliseconds(0)).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_TRUE(got[0]->changes.empty());
  EXPECT_EQ(got[1]->changes.size(), 1u);
  // Filtered-out transactions advance the position; in a row, only the last shows.
  FeedFilter other;
  other.subtree = 99;
  auto filtered = feed->Subscribe(Lsn(1), other);
  ASSERT_TRUE(filtered.ok());
  ASSERT_TRUE((*filtered)->Next(&got, milliseconds(0)).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{5}));
  EXPECT_TRUE(got[0]->changes.empty());
  EXPECT_EQ((*filtered)->position(), Lsn(5));
}

TEST(ChangeFeed, ResetAndCloseEndSubscriptions) {
  auto feed = ChangeFeed::Create(Window(100), Lsn(100));
  feed->Append(Txn(101, {Change(1)}));
  auto sub = feed->Subscribe(Lsn(), {});
  ASSERT_TRUE(sub.ok());
  feed->Reset(Lsn(500));  // a new snapshot: nothing between 101 and 500 can be told
  std::vector<SharedFeedTransaction> got;
  EXPECT_EQ((*sub)->Next(&got, milliseconds(0)).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(feed->oldest(), Lsn(500));
  auto after = feed->Subscribe(Lsn(500), {});
  ASSERT_TRUE(after.ok());
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(20));
    feed->Close();
  });
  EXPECT_EQ((*after)->Next(&got, std::chrono::seconds(10)).code(), StatusCode::kUnavailable);
  closer.join();
  EXPECT_EQ(feed->Subscribe(Lsn(), {}).status().code(), StatusCode::kUnavailable);
}

TEST(ChangeFeed, ConcurrentSubscribersSeeEveryTransactionOnceInOrder) {
  auto feed = ChangeFeed::Create(Window(1'000'000), Lsn(1));
  constexpr uint64_t kLast = 5'000;
  std::vector<std::thread> readers;
  std::vector<std::vector<uint64_t>> seen(4);
  std::vector<Status> results(4);
  for (int r = 0; r < 4; ++r) {
    auto sub = feed->Subscribe(Lsn(1), {});
    ASSERT_TRUE(sub.ok());
    readers.emplace_back([&, r, s = std::move(sub).value()] {
      std::vector<SharedFeedTransaction> got;
      while (s->position() < Lsn(kLast)) {
        results[r] = s->Next(&got, milliseconds(1000), 64 + r);
        if (!results[r].ok()) return;
        for (const auto& t : got) seen[r].push_back(t->commit_lsn.value);
      }
    });
  }
  for (uint64_t lsn = 2; lsn <= kLast; ++lsn) feed->Append(Txn(lsn, {Change(1)}));
  for (auto& t : readers) t.join();
  std::vector<uint64_t> expected;
  for (uint64_t lsn = 2; lsn <= kLast; ++lsn) expected.push_back(lsn);
  for (int r = 0; r < 4; ++r) {
    EXPECT_TRUE(results[r].ok()) << results[r].ToString();
    EXPECT_EQ(seen[r], expected) << "reader " << r;
  }
}

TEST(ChangeFeed, FilterByTableSubtreeAndColumns) {
  FeedChange rename = Change(5, {1, 5});
  std::get<NamespaceRow>(rename.after).name = "renamed";
  FeedFilter projects_only;
  projects_only.tables = 1u << static_cast<unsigned>(Table::kProjects);
  EXPECT_FALSE(FilterChange(rename, projects_only));
  FeedFilter in1;
  in1.subtree = 1;
  EXPECT_TRUE(FilterChange(rename, in1));
  in1.subtree = 2;
  EXPECT_FALSE(FilterChange(rename, in1));
  // Columns: an update that changed none of them is dropped; the others are cleared.
  FeedFilter visibility;
  visibility.columns[0] = NamespaceRow::kVisibilityLevel;
  EXPECT_FALSE(FilterChange(rename, visibility));
  FeedFilter names;
  names.columns[0] = NamespaceRow::kName;
  std::optional<FeedChange> kept = FilterChange(rename, names);
  ASSERT_TRUE(kept);
  const auto& after = std::get<NamespaceRow>(kept->after);
  EXPECT_EQ(after.name, "renamed");
  EXPECT_TRUE(after.path.empty());
  EXPECT_EQ(after.present, NamespaceRow::kName);
  EXPECT_EQ(after.id, 5);  // the key stays
  // A truncate passes any subtree.
  FeedChange truncate;
  truncate.op = ChangeOp::kTruncate;
  truncate.table = Table::kNamespaces;
  in1.subtree = 12345;
  EXPECT_TRUE(FilterChange(truncate, in1));
}

// A transaction a filter keeps whole is the feed's own, shared by every such
// subscriber (no copy per subscriber); one a filter changes is a copy of
// what it keeps; JudgeChange says which, without copying.
TEST(ChangeFeed, TransactionsKeptWholeAreSharedNotCopied) {
  auto feed = ChangeFeed::Create(Window(10), Lsn(1));
  FeedFilter inside1;
  inside1.subtree = 1;
  FeedFilter names;
  names.columns[0] = NamespaceRow::kName;
  auto all = feed->Subscribe(Lsn(), {});
  auto in1 = feed->Subscribe(Lsn(), inside1);
  auto named = feed->Subscribe(Lsn(), names);
  ASSERT_TRUE(all.ok() && in1.ok() && named.ok());
  FeedChange renamed = Change(5, {1, 5});
  std::get<NamespaceRow>(renamed.after).name = "renamed";
  feed->Append(Txn(2, {renamed, Change(6, {1, 6})}));
  EXPECT_EQ(JudgeChange(renamed, {}), FilterVerdict::kKeep);
  EXPECT_EQ(JudgeChange(renamed, inside1), FilterVerdict::kKeep);
  EXPECT_EQ(JudgeChange(renamed, names), FilterVerdict::kProject);
  EXPECT_EQ(JudgeChange(Change(6, {1, 6}), names), FilterVerdict::kDrop);  // name unchanged
  std::vector<SharedFeedTransaction> a, b, c;
  ASSERT_TRUE((*all)->Next(&a, milliseconds(0)).ok());
  ASSERT_TRUE((*in1)->Next(&b, milliseconds(0)).ok());
  ASSERT_TRUE((*named)->Next(&c, milliseconds(0)).ok());
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(a[0].get(), b[0].get());  // the same transaction, not a copy
  EXPECT_NE(a[0].get(), c[0].get());
  ASSERT_EQ(c[0]->changes.size(), 1u);
  EXPECT_EQ(std::get<NamespaceRow>(c[0]->changes[0].after).present, NamespaceRow::kName);
  EXPECT_EQ(a[0]->changes.size(), 2u);  // the projection did not touch the shared one
  EXPECT_EQ(std::get<NamespaceRow>(a[0]->changes[0].after).present, kAllColumns);
}

// FeedFilter::KeepsEverything (a subscription's shortcut: share the whole
// transaction, judge nothing) is JudgeChange's kKeep for every change, and
// only then: over filters that set each field in turn, it holds exactly
// when every change of a set covering each table, operation and column
// (carried values included) is kept whole.
TEST(ChangeFeed, KeepsEverythingIsJudgeChangeKeepingEveryChange) {
  std::vector<FeedChange> changes;
  for (int op = 0; op < 4; ++op) {
    for (Table table : {Table::kNamespaces, Table::kProjects, Table::kRunnerLinks}) {
      FeedChange c;
      c.table = table;
      c.op = static_cast<ChangeOp>(op);
      c.id = 7;
      c.subtrees = {1, 7};
      FeedRow before, after;
      if (table == Table::kNamespaces) {
        before = Group(7, 1);
        after = Group(7, 1, "renamed");
      } else if (table == Table::kProjects) {
        before = ProjectRow{.id = 7, .namespace_id = 1, .name = "p", .path = "p"};
        after = ProjectRow{.id = 7, .namespace_id = 1, .name = "p", .path = "p", .archived = true};
      } else {
        before = RunnerLinkRow{.id = 7, .runner_id = 3, .namespace_id = 1};
        after = RunnerLinkRow{.id = 7, .runner_id = 4, .namespace_id = 1};
      }
      if (c.op != ChangeOp::kInsert && c.op != ChangeOp::kTruncate) c.before = before;
      if (c.op == ChangeOp::kInsert || c.op == ChangeOp::kUpdate) c.after = after;
      if (c.op == ChangeOp::kTruncate) {
        c.id = 0;
        c.subtrees.clear();
      }
      changes.push_back(c);
      if (c.op == ChangeOp::kUpdate) {  // the same row again, changed in a carried column only
        c.after = before;
        c.carried = {CarriedValue{.column = "description", .text = "new"}};
        changes.push_back(c);
      }
      if (c.op != ChangeOp::kTruncate) {  // and in another subtree
        c.subtrees = {2, 8};
        changes.push_back(c);
      }
    }
  }
  ASSERT_EQ(static_cast<int>(ChangeOp::kTruncate), 3);

  std::vector<FeedFilter> filters(1);  // the default
  for (uint32_t tables = 0; tables < 8; ++tables) filters.push_back({.tables = tables});
  for (int64_t subtree : {1, 7, 99}) filters.push_back({.subtree = subtree});
  for (size_t t = 0; t < 3; ++t) {
    for (ColumnMask column = 1; column < (1u << 7); column <<= 1) {
      FeedFilter f;
      f.columns[t] = column;
      filters.push_back(f);
      f.carried[t] = {"description"};
      filters.push_back(f);
    }
    FeedFilter all_bits;  // every column named, still a projection's judging
    all_bits.columns[t] = kAllColumns >> 1;
    filters.push_back(all_bits);
  }
  size_t kept_whole = 0;
  for (const FeedFilter& filter : filters) {
    bool every_change_kept = true;
    for (const FeedChange& change : changes) {
      every_change_kept &= JudgeChange(change, filter) == FilterVerdict::kKeep;
    }
    EXPECT_EQ(filter.KeepsEverything(), every_change_kept)
        << "tables " << filter.tables << " subtree " << filter.subtree.value_or(-1) << " columns "
        << filter.columns[0] << "/" << filter.columns[1] << "/" << filter.columns[2];
    kept_whole += every_change_kept;
  }
  EXPECT_EQ(kept_whole, 2u);  // the default, and tables = 0b111 said outright
}

TEST(ChangeFeed, NextStopsAtMaxBytesButTakesAtLeastOne) {
  auto feed = ChangeFeed::Create(Window(10), Lsn(1));
  auto sub = feed->Subscribe(Lsn(), {});
  ASSERT_TRUE(sub.ok());
  FeedChange big = Change(5);
  std::get<NamespaceRow>(big.after).name = std::string(10'000, 'n');
  for (uint64_t lsn = 2; lsn <= 6; ++lsn) feed->Append(Txn(lsn, {big}));
  std::vector<SharedFeedTransaction> got;
  ASSERT_TRUE((*sub)->Next(&got, milliseconds(0), 256, 1).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{2}));  // one, though over the bound
  ASSERT_TRUE((*sub)->Next(&got, milliseconds(0), 256, 25'000).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{3, 4}));
  ASSERT_TRUE((*sub)->Next(&got, milliseconds(0)).ok());
  EXPECT_EQ(Lsns(got), (std::vector<uint64_t>{5, 6}));
}

TEST(ChangeFeed, ListenersHearEveryChangeUntilRemoved) {
  auto feed = ChangeFeed::Create(Window(10), Lsn(1));
  std::atomic<int> heard{0};
  const uint64_t id = feed->AddListener([&] { ++heard; });
  feed->Append(Txn(2, {Change(1)}));
  feed->Append(Txn(2, {Change(1)}));  // not newer: ignored, nobody told
  feed->Reset(Lsn(50));
  EXPECT_EQ(heard.load(), 2);
  feed->RemoveListener(id);
  feed->Append(Txn(51, {Change(1)}));
  feed->Close();
  EXPECT_EQ(heard.load(), 2);
}

TEST(FeedText, TablesAndColumnsParseOrSayWhatIsWrong) {
  FeedFilter f;
  ASSERT_TRUE(ParseFeedTables("projects,runner_links", &f).ok());
  EXPECT_EQ(f.tables, (1u << 1) | (1u << 2));
  Status bad = ParseFeedTables("projects,,issues", &f);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("unknown table ''"), std::string::npos) << bad.message();
  EXPECT_EQ(f.tables, (1u << 1) | (1u << 2));  // unchanged on error
  ASSERT_TRUE(ParseFeedColumns("projects.name,projects.archived", &f).ok());
  EXPECT_EQ(f.columns[1], ProjectRow::kName | ProjectRow::kArchived);
  EXPECT_EQ(f.columns[0], kAllColumns);  // tables not named keep all columns
  EXPECT_TRUE(f.carried[1].empty());
  EXPECT_FALSE(ParseFeedColumns("name", &f).ok());
  EXPECT_FALSE(ParseFeedColumns("issues.title", &f).ok());
  EXPECT_FALSE(ParseFeedColumns("projects.", &f).ok());
  EXPECT_EQ(f.columns[1], ProjectRow::kName | ProjectRow::kArchived);
  // A name rows.h does not have is a carried column (Subscribe checks it).
  ASSERT_TRUE(ParseFeedColumns("projects.description,projects.name,projects.description", &f).ok());
  EXPECT_EQ(f.columns[1], ProjectRow::kName);
  EXPECT_EQ(f.carried[1], std::vector<std::string>{"description"});
  ASSERT_TRUE(ParseFeedColumns("projects.description", &f).ok());
  EXPECT_EQ(f.columns[1], ColumnMask{0});
}

// One reading of TABLE.COLUMN: lists are split on commas and trimmed of
// blanks (tabs too, as a config file line has them); a wire entry is one
// item, so a comma in it does not make several columns.
TEST(FeedText, TableColumnListsAndSingleEntries) {
  std::vector<std::string> columns[3];
  ASSERT_TRUE(ParseTableColumns(" projects.a ,\tprojects.b\r,namespaces.c", columns).ok());
  EXPECT_EQ(columns[1], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(columns[0], std::vector<std::string>{"c"});
  std::vector<std::string> entry[3];
  ASSERT_TRUE(ParseTableColumn("projects.a,projects.b", entry).ok());
  EXPECT_EQ(entry[1], std::vector<std::string>{"a,projects.b"}) << "one entry, one column";
  EXPECT_FALSE(ParseTableColumn("issues.title", entry).ok());
  EXPECT_EQ(canopy::TrimBlanks("\t x \r"), "x");
}

// A carried column (a published column the index does not keep): the feed
// accepts only those it carries; a projection keeps only the wanted ones; an
// update that sent a wanted one passes (its old value is not known); a
// change that left it out (an unchanged TOAST value) does not make it up.
TEST(ChangeFeed, CarriedColumnsAreCheckedFilteredAndNeverMadeUp) {
  FeedOptions options = Window(10);
  options.carried_columns[1] = {"description", "star_count"};
  auto feed = ChangeFeed::Create(options, Lsn(1));
  FeedFilter wants;
  ASSERT_TRUE(ParseFeedColumns("projects.name,projects.description", &wants).ok());
  EXPECT_TRUE(feed->Subscribe(Lsn(), wants).ok());
  FeedFilter typo;
  ASSERT_TRUE(ParseFeedColumns("projects.descripton", &typo).ok());
  Status bad = feed->Subscribe(Lsn(), typo).status();
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("unknown column 'descripton' of projects"), std::string::npos)
      << bad.message();
  FeedFilter elsewhere;  // carried for projects, not for namespaces
  ASSERT_TRUE(ParseFeedColumns("namespaces.description", &elsewhere).ok());
  EXPECT_EQ(feed->Subscribe(Lsn(), elsewhere).status().code(), StatusCode::kInvalidArgument);

  ProjectRow row;
  row.id = 9;
  row.namespace_id = 3;
  row.name = "p";
  FeedChange update{Table::kProjects, ChangeOp::kUpdate, 9, row, row, {3}, {}};
  update.carried = {{"description", std::string("new text")}, {"star_count", std::string("4")}};
  std::optional<FeedChange> kept = FilterChange(update, wants);
  ASSERT_TRUE(kept);  // name did not change, description was sent
  ASSERT_EQ(kept->carried.size(), 1u);
  EXPECT_EQ(kept->carried[0].column, "description");
  EXPECT_EQ(kept->carried[0].text, "new text");
  EXPECT_EQ(FilterChange(update, FeedFilter{})->carried.size(), 2u);  // no projection: all
  update.carried = {{"star_count", std::string("5")}};  // description unchanged TOAST: left out
  EXPECT_FALSE(FilterChange(update, wants));
  std::get<ProjectRow>(update.after).name = "q";
  kept = FilterChange(update, wants);
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->carried.empty());

  // JSON: carried values join `after`; NULL is null.
  update.carried = {{"description", std::nullopt}, {"star_count", std::string("a\"b")}};
  std::string json;
  AppendFeedRowJson(update.after, &json, update.carried);
  EXPECT_NE(json.find(",\"description\":null,\"star_count\":\"a\\\"b\"}"), std::string::npos)
      << json;
}

TEST(FeedText, ChangeJsonHasEveryFieldEscapedAndUnknownColumnsLeftOut) {
  NamespaceRow before = Group(7, 3);
  before.name = "a \"b\"\n\\";
  NamespaceRow after = before;
  after.parent_id = std::nullopt;
  after.present = kAllColumns & ~NamespaceRow::kVisibilityLevel;
  FeedTransaction txn{Lsn(0x16B3748), 1764979200123, {}};
  FeedChange change{Table::kNamespaces, ChangeOp::kUpdate, 7, before, after, {3, 7}, {}};
  std::string json;
  AppendFeedChangeJson(txn, change, &json);
  EXPECT_EQ(json,
            "{\"lsn\":\"0/16B3748\",\"commit_time\":\"2025-12-06T00:00:00.123Z\","
            "\"table\":\"namespaces\",\"op\":\"update\",\"id\":7,"
            "\"before\":{\"parent_id\":3,\"type\":\"Group\",\"name\":\"a \\\"b\\\"\\n\\\\\","
            "\"path\":\"g7\",\"visibility_level\":20},"
            "\"after\":{\"parent_id\":null,\"type\":\"Group\",\"name\":\"a \\\"b\\\"\\n\\\\\","
            "\"path\":\"g7\"},\"subtrees\":[3,7]}");
  json.clear();
  txn.changes.push_back(FeedChange{
      Table::kRunnerLinks, ChangeOp::kTruncate, 0, std::monostate{}, std::monostate{}, {}, {}});
  txn.commit_unix_ms = 0;
  AppendFeedTransactionJson(txn, &json);
  EXPECT_EQ(json,
            "{\"lsn\":\"0/16B3748\",\"commit_time\":null,\"changes\":[{\"table\":"
            "\"ci_runner_namespaces\",\"op\":\"truncate\",\"id\":0,\"before\":null,\"after\":null,"
            "\"subtrees\":[]}]}");
}

}  // namespace
}  // namespace canopy
