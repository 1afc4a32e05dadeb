// serving_report.h — the serving benchmark's questions, servers and cells,
// and the reports made from them: markdown (also printed), CSV (every cell),
// the chart's data file, and a short summary table (scripts/run's closing
// table).
//
// Ratios, per question and load shape:
//   vs Redis      = this server's CPU per request / Redis's (the same answer
//                   bytes from a GET): <= 1 is as cheap as the cache floor
//   best SQL / x  = the cheapest PostgreSQL form's CPU per request / this
//                   server's: how many times less CPU than the SQL
//
// THREAD SAFETY: plain values and functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canopy/testing/questions.h"
#include "cells.h"

namespace canopy::bench::serving {

enum class Server : uint8_t {
  kRedis = 0,        // redis-server, GET of a value of canopy's answer's bytes
  kCanopyResp = 1,   // canopyd's RESP listener, redis-benchmark
  kCanopyFb = 2,     // canopyd's FlatBuffers listener, canopy_loadgen
  kPgLinear = 3,     // pgbench, traversal_ids SQL
  kPgRecursive = 4,  // pgbench, recursive CTE
  kPgCache = 5,      // pgbench, namespace_descendants read
};
inline constexpr int kServerCount = 6;
inline constexpr Server kAllServers[kServerCount] = {Server::kRedis,       Server::kCanopyResp,
                                                     Server::kCanopyFb,    Server::kPgLinear,
                                                     Server::kPgRecursive, Server::kPgCache};
const char* ServerName(Server s);  // "Redis GET", "canopyd RESP", ...
const char* ServerKey(Server s);   // "redis", "canopyd_resp", ... (CSV, chart)
bool IsPg(Server s);
testing::SqlForm FormOf(Server s);  // REQUIRES: IsPg(s)

struct ServingQuestion {
  const testing::Question* question = nullptr;
  std::string key;                         // "descendants-gitlab-org" (--questions)
  std::string label;                       // "descendants gitlab-org"
  uint64_t ids = 0;                        // canopy's answer size (4 for counts)
  size_t resp_bytes = 0;                   // canopy's RESP answer = the value Redis serves
  std::vector<std::string> resp_command;   // ANCESTORS 42 SELF
  std::vector<std::string> loadgen_query;  // ancestors 42
  std::string redis_key;
  double pg_single_seconds[testing::kSqlFormCount] = {-1, -1, -1};  // -1: no such form
};

struct Cell {
  const ServingQuestion* question = nullptr;
  Server server = Server::kRedis;
  Shape shape;
  std::string skipped;  // why the cell was not run ("" = it ran)
  CellMeasure m;
  // -1 when not measured.
  double ServerCpuUsPerRequest() const;
  double ClientCpuUsPerRequest() const;
};

struct ReportInput {
  std::string title;
  std::vector<std::string> lines;  // run facts (markdown list items)
  std::vector<std::string> notes;  // method (markdown list items)
  std::string answers_line;
  std::string chart;  // image beside the report, "" = none
  std::vector<Shape> shapes;
  std::vector<const ServingQuestion*> questions;
  std::vector<Cell> cells;
};

std::string MarkdownReport(const ReportInput& in);
std::string CsvReport(const ReportInput& in);
// gnuplot data for one shape: a line per question, then per server the
// server CPU µs/request and ops/s ("-" where there is no cell).
std::string ChartData(const ReportInput& in, const Shape& shape);
// The short table scripts/run prints: per question and shape, server CPU
// µs/request and ops/s of Redis, canopyd (RESP, FlatBuffers) and the best
// SQL form, plain text.
std::string SummaryTable(const ReportInput& in);

}  // namespace canopy::bench::serving
