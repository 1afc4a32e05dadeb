// copy_baselines.cc — see copy_baselines.h.
#include "copy_baselines.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

namespace canopy::bench::cdc_bench {

namespace {

// The mapped columns of a table, as the snapshot loader names them.
std::string ColumnList(const canopy::cdc::TableSpec& spec) {
  std::string list;
  for (const std::string& c : spec.columns) {
    if (c.empty()) continue;
    if (!list.empty()) list += ", ";
    list += canopy::cdc::QuoteIdentifier(c);
  }
  return list;
}

}  // namespace

std::vector<std::string> LoaderPieces(PgConnection& db, const canopy::cdc::TableMapping& m,
                                      uint64_t split) {
  std::vector<std::string> out;
  for (canopy::Table t : canopy::cdc::kAllTables) {
    const canopy::cdc::TableSpec& spec = m.Spec(t);
    const std::string q = canopy::cdc::QualifiedName(spec);
    const std::string key = canopy::cdc::QuoteIdentifier(spec.columns[0]);
    const std::string select = "SELECT " + ColumnList(spec) + " FROM " + q;
    const int64_t est =
        std::stoll(ValueOrDie(db, "SELECT reltuples::bigint FROM pg_class WHERE oid = " +
                                      canopy::cdc::QuoteLiteral(q) + "::regclass"));
    if (est <= 0 || static_cast<uint64_t>(est) <= split) {
      out.push_back("COPY (" + select + ") TO STDOUT");
      continue;
    }
    const int64_t lo = std::stoll(ValueOrDie(db, "SELECT min(" + key + ") FROM " + q));
    const int64_t hi = std::stoll(ValueOrDie(db, "SELECT max(" + key + ") FROM " + q));
    const uint64_t pieces =
        std::min<uint64_t>((static_cast<uint64_t>(est) + split - 1) / split, 64);
    const uint64_t step = (static_cast<uint64_t>(hi - lo) + 1 + pieces - 1) / pieces;
    for (uint64_t p = 0; p < pieces; ++p) {
      const int64_t a = lo + static_cast<int64_t>(step * p);
      std::string where;
      if (p > 0) where = key + " >= " + std::to_string(a);
      if (p + 1 < pieces) {
        where += (where.empty() ? "" : " AND ") + key + " < " +
                 std::to_string(a + static_cast<int64_t>(step));
      }
      out.push_back("COPY (" + select + " WHERE " + where + ") TO STDOUT");
    }
  }
  return out;
}

Timed CopyTables(const std::string& conninfo, const canopy::cdc::TableMapping& m,
                 const char* options) {
  std::vector<std::string> copies;
  for (canopy::Table t : canopy::cdc::kAllTables) {
    const canopy::cdc::TableSpec& spec = m.Spec(t);
    copies.push_back("COPY " + canopy::cdc::QualifiedName(spec) + " (" + ColumnList(spec) +
                     ") TO STDOUT" + options);
  }
  return CopyPiecesParallel(conninfo, copies, 1);
}

Timed CopyPiecesParallel(const std::string& conninfo, const std::vector<std::string>& pieces,
                         int workers) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  const double cpu0 = SelfCpuUsage().cpu_seconds;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      std::unique_ptr<PgConnection> c = ConnectOrDie(conninfo);
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= pieces.size()) break;
        bytes += OrDie(c->CopyOutDiscard(pieces[i]));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return {.seconds = SecondsSince(t0), .cpu = SelfCpuUsage().cpu_seconds - cpu0, .bytes = bytes};
}

}  // namespace canopy::bench::cdc_bench
