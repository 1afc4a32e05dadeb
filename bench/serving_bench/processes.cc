// processes.cc — see processes.h.
#include "processes.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace canopy::bench::serving {

namespace {

using Clock = std::chrono::steady_clock;

double RusageSeconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

Result<std::unique_ptr<Child>> Child::Start(const std::vector<std::string>& argv,
                                            const std::string& output_file) {
  if (argv.empty()) return Status::InvalidArgument("no program");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return Status::Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The child: die with the benchmark, quiet stdin, output to the file.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (!output_file.empty()) {
      const int out = open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out >= 0) {
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
      }
    }
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  std::unique_ptr<Child> child(new Child());
  child->pid_ = pid;
  child->started_ = Clock::now();
  return child;
}

Child::~Child() { Stop(std::chrono::seconds(5)); }

bool Child::Running() {
  if (reaped_) return false;
  int status = 0;
  rusage usage{};
  const pid_t r = wait4(pid_, &status, WNOHANG, &usage);
  if (r == 0) return true;
  reaped_ = true;
  exit_.exited = true;
  exit_.wall_seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  if (r == pid_) {
    exit_.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    exit_.cpu_seconds = RusageSeconds(usage);
  }
  return false;
}

ChildExit Child::Wait(std::chrono::milliseconds limit) {
  const Clock::time_point deadline = Clock::now() + limit;
  // Short sleeps first: most clients are waited for right as they finish.
  auto nap = std::chrono::microseconds(200);
  while (Running()) {
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      ChildExit e = Stop(std::chrono::seconds(5));
      e.exited = false;
      return e;
    }
    std::this_thread::sleep_for(nap);
    nap = std::min<std::chrono::microseconds>(nap * 2, std::chrono::milliseconds(20));
  }
  return exit_;
}

ChildExit Child::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || !Running()) return exit_;
  kill(pid_, SIGTERM);
  const Clock::time_point deadline = Clock::now() + grace;
  while (Running()) {
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      int status = 0;
      rusage usage{};
      if (wait4(pid_, &status, 0, &usage) == pid_) exit_.cpu_seconds = RusageSeconds(usage);
      reaped_ = true;
      exit_.exited = true;
      exit_.status = 128 + SIGKILL;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_;
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
  if (program.find('/') != std::string::npos) return access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
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
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double ProcessCpuSeconds(pid_t pid) { return TicksToSeconds(ReadProcCpu(pid).self_ticks); }

namespace {

// Calls f(pid, cpu) for every process whose parent is `parent`.
template <typename F>
void ForEachChild(pid_t parent, F&& f) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0) continue;
    const ProcCpu cpu = ReadProcCpu(static_cast<pid_t>(pid));
    if (cpu.ok && cpu.ppid == parent) f(static_cast<pid_t>(pid), cpu);
  }
  closedir(proc);
}

}  // namespace

double PostmasterTreeCpuSeconds(pid_t postmaster) {
  const ProcCpu pm = ReadProcCpu(postmaster);
  if (!pm.ok) return 0;
  uint64_t ticks = pm.self_ticks + pm.children_ticks;
  ForEachChild(postmaster, [&](pid_t, const ProcCpu& cpu) { ticks += cpu.self_ticks; });
  return TicksToSeconds(ticks);
}

int PostmasterChildren(pid_t postmaster) {
  int n = 0;
  ForEachChild(postmaster, [&](pid_t, const ProcCpu&) { ++n; });
  return n;
}

}  // namespace canopy::bench::serving
