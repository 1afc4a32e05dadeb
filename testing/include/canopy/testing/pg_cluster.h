// canopy/testing/pg_cluster.h — throwaway PostgreSQL 15 clusters for tests and
// benchmarks, and databases in them. scripts/pg-test-cluster does the work
// (initdb, a free port, a Unix socket, wal_level=logical, trust auth); this is
// its C++ face.
//
//   canopy::testing::ThrowawayCluster cluster;
//   canopy::Result<std::string> admin = cluster.Start();   // the `postgres` database
//   canopy::Result<std::string> db = canopy::testing::RecreateDatabase(*admin, "bench");
//   ...                                                     // ~ThrowawayCluster removes it all
//
// SharedTestClusterConninfo() is the tests' cluster (see the environment
// contract in tests/cdc/e2e/pg_fixture.h): CANOPY_TEST_PG_CONNINFO, else the
// `conninfo` file in CANOPY_PG_CLUSTER_DIR (the cdc_pg_cluster CTest fixture),
// else a cluster of this process's own, started on first use and stopped at
// exit.
//
// ERRORS: kUnavailable when the script fails or leaves no conninfo;
// kInternal for a temporary directory that cannot be made; SQL errors as
// canopy::testing::PgConnection reports them. The script's output goes to
// stderr.
//
// THREAD SAFETY: a ThrowawayCluster or TestDatabase belongs to one thread at a
// time; SharedTestClusterConninfo() is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "canopy/status.h"

namespace canopy::testing {

// scripts/pg-test-cluster in a fresh directory under /tmp; stopped and
// removed (with its directory) by Stop() or the destructor.
class ThrowawayCluster {
 public:
  ThrowawayCluster() = default;
  ~ThrowawayCluster();
  ThrowawayCluster(const ThrowawayCluster&) = delete;
  ThrowawayCluster& operator=(const ThrowawayCluster&) = delete;

  // `settings`: extra server settings, "name=value name2=value2"
  // (PG_TEST_CLUSTER_OPTS). `name` goes into the directory's name. Returns
  // the `postgres` database's conninfo (Unix socket; TCP on 127.0.0.1 too).
  // REQUIRES: not started.
  Result<std::string> Start(const std::string& settings = "",
                            const std::string& name = "canopy-pg");
  // pg_ctl restart -m MODE on the same port and socket: "fast" (a clean
  // shutdown) or "immediate" (a crash: recovery at start).
  Status Restart(const std::string& mode = "fast");
  void Stop();  // idempotent; failures are logged to stderr

  bool started() const { return !dir_.empty(); }
  const std::string& conninfo() const { return conninfo_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string conninfo_;
};

// The `postgres` database's conninfo of the tests' cluster (see above).
Result<std::string> SharedTestClusterConninfo();

// DROP DATABASE IF EXISTS `name` WITH (FORCE), then CREATE DATABASE, on the
// server of `admin_conninfo`. Returns the new database's conninfo:
// `admin_conninfo` + " dbname=NAME" (so NAME stays last and unquoted).
// REQUIRES: `admin_conninfo` in keyword=value form, `name` a plain identifier.
Result<std::string> RecreateDatabase(const std::string& admin_conninfo, const std::string& name);

// A fresh database that lives as long as this object: created by Create (an
// older one of the same name is dropped first), dropped WITH (FORCE) by the
// destructor together with the inactive replication slots on it.
class TestDatabase {
 public:
  static Result<std::unique_ptr<TestDatabase>> Create(const std::string& admin_conninfo,
                                                      const std::string& name);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }

 private:
  TestDatabase(std::string admin, std::string name, std::string conninfo)
      : admin_(std::move(admin)), name_(std::move(name)), conninfo_(std::move(conninfo)) {}
  std::string admin_;
  std::string name_;
  std::string conninfo_;
};

}  // namespace canopy::testing
