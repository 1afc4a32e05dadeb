// serving_report.cc — see serving_report.h.
#include "serving_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "../report_text.h"

namespace canopy::bench::serving {

namespace {

// Three significant digits below 1000, else a whole number.
std::string Sig(double v) {
  if (v < 0) return "-";
  if (v == 0) return "0";
  return Format(v < 1 ? "%.3f" : v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v);
}

// 1234567 -> "1,234,567"; small rates keep one decimal.
std::string Rate(double per_s) {
  if (per_s <= 0) return "-";
  if (per_s < 100) return Format("%.1f", per_s);
  std::string digits = Format("%.0f", per_s);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// The cell, or nullptr (also for q == nullptr: a question not asked).
const Cell* Find(const ReportInput& in, const ServingQuestion* q, Server s, const Shape& shape) {
  for (const Cell& c : in.cells) {
    if (c.question == q && c.server == s && c.shape == shape) return &c;
  }
  return nullptr;
}

const ServingQuestion* FindQuestion(const ReportInput& in, const std::string& key) {
  const auto q = std::ranges::find(in.questions, key, &ServingQuestion::key);
  return q == in.questions.end() ? nullptr : *q;
}

bool Ran(const Cell* c) { return c != nullptr && c->skipped.empty() && c->m.ok; }

double CpuOf(const Cell* c) { return Ran(c) ? c->ServerCpuUsPerRequest() : -1; }

// The PostgreSQL cell with the least server CPU per request.
const Cell* BestSql(const ReportInput& in, const ServingQuestion* q, const Shape& shape) {
  const Cell* best = nullptr;
  for (Server s : {Server::kPgLinear, Server::kPgRecursive, Server::kPgCache}) {
    const Cell* c = Find(in, q, s, shape);
    if (CpuOf(c) <= 0) continue;
    if (best == nullptr || CpuOf(c) < CpuOf(best)) best = c;
  }
  return best;
}

// The highest PostgreSQL ops/s.
double BestSqlRate(const ReportInput& in, const ServingQuestion* q, const Shape& shape) {
  double best = 0;
  for (Server s : {Server::kPgLinear, Server::kPgRecursive, Server::kPgCache}) {
    const Cell* c = Find(in, q, s, shape);
    if (Ran(c)) best = std::max(best, c->m.ops_per_s);
  }
  return best;
}

// "skipped: why", "error: what" or "ok".
std::string CellStatus(const Cell& c) {
  if (!c.skipped.empty()) return "skipped: " + c.skipped;
  return c.m.ok ? "ok" : "error: " + c.m.error;
}

std::string CellText(const Cell* c) {
  if (c == nullptr) return "n/a";
  if (!c->skipped.empty()) return "skipped";
  if (!c->m.ok) return "error";
  return "";
}

// One target row: `value` (shown by `show`) against `limit` (at most, or at least).
std::string TargetRow(const std::string& what, const std::string& target, double value,
                      double limit, bool at_most, const std::string& today,
                      std::string (*show)(double) = Ratio) {
  std::string verdict = "not measured";
  if (value > 0 && std::isfinite(value)) {
    verdict = (at_most ? value <= limit : value >= limit) ? "**met**" : "not met";
  }
  return "| " + what + " | " + target + " | " + show(value) + " | " + verdict + " | " + today +
         " |\n";
}

void TargetsSection(const ReportInput& in, std::string* md) {
  const ServingQuestion* tiny = FindQuestion(in, "ancestors-6");
  const ServingQuestion* mid = FindQuestion(in, "descendants-gitlab-org");
  const Shape s1x32{1, 32}, s16x32{16, 32};
  *md += "## Targets\n\n";
  *md +=
      "Server CPU per request, from one run. \"before\" is what was measured before the RESP "
      "listener and the per-thread event loops (a fixed reference, not rerun).\n\n";
  *md += "| what | target | this run | verdict | before |\n|---|---|---:|---|---|\n";
  auto cpu_vs = [&](const ServingQuestion* q, Server s, Server base, const Shape& shape) {
    const double a = CpuOf(Find(in, q, s, shape));
    const double b = CpuOf(Find(in, q, base, shape));
    return a > 0 && b > 0 ? a / b : -1.0;
  };
  auto sql_over = [&](const ServingQuestion* q, Server s, const Shape& shape, bool cache_only) {
    const double canopy = CpuOf(Find(in, q, s, shape));
    const double sql =
        cache_only ? CpuOf(Find(in, q, Server::kPgCache, shape)) : CpuOf(BestSql(in, q, shape));
    return canopy > 0 && sql > 0 ? sql / canopy : -1.0;
  };
  for (Server s : {Server::kCanopyResp, Server::kCanopyFb}) {
    const std::string name = ServerName(s);
    for (const Shape& shape : {s1x32, s16x32}) {
      *md += TargetRow(name + ": tiny request (ancestors, depth 6) vs Redis, " + shape.Name(),
                       "<= 1.0x", cpu_vs(tiny, s, Server::kRedis, shape), 1.0, true,
                       shape.connections == 1 ? "3.0x" : "1.8x");
    }
    *md += TargetRow(name + ": 600-id answer (gitlab-org descendants) vs Redis, 16x32", "<= 1.5x",
                     cpu_vs(mid, s, Server::kRedis, s16x32), 1.5, true, "7x");
    for (const Shape& shape : {s1x32, s16x32}) {
      *md += TargetRow("best SQL / " + name + ": pipelined ancestors (depth 6), " + shape.Name(),
                       ">= 20x", sql_over(tiny, s, shape, false), 20, false,
                       shape.connections == 16 ? "3.7x" : "");
    }
    *md += TargetRow("PG namespace_descendants cache / " + name + ": gitlab-org descendants, 16x32",
                     ">= 100x", sql_over(mid, s, s16x32, true), 100, false, "19x");
  }
  // Requests per write of the FlatBuffers load generator at a window of 32.
  double per_write = -1;
  for (const Shape& shape : {s1x32, s16x32}) {
    const Cell* c = Find(in, tiny, Server::kCanopyFb, shape);
    if (Ran(c))
      per_write =
          per_write < 0 ? c->m.requests_per_write : std::min(per_write, c->m.requests_per_write);
  }
  *md += TargetRow("canopy_loadgen: requests per write() at a window of 32", ">= 16", per_write, 16,
                   false, "(the project's Client: 1)", Sig) +
         "\n";
}

// A matrix: rows question x server, columns shapes, `value` per cell.
template <typename F>
void Matrix(const ReportInput& in, const std::string& title, const std::string& intro, F value,
            std::string* md) {
  *md += "## " + title + "\n\n" + intro + "\n\n| question | answer | server |";
  for (const Shape& s : in.shapes) *md += " " + s.Name() + " |";
  *md += "\n|---|---:|---|";
  for (size_t i = 0; i < in.shapes.size(); ++i) *md += "---:|";
  *md += "\n";
  for (const ServingQuestion* q : in.questions) {
    bool first = true;
    for (Server s : kAllServers) {
      bool any = false;
      for (const Shape& shape : in.shapes) any = any || Find(in, q, s, shape) != nullptr;
      if (!any) continue;
      *md += "| " + (first ? q->label : std::string()) + " | " +
             (first ? std::to_string(q->ids) + " ids, " + std::to_string(q->resp_bytes) + " B"
                    : std::string()) +
             " | " + ServerName(s) + " |";
      first = false;
      for (const Shape& shape : in.shapes) {
        const Cell* c = Find(in, q, s, shape);
        const std::string t = CellText(c);
        *md += " " + (t.empty() ? value(c) : t) + " |";
      }
      *md += "\n";
    }
  }
  *md += "\n";
}

}  // namespace

// Per Server, in enum order: its name in the reports and its key (--servers,
// CSV, chart).
constexpr struct {
  const char* name;
  const char* key;
} kServerText[kServerCount] = {
    {"Redis GET", "redis"},
    {"canopyd RESP", "canopyd_resp"},
    {"canopyd FlatBuffers", "canopyd_flatbuffers"},
    {"PG linear", "pg_linear"},
    {"PG recursive", "pg_recursive"},
    {"PG cache", "pg_cache"},
};

const char* ServerName(Server s) { return kServerText[static_cast<int>(s)].name; }
const char* ServerKey(Server s) { return kServerText[static_cast<int>(s)].key; }

bool IsPg(Server s) {
  return s == Server::kPgLinear || s == Server::kPgRecursive || s == Server::kPgCache;
}

testing::SqlForm FormOf(Server s) {
  return s == Server::kPgRecursive ? testing::SqlForm::kRecursive
         : s == Server::kPgCache   ? testing::SqlForm::kCache
                                   : testing::SqlForm::kLinear;
}

double Cell::ServerCpuUsPerRequest() const {
  if (!skipped.empty() || !m.ok || m.requests == 0 || m.server_cpu_seconds < 0) return -1;
  return std::max(m.server_cpu_seconds, 0.0) * 1e6 / static_cast<double>(m.requests);
}

double Cell::ClientCpuUsPerRequest() const {
  if (!skipped.empty() || !m.ok || m.requests == 0) return -1;
  return m.client_cpu_seconds * 1e6 / static_cast<double>(m.requests);
}

std::string MarkdownReport(const ReportInput& in) {
  std::string md = MarkdownHead(in.title, in.lines, in.answers_line, in.chart,
                                "server CPU per request and requests/s at 16x32, log scales");
  TargetsSection(in, &md);

  Matrix(
      in, "Server CPU µs per request",
      "CPU time of the server process(es) during the measured client run (/proc utime+stime; "
      "PostgreSQL: the postmaster and all its backends) / requests answered. Columns: "
      "connections x requests in flight per connection. Lower is better.",
      [](const Cell* c) { return Sig(c->ServerCpuUsPerRequest()); }, &md);
  Matrix(
      in, "Requests per second",
      "Answers per second as the client measured them (all connections together). On 2 cores "
      "the client shares the machine with the server, so this is the pair's throughput.",
      [](const Cell* c) { return Rate(c->m.ops_per_s); }, &md);
  Matrix(
      in, "Latency p50 / p99, µs",
      "Per request, from the write of its window (P requests) to its answer; pgbench: per "
      "transaction (the whole pipeline of P).",
      [](const Cell* c) { return Sig(c->m.p50_us) + " / " + Sig(c->m.p99_us); }, &md);

  md +=
      "## Every cell\n\nvs Redis = server CPU per request / Redis's; best SQL / x = the "
      "cheapest PostgreSQL form's server CPU per request / this one's; rate vs Redis = "
      "requests/s / Redis's.\n\n";
  md +=
      "| question | shape | server | requests/s | p50 µs | p99 µs | server CPU µs/req | vs Redis "
      "| best SQL / x | rate vs Redis | client CPU µs/req | req/write | requests |\n";
  md += "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const ServingQuestion* q : in.questions) {
    for (const Shape& shape : in.shapes) {
      const Cell* redis = Find(in, q, Server::kRedis, shape);
      const Cell* best_sql = BestSql(in, q, shape);
      for (Server s : kAllServers) {
        const Cell* c = Find(in, q, s, shape);
        if (c == nullptr) continue;
        md += "| " + q->label + " | " + shape.Name() + " | " + ServerName(s) + " | ";
        if (!Ran(c)) {
          md += CellStatus(*c) + " | | | | | | | | | |\n";
          continue;
        }
        const double cpu = c->ServerCpuUsPerRequest();
        const double redis_cpu = CpuOf(redis);
        const double sql_cpu = CpuOf(best_sql);
        md += Rate(c->m.ops_per_s) + " | " + Sig(c->m.p50_us) + " | " + Sig(c->m.p99_us) + " | " +
              Sig(cpu) + " | " + (redis_cpu > 0 && cpu > 0 ? Ratio(cpu / redis_cpu) : "-") + " | " +
              (sql_cpu > 0 && cpu > 0 ? Ratio(sql_cpu / cpu) : "-") + " | " +
              (Ran(redis) ? Ratio(c->m.ops_per_s / redis->m.ops_per_s) : "-") + " | " +
              Sig(c->ClientCpuUsPerRequest()) + " | " +
              (c->m.requests_per_write > 0 ? Sig(c->m.requests_per_write) : "-") + " | " +
              std::to_string(c->m.requests) + " |\n";
      }
    }
  }
  md += "\n## Method\n\n";
  md += MarkdownList(in.notes);
  md += "\n## Commands (the measured run of each kind, first question and shape)\n\n";
  for (Server s : kAllServers) {
    for (const Cell& c : in.cells) {
      if (c.server == s && c.skipped.empty() && !c.m.command.empty()) {
        md += "- " + std::string(ServerName(s)) + ": `" + c.m.command + "`\n";
        break;
      }
    }
  }
  md += "\n";
  return md;
}

std::string CsvReport(const ReportInput& in) {
  std::string csv =
      "question,target,ids,answer_bytes,server,connections,in_flight,status,requests,ops_per_s,"
      "p50_us,p99_us,server_cpu_us_per_request,client_cpu_us_per_request,cpu_vs_redis,"
      "best_sql_cpu_over_this,ops_vs_redis,ops_vs_best_sql,requests_per_write,wall_seconds,"
      "command\n";
  for (const Cell& c : in.cells) {
    const ServingQuestion* q = c.question;
    const Cell* redis = Find(in, q, Server::kRedis, c.shape);
    const Cell* best_sql = BestSql(in, q, c.shape);
    const double cpu = CpuOf(&c);
    const double redis_cpu = CpuOf(redis);
    const double sql_cpu = CpuOf(best_sql);
    const double sql_rate = BestSqlRate(in, q, c.shape);
    auto num = [](double v) { return v < 0 ? std::string() : Format("%.4g", v); };
    csv += CsvQuote(q->label) + "," + CsvQuote(q->question->target) + "," + std::to_string(q->ids) +
           "," + std::to_string(q->resp_bytes) + "," + ServerKey(c.server) + "," +
           std::to_string(c.shape.connections) + "," + std::to_string(c.shape.in_flight) + "," +
           CsvQuote(CellStatus(c)) + "," + std::to_string(c.m.requests) + "," +
           (Ran(&c) ? Format("%.1f", c.m.ops_per_s) : "") + "," +
           (Ran(&c) ? Format("%.2f", c.m.p50_us) : "") + "," +
           (Ran(&c) ? Format("%.2f", c.m.p99_us) : "") + "," + num(cpu) + "," +
           num(c.ClientCpuUsPerRequest()) + "," +
           (cpu > 0 && redis_cpu > 0 ? Format("%.4g", cpu / redis_cpu) : "") + "," +
           (cpu > 0 && sql_cpu > 0 ? Format("%.4g", sql_cpu / cpu) : "") + "," +
           (Ran(&c) && Ran(redis) ? Format("%.4g", c.m.ops_per_s / redis->m.ops_per_s) : "") + "," +
           (Ran(&c) && sql_rate > 0 ? Format("%.4g", c.m.ops_per_s / sql_rate) : "") + "," +
           (c.m.requests_per_write > 0 ? Format("%.2f", c.m.requests_per_write) : "") + "," +
           (Ran(&c) ? Format("%.3f", c.m.wall_seconds) : "") + "," + CsvQuote(c.m.command) + "\n";
  }
  return csv;
}

std::string ChartData(const ReportInput& in, const Shape& shape) {
  std::string out = "# shape " + shape.Name() + "\n# question";
  for (Server s : kAllServers) out += std::string(" cpu_") + ServerKey(s);
  for (Server s : kAllServers) out += std::string(" ops_") + ServerKey(s);
  out += "\n";
  for (const ServingQuestion* q : in.questions) {
    out += "\"" + q->label + "\"";
    for (Server s : kAllServers) {
      const double cpu = CpuOf(Find(in, q, s, shape));
      out += ' ';
      out += cpu > 0 ? Format("%.4g", cpu) : std::string("-");
    }
    for (Server s : kAllServers) {
      const Cell* c = Find(in, q, s, shape);
      out += ' ';
      out += Ran(c) ? Format("%.1f", c->m.ops_per_s) : std::string("-");
    }
    out += "\n";
  }
  return out;
}

std::string SummaryTable(const ReportInput& in) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-36s %-6s %12s %12s %12s %12s %10s %10s\n", "question",
                "shape", "Redis GET", "canopyd RESP", "canopyd FB", "best SQL", "SQL/canopy",
                "canopy/Redis");
  out += "server CPU µs per request (requests/s below):\n";
  out += line;
  for (const ServingQuestion* q : in.questions) {
    for (const Shape& shape : in.shapes) {
      const Cell* redis = Find(in, q, Server::kRedis, shape);
      const Cell* resp = Find(in, q, Server::kCanopyResp, shape);
      const Cell* fb = Find(in, q, Server::kCanopyFb, shape);
      const Cell* sql = BestSql(in, q, shape);
      // canopy: the cheaper of its two protocols.
      double canopy = CpuOf(fb);
      if (CpuOf(resp) > 0 && (canopy <= 0 || CpuOf(resp) < canopy)) canopy = CpuOf(resp);
      const std::string label = q->label + (q->question->kind == testing::QuestionKind::kCounts
                                                ? std::string()
                                                : " (" + std::to_string(q->ids) + " ids)");
      std::snprintf(line, sizeof line, "%-36s %-6s %12s %12s %12s %12s %10s %10s\n",
                    shape == in.shapes.front() ? label.c_str() : "", shape.Name().c_str(),
                    Sig(CpuOf(redis)).c_str(), Sig(CpuOf(resp)).c_str(), Sig(CpuOf(fb)).c_str(),
                    Sig(CpuOf(sql)).c_str(),
                    canopy > 0 && CpuOf(sql) > 0 ? Ratio(CpuOf(sql) / canopy).c_str() : "-",
                    canopy > 0 && CpuOf(redis) > 0 ? Ratio(canopy / CpuOf(redis)).c_str() : "-");
      out += line;
      std::snprintf(line, sizeof line, "%-36s %-6s %12s %12s %12s %12s\n", "", "",
                    Ran(redis) ? Rate(redis->m.ops_per_s).c_str() : "-",
                    Ran(resp) ? Rate(resp->m.ops_per_s).c_str() : "-",
                    Ran(fb) ? Rate(fb->m.ops_per_s).c_str() : "-",
                    Rate(BestSqlRate(in, q, shape)).c_str());
      out += line;
    }
  }
  return out;
}

}  // namespace canopy::bench::serving
