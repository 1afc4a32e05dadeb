// machine_facts.h — one-line facts about the machine for the reports of
// canopy_serving_bench and canopy_cdc_bench.
//
// THREAD SAFETY: plain functions over /proc, uname and popen; no state.
#pragma once

#include <string>

namespace canopy::bench {

std::string CpuDescription();     // "Intel(R) Xeon(R) ..., 2 cores online"
std::string MemoryDescription();  // "23.4 GiB"
std::string KernelDescription();  // uname -sr
std::string LoadAverage();        // /proc/loadavg's first three fields
std::string UtcNow();             // "2025-01-31 12:00 UTC"
// First line of `command`'s output (trimmed), or "" on failure.
std::string CommandOutput(const std::string& command);

}  // namespace canopy::bench
