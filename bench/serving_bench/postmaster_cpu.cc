// postmaster_cpu.cc — see postmaster_cpu.h.
#include "postmaster_cpu.h"

#include <cstdint>

#include "canopy/testing/child_process.h"

namespace canopy::bench::serving {

double PostmasterTreeCpuSeconds(pid_t postmaster) {
  const testing::ProcCpu pm = testing::ReadProcCpu(postmaster);
  if (!pm.ok) return 0;
  uint64_t ticks = pm.self_ticks + pm.children_ticks;
  for (pid_t child : testing::ChildProcessIds(postmaster)) {
    const testing::ProcCpu cpu = testing::ReadProcCpu(child);
    if (cpu.ok && cpu.ppid == postmaster) ticks += cpu.self_ticks;
  }
  return testing::TicksToSeconds(ticks);
}

int PostmasterChildren(pid_t postmaster) {
  return static_cast<int>(testing::ChildProcessIds(postmaster).size());
}

}  // namespace canopy::bench::serving
