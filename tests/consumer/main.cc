// tests/consumer/main.cc — proves an installed canopy::engine is usable:
// the headers compile on their own, the library links, and a query answers.
//
// Builds org (1) > team (2) > squad (3), then checks SelfAndAncestors(3) in
// both orders and the LSN the answer reports; and that the installed
// canopy/version.h agrees with the package version find_package saw. Exits 0 on success, 1 on any
// mismatch (printing what it got).
#include <canopy/hierarchy_index.h>
#include <canopy/lsn.h>
#include <canopy/rows.h>
#include <canopy/status.h>
#include <canopy/version.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

std::string Join(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

canopy::UpsertNamespace Group(int64_t id, std::optional<int64_t> parent, std::string path) {
  canopy::NamespaceRow row;
  row.id = id;
  row.parent_id = parent;
  row.type = canopy::NamespaceType::kGroup;
  row.name = path;
  row.path = std::move(path);
  return canopy::UpsertNamespace{std::move(row)};
}

int checks = 0;
int failures = 0;

void Expect(bool ok, const std::string& what) {
  ++checks;
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

}  // namespace

int main() {
  canopy::HierarchyIndex index;

  canopy::Transaction txn;
  txn.commit_lsn = canopy::Lsn(0x16B374D848);
  // Child first on purpose: the engine judges the state at the end of the transaction.
  txn.changes.push_back(Group(3, 2, "squad"));
  txn.changes.push_back(Group(1, std::nullopt, "org"));
  txn.changes.push_back(Group(2, 1, "team"));
  if (canopy::Status s = index.Apply(std::move(txn)); !s.ok()) {
    std::printf("FAIL Apply: %s\n", s.ToString().c_str());
    return 1;
  }

  {
    canopy::ReadView view = index.Read();
    Expect(view.lsn() == canopy::Lsn(0x16B374D848), "view.lsn() = " + view.lsn().ToString());

    std::vector<int64_t> ids;
    canopy::Status s = view.SelfAndAncestors(3, canopy::HierarchyOrder::kRootFirst, &ids);
    Expect(s.ok() && ids == std::vector<int64_t>{1, 2, 3},
           "SelfAndAncestors(3, root first) = " + Join(ids) + " (" + s.ToString() + ")");

    s = view.SelfAndAncestors(3, canopy::HierarchyOrder::kSelfFirst, &ids);
    Expect(s.ok() && ids == std::vector<int64_t>{3, 2, 1},
           "SelfAndAncestors(3, self first) = " + Join(ids) + " (" + s.ToString() + ")");

    s = view.SelfAndAncestors(42, canopy::HierarchyOrder::kRootFirst, &ids);
    Expect(s.code() == canopy::StatusCode::kNotFound,
           "SelfAndAncestors(42) on an unknown id = " + s.ToString());
  }

  // The generic form the network layer uses.
  canopy::IdQuery query;
  query.kind = canopy::QueryKind::kSelfAndAncestors;
  query.id = 3;
  canopy::QueryAnswer answer = index.Query(query);
  Expect(answer.answer.status.ok() && answer.answer.ids == std::vector<int64_t>{1, 2, 3},
         "Query(self_and_ancestors, 3) = " + Join(answer.answer.ids));

  Expect(std::string(canopy::kVersion) == CANOPY_EXPECTED_VERSION,
         std::string("canopy::kVersion = ") + canopy::kVersion + " (package " +
             CANOPY_EXPECTED_VERSION + ")");

  if (failures != 0) {
    std::printf("canopy_consumer: FAILED %d of %d checks\n", failures, checks);
    return 1;
  }
  std::printf("canopy_consumer: all %d checks OK\n", checks);
  return 0;
}
