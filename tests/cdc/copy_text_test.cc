// Tests of the COPY text-format line splitter used by the snapshot loader.
// Label: decoder.
#include "copy_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace canopy::cdc::internal {
namespace {

std::vector<std::string> Split(std::string_view line, std::vector<FieldValue>* fields) {
  static std::string scratch;
  Status s = SplitCopyLine(line, fields, &scratch);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<std::string> out;
  for (const FieldValue& f : *fields)
    out.push_back(f.state == FieldState::kNull ? "<NULL>" : std::string(f.text));
  return out;
}

TEST(CopyText, PlainFieldsAndNull) {
  std::vector<FieldValue> f;
  EXPECT_EQ(Split("1\t\\N\tGroup\tname\n", &f),
            (std::vector<std::string>{"1", "<NULL>", "Group", "name"}));
  EXPECT_EQ(f[1].state, FieldState::kNull);
  EXPECT_EQ(Split("", &f), (std::vector<std::string>{""}));
  EXPECT_EQ(Split("\t", &f), (std::vector<std::string>{"", ""}));
}

TEST(CopyText, Escapes) {
  std::vector<FieldValue> f;
  EXPECT_EQ(Split("a\\tb\t\\\\\t\\n\\r\\b\\f\\v\t\\101\\x42\\7\t\\N2\t\\q", &f),
            (std::vector<std::string>{"a\tb", "\\", "\n\r\b\f\v", "AB\a", "N2", "q"}));
  // Many escaped fields: views into the scratch buffer stay valid.
  std::string line;
  for (int i = 0; i < 200; ++i) {
    // Appended, not "\t" + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
    if (i) line += '\t';
    line += "x\\\\y";
  }
  auto out = Split(line, &f);
  ASSERT_EQ(out.size(), 200u);
  for (const auto& s : out) EXPECT_EQ(s, "x\\y");
}

TEST(CopyText, TrailingBackslashIsAnError) {
  std::vector<FieldValue> f;
  std::string scratch;
  EXPECT_EQ(SplitCopyLine("abc\\", &f, &scratch).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace canopy::cdc::internal
