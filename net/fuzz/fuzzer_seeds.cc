// fuzzer_seeds.cc — writes a seed corpus for canopy_request_fuzzer: one valid
// frame per request kind and one pipelined stream of all of them.
//   canopy_request_fuzzer_seeds DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "codec.h"

using namespace canopy;       // NOLINT
using namespace canopy::net;  // NOLINT

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::filesystem::create_directories(argv[1]);
  std::vector<RequestBody> bodies = {
      HelloRequest{kProtocolVersion, "token", "seed"},
      PingRequest{7},
      IdQuery{.kind = QueryKind::kSelfAndAncestors, .id = 4},
      IdQuery{.kind = QueryKind::kAncestorsUpto,
              .id = 4,
              .top = 2,
              .order = HierarchyOrder::kSelfFirst},
      IdQuery{.kind = QueryKind::kDescendants,
              .id = 1,
              .include_project_namespaces = true,
              .limit = 2,
              .after_id = 2},
      IdQuery{.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = 3},
      IdQuery{.kind = QueryKind::kAllProjectIds, .id = 1, .limit = 1, .id_order = IdOrder::kAny},
      BatchRequest{{IdQuery{.kind = QueryKind::kAllProjectIds, .id = 1},
                    IdQuery{.kind = QueryKind::kSelfAndHierarchy,
                            .id = 2,
                            .after_id = 1,
                            .id_order = IdOrder::kAny},
                    IdQuery{.kind = QueryKind::kProjectAncestors, .id = 2}}},
      CountsRequest{{1, 2, 99}},
      FullPathRequest{Table::kProjects, {1, 4, 99}},
      FullPathRequest{Table::kNamespaces, {4}},
      ResolveRequest{{"org/a/b", "org/a/b/p2", "nope"}},
      RunnersOfGroupsRequest{{1, 2}},
      StatusRequest{},
  };
  flatbuffers::FlatBufferBuilder b;
  std::vector<uint8_t> stream;
  for (size_t i = 0; i < bodies.size(); ++i) {
    Request r;
    r.request_id = i + 1;
    r.min_lsn = Lsn(i % 3 == 0 ? 50 : 0);
    r.body = bodies[i];
    canopy::net::internal::EncodeRequest(r, &b);
    std::ofstream(std::string(argv[1]) + "/seed_" + std::to_string(i), std::ios::binary)
        .write(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    stream.insert(stream.end(), b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  }
  std::ofstream(std::string(argv[1]) + "/seed_stream", std::ios::binary)
      .write(reinterpret_cast<const char*>(stream.data()),
             static_cast<std::streamsize>(stream.size()));
  return 0;
}
