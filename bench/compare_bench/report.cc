// report.cc — see report.h.
#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "../report_text.h"

namespace canopy::bench::compare {

namespace {

// Microseconds with three significant digits (below 1000) or as a whole number.
std::string Micros(double us) {
  if (us <= 0) return "-";
  if (us < 10) return Format("%.2f", us);
  if (us < 100) return Format("%.1f", us);
  return Format("%.0f", us);
}

std::string Rate(double per_s) {
  if (per_s <= 0) return "-";
  if (per_s < 100) return Format("%.1f", per_s);
  return Format("%.0f", per_s);
}

std::string CpuMicros(double us) { return us <= 0 ? "-" : Micros(us); }

const CellRow* Find(const std::vector<CellRow>& rows, const Question* q, System system,
                    Transport transport) {
  for (const CellRow& r : rows) {
    if (!r.network_matrix && r.question == q && r.system == system && r.transport == transport) {
      return &r;
    }
  }
  return nullptr;
}

std::vector<const Question*> TableQuestions(const std::vector<CellRow>& rows) {
  std::vector<const Question*> out;
  for (const CellRow& r : rows) {
    if (!r.network_matrix && std::find(out.begin(), out.end(), r.question) == out.end()) {
      out.push_back(r.question);
    }
  }
  return out;
}

std::string LatencyCell(const CellRow* r) {
  if (r == nullptr) return "n/a";
  if (r->stats.errors != 0) return "error";
  return Micros(r->stats.p50_us) + " / " + Micros(r->stats.p99_us);
}

// One per-kind table over one transport: p50 / p99 per system and canopy's speed-up.
void LatencyTable(std::string* md, const std::vector<CellRow>& rows, Transport transport) {
  const bool unix_socket = transport == Transport::kUnix;
  *md += "| query | target | ids | PG recursive | PG linear | PG cache |";
  if (unix_socket) *md += " canopy in-process |";
  *md += std::string(" canopy (") + TransportName(transport) + ") | canopy vs best SQL |\n";
  *md += "|---|---|---:|---:|---:|---:|";
  if (unix_socket) *md += "---:|";
  *md += "---:|---:|\n";
  for (const Question* q : TableQuestions(rows)) {
    *md += std::string("| ") + QuestionKindName(q->kind) + " | " + q->target + " | " +
           (q->kind == QuestionKind::kCounts ? std::string("4 counts")
                                             : std::to_string(q->expected_ids)) +
           " | ";
    for (System s : {System::kPgRecursive, System::kPgLinear, System::kPgCache}) {
      *md += LatencyCell(Find(rows, q, s, transport)) + " | ";
    }
    if (unix_socket) {
      *md += LatencyCell(Find(rows, q, System::kCanopyInProcess, Transport::kInProcess)) + " | ";
    }
    const CellRow* canopy = Find(rows, q, System::kCanopy, transport);
    *md += LatencyCell(canopy) + " | " + Ratio(canopy != nullptr ? canopy->ratio : 0) + " |\n";
  }
}

}  // namespace

const char* SystemName(System system) {
  switch (system) {
    case System::kPgRecursive:
      return "PG recursive";
    case System::kPgLinear:
      return "PG linear";
    case System::kPgCache:
      return "PG cache";
    case System::kCanopyInProcess:
      return "canopy in-process";
    case System::kCanopy:
      return "canopy";
  }
  return "unknown";
}

bool IsSql(System system) {
  return system == System::kPgRecursive || system == System::kPgLinear ||
         system == System::kPgCache;
}

const char* TransportName(Transport transport) {
  switch (transport) {
    case Transport::kInProcess:
      return "in-process";
    case Transport::kUnix:
      return "unix";
    case Transport::kTcp:
      return "tcp";
  }
  return "unknown";
}

void ComputeRatios(std::vector<CellRow>* rows) {
  // Best SQL p50 per (question, transport) of the per-kind table.
  std::map<std::pair<const Question*, Transport>, double> best_p50;
  // Best PostgreSQL requests/s per matrix setting.
  std::map<std::tuple<const Question*, Transport, int, int>, double> best_rps;
  for (const CellRow& r : *rows) {
    if (!IsSql(r.system) || r.stats.errors != 0 || r.stats.samples == 0) continue;
    if (r.network_matrix) {
      double& best = best_rps[{r.question, r.transport, r.connections, r.in_flight}];
      best = std::max(best, r.stats.requests_per_s);
    } else {
      auto [it, inserted] = best_p50.try_emplace({r.question, r.transport}, r.stats.p50_us);
      if (!inserted) it->second = std::min(it->second, r.stats.p50_us);
    }
  }
  for (CellRow& r : *rows) {
    r.ratio = 0;
    if (r.stats.errors != 0 || r.stats.samples == 0) continue;
    if (r.network_matrix) {
      auto it = best_rps.find({r.question, r.transport, r.connections, r.in_flight});
      if (it != best_rps.end() && it->second > 0) r.ratio = r.stats.requests_per_s / it->second;
      continue;
    }
    double best = 0;
    if (r.transport == Transport::kInProcess) {
      for (Transport t : {Transport::kUnix, Transport::kTcp}) {
        auto it = best_p50.find({r.question, t});
        if (it != best_p50.end() && (best == 0 || it->second < best)) best = it->second;
      }
    } else if (auto it = best_p50.find({r.question, r.transport}); it != best_p50.end()) {
      best = it->second;
    }
    if (best > 0 && r.stats.p50_us > 0) r.ratio = best / r.stats.p50_us;
  }
}

std::string MarkdownReport(const ReportHeader& header, const std::vector<CellRow>& rows) {
  std::string md = MarkdownHead(header.title, header.lines, header.answers_line, header.chart,
                                "p50 latency by query kind, log scale");

  md += "## Latency per query kind (one connection, one request at a time)\n\n";
  md += "p50 / p99 in µs, client-side round trip including decoding the answer. \"canopy vs ";
  md += "best SQL\" = the best PostgreSQL form's p50 / canopy's p50 on the same transport.\n\n";
  md += "### Unix sockets (PostgreSQL's and canopy's)\n\n";
  LatencyTable(&md, rows, Transport::kUnix);
  md += "\n### TCP 127.0.0.1\n\n";
  LatencyTable(&md, rows, Transport::kTcp);

  md += "\n### Every cell\n\n";
  md +=
      "| query | target | system | transport | p50 µs | p99 µs | requests/s | vs best SQL "
      "(p50) | samples |\n";
  md += "|---|---|---|---|---:|---:|---:|---:|---:|\n";
  for (const CellRow& r : rows) {
    if (r.network_matrix) continue;
    md += std::string("| ") + QuestionKindName(r.question->kind) + " | " + r.question->size_class +
          " | " + SystemName(r.system) + " | " + TransportName(r.transport) + " | " +
          (r.stats.errors != 0 ? "error" : Micros(r.stats.p50_us)) + " | " +
          Micros(r.stats.p99_us) + " | " + Rate(r.stats.requests_per_s) + " | " + Ratio(r.ratio) +
          " | " + std::to_string(r.stats.samples) + " |\n";
  }

  bool any_matrix = false;
  for (const CellRow& r : rows) any_matrix = any_matrix || r.network_matrix;
  if (any_matrix) {
    md += "\n## Network matrix\n\n";
    md += "Each connection is one client thread. \"in flight\" 1 = one request at a time; more ";
    md += "= pipelined (a sliding window). \"vs best PG\" = requests/s over the best PostgreSQL ";
    md += "form with the same question, transport, connections and pipelining. Server CPU per ";
    md += "request: see the notes.\n\n";
    md +=
        "| question | transport | conns | in flight | system | requests/s | p50 µs | p99 µs | "
        "server CPU µs/req | client CPU µs/req | vs best PG |\n";
    md += "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
    for (const CellRow& r : rows) {
      if (!r.network_matrix) continue;
      md += std::string("| ") + QuestionKindName(r.question->kind) + " " + r.question->size_class +
            " | " + TransportName(r.transport) + " | " + std::to_string(r.connections) + " | " +
            std::to_string(r.in_flight) + " | " + SystemName(r.system) + " | " +
            (r.stats.errors != 0 ? "error" : Rate(r.stats.requests_per_s)) + " | " +
            Micros(r.stats.p50_us) + " | " + Micros(r.stats.p99_us) + " | " +
            CpuMicros(r.stats.server_cpu_us_per_request()) + " | " +
            CpuMicros(r.stats.client_cpu_us_per_request()) + " | " + Ratio(r.ratio) + " |\n";
    }
  }
  if (!header.notes.empty()) {
    md += "\n## Notes\n\n";
    md += MarkdownList(header.notes);
  }
  return md;
}

std::string CsvReport(const std::vector<CellRow>& rows) {
  std::string csv =
      "section,kind,size_class,target,answer_ids,system,transport,connections,in_flight,samples,"
      "errors,p50_us,p99_us,mean_us,requests_per_s,ratio_vs_best_sql,server_cpu_us_per_request,"
      "client_cpu_us_per_request\n";
  for (const CellRow& r : rows) {
    const CellStats& s = r.stats;
    csv += std::string(r.network_matrix ? "network" : "query") + "," +
           QuestionKindName(r.question->kind) + "," + CsvQuote(r.question->size_class) + "," +
           CsvQuote(r.question->target) + "," + std::to_string(r.question->expected_ids) + "," +
           CsvQuote(SystemName(r.system)) + "," + TransportName(r.transport) + "," +
           std::to_string(r.connections) + "," + std::to_string(r.in_flight) + "," +
           std::to_string(s.samples) + "," + std::to_string(s.errors) + "," +
           Format("%.3f", s.p50_us) + "," + Format("%.3f", s.p99_us) + "," +
           Format("%.3f", s.mean_us) + "," + Format("%.1f", s.requests_per_s) + "," +
           Format("%.3f", r.ratio) + "," + Format("%.3f", s.server_cpu_us_per_request()) + "," +
           Format("%.3f", s.client_cpu_us_per_request()) + "\n";
  }
  return csv;
}

std::string ChartData(const std::vector<CellRow>& rows) {
  std::string out =
      "# question \"PG recursive (unix)\" \"PG linear (unix)\" \"PG cache (unix)\" "
      "\"canopy in-process\" \"canopy (unix)\" \"canopy (tcp)\"; p50 in microseconds\n";
  const std::pair<System, Transport> columns[] = {
      {System::kPgRecursive, Transport::kUnix}, {System::kPgLinear, Transport::kUnix},
      {System::kPgCache, Transport::kUnix},     {System::kCanopyInProcess, Transport::kInProcess},
      {System::kCanopy, Transport::kUnix},      {System::kCanopy, Transport::kTcp}};
  for (const Question* q : TableQuestions(rows)) {
    out += std::string("\"") + QuestionKindName(q->kind) + " " + q->size_class + "\"";
    for (const auto& [system, transport] : columns) {
      const CellRow* r = Find(rows, q, system, transport);
      out += ' ';
      out += r == nullptr || r->stats.errors != 0 || r->stats.p50_us <= 0
                 ? std::string("-")
                 : Format("%.4f", r->stats.p50_us);
    }
    out += "\n";
  }
  return out;
}

}  // namespace canopy::bench::compare
