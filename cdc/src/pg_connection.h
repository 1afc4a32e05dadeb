// pg_connection.h — a small RAII layer over libpq for canopy::cdc.
//
// PgConnection owns one PGconn; PgResult owns one PGresult. Errors become
// Status values: a connection that is gone is kUnavailable (worth a
// reconnect), an error the server reported is kFailedPrecondition with the
// server's message and SQLSTATE.
//
// Walsender connections (replication=database) accept only the simple query
// protocol: use Exec there, never ExecParams.
//
// THREAD SAFETY: a PgConnection belongs to one thread at a time (libpq's rule).
// WaitReadable may be woken from another thread through a WakePipe.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "canopy/status.h"

namespace canopy::cdc::internal {

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
  PGresult* get() const { return r_.get(); }
  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  int columns() const { return r_ ? PQnfields(r_.get()) : 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Get(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col),
                       static_cast<size_t>(PQgetlength(r_.get(), row, col)));
  }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_{nullptr, &PQclear};
};

class WakePipe;

class PgConnection {
 public:
  // Connects with `conninfo` (a libpq conninfo string or URI). `replication`
  // adds replication=database (a walsender that also takes simple SQL).
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo,
                                                       bool replication,
                                                       const std::string& application_name);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  PGconn* get() const { return conn_; }
  int socket() const { return PQsocket(conn_); }
  int server_version() const { return PQserverVersion(conn_); }

  // Runs `sql` (simple query protocol) and expects `want` (PGRES_COMMAND_OK,
  // PGRES_TUPLES_OK, PGRES_COPY_OUT, PGRES_COPY_BOTH).
  Result<PgResult> Exec(const std::string& sql, ExecStatusType want);
  // Exec that gives up (kUnavailable, after asking the server to cancel) once
  // `*stop` is set; `wake` (may be null) interrupts the wait at once. For
  // commands that can wait on the server for long (CREATE_REPLICATION_SLOT
  // waits for running transactions to end).
  Result<PgResult> ExecInterruptible(const std::string& sql, ExecStatusType want,
                                     const std::atomic<bool>* stop, const WakePipe* wake);
  // Extended protocol with text parameters (not on walsender connections).
  Result<PgResult> ExecParams(const std::string& sql, const std::vector<std::string>& params,
                              ExecStatusType want);

  // The Status for a failed libpq call: kUnavailable when the connection is
  // bad, else kFailedPrecondition with the server's message.
  Status Error(const std::string& what, const PGresult* result = nullptr) const;

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  Result<PgResult> Check(PGresult* r, ExecStatusType want, const std::string& what);

  PGconn* conn_;
};

// A self-pipe that wakes a thread blocked in WaitReadable from another thread.
class WakePipe {
 public:
  WakePipe();
  ~WakePipe();
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;
  void Wake();
  void Drain();
  int read_fd() const { return fds_[0]; }

 private:
  int fds_[2] = {-1, -1};
};

// Waits until `socket` is readable (or writable too, if `want_write`), a
// pipe (each may be null) is woken, or `timeout_ms` passes. Returns OK in all
// those cases; kUnavailable if poll fails.
Status WaitSocket(int socket, bool want_write, const WakePipe* wake, const WakePipe* wake2,
                  int timeout_ms);

}  // namespace canopy::cdc::internal
