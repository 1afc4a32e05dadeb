// pg_fixture.cc — canopy::testing's PostgreSQL helpers, failing the current
// test on errors.
#include "pg_fixture.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include <sstream>

namespace canopy::cdc::testing {

namespace {

constexpr size_t kShownSql = 2000;

}  // namespace

std::string ClusterConninfo(std::string* error) {
  Result<std::string> conninfo = canopy::testing::SharedTestClusterConninfo();
  if (!conninfo.ok()) {
    *error = conninfo.status().ToString();
    return "";
  }
  return conninfo.value();
}

std::string OwnCluster::Start(const std::string& settings, std::string* error) {
  Result<std::string> conninfo = cluster_.Start(settings, "canopy-cdc-e2e");
  if (!conninfo.ok()) {
    *error = conninfo.status().ToString();
    return "";
  }
  return conninfo.value();
}

bool OwnCluster::Restart(const std::string& mode) { return cluster_.Restart(mode).ok(); }

Sql::Sql(const std::string& conninfo) {
  Result<std::unique_ptr<canopy::testing::PgConnection>> opened =
      canopy::testing::PgConnection::Open(conninfo);
  if (!opened.ok()) {
    ADD_FAILURE() << "connect " << conninfo << ": " << opened.status().ToString();
    return;
  }
  conn_ = std::move(opened).value();
}

bool Sql::Exec(const std::string& sql) {
  if (!ok()) return false;
  const Status s = conn_->Exec(sql);
  if (s.ok()) return true;
  ADD_FAILURE() << "SQL failed: " << s.ToString() << "\n" << sql.substr(0, kShownSql);
  // A failed multi-statement string may leave a transaction open.
  if (PQtransactionStatus(conn_->raw()) == PQTRANS_INERROR) (void)conn_->Exec("ROLLBACK");
  return false;
}

std::vector<std::vector<std::string>> Sql::Rows(const std::string& sql,
                                                const std::vector<std::string>& params) {
  if (!ok()) return {};
  Result<std::vector<std::vector<std::string>>> rows = conn_->Rows(sql, params);
  if (!rows.ok()) {
    ADD_FAILURE() << "SQL failed: " << rows.status().ToString() << "\n" << sql.substr(0, kShownSql);
    return {};
  }
  return std::move(rows).value();
}

std::string Sql::Value(const std::string& sql) {
  auto rows = Rows(sql);
  if (rows.empty() || rows[0].empty()) return "";
  return rows[0][0];
}

Lsn Sql::CurrentWalLsn() {
  if (!ok()) return Lsn();
  Result<Lsn> lsn = conn_->CurrentWalLsn();
  EXPECT_TRUE(lsn.ok()) << lsn.status().ToString();
  return lsn.ok() ? lsn.value() : Lsn();
}

bool Sql::CopyIn(const std::string& table_and_columns, const std::string& data) {
  if (!ok()) return false;
  const Status s = conn_->CopyIn(table_and_columns, data);
  if (!s.ok()) ADD_FAILURE() << "COPY failed: " << s.ToString();
  return s.ok();
}

TestDatabase::TestDatabase(const std::string& name) {
  std::string error;
  const std::string admin = ClusterConninfo(&error);
  if (admin.empty()) {
    ADD_FAILURE() << "no test cluster: " << error;
    return;
  }
  Result<std::unique_ptr<canopy::testing::TestDatabase>> db =
      canopy::testing::TestDatabase::Create(admin, name);
  if (!db.ok()) {
    ADD_FAILURE() << "database " << name << ": " << db.status().ToString();
    return;
  }
  db_ = std::move(db).value();
  conninfo_ = db_->conninfo();
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

uint64_t TestSeed(uint64_t fallback) {
  if (const char* env = std::getenv("CANOPY_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return fallback;
}

}  // namespace canopy::cdc::testing
