// test_rows.h — terse row builders for hand-written engine tests.
//
//   index.Apply({Lsn(10), {Group(1, std::nullopt, "org"), Group(2, 1, "team"),
//                          ProjectNamespace(20, 2, "app"), Project(100, 2, 20, "app")}});
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "canopy/rows.h"

namespace canopy_test {

inline canopy::RowChange Group(int64_t id, std::optional<int64_t> parent, std::string path) {
  canopy::NamespaceRow r;
  r.id = id;
  r.parent_id = parent;
  r.type = canopy::NamespaceType::kGroup;
  r.name = "Group " + path;
  r.path = std::move(path);
  return canopy::UpsertNamespace{std::move(r)};
}

inline canopy::RowChange User(int64_t id, std::string path) {
  canopy::NamespaceRow r;
  r.id = id;
  r.type = canopy::NamespaceType::kUser;
  r.name = "User " + path;
  r.path = std::move(path);
  return canopy::UpsertNamespace{std::move(r)};
}

// A project's own namespace (type 'Project'); its path is the project's.
inline canopy::RowChange ProjectNamespace(int64_t id, int64_t parent, std::string path) {
  canopy::NamespaceRow r;
  r.id = id;
  r.parent_id = parent;
  r.type = canopy::NamespaceType::kProject;
  r.name = path;
  r.path = std::move(path);
  r.visibility_level = 0;
  return canopy::UpsertNamespace{std::move(r)};
}

inline canopy::RowChange Project(int64_t id, int64_t namespace_id, int64_t project_namespace_id,
                                 std::string path, bool archived = false) {
  canopy::ProjectRow r;
  r.id = id;
  r.namespace_id = namespace_id;
  r.project_namespace_id = project_namespace_id;
  r.name = "Project " + path;
  r.path = std::move(path);
  r.archived = archived;
  return canopy::UpsertProject{std::move(r)};
}

inline canopy::RowChange Link(int64_t id, int64_t runner_id, int64_t namespace_id) {
  return canopy::UpsertRunnerLink{{.id = id, .runner_id = runner_id, .namespace_id = namespace_id}};
}

}  // namespace canopy_test
