// cells.h — one cell of the serving benchmark: one question, one server, one
// load shape (connections x requests in flight), one client program run as
// a child process:
//
//   redis-benchmark  Redis (GET of the answer's bytes) and canopyd over RESP
//   canopy_loadgen   canopyd over its FlatBuffers protocol
//   pgbench          PostgreSQL (-M prepared, \startpipeline for P > 1)
//
// The server's CPU time is read (from /proc, by the caller's callback) right
// before the measured client run starts and right after it has exited, so
// server CPU per request = that difference / the requests the run made.
//
// THREAD SAFETY: main-thread functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace canopy::bench::serving {

struct Shape {
  int connections = 1;
  int in_flight = 1;
  std::string Name() const { return std::to_string(connections) + "x" + std::to_string(in_flight); }
  bool operator==(const Shape&) const = default;
};

// What one client run measured.
struct CellMeasure {
  bool ok = false;
  std::string error;    // why not ok
  std::string command;  // the client's command line (the measured run)
  uint64_t requests = 0;
  double ops_per_s = 0;
  double p50_us = 0, p99_us = 0;
  double wall_seconds = 0;
  double client_cpu_seconds = 0;
  double server_cpu_seconds = -1;  // -1: not measurable
  double requests_per_write = 0;   // canopy_loadgen only
};

struct CellPlan {
  Shape shape;
  double seconds = 3;    // <= 0: a check, the least run each client allows
  std::string work_dir;  // logs and scripts go here
  std::string tag;       // file name stem for this cell ("q3-redis-16x32")
  // Reads the CPU seconds the server has used so far; called before and after.
  std::function<double()> server_cpu;
  // Called after a client exits, before the second CPU reading (lets the
  // PostgreSQL backends of the client exit and be reaped).
  std::function<void()> settle;
};

// redis-benchmark -s SOCKET -c C -P P -n N --csv COMMAND...: N is calibrated
// with short probe runs (which warm up too) so the measured run lasts about
// plan.seconds.
CellMeasure RunRedisBenchmark(const std::string& binary, const std::string& socket,
                              const std::vector<std::string>& command, const CellPlan& plan);

// canopy_loadgen --unix SOCKET --connections C --pipeline P --seconds S
//                --expect-ids N QUERY...
CellMeasure RunLoadgen(const std::string& binary, const std::string& socket,
                       const std::vector<std::string>& query, uint64_t expect_ids,
                       const CellPlan& plan);

// pgbench -n -M prepared -f SCRIPT -c C -j 1 (-T S | -t N) -D p=PARAM -l
// CONNINFO. The script holds `sql` (whose parameter is :p) once, or P times
// between \startpipeline and \endpipeline. With plan.seconds >= 1, -T is
// the rounded seconds; under 1 s, -t from `single_seconds` (one request's
// time on an idle server) so that the run lasts about plan.seconds.
CellMeasure RunPgbench(const std::string& binary, const std::string& conninfo,
                       const std::string& sql, const std::string& param, double single_seconds,
                       const CellPlan& plan);

}  // namespace canopy::bench::serving
