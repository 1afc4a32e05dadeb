// Row texts in the shared text arena (engine/src/row_text.h): every name and
// path reads back byte for byte at every size (empty, equal, around the
// varint and inline limits, big), a record is as small as its format says,
// the last Unref frees it for reuse by the next record of its size, and
// threads make and free texts at once.
#include "row_text.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace canopy::internal {
namespace {

std::string Bytes(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i * 7));
  return s;
}

TEST(RowText, ReadsBackEveryShape) {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"", "p"},
      {"n", ""},
      {"same", "same"},
      {"Gitlab 1a2b", "gitlab-1a2b"},
      {std::string("nul\0in", 6), std::string("p\0\xff", 3)},
      {Bytes(2000, 'q'), ""},  // big, with no path bytes at all
  };
  // Sizes around the head varint (path size << 2 passes 127 at 32), the
  // name varint (128), the inline limit (1024 bytes a record) and beyond.
  for (size_t n : {31u, 32u, 127u, 128u, 255u, 1000u, 1010u, 1017u, 1018u, 1019u, 1020u, 1023u,
                   1024u, 1025u, 5000u, 70000u}) {
    cases.emplace_back(Bytes(n, 'a'), Bytes(3, 'x'));
    cases.emplace_back(Bytes(3, 'x'), Bytes(n, 'b'));
    cases.emplace_back(Bytes(n, 'c'), Bytes(n, 'c'));
    cases.emplace_back(Bytes(n, 'd'), Bytes(n / 2 + 1, 'e'));
  }
  for (const auto& [name, path] : cases) {
    RowText t = RowText::Make(name, path);
    EXPECT_EQ(t.name(), name) << name.size() << "/" << path.size();
    EXPECT_EQ(t.path(), path) << name.size() << "/" << path.size();
    EXPECT_TRUE(t.Equals(name, path));
    EXPECT_FALSE(t.Equals(name + "x", path));
    EXPECT_FALSE(t.Equals(name, path + "x"));
    if (name.size() + path.size() < 1000) {  // inline: whole units (a big one adds its block)
      EXPECT_EQ(t.bytes() % TextArena::kUnitBytes, 0u);
    }
    EXPECT_GE(t.bytes(), name == path ? path.size() : name.size() + path.size());
    t.Unref();
    EXPECT_EQ(t.bytes(), 0u);
    EXPECT_EQ(t.path(), "");
  }
}

TEST(RowText, EmptyNeedsNoRecord) {
  RowText t = RowText::Make("", "");
  EXPECT_EQ(t.bytes(), 0u);
  EXPECT_TRUE(t.same(RowText()));
  EXPECT_TRUE(t.Equals("", ""));
  t.Ref();
  t.Unref();  // no-ops on the empty text
}

// The format's promise for GitLab-shaped rows: 2 bytes of count, one of each
// size, the bytes, rounded up to 4.
TEST(RowText, GitlabShapedRecordIsTwentyEightBytes) {
  RowText t = RowText::Make("Gitlab 1a2b", "gitlab-1a2b");
  EXPECT_EQ(t.bytes(), 28u);
  t.Unref();
  RowText same = RowText::Make("gitlab-1a2b", "gitlab-1a2b");
  EXPECT_EQ(same.bytes(), 16u);  // 2 + 1 + 11, the name not stored twice
  same.Unref();
}

// A big text's record is the same size wherever it starts (its block
// pointer sits at the next 8-aligned byte), and freeing it gives back
// exactly that.
TEST(RowText, BigRecordsHaveOneSizeAtAnyAlignment) {
  const std::string name = Bytes(3000, 'n');
  std::vector<RowText> smalls, bigs;
  for (int i = 0; i < 4; ++i) {
    smalls.push_back(RowText::Make("", "a"));  // one unit: the next record starts 4 bytes on
    bigs.push_back(RowText::Make(name, "p"));
  }
  for (RowText& big : bigs) {
    EXPECT_EQ(big.bytes(), bigs[0].bytes());
    EXPECT_EQ(big.name(), name);
  }
  for (RowText& big : bigs) {
    const size_t block = big.bytes() - 16;  // the record: 4 units
    EXPECT_EQ(block, 8 + 1 + name.size());  // the block: two sizes, then the bytes
    const size_t free_before = TextArena::FreeBytes();
    big.Unref();
    EXPECT_EQ(TextArena::FreeBytes(), free_before + 16);
  }
  for (RowText& t : smalls) t.Unref();
  RowText no_path = RowText::Make(name, std::string_view());  // a null path: nothing copied
  EXPECT_EQ(no_path.name(), name);
  EXPECT_EQ(no_path.path(), "");
  no_path.Unref();
}

TEST(RowText, LastUnrefFreesForTheNextRecordOfItsSize) {
  RowText t = RowText::Make("Some Name", "some-name");
  RowText shared = t;
  shared.Ref();
  const size_t free_before = TextArena::FreeBytes();
  t.Unref();
  EXPECT_EQ(TextArena::FreeBytes(), free_before);  // one reference left
  EXPECT_EQ(shared.name(), "Some Name");
  const size_t record = shared.bytes();
  shared.Unref();
  EXPECT_EQ(TextArena::FreeBytes(), free_before + record);
  RowText again = RowText::Make("Other Nam", "other-nam");  // the same size
  EXPECT_EQ(again.bytes(), record);
  EXPECT_EQ(TextArena::FreeBytes(), free_before);
  EXPECT_EQ(again.path(), "other-nam");
  again.Unref();
}

// Making and freeing many texts twice over does not take more chunks the
// second time: freed records are reused.
TEST(RowText, FreedRecordsAreReused) {
  auto make_all = [] {
    std::vector<RowText> texts;
    for (int i = 0; i < 100'000; ++i) {
      std::string path = "group-";
      path += std::to_string(i);
      std::string name = "G ";
      name += path;
      texts.push_back(RowText::Make(name, path));
    }
    return texts;
  };
  std::vector<RowText> texts = make_all();
  for (RowText& t : texts) t.Unref();
  const size_t reserved = TextArena::ReservedBytes();
  texts = make_all();
  EXPECT_EQ(TextArena::ReservedBytes(), reserved);
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(texts[i].path().substr(6), std::to_string(i));
  }
  for (RowText& t : texts) t.Unref();
}

// Two threads make, read and free texts at once (the snapshot build makes
// them on two threads; a transaction may be released on another).
TEST(RowText, ThreadsMakeAndFreeAtOnce) {
  constexpr int kTexts = 50'000;
  auto path_of = [](char tag, int i) {
    std::string path(1, tag);
    path += std::to_string(i);
    return path;
  };
  auto work = [&path_of](char tag, std::vector<RowText>* kept) {
    for (int round = 0; round < 3; ++round) {
      std::vector<RowText> texts;
      for (int i = 0; i < kTexts; ++i) {
        const std::string path = path_of(tag, i * (round + 1));
        texts.push_back(RowText::Make(path + " name", path));
      }
      for (int i = 0; i < kTexts; ++i) {
        const std::string path = path_of(tag, i * (round + 1));
        if (texts[i].path() != path || texts[i].name() != path + " name") {
          ADD_FAILURE() << "text " << i << " of thread " << tag << " reads " << texts[i].path();
          return;
        }
      }
      for (size_t i = 0; i < texts.size(); ++i) {
        if (i % 2 == 0) {
          texts[i].Unref();
        } else {
          kept->push_back(texts[i]);
        }
      }
    }
  };
  std::vector<RowText> kept_a, kept_b;
  std::thread other(work, 'b', &kept_b);
  work('a', &kept_a);
  other.join();
  for (auto* kept : {&kept_a, &kept_b}) {
    for (RowText& t : *kept) {
      ASSERT_EQ(t.name(), std::string(t.path()) + " name");
      t.Unref();
    }
  }
}

}  // namespace
}  // namespace canopy::internal
