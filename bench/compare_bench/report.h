// report.h — the comparison's results as a markdown report, a CSV file and
// the data file the chart is drawn from (bench/compare runs gnuplot on it).
//
// THREAD SAFETY: plain values and functions.
#pragma once

#include <string>
#include <vector>

#include "canopy/testing/questions.h"
#include "cell_runner.h"

namespace canopy::bench::compare {

// Systems, in table order.
enum class System : uint8_t {
  kPgRecursive = 0,
  kPgLinear = 1,
  kPgCache = 2,
  kCanopyInProcess = 3,
  kCanopy = 4,  // canopyd's protocol (canopy::net::Server + Client)
};
const char* SystemName(System system);  // "PG recursive", ..., "canopy"
bool IsSql(System system);

enum class Transport : uint8_t { kInProcess = 0, kUnix = 1, kTcp = 2 };
const char* TransportName(Transport transport);  // "in-process", "unix", "tcp"

struct CellRow {
  const Question* question = nullptr;
  System system = System::kCanopy;
  Transport transport = Transport::kUnix;
  int connections = 1;
  int in_flight = 1;
  bool network_matrix = false;  // the network matrix (else the per-kind latency table)
  CellStats stats;
  // Speed-up against the best SQL form on the same footing (see the report's
  // notes); 0 when there is none. Filled by ComputeRatios.
  double ratio = 0;
};

// Per-kind table: best SQL p50 / this p50, the best SQL taken over the forms
// on the same transport (in-process: the better of Unix and TCP). Network
// matrix: this requests/s / the best PostgreSQL requests/s with the same
// question, transport, connections and pipelining.
void ComputeRatios(std::vector<CellRow>* rows);

struct ReportHeader {
  std::string title;
  std::vector<std::string> lines;  // machine, command, sizes, ... (markdown list items)
  std::vector<std::string> notes;  // methods, caveats (markdown list items)
  std::string answers_line;        // "answers: ... equal"
  std::string chart;               // an image file beside the report ("" = none)
};

std::string MarkdownReport(const ReportHeader& header, const std::vector<CellRow>& rows);
std::string CsvReport(const std::vector<CellRow>& rows);
// gnuplot data: one line per question of the per-kind table, p50 in µs per
// system (PostgreSQL over its Unix socket; "-" where a form does not apply).
std::string ChartData(const std::vector<CellRow>& rows);

}  // namespace canopy::bench::compare
