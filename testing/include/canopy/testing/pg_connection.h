// canopy/testing/pg_connection.h — the libpq connection of the tests and the
// benchmarks: statements, rows, COPY in and out, prepared statements, the
// backend's process id (to read its CPU time from /proc), the server's WAL
// position, and conninfo helpers. (canopy::cdc has its own, internal one.)
//
//   canopy::Result<std::unique_ptr<canopy::testing::PgConnection>> db =
//       canopy::testing::PgConnection::Open("host=/tmp/sock port=5432 dbname=gitlab");
//   if (!db.ok()) die(db.status());
//   canopy::Status s = (*db)->Exec("CREATE TABLE t (id bigint)");
//   s = (*db)->CopyIn("t (id)", "1\n2\n");
//   canopy::Result<std::string> n = (*db)->Value("SELECT count(*) FROM t");
//   s = (*db)->Prepare("ids", "SELECT id FROM t WHERE id > $1");
//   PGresult* r = (*db)->ExecPrepared("ids", "1");   // caller PQclear()s
//
// ERRORS: kUnavailable when connecting fails; kInternal with the server's
// message and the start of the statement for a failed statement. A failed
// statement inside BEGIN leaves the transaction aborted (the caller rolls
// back). Server NOTICEs are dropped.
//
// THREAD SAFETY: one thread at a time per connection (libpq's rule); the free
// functions are thread-safe.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/status.h"

namespace canopy::testing {

class PgConnection {
 public:
  // Connects (blocking). Errors: kUnavailable with libpq's message.
  static Result<std::unique_ptr<PgConnection>> Open(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one or more statements (simple protocol, one round trip).
  Status Exec(const std::string& sql);
  // The first column of the first row of `sql` ("" when there is no row or
  // the value is NULL).
  Result<std::string> Value(const std::string& sql);
  // Every row of `sql` as text, NULL as "\N". With `params`, one statement
  // with $1, $2, ... bound to them as text (extended protocol).
  Result<std::vector<std::vector<std::string>>> Rows(const std::string& sql,
                                                     const std::vector<std::string>& params = {});
  // Runs one or more statements in one round trip; returns the first value
  // of the first row of every result that has rows, in order.
  Result<std::vector<std::string>> FirstValues(const std::string& sql);
  // COPY `table_and_columns` FROM STDIN (text format) with `rows` as data.
  Status CopyIn(const std::string& table_and_columns, std::string_view rows);
  // Runs `copy_to_stdout` (a COPY ... TO STDOUT) and discards the data.
  // Returns the bytes received.
  Result<uint64_t> CopyOutDiscard(const std::string& copy_to_stdout);
  // Prepares `sql` as statement `name` (parameter types inferred).
  Status Prepare(const std::string& name, const std::string& sql);
  // Executes a prepared statement with one text parameter. Returns the
  // result (never null; check PQresultStatus); the caller PQclear()s it.
  PGresult* ExecPrepared(const std::string& name, const std::string& param);
  // pg_current_wal_lsn().
  Result<Lsn> CurrentWalLsn();

  PGconn* raw() { return conn_; }
  int backend_pid() const;
  std::string error_message() const;

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// `base` (a libpq conninfo string or URI) with some keywords replaced (an
// empty value removes the keyword), as a keyword=value conninfo string.
// Errors: kInvalidArgument (unparsable).
Result<std::string> ConninfoWith(const std::string& base,
                                 const std::vector<std::pair<std::string, std::string>>& overrides);
// The value of `keyword` in `conninfo` ("" when absent or unparsable).
std::string ConninfoValue(const std::string& conninfo, const std::string& keyword);

}  // namespace canopy::testing
