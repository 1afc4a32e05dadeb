// common.cc — see common.h.
#include "common.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace canopy::bench::cdc_bench {

void Phase(const char* name) {
  std::fprintf(stderr, "[phase %s at %.6f]\n", name,
               std::chrono::duration<double>(Clock::now().time_since_epoch()).count());
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

namespace {
std::atomic<testing::ThrowawayCluster*> cluster_to_stop{nullptr};
}  // namespace

void StopClusterOnDie(testing::ThrowawayCluster* cluster) { cluster_to_stop.store(cluster); }

void Die(const std::string& what) {
  std::cerr << "cdc_bench: " << what << "\n";
  // Only the first Die stops it (Stop is not for two threads at once).
  if (testing::ThrowawayCluster* cluster = cluster_to_stop.exchange(nullptr)) cluster->Stop();
  std::exit(1);
}

std::unique_ptr<PgConnection> ConnectOrDie(const std::string& conninfo) {
  return OrDie(PgConnection::Open(conninfo));
}

void ExecOrDie(PgConnection& db, const std::string& sql) {
  if (Status s = db.Exec(sql); !s.ok()) Die(s.ToString());
}

std::string ValueOrDie(PgConnection& db, const std::string& sql) { return OrDie(db.Value(sql)); }

double PidCpu(int pid) {
  const testing::ProcCpu cpu = testing::ReadProcCpu(pid);
  return cpu.ok ? testing::TicksToSeconds(cpu.self_ticks) : -1;
}

}  // namespace canopy::bench::cdc_bench
