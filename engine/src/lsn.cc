#include "canopy/lsn.h"

#include <cstdio>

namespace canopy {

std::string Lsn::ToString() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(value >> 32),
                static_cast<unsigned>(value & 0xffffffffu));
  return buf;
}

namespace {
// Parses 1..8 hex digits; false on anything else.
bool ParseHalf(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 8) return false;
  uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}
}  // namespace

std::optional<Lsn> Lsn::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  uint64_t hi = 0, lo = 0;
  if (!ParseHalf(text.substr(0, slash), &hi) || !ParseHalf(text.substr(slash + 1), &lo)) {
    return std::nullopt;
  }
  return Lsn((hi << 32) | lo);
}

}  // namespace canopy
