// apps/canopyd/log_format.h — how canopyd writes a canopy::LogRecord: one
// line per record, in text or JSON.
//
//   text: 2026-12-05T12:34:56.789Z info replica: streaming from 0/16B3748 slot=canopy lsn=0/16B3748
//   json: {"ts":"2026-12-05T12:34:56.789Z","level":"info","component":"replica",
//          "msg":"streaming from 0/16B3748","slot":"canopy","lsn":"0/16B3748"}
//
// A line never holds a raw newline or other control character: text escapes
// them as \n, \r, \t, \xHH (libpq's errors span several lines), JSON as its
// string escapes. Text quotes a field value holding a space, '"' or '='
// (key="a b"); fields follow the message in their order. JSON puts the
// fields next to ts/level/component/msg (a field named like one of those
// comes after it; readers take the last).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "canopy/log.h"

namespace canopyd {

enum class LogFormat { kText, kJson };

// "2026-12-05T12:34:56.789Z": UTC, milliseconds.
std::string FormatTimestamp(std::chrono::system_clock::time_point when);

// The line for `record`, with its trailing '\n'.
std::string FormatLogLine(LogFormat format, const canopy::LogRecord& record,
                          std::chrono::system_clock::time_point when);

// `text` as a JSON string literal, quotes included.
std::string JsonString(std::string_view text);

}  // namespace canopyd
