// child_process.cc — see child_process.h.
#include "canopy/testing/child_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace canopy::testing {

namespace {

using Clock = std::chrono::steady_clock;

double RusageSeconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

Status ErrnoStatus(const std::string& what) {
  return Status::Internal(what + ": " + std::strerror(errno));
}

// An anonymous temporary file (already unlinked, close-on-exec), or -1.
int AnonymousFile() {
  char name[] = "/tmp/canopy-child.XXXXXX";
  const int fd = ::mkostemp(name, O_CLOEXEC);
  if (fd >= 0) ::unlink(name);
  return fd;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The whole file behind `fd`, read with pread (the offset, shared with a
// child still writing, stays where it is).
std::string ReadWholeFile(int fd) {
  std::string out;
  if (fd < 0) return out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof(buf), static_cast<off_t>(out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void CloseIfOpen(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// In the child (async-signal-safe only): `fd` as descriptor `target`, kept
// across exec.
bool MoveTo(int fd, int target) {
  if (fd == target) return ::fcntl(fd, F_SETFD, 0) == 0;
  return ::dup2(fd, target) == target;
}

}  // namespace

int ChildExit::ShellStatus() const {
  if (exited) return code;
  if (signal > 0) return 128 + signal;
  return -1;
}

std::string ChildExit::Describe() const {
  if (timed_out) return "timed out (killed)";
  if (exited) return "exit " + std::to_string(code);
  if (signal > 0) return std::string("killed by signal ") + ::strsignal(signal);
  return "unknown end";
}

Result<std::unique_ptr<Child>> Child::Start(const std::vector<std::string>& argv,
                                            const std::string& output_file) {
  return Start(argv, ChildOptions{.output_file = output_file});
}

Result<std::unique_ptr<Child>> Child::Start(const std::vector<std::string>& argv,
                                            const ChildOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("no program");
  // Everything the child needs is prepared before fork (no allocation after).
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (std::string& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  std::string exec_failed = "exec ";
  exec_failed += argv[0];
  exec_failed += " failed\n";

  std::unique_ptr<Child> child(new Child());
  int in_fd = -1, out_fd = -1, err_fd = -1;
  auto close_all = [&] {
    CloseIfOpen(in_fd);
    if (err_fd == out_fd) err_fd = -1;
    CloseIfOpen(out_fd);
    CloseIfOpen(err_fd);
  };
  if (options.input) {
    in_fd = AnonymousFile();
    if (in_fd < 0) return ErrnoStatus("temporary file for stdin");
    if (!WriteAll(in_fd, *options.input) || ::lseek(in_fd, 0, SEEK_SET) != 0) {
      const Status s = ErrnoStatus("writing stdin's file");
      close_all();
      return s;
    }
  } else {
    in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) return ErrnoStatus("/dev/null");
  }
  if (!options.output_file.empty()) {
    out_fd = ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      const Status s = ErrnoStatus(options.output_file);
      close_all();
      return s;
    }
    err_fd = out_fd;
  } else if (options.capture_output) {
    out_fd = AnonymousFile();
    err_fd = out_fd >= 0 ? AnonymousFile() : -1;
    if (err_fd < 0) {
      const Status s = ErrnoStatus("temporary file for output");
      close_all();
      return s;
    }
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const Status s = ErrnoStatus("fork");
    close_all();
    return s;
  }
  if (pid == 0) {
    // The child: die with the thread that started it, then the descriptors.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent is already gone
    if (!MoveTo(in_fd, STDIN_FILENO)) ::_exit(127);
    if (out_fd >= 0 && !MoveTo(out_fd, STDOUT_FILENO)) ::_exit(127);
    if (err_fd >= 0 && !MoveTo(err_fd, STDERR_FILENO)) ::_exit(127);
    ::execvp(args[0], args.data());
    const ssize_t ignored = ::write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    (void)ignored;
    ::_exit(127);
  }
  child->pid_ = pid;
  child->started_ = Clock::now();
  CloseIfOpen(in_fd);
  if (options.output_file.empty() && options.capture_output) {
    child->stdout_fd_ = out_fd;
    child->stderr_fd_ = err_fd;
  } else {
    if (err_fd == out_fd) err_fd = -1;
    CloseIfOpen(out_fd);
    CloseIfOpen(err_fd);
  }
  return child;
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) Stop(std::chrono::seconds(5));
  CloseIfOpen(stdout_fd_);
  CloseIfOpen(stderr_fd_);
}

void Child::Reaped(int status, double cpu_seconds) {
  reaped_ = true;
  exit_.wall_seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  exit_.cpu_seconds = cpu_seconds;
  if (WIFEXITED(status)) {
    exit_.exited = true;
    exit_.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_.signal = WTERMSIG(status);
  }
}

std::optional<ChildExit> Child::Poll() {
  if (reaped_) return exit_;
  if (pid_ <= 0) return std::nullopt;
  for (;;) {
    int status = 0;
    rusage usage{};
    const pid_t r = ::wait4(pid_, &status, WNOHANG, &usage);
    if (r == 0) return std::nullopt;
    if (r == pid_) {
      Reaped(status, RusageSeconds(usage));
      return exit_;
    }
    if (errno == EINTR) continue;
    // Not ours to wait for any more (cannot happen for our own child): an unknown end.
    reaped_ = true;
    return exit_;
  }
}

void Child::Signal(int signal) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, signal);
}

ChildExit Child::Wait(std::chrono::milliseconds limit) {
  const Clock::time_point deadline = Clock::now() + limit;
  // Short sleeps first: most children are waited for right as they finish.
  auto nap = std::chrono::microseconds(100);
  for (;;) {
    if (std::optional<ChildExit> e = Poll()) return *e;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(nap);
    nap = std::min<std::chrono::microseconds>(nap * 2, std::chrono::milliseconds(5));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  rusage usage{};
  pid_t r;
  do {
    r = ::wait4(pid_, &status, 0, &usage);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    Reaped(status, RusageSeconds(usage));
  } else {
    reaped_ = true;
  }
  exit_.timed_out = true;
  return exit_;
}

ChildExit Child::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || reaped_) return exit_;
  Signal(SIGTERM);
  return Wait(grace);
}

std::string Child::CapturedStdout() const { return ReadWholeFile(stdout_fd_); }
std::string Child::CapturedStderr() const { return ReadWholeFile(stderr_fd_); }

Result<ChildRun> RunChild(const std::vector<std::string>& argv, const RunOptions& options) {
  Result<std::unique_ptr<Child>> child =
      Child::Start(argv, ChildOptions{.input = options.input, .capture_output = true});
  if (!child.ok()) return child.status();
  ChildRun run;
  run.exit = (*child)->Wait(options.timeout);
  run.out = (*child)->CapturedStdout();
  run.err = (*child)->CapturedStderr();
  return run;
}

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                                         "NOPQRSTUVWXYZ0123456789_-./:=,@+") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

bool ProgramExists(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

ProcCpu ReadProcCpu(pid_t pid) {
  ProcCpu out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return out;
  // After "(comm)": field 3 is the state, 4 ppid, 14/15 utime/stime, 16/17 cutime/cstime.
  const size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return out;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 17 && fields >> field; ++i) {
    const uint64_t v = i >= 4 ? std::strtoull(field.c_str(), nullptr, 10) : 0;
    if (i == 4) out.ppid = static_cast<pid_t>(v);
    if (i == 14 || i == 15) out.self_ticks += v;
    if (i == 16 || i == 17) out.children_ticks += v;
    if (i == 17) out.ok = true;
  }
  return out;
}

double TicksToSeconds(uint64_t ticks) {
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double ProcessCpuSeconds(pid_t pid) { return TicksToSeconds(ReadProcCpu(pid).self_ticks); }

std::vector<pid_t> ChildProcessIds(pid_t parent) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0) continue;
    const ProcCpu cpu = ReadProcCpu(static_cast<pid_t>(pid));
    if (cpu.ok && cpu.ppid == parent) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

double ProcessTreeCpuSeconds(pid_t parent) {
  const ProcCpu self = ReadProcCpu(parent);
  if (!self.ok) return 0;
  uint64_t ticks = self.self_ticks + self.children_ticks;
  for (pid_t child : ChildProcessIds(parent)) {
    const ProcCpu cpu = ReadProcCpu(child);
    if (cpu.ok && cpu.ppid == parent) ticks += cpu.self_ticks;
  }
  return TicksToSeconds(ticks);
}

double CpuClockSeconds(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

CpuUsage SelfCpuUsage() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return {.cpu_seconds = RusageSeconds(u),
          .system_seconds = static_cast<double>(u.ru_stime.tv_sec) +
                            static_cast<double>(u.ru_stime.tv_usec) / 1e6,
          .context_switches = u.ru_nvcsw + u.ru_nivcsw};
}

int64_t SelfMemoryBytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {  // "VmRSS:    1234 kB"
      return static_cast<int64_t>(std::strtoull(line.c_str() + std::strlen(field), nullptr, 10)) *
             1024;
    }
  }
  return 0;
}

uint64_t EnvUint64(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') {
    std::fprintf(stderr, "ignoring %s=%s (not a number)\n", name, text);
    return fallback;
  }
  return static_cast<uint64_t>(value);
}

}  // namespace canopy::testing
