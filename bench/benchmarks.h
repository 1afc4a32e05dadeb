// benchmarks.h — registration of canopy_engine_bench's benchmark families and
// the small helpers they share.
#pragma once

#include <benchmark/benchmark.h>

#include <time.h>

#include <chrono>
#include <cstdint>

#include "canopy/testing/child_process.h"

namespace canopy::bench {

// Read-side benchmarks (query_bench.cc): they leave the index unchanged.
void RegisterQueryBenchmarks();
// Memory figures and write-side benchmarks (write_bench.cc), registered after
// the read side so every query runs on the freshly loaded forest.
void RegisterWriteBenchmarks();
// The figures measured while building the world, as printed lines.
void PrintSetupSummary();

// Marks the benchmark as failed because the engine misbehaved (an error
// Status, a wrong answer) — unlike a skip for data the forest lacks. main()
// then exits non-zero, so the smoke test catches it. Never used for timing.
void FailBenchmark(benchmark::State& state, const char* message);
// True once FailBenchmark was called.
bool AnyBenchmarkFailed();

using BenchClock = std::chrono::steady_clock;

// CPU time of the calling thread, in seconds (what Google Benchmark's "CPU"
// column counts; on a busy 2-core machine wall time also holds preemption).
inline double ThreadCpuSeconds() { return testing::CpuClockSeconds(CLOCK_THREAD_CPUTIME_ID); }

// Start of a timed loop, for ReportPerId.
struct LoopStart {
  BenchClock::time_point wall = BenchClock::now();
  double cpu_seconds = ThreadCpuSeconds();
};

// Sets "ns_per_id" (thread CPU time of the loop / ids returned),
// "wall_ns_per_id", "ids" (per iteration) and items_processed = ids.
inline void ReportPerId(benchmark::State& state, const LoopStart& start, uint64_t ids) {
  const double wall_ns =
      std::chrono::duration<double, std::nano>(BenchClock::now() - start.wall).count();
  const double cpu_ns = (ThreadCpuSeconds() - start.cpu_seconds) * 1e9;
  state.SetItemsProcessed(static_cast<int64_t>(ids));
  state.counters["ids"] =
      benchmark::Counter(static_cast<double>(ids), benchmark::Counter::kAvgIterations);
  state.counters["ns_per_id"] = ids == 0 ? 0.0 : cpu_ns / static_cast<double>(ids);
  state.counters["wall_ns_per_id"] = ids == 0 ? 0.0 : wall_ns / static_cast<double>(ids);
}

}  // namespace canopy::bench
