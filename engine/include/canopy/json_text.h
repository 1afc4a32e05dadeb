// canopy/json_text.h — the JSON text canopy writes itself: string literals
// and UTC timestamps (canopyd's JSON log lines, the change feed's changes).
// Encoding only: canopy never parses JSON, so a library would buy nothing
// but a dependency of canopy::core.
//
//   std::string line = "{\"msg\":";
//   canopy::AppendJsonString("a \"quoted\"\nline", &line);   // "a \"quoted\"\nline"
//   canopy::FormatUtcMillis(1764979200123);                    // "2025-12-06T00:00:00.123Z"
//
// THREAD SAFETY: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace canopy {

// Appends `text` as a JSON string literal, quotes included: '"', '\\' and
// control characters escaped (\n, \r, \t, \u00XX); other bytes as they are.
void AppendJsonString(std::string_view text, std::string* out);

// "2026-12-05T12:34:56.789Z": UTC, milliseconds since the Unix epoch.
std::string FormatUtcMillis(int64_t unix_ms);

}  // namespace canopy
