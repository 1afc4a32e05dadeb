#include "log_format.h"

#include "canopy/json_text.h"

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

}  // namespace

std::string FormatTimestamp(std::chrono::system_clock::time_point when) {
  return canopy::FormatUtcMillis(
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count());
}

std::string JsonString(std::string_view text) {
  std::string out;
  canopy::AppendJsonString(text, &out);
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
    canopy::AppendJsonString(record.component, &line);
    line.append(",\"msg\":");
    canopy::AppendJsonString(record.message, &line);
    for (const canopy::LogField& field : record.fields) {
      line.push_back(',');
      canopy::AppendJsonString(field.key, &line);
      line.push_back(':');
      canopy::AppendJsonString(field.value, &line);
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
