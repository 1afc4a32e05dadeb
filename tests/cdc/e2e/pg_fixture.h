// pg_fixture.h — the PostgreSQL that canopy's e2e tests run against, and the
// gtest-flavoured face of canopy::testing's PostgreSQL helpers
// (canopy/testing/pg_connection.h, canopy/testing/pg_cluster.h): every error
// fails the current test (ADD_FAILURE) and gives an empty/false/zero value.
//
// Environment contract (canopy::testing::SharedTestClusterConninfo):
//   * under ctest the cluster comes from the cdc_pg_cluster fixture
//     (tests/cdc/CMakeLists.txt): scripts/pg-test-cluster started it in the
//     directory named by CANOPY_PG_CLUSTER_DIR, whose `conninfo` file says how
//     to connect;
//   * run by hand, the test binary starts its own cluster with the same
//     script (in a temporary directory) and stops it when the binary exits,
//     so no server is ever left behind;
//   * CANOPY_TEST_PG_CONNINFO overrides both.
//
// Every test works in its own database (TestDatabase), dropped at the end.
//
// THREAD SAFETY: ClusterConninfo is thread-safe; the objects belong to one
// thread at a time.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/testing/pg_cluster.h"
#include "canopy/testing/pg_connection.h"

namespace canopy::cdc::testing {

// conninfo of the cluster's `postgres` database (starting the private
// cluster on first use if needed). Empty on failure (with *error set).
std::string ClusterConninfo(std::string* error);

// A cluster of the caller's own (canopy::testing::ThrowawayCluster), for
// tests that restart or reconfigure the server (the shared fixture cluster is
// never disturbed). Stopped and removed by the destructor.
class OwnCluster {
 public:
  // `settings`: extra server settings, "name=value name2=value2"
  // (PG_TEST_CLUSTER_OPTS). Returns the `postgres` database's conninfo, or
  // empty with *error set.
  std::string Start(const std::string& settings, std::string* error);
  // pg_ctl restart -m MODE (same port and socket): "fast" (clean shutdown)
  // or "immediate" (a crash: recovery at start). true on success.
  bool Restart(const std::string& mode = "fast");
  void Stop() { cluster_.Stop(); }  // idempotent
  const std::string& conninfo() const { return cluster_.conninfo(); }

 private:
  canopy::testing::ThrowawayCluster cluster_;
};

// A libpq connection for test SQL (canopy::testing::PgConnection). Every
// method fails the current test (with ADD_FAILURE) on an error and returns an
// empty/zero value.
class Sql {
 public:
  explicit Sql(const std::string& conninfo);
  Sql(const Sql&) = delete;
  Sql& operator=(const Sql&) = delete;

  bool ok() const { return conn_ != nullptr; }
  // Runs one or more statements (simple query protocol). true on success;
  // a failed statement inside a transaction rolls it back.
  bool Exec(const std::string& sql);
  // Runs `sql` (with `params` bound to $1, $2, ...), returning every row as
  // text (NULL as "\\N").
  std::vector<std::vector<std::string>> Rows(const std::string& sql,
                                             const std::vector<std::string>& params = {});
  // The first column of the first row ("\\N" for NULL; "" when no row).
  std::string Value(const std::string& sql);
  Lsn CurrentWalLsn();
  // COPY <table_and_columns> FROM STDIN with `data` in text format.
  bool CopyIn(const std::string& table_and_columns, const std::string& data);
  PGconn* get() { return conn_ != nullptr ? conn_->raw() : nullptr; }
  // REQUIRES: ok().
  canopy::testing::PgConnection& connection() { return *conn_; }

 private:
  std::unique_ptr<canopy::testing::PgConnection> conn_;
};

// A fresh database for one test (canopy::testing::TestDatabase on the
// ClusterConninfo() cluster), dropped (WITH (FORCE)) by the destructor.
class TestDatabase {
 public:
  explicit TestDatabase(const std::string& name);
  const std::string& conninfo() const { return conninfo_; }
  bool ok() const { return db_ != nullptr; }

 private:
  std::unique_ptr<canopy::testing::TestDatabase> db_;
  std::string conninfo_;
};

// The seed of a randomized e2e test: CANOPY_TEST_SEED if set (to replay a
// failure), else `fallback`.
uint64_t TestSeed(uint64_t fallback);

// Parses "{1,2,3}" (a bigint[] in text form).
std::vector<int64_t> ParseIdArray(const std::string& text);

}  // namespace canopy::cdc::testing
