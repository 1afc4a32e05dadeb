// common.h — what every part of canopy_cdc_bench uses: the clock, phase marks
// for perf, the environment, CPU and memory readings of this process and of
// others (PostgreSQL backends), and dying on PostgreSQL errors.
//
// THREAD SAFETY: every function is thread-safe (Die ends the process).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "canopy/testing/pg_connection.h"
#include "canopy/testing/stats.h"

namespace canopy::bench::cdc_bench {

using Clock = std::chrono::steady_clock;
using testing::PgConnection;
using testing::SecondsSince;

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Phase boundaries on stderr, in CLOCK_MONOTONIC seconds (steady_clock on
// Linux): `perf record -k CLOCK_MONOTONIC` + `perf report --time A,B` then
// profile one phase.
void Phase(const char* name);

// An unsigned integer from the environment, `fallback` when unset or empty.
uint64_t EnvU64(const char* name, uint64_t fallback);
// A comma-separated list of unsigned integers from the environment.
std::vector<uint64_t> EnvList(const char* name, const char* fallback);

// "cdc_bench: WHAT" on stderr, exit 1.
[[noreturn]] void Die(const std::string& what);

// PostgreSQL, dying on errors.
std::unique_ptr<PgConnection> ConnectOrDie(const std::string& conninfo);
void ExecOrDie(PgConnection& db, const std::string& sql);
std::string ValueOrDie(PgConnection& db, const std::string& sql);  // "" for NULL / no row

// The machine and processes.
std::string LoadAvg();              // /proc/loadavg's first three fields
double SelfCpu();                   // user + system CPU seconds of this process (every thread)
double SelfSysCpu();                // system CPU seconds of this process
long SelfSwitches();                // context switches (voluntary + involuntary) of this process
double PidCpu(int pid);             // user + system CPU seconds of another process, -1 if gone
double SelfMemMb(const char* key);  // "VmRSS:" / "VmHWM:" of this process in MB

}  // namespace canopy::bench::cdc_bench
