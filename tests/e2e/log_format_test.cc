// log_format_test.cc — canopyd's log lines (apps/canopyd/log_format.h):
// millisecond UTC timestamps, one line per record whatever the message
// holds (newlines and other control characters escaped in text, JSON
// escapes in json), fields after the message.
#include "log_format.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace canopyd {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2026-12-05T12:34:56.789Z
const system_clock::time_point kWhen = system_clock::time_point(milliseconds(1796474096789));

canopy::LogRecord Record(std::string message) {
  return canopy::LogRecord{.level = canopy::LogLevel::kInfo,
                           .component = "replica",
                           .message = std::move(message),
                           .fields = {{"slot", "canopy"}, {"lsn", "0/16B3748"}}};
}

TEST(LogFormat, Timestamp) {
  EXPECT_EQ(FormatTimestamp(kWhen), "2026-12-05T12:34:56.789Z");
  EXPECT_EQ(FormatTimestamp(system_clock::time_point(milliseconds(5))), "1970-01-01T00:00:00.005Z");
}

TEST(LogFormat, Text) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, Record("streaming from 0/16B3748"), kWhen),
            "2026-12-05T12:34:56.789Z info replica: streaming from 0/16B3748 slot=canopy "
            "lsn=0/16B3748\n");
}

TEST(LogFormat, TextEscapesNewlinesAndControlCharacters) {
  const std::string line =
      FormatLogLine(LogFormat::kText, Record("ERROR:  terminating\nDETAIL:\tx\r\x01 end"), kWhen);
  EXPECT_EQ(line,
            "2026-12-05T12:34:56.789Z info replica: ERROR:  terminating\\nDETAIL:\\tx\\r\\x01 end "
            "slot=canopy lsn=0/16B3748\n");
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(LogFormat, TextQuotesFieldValuesWithSpaces) {
  canopy::LogRecord record = Record("m");
  record.fields = {{"a", "two words"}, {"b", "say \"hi\""}, {"c", ""}, {"d", "x\ny"}};
  EXPECT_EQ(FormatLogLine(LogFormat::kText, record, kWhen),
            "2026-12-05T12:34:56.789Z info replica: m a=\"two words\" b=\"say \\\"hi\\\"\" "
            "c=\"\" d=x\\ny\n");
}

TEST(LogFormat, Json) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, Record("streaming from 0/16B3748"), kWhen),
            "{\"ts\":\"2026-12-05T12:34:56.789Z\",\"level\":\"info\",\"component\":\"replica\","
            "\"msg\":\"streaming from 0/16B3748\",\"slot\":\"canopy\",\"lsn\":\"0/16B3748\"}\n");
}

TEST(LogFormat, JsonEscapes) {
  EXPECT_EQ(JsonString("a\"b\\c\nd\re\tf"), "\"a\\\"b\\\\c\\nd\\re\\tf\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonString(std::string("nul\0!", 5)), "\"nul\\u0000!\"");
  EXPECT_EQ(JsonString("h\xc3\xa9llo"), "\"h\xc3\xa9llo\"");  // UTF-8 as is
  const std::string line =
      FormatLogLine(LogFormat::kJson, Record("line one\nline \"two\"\x02"), kWhen);
  EXPECT_NE(line.find("\"msg\":\"line one\\nline \\\"two\\\"\\u0002\""), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(LogFormat, LevelsByName) {
  canopy::LogRecord record = Record("m");
  record.fields.clear();
  record.level = canopy::LogLevel::kWarning;
  EXPECT_EQ(FormatLogLine(LogFormat::kText, record, kWhen),
            "2026-12-05T12:34:56.789Z warning replica: m\n");
  record.level = canopy::LogLevel::kError;
  EXPECT_NE(FormatLogLine(LogFormat::kJson, record, kWhen).find("\"level\":\"error\""),
            std::string::npos);
}

}  // namespace
}  // namespace canopyd
