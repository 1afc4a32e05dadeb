// recvlogical.cc — see recvlogical.h.
#include "recvlogical.h"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

extern char** environ;

namespace canopy::bench::cdc_bench {

RecvResult RunRecvLogical(PgConnection& db, const std::string& bindir, const std::string& conninfo,
                          const std::string& slot, const std::string& endpos) {
  const std::string exe = bindir + "/pg_recvlogical";
  std::vector<std::string> args = {
      exe,       "-d",        conninfo,          "-S", slot,
      "--start", "-o",        "proto_version=1", "-o", "publication_names=canopy",
      "-f",      "/dev/null", "--no-loop",       "-E", endpos};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  RecvResult res;
  pid_t pid = 0;
  const auto t0 = Clock::now();
  if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    Die("spawn " + exe);
  int walsender = 0;
  int status = 0;
  rusage usage{};
  for (;;) {
    const pid_t done = wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) break;
    if (done < 0) Die("wait4 pg_recvlogical");
    if (walsender == 0) {
      walsender = SlotPid(db, slot);
    }
    if (walsender > 0) {
      const double c = PidCpu(walsender);
      if (c >= 0) res.walsender_cpu = c;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(walsender == 0 ? 2 : 10));
  }
  res.seconds = SecondsSince(t0);
  res.sys_cpu = static_cast<double>(usage.ru_stime.tv_sec) +
                static_cast<double>(usage.ru_stime.tv_usec) / 1e6;
  res.switches = usage.ru_nvcsw + usage.ru_nivcsw;
  res.cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
            static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("pg_recvlogical failed");
  return res;
}

int SlotPid(PgConnection& db, const std::string& slot) {
  return std::atoi(
      ValueOrDie(db,
                 "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '" +
                     slot + "'")
          .c_str());
}

}  // namespace canopy::bench::cdc_bench
