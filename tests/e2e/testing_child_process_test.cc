// testing_child_process_test.cc — canopy::testing's child processes
// (canopy/testing/child_process.h), the layer under RunProgram and
// DaemonProcess: stdin, captured and logged output, exit codes and signals,
// bounded waits, stopping, /proc CPU. Runs /bin/sh and coreutils only.
#include "canopy/testing/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace canopy::testing {
namespace {

using std::chrono::milliseconds;

TEST(ChildProcess, RunCapturesStdoutAndStderrApart) {
  Result<ChildRun> r = RunChild({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->exit.exited);
  EXPECT_EQ(r->exit.code, 3);
  EXPECT_EQ(r->exit.ShellStatus(), 3);
  EXPECT_EQ(r->exit.Describe(), "exit 3");
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(ChildProcess, StdinIsTheInputOrEmpty) {
  Result<ChildRun> r = RunChild({"cat"}, {.input = std::string("hello\nworld")});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "hello\nworld");
  r = RunChild({"/bin/sh", "-c", "cat; echo end"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "end\n");
}

TEST(ChildProcess, AProgramThatCannotRunExits127) {
  Result<ChildRun> r = RunChild({"/nonexistent/program"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit.code, 127);
  EXPECT_EQ(r->err, "exec /nonexistent/program failed\n");
  EXPECT_FALSE(Child::Start({}).ok());
  EXPECT_FALSE(Child::Start({"true"}, "/nonexistent/dir/log").ok());
}

TEST(ChildProcess, TimeoutKillsAndSaysSo) {
  Result<ChildRun> r = RunChild({"sleep", "30"}, {.timeout = milliseconds(200)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->exit.timed_out);
  EXPECT_FALSE(r->exit.exited);
  EXPECT_EQ(r->exit.signal, SIGKILL);
  EXPECT_EQ(r->exit.Describe(), "timed out (killed)");
  EXPECT_LT(r->exit.wall_seconds, 10);
}

TEST(ChildProcess, CpuTimeFromRusage) {
  Result<ChildRun> r =
      RunChild({"/bin/sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit.code, 0);
  EXPECT_GT(r->exit.cpu_seconds, 0.01);
  EXPECT_GE(r->exit.wall_seconds, 0.0);
}

TEST(ChildProcess, LogFileStopAndProc) {
  char dir[] = "/tmp/canopy-child-test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/log";
  Result<std::unique_ptr<Child>> c =
      Child::Start({"/bin/sh", "-c", "echo a; echo b >&2; exec sleep 30"}, log);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Child& child = **c;
  EXPECT_TRUE(child.Running());
  EXPECT_FALSE(child.ended());
  EXPECT_FALSE(child.Poll().has_value());
  const ProcCpu cpu = ReadProcCpu(child.pid());
  EXPECT_TRUE(cpu.ok);
  EXPECT_EQ(cpu.ppid, ::getpid());
  const std::vector<pid_t> children = ChildProcessIds(::getpid());
  EXPECT_NE(std::find(children.begin(), children.end(), child.pid()), children.end());
  // Output first (exec sleep comes after both lines), then SIGTERM.
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    if (s.str() == "a\nb\n") break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  const ChildExit e = child.Stop();
  EXPECT_FALSE(e.exited);
  EXPECT_FALSE(e.timed_out);
  EXPECT_EQ(e.signal, SIGTERM);
  EXPECT_EQ(e.ShellStatus(), 128 + SIGTERM);
  EXPECT_TRUE(child.ended());
  EXPECT_EQ(child.Wait(milliseconds(1)).signal, SIGTERM);  // the same end again
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), "a\nb\n");
  ::unlink(log.c_str());
  ::rmdir(dir);
}

TEST(ChildProcess, StopKillsWhatIgnoresSigterm) {
  Result<std::unique_ptr<Child>> c =
      Child::Start({"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"},
                   ChildOptions{.capture_output = true});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (int i = 0; i < 200 && (*c)->CapturedStdout().empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ((*c)->CapturedStdout(), "ready\n");
  const ChildExit e = (*c)->Stop(milliseconds(300));
  EXPECT_TRUE(e.timed_out);
  EXPECT_EQ(e.signal, SIGKILL);
}

TEST(ChildProcess, CommandLineAndProgramExists) {
  EXPECT_EQ(CommandLine({"redis-cli", "-p", "6379", "b c", "it's", ""}),
            "redis-cli -p 6379 'b c' 'it'\\''s' ''");
  EXPECT_TRUE(ProgramExists("sh"));
  EXPECT_TRUE(ProgramExists("/bin/sh"));
  EXPECT_FALSE(ProgramExists("canopy-no-such-program"));
}

// A process tree's CPU counts the children it has reaped: after a child that
// burned CPU is waited for, this process's tree has grown by about as much.
TEST(ChildProcess, ProcessTreeCpuCountsReapedChildren) {
  EXPECT_EQ(ProcessTreeCpuSeconds(-1), 0.0);  // unreadable
  const double before = ProcessTreeCpuSeconds(::getpid());
  Result<ChildRun> run =
      RunChild({"/bin/sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(run->exit.exited);
  const double after = ProcessTreeCpuSeconds(::getpid());
  EXPECT_GT(run->exit.cpu_seconds, 0.05);
  // Clock ticks (10 ms) against rusage's microseconds.
  EXPECT_GE(after - before, run->exit.cpu_seconds - 0.03);
  EXPECT_GE(after, ProcessCpuSeconds(::getpid()));
}

// Readings of this process for the benchmarks.
TEST(ChildProcess, SelfReadings) {
  ::unsetenv("CANOPY_TEST_ENV_NUMBER");
  EXPECT_EQ(EnvUint64("CANOPY_TEST_ENV_NUMBER", 7), 7u);  // unset
  ::setenv("CANOPY_TEST_ENV_NUMBER", "", 1);
  EXPECT_EQ(EnvUint64("CANOPY_TEST_ENV_NUMBER", 7), 7u);  // empty
  ::setenv("CANOPY_TEST_ENV_NUMBER", "3000000", 1);
  EXPECT_EQ(EnvUint64("CANOPY_TEST_ENV_NUMBER", 7), 3'000'000u);
  ::setenv("CANOPY_TEST_ENV_NUMBER", "12x", 1);
  EXPECT_EQ(EnvUint64("CANOPY_TEST_ENV_NUMBER", 7), 7u);  // not a number: ignored
  ::unsetenv("CANOPY_TEST_ENV_NUMBER");

  const int64_t rss = SelfMemoryBytes("VmRSS:");
  EXPECT_GT(rss, 1 << 20);  // a running gtest binary holds more than 1 MiB
  EXPECT_EQ(rss % 1024, 0);
  EXPECT_GE(SelfMemoryBytes("VmHWM:"), rss);
  EXPECT_EQ(SelfMemoryBytes("NoSuchField:"), 0);

  const double thread0 = CpuClockSeconds(CLOCK_THREAD_CPUTIME_ID);
  const CpuUsage usage0 = SelfCpuUsage();
  volatile uint64_t sink = 0;
  for (uint64_t i = 0; i < 50'000'000; ++i) sink = sink + i;
  const double thread1 = CpuClockSeconds(CLOCK_THREAD_CPUTIME_ID);
  const CpuUsage usage1 = SelfCpuUsage();
  EXPECT_GT(thread1, thread0);
  EXPECT_GE(usage1.cpu_seconds, usage0.cpu_seconds + (thread1 - thread0) * 0.5);
  EXPECT_GE(usage1.cpu_seconds, usage1.system_seconds);
  EXPECT_GE(CpuClockSeconds(CLOCK_PROCESS_CPUTIME_ID), thread1);
}

}  // namespace
}  // namespace canopy::testing
