// cells.cc — see cells.h.
#include "cells.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>

#include "canopy/testing/child_process.h"
#include "canopy/testing/stats.h"

namespace canopy::bench::serving {

namespace {

using testing::Child;
using testing::ChildExit;
using testing::CommandLine;
using testing::Fixed;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The last `lines` lines of `text`, for error messages.
std::string Tail(const std::string& text, int lines = 6) {
  size_t at = text.size();
  for (int i = 0; i <= lines && at != std::string::npos && at > 0; ++i) {
    at = text.rfind('\n', at - 1);
  }
  std::string out = at == std::string::npos ? text : text.substr(at + 1);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::ranges::replace(out, '\n', '|');
  return out;
}

// Runs one client to its end, reading the server's CPU around it.
struct ClientRun {
  ChildExit exit;
  std::string output;
  double server_cpu_seconds = -1;
  std::string error;  // start failure
};

// Its output goes to WORK_DIR/TAG.out.
ClientRun RunClient(const std::vector<std::string>& argv, const CellPlan& plan, bool measure_server,
                    double time_limit_seconds) {
  ClientRun run;
  const std::string output_file = plan.work_dir + "/" + plan.tag + ".out";
  unlink(output_file.c_str());
  const double cpu0 = measure_server && plan.server_cpu ? plan.server_cpu() : 0;
  Result<std::unique_ptr<Child>> child = Child::Start(argv, output_file);
  if (!child.ok()) {
    run.error = child.status().ToString();
    return run;
  }
  run.exit =
      (*child)->Wait(std::chrono::milliseconds(static_cast<int64_t>(time_limit_seconds * 1000)));
  if (plan.settle) plan.settle();
  if (measure_server && plan.server_cpu) run.server_cpu_seconds = plan.server_cpu() - cpu0;
  run.output = ReadFile(output_file);
  if (run.exit.timed_out) {
    run.error = "did not finish in " + Fixed(time_limit_seconds, 0) + " s";
  } else if (run.exit.ShellStatus() != 0) {
    run.error = "exit status " + std::to_string(run.exit.ShellStatus()) + ": " + Tail(run.output);
  }
  return run;
}

// *m of a successful run of `requests` requests, with the times of `run`.
CellMeasure Measured(const ClientRun& run, uint64_t requests, CellMeasure* m) {
  m->ok = true;
  m->requests = requests;
  m->wall_seconds = run.exit.wall_seconds;
  m->client_cpu_seconds = run.exit.cpu_seconds;
  m->server_cpu_seconds = run.server_cpu_seconds;
  return *m;
}

// key=value pairs of canopy_loadgen's output line, the values as numbers.
std::map<std::string, double> KeyValues(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream words(text);
  std::string word;
  while (words >> word) {
    const size_t eq = word.find('=');
    if (eq != std::string::npos)
      out[word.substr(0, eq)] = std::strtod(word.c_str() + eq + 1, nullptr);
  }
  return out;
}

// The values of redis-benchmark --csv's result line: rps, avg, min, p50, p95,
// p99, max (latencies in ms). Empty when there is none.
std::vector<double> RedisCsv(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '"' || line.rfind("\"test\"", 0) == 0) continue;
    // "NAME","rps","avg",...: the name may hold commas, so read from the end.
    std::vector<double> values(7);
    size_t end = line.size();
    for (int i = 6; i >= 0; --i) {
      const size_t close = line.rfind('"', end - 1);
      if (close == std::string::npos || close == 0) return {};
      const size_t open = line.rfind('"', close - 1);
      if (open == std::string::npos) return {};
      values[i] = std::strtod(line.substr(open + 1, close - open - 1).c_str(), nullptr);
      end = open;
    }
    return values;
  }
  return {};
}

}  // namespace

CellMeasure RunRedisBenchmark(const std::string& binary, const std::string& socket,
                              const std::vector<std::string>& command, const CellPlan& plan) {
  CellMeasure m;
  const uint64_t window =
      static_cast<uint64_t>(plan.shape.connections) * static_cast<uint64_t>(plan.shape.in_flight);
  auto argv_for = [&](uint64_t n) {
    std::vector<std::string> argv = {binary,
                                     "-s",
                                     socket,
                                     "-c",
                                     std::to_string(plan.shape.connections),
                                     "-P",
                                     std::to_string(plan.shape.in_flight),
                                     "-n",
                                     std::to_string(n),
                                     "--csv"};
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  };
  const double limit = std::max(60.0, 20 * plan.seconds);
  uint64_t total = window;  // a check: one window per connection
  if (plan.seconds > 0) {
    // Calibration: from one window per connection, growing runs until one lasts
    // a quarter second (or a tenth of the cell, at least 10 ms); the measured run's N follows
    // from its rate. redis-benchmark times in milliseconds, so runs shorter
    // than 5 ms do not count (their rate may even be "inf").
    const double target = std::clamp(plan.seconds / 10, 0.01, 0.25);
    uint64_t n = window;
    double rate = 0;
    for (int probe = 0; probe < 10; ++probe) {
      ClientRun run = RunClient(argv_for(n), plan, false, limit);
      if (!run.error.empty()) {
        m.error = "redis-benchmark (probe): " + run.error;
        return m;
      }
      std::vector<double> csv = RedisCsv(run.output);
      if (csv.empty()) {
        m.error = "redis-benchmark (probe): no result line: " + Tail(run.output);
        return m;
      }
      const double r = csv[0];
      const double seconds = std::isfinite(r) && r > 0 ? static_cast<double>(n) / r : 0;
      if (seconds >= 0.005) rate = r;
      if (seconds >= target) break;
      n = seconds >= 0.005 ? std::max(2 * n, static_cast<uint64_t>(r * target)) : 10 * n;
      n = std::min<uint64_t>(n, 50'000'000);
    }
    if (rate <= 0) {
      m.error = "redis-benchmark: could not calibrate (no probe lasted 5 ms)";
      return m;
    }
    total = static_cast<uint64_t>(std::ceil(rate * plan.seconds));
    total = std::clamp<uint64_t>(total, window, 200'000'000);
    total = (total + window - 1) / window * window;
  }
  ClientRun run = RunClient(argv_for(total), plan, true, limit);
  m.command = CommandLine(argv_for(total));
  if (!run.error.empty()) {
    m.error = "redis-benchmark: " + run.error;
    return m;
  }
  std::vector<double> csv = RedisCsv(run.output);
  if (csv.size() != 7) {
    m.error = "redis-benchmark: no result line: " + Tail(run.output);
    return m;
  }
  m.ops_per_s = csv[0];
  m.p50_us = csv[3] * 1000;
  m.p99_us = csv[5] * 1000;
  return Measured(run, total, &m);
}

CellMeasure RunLoadgen(const std::string& binary, const std::string& socket,
                       const std::vector<std::string>& query, uint64_t expect_ids,
                       const CellPlan& plan) {
  CellMeasure m;
  std::vector<std::string> argv = {binary,
                                   "--unix",
                                   socket,
                                   "--connections",
                                   std::to_string(plan.shape.connections),
                                   "--pipeline",
                                   std::to_string(plan.shape.in_flight),
                                   "--expect-ids",
                                   std::to_string(expect_ids)};
  if (plan.seconds > 0) {
    argv.insert(argv.end(), {"--seconds", Fixed(plan.seconds, 3)});
  } else {
    argv.insert(argv.end(), {"--requests", "1"});
  }
  argv.insert(argv.end(), query.begin(), query.end());
  m.command = CommandLine(argv);
  ClientRun run = RunClient(argv, plan, true, std::max(90.0, 20 * plan.seconds));
  if (!run.error.empty()) {
    m.error = "canopy_loadgen: " + run.error;
    return m;
  }
  std::map<std::string, double> kv = KeyValues(run.output);  // [] of a missing key: 0
  if (kv.count("requests") == 0) {
    m.error = "canopy_loadgen: no result line: " + Tail(run.output);
    return m;
  }
  m.ops_per_s = kv["ops_per_s"];
  m.p50_us = kv["p50_us"];
  m.p99_us = kv["p99_us"];
  m.requests_per_write = kv["requests_per_write"];
  return Measured(run, static_cast<uint64_t>(kv["requests"]), &m);
}

CellMeasure RunPgbench(const std::string& binary, const std::string& conninfo,
                       const std::string& sql, const std::string& param, double single_seconds,
                       const CellPlan& plan) {
  CellMeasure m;
  const int p = plan.shape.in_flight;
  const std::string script = plan.work_dir + "/" + plan.tag + ".sql";
  {
    std::ofstream s(script);
    if (p > 1) s << "\\startpipeline\n";
    for (int i = 0; i < p; ++i) s << sql << ";\n";
    if (p > 1) s << "\\endpipeline\n";
    if (!s) {
      m.error = "cannot write " + script;
      return m;
    }
  }
  const std::string log_stem = plan.tag + ".pgbench-log";
  std::vector<std::string> argv = {binary,
                                   "-n",
                                   "-M",
                                   "prepared",
                                   "-f",
                                   script,
                                   "-c",
                                   std::to_string(plan.shape.connections),
                                   "-j",
                                   "1",
                                   "-D",
                                   "p=" + param,
                                   "-l",
                                   "--log-prefix",
                                   plan.work_dir + "/" + log_stem};
  double limit = std::max(120.0, 20 * plan.seconds);
  if (plan.seconds <= 0) {
    argv.insert(argv.end(), {"-t", "1"});
  } else if (plan.seconds >= 1) {
    argv.insert(argv.end(), {"-T", std::to_string(std::lround(plan.seconds))});
  } else {
    // Transactions per client so that C clients on this machine's cores take
    // about plan.seconds.
    const double cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    const double per_tx =
        std::max(single_seconds, 1e-6) * p * std::max(1.0, plan.shape.connections / cores);
    const long tx = std::clamp(std::lround(plan.seconds / per_tx), 1L, 1'000'000L);
    argv.insert(argv.end(), {"-t", std::to_string(tx)});
    limit = std::max(limit, 10 * per_tx * static_cast<double>(tx));
  }
  argv.push_back(conninfo);
  m.command = CommandLine(argv);
  ClientRun run = RunClient(argv, plan, true, limit);
  // Per-transaction latencies (µs, third column) from the log files.
  std::vector<double> latencies;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(plan.work_dir, ec)) {
    if (e.path().filename().string().rfind(log_stem + ".", 0) != 0) continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      long client = 0, tx = 0;
      double us = 0;
      if (f >> client >> tx >> us) latencies.push_back(us);
    }
    std::filesystem::remove(e.path(), ec);
  }
  if (!run.error.empty()) {
    m.error = "pgbench: " + run.error;
    return m;
  }
  uint64_t transactions = 0;
  double tps = 0;
  {
    std::istringstream lines(run.output);
    std::string line;
    while (std::getline(lines, line)) {
      const std::string processed = "number of transactions actually processed: ";
      if (line.rfind(processed, 0) == 0) {
        transactions = std::strtoull(line.c_str() + processed.size(), nullptr, 10);
      }
      if (line.rfind("tps = ", 0) == 0) tps = std::strtod(line.c_str() + 6, nullptr);
    }
  }
  if (transactions == 0 || tps <= 0) {
    m.error = "pgbench: no result: " + Tail(run.output);
    return m;
  }
  m.ops_per_s = tps * p;
  m.p50_us = testing::Percentile(latencies, 0.50);
  m.p99_us = testing::Percentile(latencies, 0.99);
  return Measured(run, transactions * static_cast<uint64_t>(p), &m);
}

}  // namespace canopy::bench::serving
