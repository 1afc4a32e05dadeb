// pg_connection.cc — libpq RAII and error mapping.
#include "pg_connection.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace canopy::cdc::internal {

namespace {
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo,
                                                            bool replication,
                                                            const std::string& application_name) {
  // expand_dbname=1: the first "dbname" is parsed as a whole conninfo string;
  // the later keywords override what it says.
  std::vector<const char*> keys = {"dbname", "application_name", "connect_timeout"};
  std::vector<const char*> values = {conninfo.c_str(), application_name.c_str(), "10"};
  if (replication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable("libpq: out of memory creating a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status s = Status::Unavailable("cannot connect to PostgreSQL: " + Trim(PQerrorMessage(conn)));
    PQfinish(conn);
    return s;
  }
  return std::unique_ptr<PgConnection>(new PgConnection(conn));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Status PgConnection::Error(const std::string& what, const PGresult* result) const {
  std::string msg = result != nullptr ? Trim(PQresultErrorMessage(result)) : "";
  if (msg.empty()) msg = Trim(PQerrorMessage(conn_));
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (state != nullptr) msg += std::string(" (SQLSTATE ") + state + ")";
  if (PQstatus(conn_) != CONNECTION_OK)
    return Status::Unavailable(what + ": connection lost: " + msg);
  // 57P01 admin_shutdown / 57P02 crash_shutdown / 57P03 cannot_connect_now:
  // the server is going away; a reconnect may help.
  if (state != nullptr && std::strncmp(state, "57P", 3) == 0)
    return Status::Unavailable(what + ": " + msg);
  return Status::FailedPrecondition(what + ": " + msg);
}

Result<PgResult> PgConnection::Check(PGresult* r, ExecStatusType want, const std::string& what) {
  PgResult result(r);
  if (r == nullptr) return Error(what);
  if (PQresultStatus(r) != want) return Error(what, r);
  return result;
}

Result<PgResult> PgConnection::Exec(const std::string& sql, ExecStatusType want) {
  return Check(PQexec(conn_, sql.c_str()), want, sql.substr(0, 120));
}

Result<PgResult> PgConnection::ExecInterruptible(const std::string& sql, ExecStatusType want,
                                                 const std::atomic<bool>* stop,
                                                 const WakePipe* wake) {
  const std::string what = sql.substr(0, 120);
  if (PQsendQuery(conn_, sql.c_str()) == 0) return Error(what);
  for (;;) {
    if (PQconsumeInput(conn_) == 0) return Error(what);
    if (PQisBusy(conn_) == 0) break;
    if (stop != nullptr && stop->load()) {
      if (PGcancel* cancel = PQgetCancel(conn_)) {
        char err[256];
        (void)PQcancel(cancel, err, sizeof err);
        PQfreeCancel(cancel);
      }
      return Status::Unavailable(what + ": stopped");
    }
    Status w = WaitSocket(socket(), false, wake, nullptr, 100);
    if (!w.ok()) return w;
  }
  // The first result is the answer; drain the rest (a COPY BOTH start has none).
  PGresult* first = PQgetResult(conn_);
  Result<PgResult> out = Check(first, want, what);
  if (want != PGRES_COPY_BOTH && want != PGRES_COPY_OUT) {
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  }
  return out;
}

Result<PgResult> PgConnection::ExecParams(const std::string& sql,
                                          const std::vector<std::string>& params,
                                          ExecStatusType want) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  return Check(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0),
               want, sql.substr(0, 120));
}

WakePipe::WakePipe() {
  if (pipe(fds_) == 0) {
    for (int fd : fds_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (int fd : fds_) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

WakePipe::~WakePipe() {
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

void WakePipe::Wake() {
  char c = 1;
  ssize_t n = write(fds_[1], &c, 1);  // a full pipe already wakes the reader
  (void)n;
}

void WakePipe::Drain() {
  char buf[64];
  while (read(fds_[0], buf, sizeof buf) > 0) {
  }
}

Status WaitSocket(int socket, bool want_write, const WakePipe* wake, const WakePipe* wake2,
                  int timeout_ms) {
  pollfd fds[3];
  int n = 0;
  fds[n++] = {socket, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
  if (wake != nullptr) fds[n++] = {wake->read_fd(), POLLIN, 0};
  if (wake2 != nullptr) fds[n++] = {wake2->read_fd(), POLLIN, 0};
  int r = poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (r < 0 && errno != EINTR)
    return Status::Unavailable(std::string("poll: ") + std::strerror(errno));
  return Status();
}

}  // namespace canopy::cdc::internal
