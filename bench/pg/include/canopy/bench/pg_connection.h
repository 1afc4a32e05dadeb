// canopy/bench/pg_connection.h — a small libpq connection for the benchmarks:
// plain statements, COPY FROM STDIN, prepared statements, and the backend's
// process id (to read its CPU time from /proc).
//
//   canopy::Result<std::unique_ptr<canopy::bench::PgConnection>> db =
//       canopy::bench::PgConnection::Open("host=/tmp/sock port=5432 dbname=gitlab");
//   if (!db.ok()) die(db.status());
//   canopy::Status s = (*db)->Exec("CREATE TABLE t (id bigint)");
//   s = (*db)->CopyIn("t (id)", "1\n2\n");
//   s = (*db)->Prepare("ids", "SELECT id FROM t WHERE id > $1");
//   PGresult* r = (*db)->ExecPrepared("ids", "1");   // caller PQclear()s
//
// THREAD SAFETY: one thread at a time per connection (libpq's rule).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "canopy/status.h"

namespace canopy::bench {

class PgConnection {
 public:
  // Connects (blocking). Errors: kUnavailable with libpq's message.
  static Result<std::unique_ptr<PgConnection>> Open(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one or more statements (simple protocol). Errors: kInternal with the
  // server's message and the start of the statement.
  Status Exec(const std::string& sql);
  // The first column of the first row of `sql` (empty when no row).
  Result<std::string> Value(const std::string& sql);
  // COPY `table_and_columns` FROM STDIN (text format) with `rows` as data.
  Status CopyIn(const std::string& table_and_columns, std::string_view rows);
  // Prepares `sql` as statement `name` (parameter types inferred).
  Status Prepare(const std::string& name, const std::string& sql);
  // Executes a prepared statement with one text parameter. Returns the
  // result (never null; check PQresultStatus); the caller PQclear()s it.
  PGresult* ExecPrepared(const std::string& name, const std::string& param);

  PGconn* raw() { return conn_; }
  int backend_pid() const;
  std::string error_message() const;

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// `base` (a libpq conninfo string or URI) with some keywords replaced, as a
// keyword=value conninfo string. Errors: kInvalidArgument (unparsable).
Result<std::string> ConninfoWith(const std::string& base,
                                 const std::vector<std::pair<std::string, std::string>>& overrides);
// The value of `keyword` in `conninfo` ("" when absent or unparsable).
std::string ConninfoValue(const std::string& conninfo, const std::string& keyword);

}  // namespace canopy::bench
