// postmaster_cpu.h — the CPU time a PostgreSQL server spends, read from /proc
// (canopy/testing/child_process.h's ReadProcCpu) around a benchmark cell.
//
// THREAD SAFETY: plain functions over /proc; no state.
#pragma once

#include <sys/types.h>

namespace canopy::bench::serving {

// CPU of a PostgreSQL server: the postmaster, its live children (backends,
// walsenders, background workers) and the children it has reaped (the
// backends of clients that came and went), in seconds. Read before and after
// a cell; the difference is what the server spent on it.
double PostmasterTreeCpuSeconds(pid_t postmaster);
// The postmaster's live children.
int PostmasterChildren(pid_t postmaster);

}  // namespace canopy::bench::serving
