// processes.h — the child processes canopy_serving_bench runs (servers:
// redis-server, canopyd; clients: redis-benchmark, canopy_loadgen, pgbench)
// and the CPU time of server processes read from /proc.
//
//   Result<std::unique_ptr<Child>> server = Child::Start({"redis-server", ...}, "redis.log");
//   ...
//   ChildExit e = client->Wait(std::chrono::seconds(60));   // exit status + rusage CPU
//   server->Stop();                                          // SIGTERM, then SIGKILL
//
// A child dies with this process (PR_SET_PDEATHSIG), so nothing outlives a
// crashed benchmark; ~Child stops it too. Every wait has a time limit.
//
// THREAD SAFETY: main-thread helpers (fork from one thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "canopy/status.h"

namespace canopy::bench::serving {

struct ChildExit {
  bool exited = false;      // false: still running at the time limit (then killed)
  int status = -1;          // exit status, or 128 + signal
  double cpu_seconds = 0;   // user + system time of the child (rusage)
  double wall_seconds = 0;  // from Start to exit
};

class Child {
 public:
  // Starts argv[0] (PATH lookup) with stdin from /dev/null and stdout and
  // stderr appended to `output_file` ("" = inherit stderr for both).
  static Result<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv,
                                              const std::string& output_file);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();  // reaps it when it has exited
  // Waits at most `limit`; past it the child is killed (SIGKILL) and reaped.
  ChildExit Wait(std::chrono::milliseconds limit);
  // SIGTERM, up to `grace` for it to exit, then SIGKILL. Idempotent.
  ChildExit Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  Child() = default;
  pid_t pid_ = -1;
  bool reaped_ = false;
  ChildExit exit_;
  std::chrono::steady_clock::time_point started_;
};

// One command line as a shell would show it (for logs and the report).
std::string CommandLine(const std::vector<std::string>& argv);

// True when `program` runs: an absolute/relative path that is executable, or
// a name found in PATH.
bool ProgramExists(const std::string& program);

// Fields of /proc/PID/stat, in clock ticks. ok=false when unreadable.
struct ProcCpu {
  bool ok = false;
  pid_t ppid = 0;
  uint64_t self_ticks = 0;      // utime + stime (all threads)
  uint64_t children_ticks = 0;  // cutime + cstime (reaped children)
};
ProcCpu ReadProcCpu(pid_t pid);
double TicksToSeconds(uint64_t ticks);

// CPU of one process (all its threads), in seconds.
double ProcessCpuSeconds(pid_t pid);

// CPU of a PostgreSQL server: the postmaster, its live children (backends,
// walsenders, background workers) and the children it has reaped (the
// backends of clients that came and went), in seconds. Read before and after
// a cell; the difference is what the server spent on it.
double PostmasterTreeCpuSeconds(pid_t postmaster);
// The postmaster's live children.
int PostmasterChildren(pid_t postmaster);

}  // namespace canopy::bench::serving
