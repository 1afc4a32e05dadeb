// fuzz_index.h — a small hand-built index for the fuzzer: a few groups deep,
// a user namespace, projects, runner links. Built once per process.
#pragma once

#include <memory>
#include <string>

#include "canopy/hierarchy_index.h"

namespace canopy::net::fuzz {

inline const HierarchyIndex& FuzzIndex() {
  static const HierarchyIndex* index = [] {
    auto* idx = new HierarchyIndex();
    Transaction txn;
    txn.commit_lsn = Lsn(100);
    auto group = [&](int64_t id, std::optional<int64_t> parent, const std::string& path) {
      txn.changes.push_back(UpsertNamespace{{.id = id,
                                             .parent_id = parent,
                                             .type = NamespaceType::kGroup,
                                             .name = path,
                                             .path = path}});
    };
    group(1, std::nullopt, "org");
    group(2, 1, "a");
    group(3, 2, "b");
    group(4, 3, "c");
    group(5, 1, "d");
    txn.changes.push_back(
        UpsertNamespace{{.id = 6, .type = NamespaceType::kUser, .name = "u", .path = "u"}});
    for (int64_t p = 1; p <= 4; ++p) {
      const int64_t ns = p <= 3 ? p + 1 : 6;
      txn.changes.push_back(UpsertNamespace{{.id = 100 + p,
                                             .parent_id = ns,
                                             .type = NamespaceType::kProject,
                                             .name = "p" + std::to_string(p),
                                             .path = "p" + std::to_string(p)}});
      txn.changes.push_back(UpsertProject{{.id = p,
                                           .namespace_id = ns,
                                           .project_namespace_id = 100 + p,
                                           .name = "p" + std::to_string(p),
                                           .path = "p" + std::to_string(p),
                                           .archived = p == 2}});
    }
    txn.changes.push_back(UpsertRunnerLink{{.id = 1, .runner_id = 7, .namespace_id = 2}});
    txn.changes.push_back(UpsertRunnerLink{{.id = 2, .runner_id = 8, .namespace_id = 1}});
    (void)idx->Apply(std::move(txn));
    return idx;
  }();
  return *index;
}

}  // namespace canopy::net::fuzz
