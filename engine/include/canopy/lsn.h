// canopy/lsn.h — PostgreSQL log sequence numbers.
//
// Every answer canopy gives names the LSN of the committed state it reflects.
// An LSN prints as PostgreSQL prints it: two hex halves, "16/B374D848".
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace canopy {

struct Lsn {
  uint64_t value = 0;

  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t v) : value(v) {}
  friend constexpr auto operator<=>(Lsn, Lsn) = default;

  // "X/Y" in upper-case hex, as pg_current_wal_lsn() prints it.
  std::string ToString() const;
  // Parses "X/Y" (hex, either case). nullopt on malformed input.
  static std::optional<Lsn> Parse(std::string_view text);
};

}  // namespace canopy
