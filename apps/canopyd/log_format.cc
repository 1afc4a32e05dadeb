#include "log_format.h"

#include <ctime>

namespace canopyd {
namespace {

const char kHex[] = "0123456789abcdef";

// Text format: control characters escaped, the rest as is.
void AppendEscapedText(std::string_view text, std::string* out) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (u < 0x20 || u == 0x7f) {
      out->append("\\x");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xf]);
    } else {
      out->push_back(c);
    }
  }
}

void AppendTextValue(std::string_view value, std::string* out) {
  const bool quote = value.empty() || value.find_first_of(" \"=") != std::string_view::npos;
  if (!quote) return AppendEscapedText(value, out);
  out->push_back('"');
  for (const char c : value) {
    if (c == '"' || c == '\\') out->push_back('\\');
    AppendEscapedText(std::string_view(&c, 1), out);
  }
  out->push_back('"');
}

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out->append("\\u00");
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 0xf]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

std::string FormatTimestamp(std::chrono::system_clock::time_point when) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[40];
  const size_t n = std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(stamp, n);
  const auto millis = static_cast<int>(ms.count() % 1000);
  out.push_back('.');
  out.push_back(static_cast<char>('0' + millis / 100));
  out.push_back(static_cast<char>('0' + millis / 10 % 10));
  out.push_back(static_cast<char>('0' + millis % 10));
  out.push_back('Z');
  return out;
}

std::string JsonString(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

std::string FormatLogLine(LogFormat format, const canopy::LogRecord& record,
                          std::chrono::system_clock::time_point when) {
  std::string line;
  line.reserve(96 + record.message.size());
  if (format == LogFormat::kJson) {
    line.append("{\"ts\":\"");
    line.append(FormatTimestamp(when));
    line.append("\",\"level\":\"");
    line.append(canopy::LogLevelName(record.level));
    line.append("\",\"component\":");
    AppendJsonString(record.component, &line);
    line.append(",\"msg\":");
    AppendJsonString(record.message, &line);
    for (const canopy::LogField& field : record.fields) {
      line.push_back(',');
      AppendJsonString(field.key, &line);
      line.push_back(':');
      AppendJsonString(field.value, &line);
    }
    line.append("}\n");
    return line;
  }
  line.append(FormatTimestamp(when));
  line.push_back(' ');
  line.append(canopy::LogLevelName(record.level));
  line.push_back(' ');
  AppendEscapedText(record.component, &line);
  line.append(": ");
  AppendEscapedText(record.message, &line);
  for (const canopy::LogField& field : record.fields) {
    line.push_back(' ');
    AppendEscapedText(field.key, &line);
    line.push_back('=');
    AppendTextValue(field.value, &line);
  }
  line.push_back('\n');
  return line;
}

}  // namespace canopyd
