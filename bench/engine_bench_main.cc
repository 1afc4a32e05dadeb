// canopy_engine_bench — Google Benchmark over a GitLab.com-sized forest.
//
//   canopy_engine_bench --benchmark_min_time=0.5
//   CANOPY_BENCH_NAMESPACES=3000 CANOPY_BENCH_PROJECTS=9000 canopy_engine_bench
//       --benchmark_min_time=0.01 --benchmark_filter=Ancestors
//
// The forest and the index are built once, before the first benchmark (see
// bench_world.h), and shared by all of them; setup figures (generation and
// load time, memory per entity) are printed before and after the table.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "bench_world.h"
#include "benchmarks.h"

namespace canopy::bench {
namespace {
std::atomic<bool> failed{false};
}  // namespace

void FailBenchmark(benchmark::State& state, const char* message) {
  failed.store(true);
  state.SkipWithError(message);
}
bool AnyBenchmarkFailed() { return failed.load(); }

}  // namespace canopy::bench

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--benchmark_list_tests")) {
      listing = std::strstr(argv[i], "=false") == nullptr && std::strstr(argv[i], "=0") == nullptr;
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  canopy::bench::RegisterQueryBenchmarks();
  canopy::bench::RegisterWriteBenchmarks();
  if (!listing) canopy::bench::World();  // build outside any timed region
  benchmark::RunSpecifiedBenchmarks();
  canopy::bench::PrintSetupSummary();
  benchmark::Shutdown();
  if (canopy::bench::AnyBenchmarkFailed()) {
    std::fprintf(stderr, "canopy_engine_bench: a benchmark failed (see ERROR OCCURRED above)\n");
    return 1;
  }
  return 0;
}
