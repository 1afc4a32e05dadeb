// child_process.h — child processes for tests and benchmarks: the one
// implementation of starting a program, feeding its stdin, capturing or
// logging its output, waiting for it with a time limit, stopping it, and
// reading process CPU time from /proc; and readings of this process itself
// (CPU, memory, numbers from its environment).
//
//   Result<ChildRun> run = RunChild({"/usr/bin/jq", "-c", "."}, {.input = "{}"});
//   // run->exit.exited, run->exit.code, run->out, run->err
//
//   Result<std::unique_ptr<Child>> server =
//       Child::Start({"redis-server", ...}, {.output_file = "redis.log"});
//   ChildExit e = (*server)->Stop();  // SIGTERM, then SIGKILL after the grace
//
// Programs: argv[0] is looked up in PATH unless it contains a '/'; no shell.
// The child runs with this process's environment, stdin from /dev/null (or
// the given input, then end of file), and stdout/stderr inherited, captured
// (each into its own string, through an unlinked temporary file: no pipe to
// fill) or both appended to a file. It gets SIGKILL when the thread that
// started it ends (PR_SET_PDEATHSIG), so a test or benchmark that dies leaves
// no process behind; ~Child stops it too. Every wait has a time limit; a child
// still running at the limit is killed (SIGKILL), reaped and reported as
// timed out.
//
// ERRORS: Start/RunChild return a Status when nothing could be started
// (no argv, fork or a file failed). A program that cannot be executed is
// started all the same: it exits 127 after writing "exec <program> failed" to
// its stderr. The /proc readers report unreadable processes as ok=false / 0.
// EnvUint64 says on stderr when it ignores a value that is not a number.
//
// THREAD SAFETY: a Child is used from one thread at a time. Start/RunChild
// may run on several threads at once (nothing is allocated between fork and
// exec; every descriptor is opened close-on-exec).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canopy/status.h"

namespace canopy::testing {

// How a child process ended.
struct ChildExit {
  bool exited = false;      // it exited normally: `code` is its exit status
  int code = -1;            // exit status (when `exited`)
  int signal = 0;           // it was killed by this signal (0: not killed)
  bool timed_out = false;   // still running at a wait's limit, then killed with SIGKILL
  double cpu_seconds = 0;   // user + system CPU time of the child (rusage)
  double wall_seconds = 0;  // from the start to the moment it was reaped

  // The status a shell would report: `code`, or 128 + `signal`; -1 if neither.
  int ShellStatus() const;
  // "exit 3", "killed by signal Killed", "timed out (killed)", "unknown end".
  std::string Describe() const;
};

struct ChildOptions {
  // stdin: these bytes, then end of file; nullopt: /dev/null.
  std::optional<std::string> input;
  // stdout and stderr: both appended to this file (created if missing) when
  // set; else captured when `capture_output`; else this process's own.
  std::string output_file;
  bool capture_output = false;
};

class Child {
 public:
  static Result<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv,
                                              const ChildOptions& options = {});
  // Start with stdout and stderr appended to `output_file` ("" = inherited).
  static Result<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv,
                                              const std::string& output_file);
  ~Child();  // Stop(5 s) if it still runs
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // True once it has been reaped (by Poll, Running, Wait or Stop).
  bool ended() const { return reaped_; }
  // Its exit if it has ended (reaps it), else nullopt.
  std::optional<ChildExit> Poll();
  bool Running() { return !Poll().has_value(); }
  // Sends `signal` unless it has been reaped.
  void Signal(int signal);
  // Waits at most `limit` for its end; past it, kills it (SIGKILL), reaps it
  // and reports timed_out. After the end, returns the same exit again.
  ChildExit Wait(std::chrono::milliseconds limit);
  // SIGTERM, then Wait(grace) (SIGKILL past it).
  ChildExit Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  // With `capture_output`: what it wrote to stdout / stderr so far.
  std::string CapturedStdout() const;
  std::string CapturedStderr() const;

 private:
  Child() = default;
  void Reaped(int status, double cpu_seconds);

  pid_t pid_ = -1;
  bool reaped_ = false;
  ChildExit exit_;
  std::chrono::steady_clock::time_point started_;
  int stdout_fd_ = -1;  // capture files (unlinked), or -1
  int stderr_fd_ = -1;
};

// A program run to its end with its output captured.
struct ChildRun {
  ChildExit exit;
  std::string out;  // stdout
  std::string err;  // stderr
};

struct RunOptions {
  std::optional<std::string> input;  // stdin (nullopt: /dev/null)
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
};
// Starts argv (ChildOptions{.input, .capture_output = true}) and waits for it
// at most `timeout` (then SIGKILL, exit.timed_out).
Result<ChildRun> RunChild(const std::vector<std::string>& argv, const RunOptions& options = {});

// One command line as a shell would read it (for logs, reports, messages):
// arguments with characters other than [A-Za-z0-9_-./:=,@+] single-quoted.
std::string CommandLine(const std::vector<std::string>& argv);

// True when `program` can be executed: a path (with '/') that is executable,
// or a name found in PATH.
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
// CPU of one process (all its threads), in seconds; 0 when unreadable.
double ProcessCpuSeconds(pid_t pid);
// The live processes whose parent is `parent` (from /proc).
std::vector<pid_t> ChildProcessIds(pid_t parent);
// CPU of a process tree one level deep, in seconds: `parent`, its live
// children and the children it has reaped. For a PostgreSQL postmaster that
// is the server's CPU (backends, walsenders, background workers, and the
// backends of clients that came and went); read it before and after a
// benchmark cell, the difference is what the server spent on it.
double ProcessTreeCpuSeconds(pid_t parent);

// This process and the calling thread.
// CPU time in seconds, to the nanosecond: CLOCK_THREAD_CPUTIME_ID (the
// calling thread) or CLOCK_PROCESS_CPUTIME_ID (this process, every thread).
double CpuClockSeconds(clockid_t clock);
// What getrusage(RUSAGE_SELF) says: every thread of this process, none of
// its children.
struct CpuUsage {
  double cpu_seconds = 0;     // user + system
  double system_seconds = 0;  // the system part
  long context_switches = 0;  // voluntary + involuntary
};
CpuUsage SelfCpuUsage();
// A size field of /proc/self/status in bytes: "VmRSS:" (the resident set),
// "VmHWM:" (its peak), ...; 0 when missing.
int64_t SelfMemoryBytes(const char* field);
// The unsigned number in environment variable `name`, or `fallback` when it
// is unset, empty or not a number (then said on stderr).
uint64_t EnvUint64(const char* name, uint64_t fallback);

}  // namespace canopy::testing
