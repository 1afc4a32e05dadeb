// pg_fixture.cc — finding (or starting) the test cluster; test SQL helpers.
#include "pg_fixture.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#ifndef CANOPY_PG_TEST_CLUSTER_SCRIPT
#error "CANOPY_PG_TEST_CLUSTER_SCRIPT must name scripts/pg-test-cluster"
#endif

namespace canopy::cdc::testing {

namespace {

std::string ReadConninfo(const std::string& dir) {
  std::ifstream in(dir + "/conninfo");
  std::string line;
  std::getline(in, line);
  return line;
}

// A cluster this process started itself (when not run by ctest).
OwnCluster& Private() {
  static OwnCluster cluster;  // stopped at exit
  return cluster;
}

}  // namespace

OwnCluster::~OwnCluster() { Stop(); }

std::string OwnCluster::Start(const std::string& settings, std::string* error) {
  char tmpl[] = "/tmp/canopy-cdc-e2e.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    *error = "mkdtemp failed";
    return "";
  }
  dir_ = tmpl;
  std::string cmd =
      (settings.empty() ? std::string() : "PG_TEST_CLUSTER_OPTS='" + settings + "' ") + "'" +
      CANOPY_PG_TEST_CLUSTER_SCRIPT + "' start '" + dir_ + "' >&2";
  if (std::system(cmd.c_str()) != 0) {
    *error = "scripts/pg-test-cluster start failed";
    return "";
  }
  conninfo_ = ReadConninfo(dir_);
  return conninfo_;
}

bool OwnCluster::Restart(const std::string& mode) {
  if (dir_.empty()) return false;
  // data/ lives in DIR or in the directory DIR/rundir names (see the script).
  const std::string cmd =
      "d='" + dir_ +
      "'; r=$(cat \"$d/rundir\" 2>/dev/null || echo \"$d\"); "
      "b=${PG_BINDIR:-/usr/lib/postgresql/15/bin}; "
      "if [ \"$(id -u)\" = 0 ]; then run='runuser -u postgres --'; else run=''; fi; "
      "$run \"$b/pg_ctl\" -D \"$r/data\" -l \"$r/server.log\" -w -t 60 -m " +
      mode + " restart >&2";
  return std::system(cmd.c_str()) == 0;
}

void OwnCluster::Stop() {
  if (dir_.empty()) return;
  std::string cmd = std::string("'") + CANOPY_PG_TEST_CLUSTER_SCRIPT + "' stop '" + dir_ + "' >&2";
  (void)std::system(cmd.c_str());
  std::string rm = "rm -rf '" + dir_ + "'";
  (void)std::system(rm.c_str());
  dir_.clear();
  conninfo_.clear();
}

std::string ClusterConninfo(std::string* error) {
  static std::mutex mu;
  static std::string conninfo;
  std::lock_guard<std::mutex> lock(mu);
  if (!conninfo.empty()) return conninfo;
  if (const char* c = std::getenv("CANOPY_TEST_PG_CONNINFO"); c != nullptr && *c != 0) {
    conninfo = c;
  } else if (const char* dir = std::getenv("CANOPY_PG_CLUSTER_DIR"); dir != nullptr && *dir != 0) {
    conninfo = ReadConninfo(dir);
    if (conninfo.empty())
      *error = std::string("no conninfo in ") + dir + " (did the cdc_pg_cluster fixture start?)";
  } else {
    conninfo = Private().Start("", error);
  }
  return conninfo;
}

Sql::Sql(const std::string& conninfo) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn_) != CONNECTION_OK)
    ADD_FAILURE() << "connect " << conninfo << ": " << PQerrorMessage(conn_);
}

Sql::~Sql() { PQfinish(conn_); }

bool Sql::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

bool Sql::Exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  bool good = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  if (!good)
    ADD_FAILURE() << "SQL failed: " << PQresultErrorMessage(r) << "\n" << sql.substr(0, 2000);
  PQclear(r);
  // A failed multi-statement string may leave a transaction open.
  if (!good && PQtransactionStatus(conn_) == PQTRANS_INERROR) PQclear(PQexec(conn_, "ROLLBACK"));
  return good;
}

std::vector<std::vector<std::string>> Sql::Rows(const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << "SQL failed: " << PQresultErrorMessage(r) << "\n" << sql.substr(0, 2000);
    PQclear(r);
    return out;
  }
  const int rows = PQntuples(r), cols = PQnfields(r);
  out.resize(static_cast<size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    auto& row = out[static_cast<size_t>(i)];
    row.reserve(static_cast<size_t>(cols));
    for (int c = 0; c < cols; ++c)
      row.emplace_back(PQgetisnull(r, i, c) ? "\\N" : PQgetvalue(r, i, c));
  }
  PQclear(r);
  return out;
}

std::string Sql::Value(const std::string& sql) {
  auto rows = Rows(sql);
  if (rows.empty() || rows[0].empty()) return "";
  return rows[0][0];
}

Lsn Sql::CurrentWalLsn() {
  auto lsn = Lsn::Parse(Value("SELECT pg_current_wal_lsn()"));
  EXPECT_TRUE(lsn.has_value());
  return lsn.value_or(Lsn());
}

bool Sql::CopyIn(const std::string& table_and_columns, const std::string& data) {
  PGresult* r = PQexec(conn_, ("COPY " + table_and_columns + " FROM STDIN").c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    ADD_FAILURE() << "COPY failed: " << PQresultErrorMessage(r);
    PQclear(r);
    return false;
  }
  PQclear(r);
  bool good = PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) == 1 &&
              PQputCopyEnd(conn_, nullptr) == 1;
  r = PQgetResult(conn_);
  if (!good || PQresultStatus(r) != PGRES_COMMAND_OK) {
    ADD_FAILURE() << "COPY failed: " << PQresultErrorMessage(r) << PQerrorMessage(conn_);
    good = false;
  }
  PQclear(r);
  while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  return good;
}

TestDatabase::TestDatabase(const std::string& name) : name_(name) {
  std::string error;
  admin_ = ClusterConninfo(&error);
  if (admin_.empty()) {
    ADD_FAILURE() << "no test cluster: " << error;
    return;
  }
  Sql admin(admin_);
  if (!admin.ok()) return;
  admin.Exec("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
  if (!admin.Exec("CREATE DATABASE \"" + name_ + "\"")) return;
  conninfo_ = admin_ + " dbname=" + name_;
}

TestDatabase::~TestDatabase() {
  if (conninfo_.empty()) return;
  Sql admin(admin_);
  // Slots of this database must go first (a test that failed midway may
  // leave a permanent one).
  admin.Exec(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '" +
      name_ + "' AND NOT active");
  admin.Exec("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
}

std::vector<int64_t> ParseIdArray(const std::string& text) {
  std::vector<int64_t> out;
  if (text.size() < 2 || text == "\\N") return out;
  std::stringstream in(text.substr(1, text.size() - 2));
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::stoll(item));
  }
  return out;
}

}  // namespace canopy::cdc::testing
