// common.h — what every part of canopy_cdc_bench uses: the clock, phase marks
// for perf, lists from the environment, the CPU time of another process (a
// PostgreSQL backend), and dying on PostgreSQL errors. This process's own CPU
// and memory and single numbers from the environment are canopy::testing's
// (child_process.h: SelfCpuUsage, SelfMemoryBytes, EnvUint64); the load
// average is machine_facts.h's LoadAverage.
//
// THREAD SAFETY: every function is thread-safe (Die ends the process).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "canopy/testing/child_process.h"
#include "canopy/testing/pg_cluster.h"
#include "canopy/testing/pg_connection.h"
#include "canopy/testing/stats.h"

namespace canopy::bench::cdc_bench {

using Clock = std::chrono::steady_clock;
using testing::EnvUint64;
using testing::PgConnection;
using testing::SecondsSince;
using testing::SelfCpuUsage;

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Phase boundaries on stderr, in CLOCK_MONOTONIC seconds (steady_clock on
// Linux): `perf record -k CLOCK_MONOTONIC` + `perf report --time A,B` then
// profile one phase.
void Phase(const char* name);

// A comma-separated list of unsigned integers from the environment.
std::vector<uint64_t> EnvList(const char* name, const char* fallback);

// "cdc_bench: WHAT" on stderr, stops the cluster StopClusterOnDie named,
// exit 1.
[[noreturn]] void Die(const std::string& what);
// Die stops `cluster` before it exits (std::exit runs no local destructor,
// and a throwaway cluster must not outlive a failed run); nullptr forgets
// it. REQUIRES: called from main, before the threads that may Die start
// (and, with nullptr, after they end and before `cluster` is destroyed).
void StopClusterOnDie(testing::ThrowawayCluster* cluster);

// The value of `result`; on an error, Die with its status.
template <typename T>
T OrDie(Result<T> result) {
  if (!result.ok()) Die(result.status().ToString());
  return std::move(result).value();
}

// PostgreSQL, dying on errors.
std::unique_ptr<PgConnection> ConnectOrDie(const std::string& conninfo);
void ExecOrDie(PgConnection& db, const std::string& sql);
std::string ValueOrDie(PgConnection& db, const std::string& sql);  // "" for NULL / no row

// User + system CPU seconds of another process, -1 if gone.
double PidCpu(int pid);

}  // namespace canopy::bench::cdc_bench
