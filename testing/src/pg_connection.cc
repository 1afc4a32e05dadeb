// pg_connection.cc — see canopy/testing/pg_connection.h.
#include "canopy/testing/pg_connection.h"

#include <algorithm>
#include <optional>

namespace canopy::testing {

namespace {

std::string Trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Head(const std::string& sql) {
  constexpr size_t kShown = 160;
  return sql.size() <= kShown ? sql : sql.substr(0, kShown) + "...";
}

}  // namespace

Result<std::unique_ptr<PgConnection>> PgConnection::Open(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return Status::Unavailable("libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status error = Status::Unavailable("connect: " + Trimmed(PQerrorMessage(conn)));
    PQfinish(conn);
    return error;
  }
  // NOTICEs ("... does not exist, skipping") are not errors; keep stderr for progress.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

int PgConnection::backend_pid() const { return PQbackendPID(conn_); }

std::string PgConnection::error_message() const { return Trimmed(PQerrorMessage(conn_)); }

Status PgConnection::Exec(const std::string& sql) {
  if (PQsendQuery(conn_, sql.c_str()) == 0) {
    return Status::Internal(Head(sql) + ": " + error_message());
  }
  std::string error;
  while (PGresult* r = PQgetResult(conn_)) {
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && error.empty()) {
      error = Trimmed(PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  if (!error.empty()) return Status::Internal(Head(sql) + ": " + error);
  return Status::Ok();
}

Result<std::string> PgConnection::Value(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    Status error = Status::Internal(Head(sql) + ": " + Trimmed(PQresultErrorMessage(r)));
    PQclear(r);
    return error;
  }
  std::string value = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return value;
}

Result<std::vector<std::vector<std::string>>> PgConnection::Rows(
    const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  PGresult* r = params.empty()
                    ? PQexec(conn_, sql.c_str())
                    : PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                   values.data(), nullptr, nullptr, /*resultFormat=*/0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    Status error = Status::Internal(Head(sql) + ": " + Trimmed(PQresultErrorMessage(r)));
    PQclear(r);
    return error;
  }
  const int rows = PQntuples(r), cols = PQnfields(r);
  std::vector<std::vector<std::string>> out(static_cast<size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    auto& row = out[static_cast<size_t>(i)];
    row.reserve(static_cast<size_t>(cols));
    for (int c = 0; c < cols; ++c) {
      row.emplace_back(PQgetisnull(r, i, c) ? "\\N" : PQgetvalue(r, i, c));
    }
  }
  PQclear(r);
  return out;
}

Result<std::vector<std::string>> PgConnection::FirstValues(const std::string& sql) {
  if (PQsendQuery(conn_, sql.c_str()) == 0) {
    return Status::Internal(Head(sql) + ": " + error_message());
  }
  std::vector<std::string> values;
  std::string error;
  while (PGresult* r = PQgetResult(conn_)) {
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) {
      values.push_back(PQgetvalue(r, 0, 0));
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && error.empty()) {
      error = Trimmed(PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  if (!error.empty()) return Status::Internal(Head(sql) + ": " + error);
  return values;
}

Result<uint64_t> PgConnection::CopyOutDiscard(const std::string& copy_to_stdout) {
  PGresult* r = PQexec(conn_, copy_to_stdout.c_str());
  const bool started = PQresultStatus(r) == PGRES_COPY_OUT;
  std::string start_error = Trimmed(PQresultErrorMessage(r));
  PQclear(r);
  if (!started) return Status::Internal(Head(copy_to_stdout) + ": " + start_error);
  uint64_t bytes = 0;
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(conn_, &buf, 0)) > 0) {
    bytes += static_cast<uint64_t>(n);
    PQfreemem(buf);
  }
  std::string error = n == -2 ? error_message() : "";
  while ((r = PQgetResult(conn_)) != nullptr) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && error.empty()) {
      error = Trimmed(PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  if (!error.empty()) return Status::Internal(Head(copy_to_stdout) + ": " + error);
  return bytes;
}

Result<Lsn> PgConnection::CurrentWalLsn() {
  Result<std::string> text = Value("SELECT pg_current_wal_lsn()");
  if (!text.ok()) return text.status();
  std::optional<Lsn> lsn = Lsn::Parse(text.value());
  if (!lsn) return Status::Internal("unparsable pg_current_wal_lsn() '" + text.value() + "'");
  return *lsn;
}

Status PgConnection::CopyIn(const std::string& table_and_columns, std::string_view rows) {
  const std::string sql = "COPY " + table_and_columns + " FROM STDIN";
  PGresult* r = PQexec(conn_, sql.c_str());
  const bool started = PQresultStatus(r) == PGRES_COPY_IN;
  std::string start_error = Trimmed(PQresultErrorMessage(r));
  PQclear(r);
  if (!started) return Status::Internal(sql + ": " + start_error);
  constexpr size_t kChunk = 1 << 20;
  for (size_t at = 0; at < rows.size(); at += kChunk) {
    const size_t n = std::min(kChunk, rows.size() - at);
    if (PQputCopyData(conn_, rows.data() + at, static_cast<int>(n)) != 1) {
      return Status::Internal(sql + ": " + error_message());
    }
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) return Status::Internal(sql + ": " + error_message());
  std::string error;
  while (PGresult* end = PQgetResult(conn_)) {
    if (PQresultStatus(end) != PGRES_COMMAND_OK && error.empty()) {
      error = Trimmed(PQresultErrorMessage(end));
    }
    PQclear(end);
  }
  if (!error.empty()) return Status::Internal(sql + ": " + error);
  return Status::Ok();
}

Status PgConnection::Prepare(const std::string& name, const std::string& sql) {
  PGresult* r = PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr);
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string error = ok ? "" : Trimmed(PQresultErrorMessage(r));
  PQclear(r);
  if (!ok) return Status::Internal("prepare " + name + ": " + error + "\n  " + Head(sql));
  return Status::Ok();
}

PGresult* PgConnection::ExecPrepared(const std::string& name, const std::string& param) {
  const char* values[1] = {param.c_str()};
  PGresult* r = PQexecPrepared(conn_, name.c_str(), 1, values, nullptr, nullptr, 0);
  // PQexecPrepared returns null only when out of memory; make it a result.
  return r != nullptr ? r : PQmakeEmptyPGresult(conn_, PGRES_FATAL_ERROR);
}

Result<std::string> ConninfoWith(
    const std::string& base, const std::vector<std::pair<std::string, std::string>>& overrides) {
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(base.c_str(), &parse_error);
  if (options == nullptr) {
    std::string message = parse_error != nullptr ? Trimmed(parse_error) : "unparsable conninfo";
    PQfreemem(parse_error);
    return Status::InvalidArgument(message);
  }
  auto quoted = [](const std::string& v) {
    std::string out = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    const std::string keyword = o->keyword;
    auto replaced = std::find_if(overrides.begin(), overrides.end(),
                                 [&](const auto& kv) { return kv.first == keyword; });
    if (replaced != overrides.end()) continue;
    if (o->val == nullptr || *o->val == 0) continue;
    out += keyword + "=" + quoted(o->val) + " ";
  }
  PQconninfoFree(options);
  for (const auto& [keyword, value] : overrides) {
    if (!value.empty()) out += keyword + "=" + quoted(value) + " ";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::string ConninfoValue(const std::string& conninfo, const std::string& keyword) {
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
  if (options == nullptr) return "";
  std::string value;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (keyword == o->keyword && o->val != nullptr) value = o->val;
  }
  PQconninfoFree(options);
  return value;
}

}  // namespace canopy::testing
