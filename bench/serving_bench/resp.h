// resp.h — the RESP2 bytes canopyd answers with (docs/resp.md), for
// canopy_serving_bench to put into Redis: Redis then serves exactly canopyd's
// reply bytes. (The wire itself — commands, a connection, reply parsing — is
// canopy/testing/resp_wire.h.)
//
// THREAD SAFETY: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace canopy::bench::serving {

// An id list is an array of integers; a batch is an array of such arrays;
// counts are [descendant_groups, N, descendant_project_namespaces, N,
// projects, N, unarchived_projects, N].
std::string RespIdArray(const std::vector<int64_t>& ids);
std::string RespBatch(const std::vector<std::vector<int64_t>>& lists);
std::string RespCounts(const std::vector<int64_t>& four_counts);

}  // namespace canopy::bench::serving
