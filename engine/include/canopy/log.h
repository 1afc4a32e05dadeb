// canopy/log.h — one log entry as the libraries hand it to their host
// program: a level, the part that speaks ("server", "replica"), a message
// and key/value fields ("peer", "slot", "lsn"). The host decides the
// format (canopyd: text or JSON lines) and where it goes; the libraries
// only build records.
//
//   options.log = [](const canopy::LogRecord& r) { ... r.Field("peer") ... };
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canopy {

enum class LogLevel : uint8_t { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning", "error".
inline const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

struct LogField {
  std::string key;
  std::string value;
};

struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string component;  // "server", "replica", ...
  std::string message;    // may hold newlines (libpq errors do); formats escape them
  std::vector<LogField> fields;

  // The value of field `key`, or "" when absent.
  std::string_view Field(std::string_view key) const {
    for (const LogField& f : fields) {
      if (f.key == key) return f.value;
    }
    return {};
  }
};

// Receives records, possibly from several threads at once; keep it cheap.
using LogSink = std::function<void(const LogRecord&)>;

}  // namespace canopy
