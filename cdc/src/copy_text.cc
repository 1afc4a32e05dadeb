// copy_text.cc — COPY text format lines to fields.
#include "copy_text.h"

#include <cstring>

namespace canopy::cdc::internal {

namespace {
int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Status SplitCopyLine(std::string_view line, std::vector<FieldValue>* fields, std::string* scratch) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  fields->clear();
  scratch->clear();
  scratch->reserve(line.size());  // unescaped text is never longer: no reallocation below
  size_t pos = 0;
  for (;;) {
    size_t end = line.find('\t', pos);
    if (end == std::string_view::npos) end = line.size();
    std::string_view raw = line.substr(pos, end - pos);
    FieldValue f;
    if (raw == "\\N") {
      f.state = FieldState::kNull;
    } else if (raw.find('\\') == std::string_view::npos) {
      f.state = FieldState::kValue;
      f.text = raw;
    } else {
      const size_t start = scratch->size();
      for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c != '\\') {
          scratch->push_back(c);
          continue;
        }
        if (++i == raw.size()) return Status::DataLoss("COPY line ends with a backslash");
        c = raw[i];
        switch (c) {
          case 'b':
            scratch->push_back('\b');
            break;
          case 'f':
            scratch->push_back('\f');
            break;
          case 'n':
            scratch->push_back('\n');
            break;
          case 'r':
            scratch->push_back('\r');
            break;
          case 't':
            scratch->push_back('\t');
            break;
          case 'v':
            scratch->push_back('\v');
            break;
          case 'x': {
            int v = 0, n = 0;
            while (n < 2 && i + 1 < raw.size() && HexDigit(raw[i + 1]) >= 0) {
              v = v * 16 + HexDigit(raw[++i]);
              ++n;
            }
            if (n == 0) {
              scratch->push_back('x');
            } else {
              scratch->push_back(static_cast<char>(v));
            }
            break;
          }
          default:
            if (c >= '0' && c <= '7') {
              int v = c - '0', n = 1;
              while (n < 3 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7') {
                v = v * 8 + (raw[++i] - '0');
                ++n;
              }
              scratch->push_back(static_cast<char>(v & 0xff));
            } else {
              scratch->push_back(c);
            }
        }
      }
      f.state = FieldState::kValue;
      f.text = std::string_view(scratch->data() + start, scratch->size() - start);
    }
    fields->push_back(f);
    if (end == line.size()) break;
    pos = end + 1;
  }
  return Status();
}

}  // namespace canopy::cdc::internal
