// common.cc — see common.h.
#include "common.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace canopy::bench::cdc_bench {

void Phase(const char* name) {
  std::fprintf(stderr, "[phase %s at %.6f]\n", name,
               std::chrono::duration<double>(Clock::now().time_since_epoch()).count());
}

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0 ? std::strtoull(v, nullptr, 10) : fallback;
}

std::vector<uint64_t> EnvList(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  std::stringstream in(v != nullptr && *v != 0 ? v : fallback);
  std::vector<uint64_t> out;
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::strtoull(item.c_str(), nullptr, 10));
  }
  return out;
}

void Die(const std::string& what) {
  std::cerr << "cdc_bench: " << what << "\n";
  std::exit(1);
}

std::unique_ptr<PgConnection> ConnectOrDie(const std::string& conninfo) {
  Result<std::unique_ptr<PgConnection>> db = PgConnection::Open(conninfo);
  if (!db.ok()) Die(db.status().ToString());
  return std::move(db).value();
}

void ExecOrDie(PgConnection& db, const std::string& sql) {
  if (Status s = db.Exec(sql); !s.ok()) Die(s.ToString());
}

std::string ValueOrDie(PgConnection& db, const std::string& sql) {
  Result<std::string> v = db.Value(sql);
  if (!v.ok()) Die(v.status().ToString());
  return v.value();
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

double SelfCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double SelfSysCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6;
}

long SelfSwitches() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_nvcsw + u.ru_nivcsw;
}

double PidCpu(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::stringstream rest(line.substr(close + 2));
  std::string field;
  // Fields 3.. follow the command; utime and stime are fields 14 and 15.
  for (int i = 3; i < 14; ++i) rest >> field;
  unsigned long long utime = 0, stime = 0;
  rest >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfMemMb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      return static_cast<double>(std::strtoull(line.c_str() + std::strlen(key), nullptr, 10)) /
             1024.0;
    }
  }
  return 0;
}

}  // namespace canopy::bench::cdc_bench
