// snapshot_loader.cc — parallel COPY of the mapped tables in one snapshot.
#include "snapshot_loader.h"

#include <algorithm>
#include <string>
#include <system_error>
#include <thread>

#include "canopy/status.h"
#include "copy_text.h"
#include "row_builder.h"

namespace canopy::cdc::internal {

namespace {
constexpr int kMaxPiecesPerTable = 64;

// The mapped columns of `spec`, in field order, and the field of each.
void SelectedColumns(Table table, const TableSpec& spec, std::string* list,
                     std::vector<int>* fields) {
  list->clear();
  fields->clear();
  for (int f = 0; f < FieldCount(table); ++f) {
    const std::string& c = spec.columns[static_cast<size_t>(f)];
    if (c.empty()) continue;
    if (!list->empty()) *list += ", ";
    *list += QuoteIdentifier(c);
    fields->push_back(f);
  }
}
}  // namespace

Status ImportSnapshot(PgConnection& conn, const std::string& snapshot_name) {
  CANOPY_RETURN_IF_ERROR(
      conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK).status());
  return conn.Exec("SET TRANSACTION SNAPSHOT " + QuoteLiteral(snapshot_name), PGRES_COMMAND_OK)
      .status();
}

SnapshotLoader::SnapshotLoader(SnapshotLoaderOptions options, const std::atomic<bool>* cancel,
                               const WakePipe* wake)
    : options_(std::move(options)),
      cancel_(cancel),
      wake_(wake),
      counters_(new TableCounters[std::size(kAllTables)]),
      start_(std::chrono::steady_clock::now()) {
  for (Table t : kAllTables) {
    const TableSpec& spec = options_.mapping.Spec(t);
    counters_[static_cast<size_t>(t)].name = spec.schema + "." + spec.table;
  }
}

bool SnapshotLoader::Cancelled(const std::atomic<bool>* failed) const {
  return (cancel_ != nullptr && cancel_->load()) || (failed != nullptr && failed->load());
}

Status SnapshotLoader::Plan(const std::string& snapshot_name) {
  auto conn_or = PgConnection::Connect(options_.conninfo, false, options_.application_name);
  if (!conn_or.ok()) return conn_or.status();
  PgConnection& conn = *conn_or.value();
  CANOPY_RETURN_IF_ERROR(ImportSnapshot(conn, snapshot_name));
  const uint64_t split = std::max<uint64_t>(options_.split_rows, 1);
  for (Table t : kAllTables) {
    const TableSpec& spec = options_.mapping.Spec(t);
    const std::string qualified = QualifiedName(spec);
    const std::string key = QuoteIdentifier(spec.columns[0]);
    auto est = conn.ExecParams("SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass",
                               {qualified}, PGRES_TUPLES_OK);
    if (!est.ok()) return est.status();
    int64_t estimated = -1;
    if (est.value().rows() == 1 && !est.value().IsNull(0, 0))
      (void)ParseInt64(est.value().Get(0, 0), &estimated);
    TableCounters& counters = counters_[static_cast<size_t>(t)];
    counters.estimated_rows.store(estimated > 0 ? static_cast<uint64_t>(estimated) : 0);

    std::string columns;
    std::vector<int> fields;
    SelectedColumns(t, spec, &columns, &fields);
    const std::string select = "SELECT " + columns + " FROM " + qualified;

    int pieces = 1;
    int64_t lo = 0, hi = 0;
    if (estimated < 0 || static_cast<uint64_t>(estimated) > split) {
      auto range =
          conn.Exec("SELECT min(" + key + ")::bigint, max(" + key + ")::bigint FROM " + qualified,
                    PGRES_TUPLES_OK);
      if (!range.ok()) return range.status();
      if (!range.value().IsNull(0, 0) && ParseInt64(range.value().Get(0, 0), &lo) &&
          ParseInt64(range.value().Get(0, 1), &hi)) {
        const uint64_t rows =
            estimated > 0 ? static_cast<uint64_t>(estimated) : static_cast<uint64_t>(hi - lo) + 1;
        pieces =
            static_cast<int>(std::min<uint64_t>((rows + split - 1) / split, kMaxPiecesPerTable));
        pieces = std::max(pieces, 1);
        if (static_cast<uint64_t>(hi - lo) + 1 < static_cast<uint64_t>(pieces)) pieces = 1;
      }
    }
    const uint64_t expected_rows =
        estimated > 0 ? static_cast<uint64_t>(estimated) / static_cast<uint64_t>(pieces) : 0;
    if (pieces == 1) {
      pieces_.push_back({t, "COPY (" + select + ") TO STDOUT", expected_rows, {}});
    } else {
      const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
      const uint64_t step =
          (span + static_cast<uint64_t>(pieces) - 1) / static_cast<uint64_t>(pieces);
      for (int p = 0; p < pieces; ++p) {
        std::string where;
        const int64_t a = lo + static_cast<int64_t>(step * static_cast<uint64_t>(p));
        if (p > 0) where = key + " >= " + std::to_string(a);
        if (p + 1 < pieces) {
          const int64_t b = a + static_cast<int64_t>(step);
          where += (where.empty() ? "" : " AND ") + key + " < " + std::to_string(b);
        }
        pieces_.push_back(
            {t, "COPY (" + select + " WHERE " + where + ") TO STDOUT", expected_rows, {}});
      }
    }
    counters.pieces_left.store(pieces);
  }
  return conn.Exec("COMMIT", PGRES_COMMAND_OK).status();
}

Status SnapshotLoader::CopyPiece(PgConnection& conn, Piece& piece, std::atomic<bool>* failed) {
  const TableSpec& spec = options_.mapping.Spec(piece.table);
  std::string unused;
  std::vector<int> selected;
  SelectedColumns(piece.table, spec, &unused, &selected);
  TableCounters& counters = counters_[static_cast<size_t>(piece.table)];

  if (PQsendQuery(conn.get(), piece.sql.c_str()) == 0) return conn.Error("COPY");
  // Wait for the COPY OUT result without blocking past a cancel.
  for (;;) {
    if (PQconsumeInput(conn.get()) == 0) return conn.Error("COPY");
    if (PQisBusy(conn.get()) == 0) break;
    if (Cancelled(failed)) return Status::Cancelled("snapshot copy cancelled");
    CANOPY_RETURN_IF_ERROR(WaitSocket(conn.socket(), false, wake_, nullptr, 100));
  }
  {
    PgResult r(PQgetResult(conn.get()));
    if (r.get() == nullptr || PQresultStatus(r.get()) != PGRES_COPY_OUT)
      return conn.Error(piece.sql, r.get());
  }

  // Room for the rows the estimate promises (and an eighth more, but never
  // more than twice the planned piece size, split_rows, in case the estimate
  // is stale), so that the piece is not moved while it grows; pages the rows
  // never fill are not touched.
  piece.rows.reserve(static_cast<size_t>(
      std::min<uint64_t>(piece.expected_rows + piece.expected_rows / 8, 2 * options_.split_rows)));
  std::vector<FieldValue> line_fields;
  std::string scratch;
  std::vector<FieldValue> fields(static_cast<size_t>(FieldCount(piece.table)));
  uint64_t rows = 0, bytes = 0;
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn.get(), &buf, /*async=*/1);
    if (n > 0) {
      std::unique_ptr<char, void (*)(void*)> owned(buf, &PQfreemem);
      CANOPY_RETURN_IF_ERROR(
          SplitCopyLine(std::string_view(buf, static_cast<size_t>(n)), &line_fields, &scratch));
      if (line_fields.size() != selected.size()) {
        return Status::DataLoss("COPY of " + counters.name + ": a line has " +
                                std::to_string(line_fields.size()) + " fields, expected " +
                                std::to_string(selected.size()));
      }
      for (size_t i = 0; i < selected.size(); ++i)
        fields[static_cast<size_t>(selected[i])] = line_fields[i];
      RowChange change;
      CANOPY_RETURN_IF_ERROR(BuildUpsert(piece.table, fields, &change));
      piece.rows.push_back(std::move(change));
      ++rows;
      bytes += static_cast<uint64_t>(n);
      if ((rows & 4095) == 0) {
        counters.rows.fetch_add(rows, std::memory_order_relaxed);
        counters.bytes.fetch_add(bytes, std::memory_order_relaxed);
        rows = bytes = 0;
        if (Cancelled(failed)) return Status::Cancelled("snapshot copy cancelled");
      }
      continue;
    }
    if (n == 0) {
      if (Cancelled(failed)) return Status::Cancelled("snapshot copy cancelled");
      CANOPY_RETURN_IF_ERROR(WaitSocket(conn.socket(), false, wake_, nullptr, 100));
      if (PQconsumeInput(conn.get()) == 0) return conn.Error("COPY");
      continue;
    }
    if (n == -2) return conn.Error("COPY");
    break;  // -1: done
  }
  counters.rows.fetch_add(rows, std::memory_order_relaxed);
  counters.bytes.fetch_add(bytes, std::memory_order_relaxed);
  PgResult r(PQgetResult(conn.get()));
  if (r.get() == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
    return conn.Error(piece.sql, r.get());
  while (PGresult* extra = PQgetResult(conn.get())) PQclear(extra);
  if (counters.pieces_left.fetch_sub(1) == 1) {
    counters.done_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now() - start_)
                               .count());
  }
  return Status();
}

uint64_t SnapshotLoader::EstimatedRows(Table table) const {
  return counters_[static_cast<size_t>(table)].estimated_rows.load();
}

Status SnapshotLoader::RunWorker(const std::string& snapshot_name, std::atomic<size_t>* next,
                                 std::atomic<bool>* failed, SnapshotPieces* out) {
  auto conn_or = PgConnection::Connect(options_.conninfo, false, options_.application_name);
  if (!conn_or.ok()) return conn_or.status();
  PgConnection& conn = *conn_or.value();
  CANOPY_RETURN_IF_ERROR(ImportSnapshot(conn, snapshot_name));
  for (;;) {
    if (Cancelled(failed)) return Status::Cancelled("snapshot copy cancelled");
    if (!out->wanted()) return Status::Cancelled("snapshot copy stopped: the index build failed");
    size_t i = next->fetch_add(1);
    if (i >= pieces_.size()) break;
    CANOPY_RETURN_IF_ERROR(CopyPiece(conn, pieces_[i], failed));
    CANOPY_RETURN_IF_ERROR(out->Deliver(i, std::move(pieces_[i].rows)));
  }
  return conn.Exec("COMMIT", PGRES_COMMAND_OK).status();
}

Status SnapshotLoader::Copy(const std::string& snapshot_name, SnapshotPieces* out) {
  const int workers =
      std::max(1, std::min<int>(options_.workers, static_cast<int>(pieces_.size())));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<Status> results(static_cast<size_t>(workers));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    try {
      threads.emplace_back([&, w] {
        Status s = RunWorker(snapshot_name, &next, &failed, out);
        if (!s.ok()) failed.store(true);
        results[static_cast<size_t>(w)] = std::move(s);
      });
    } catch (const std::system_error& e) {  // no thread: stop the ones started
      failed.store(true);
      results[static_cast<size_t>(w)] = Status::ResourceExhausted(
          std::string("snapshot copy: no thread for a worker: ") + e.what());
      break;
    }
  }
  for (std::thread& t : threads) t.join();
  // Report the first real error, not the "cancelled" of the others.
  Status first;
  for (Status& s : results) {
    if (s.ok()) continue;
    if (first.ok() ||
        (first.code() == StatusCode::kCancelled && s.code() != StatusCode::kCancelled)) {
      first = s;
    }
  }
  if (!first.ok()) out->Abandon(first);
  return first;
}

std::vector<TableLoadProgress> SnapshotLoader::Progress() const {
  std::vector<TableLoadProgress> out;
  const auto now = std::chrono::steady_clock::now();
  for (Table t : kAllTables) {
    const TableCounters& c = counters_[static_cast<size_t>(t)];
    TableLoadProgress p;
    p.table = c.name;
    p.rows = c.rows.load(std::memory_order_relaxed);
    p.bytes = c.bytes.load(std::memory_order_relaxed);
    p.estimated_rows = c.estimated_rows.load();
    const int64_t done_ns = c.done_ns.load();
    p.done = done_ns != 0;
    p.seconds = p.done ? static_cast<double>(done_ns) / 1e9
                       : std::chrono::duration<double>(now - start_).count();
    p.rows_per_second = p.seconds > 0 ? static_cast<double>(p.rows) / p.seconds : 0;
    if (p.done) {
      p.eta_seconds = 0;
    } else if (p.rows_per_second > 0 && p.estimated_rows > p.rows) {
      p.eta_seconds = static_cast<double>(p.estimated_rows - p.rows) / p.rows_per_second;
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace canopy::cdc::internal
