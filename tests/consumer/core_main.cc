// tests/consumer/core_main.cc — proves an installed canopy::core stands on its
// own: the vocabulary headers compile without the index's, and the library
// links without canopy::engine (this program links canopy::core only).
//
// Checks a few values a client builds and reads: QueryKindName and
// IsAscendingKind, an IdQuery, an LSN's text form, a Status, and that the
// installed canopy/version.h agrees with the package version find_package saw.
// Exits 0 on success, 1 on any mismatch (printing what it got).
#include <canopy/log.h>
#include <canopy/lsn.h>
#include <canopy/query.h>
#include <canopy/rows.h>
#include <canopy/status.h>
#include <canopy/version.h>

#include <cstdio>
#include <optional>
#include <string>

namespace {

int checks = 0;
int failures = 0;

void Expect(bool ok, const std::string& what) {
  ++checks;
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

}  // namespace

int main() {
  const std::string name = canopy::QueryKindName(canopy::QueryKind::kDescendants);
  Expect(name == "descendants", std::string("QueryKindName(kDescendants) = ").append(name));
  Expect(canopy::IsAscendingKind(canopy::QueryKind::kDescendants) &&
             !canopy::IsAscendingKind(canopy::QueryKind::kAncestors),
         "IsAscendingKind(descendants) and not (ancestors)");

  canopy::IdQuery query{.kind = canopy::QueryKind::kAllProjectIds, .id = 9970, .limit = 20};
  Expect(query.id_order == canopy::IdOrder::kAscending && !query.after_id.has_value(),
         "IdQuery defaults: ascending, no cursor");

  std::optional<canopy::Lsn> lsn = canopy::Lsn::Parse("16/b374d848");
  Expect(lsn.has_value() && lsn->ToString() == "16/B374D848",
         std::string("Lsn::Parse(\"16/b374d848\") prints ")
             .append(lsn ? lsn->ToString() : std::string("nothing")));

  canopy::Status status = canopy::Status::NotFound("unknown id 9970");
  Expect(status.code() == canopy::StatusCode::kNotFound &&
             std::string(canopy::StatusCodeName(status.code())) == "not_found",
         std::string("Status::NotFound: ").append(status.ToString()));

  Expect(std::string(canopy::NamespaceTypeName(canopy::NamespaceType::kGroup)) == "Group",
         "NamespaceTypeName(kGroup)");
  Expect(std::string(canopy::LogLevelName(canopy::LogLevel::kWarning)) == "warning",
         "LogLevelName(kWarning)");

  Expect(std::string(canopy::kVersion) == CANOPY_EXPECTED_VERSION,
         std::string("canopy::kVersion = ") + canopy::kVersion + " (package " +
             CANOPY_EXPECTED_VERSION + ")");

  if (failures != 0) {
    std::printf("canopy_consumer_core: FAILED %d of %d checks\n", failures, checks);
    return 1;
  }
  std::printf("canopy_consumer_core: all %d checks OK\n", checks);
  return 0;
}
