// pg_cluster.cc — see canopy/testing/pg_cluster.h.
#include "canopy/testing/pg_cluster.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <utility>

#include "canopy/testing/pg_connection.h"

#ifndef CANOPY_PG_TEST_CLUSTER_SCRIPT
#error "CANOPY_PG_TEST_CLUSTER_SCRIPT must name scripts/pg-test-cluster"
#endif

namespace canopy::testing {

namespace {

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

std::string ReadConninfo(const std::string& dir) {
  std::ifstream in(dir + "/conninfo");
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

ThrowawayCluster::~ThrowawayCluster() { Stop(); }

Result<std::string> ThrowawayCluster::Start(const std::string& settings, const std::string& name) {
  std::string tmpl = "/tmp/" + name + ".XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return Status::Internal("mkdtemp " + tmpl + " failed");
  dir_ = tmpl;
  std::string cmd =
      settings.empty() ? std::string() : "PG_TEST_CLUSTER_OPTS=" + Quoted(settings) + " ";
  cmd += Quoted(CANOPY_PG_TEST_CLUSTER_SCRIPT) + " start " + Quoted(dir_) + " >&2";
  if (std::system(cmd.c_str()) != 0) {
    return Status::Unavailable("scripts/pg-test-cluster start " + dir_ + " failed");
  }
  conninfo_ = ReadConninfo(dir_);
  if (conninfo_.empty()) return Status::Unavailable("no conninfo in " + dir_);
  return conninfo_;
}

Status ThrowawayCluster::Restart(const std::string& mode) {
  if (dir_.empty()) return Status::FailedPrecondition("cluster not started");
  // data/ lives in DIR or in the directory DIR/rundir names (see the script).
  const std::string cmd =
      "d=" + Quoted(dir_) +
      "; r=$(cat \"$d/rundir\" 2>/dev/null || echo \"$d\"); "
      "b=${PG_BINDIR:-/usr/lib/postgresql/15/bin}; "
      "if [ \"$(id -u)\" = 0 ]; then run='runuser -u postgres --'; else run=''; fi; "
      "$run \"$b/pg_ctl\" -D \"$r/data\" -l \"$r/server.log\" -w -t 60 -m " +
      mode + " restart >&2";
  if (std::system(cmd.c_str()) != 0) return Status::Unavailable("pg_ctl restart -m " + mode);
  return Status::Ok();
}

void ThrowawayCluster::Stop() {
  if (dir_.empty()) return;
  const std::string cmd = Quoted(CANOPY_PG_TEST_CLUSTER_SCRIPT) + " stop " + Quoted(dir_) +
                          " >&2; rm -rf " + Quoted(dir_);
  if (std::system(cmd.c_str()) != 0) std::cerr << "stopping the cluster in " << dir_ << " failed\n";
  dir_.clear();
  conninfo_.clear();
}

Result<std::string> SharedTestClusterConninfo() {
  static std::mutex mu;
  static std::string conninfo;
  static ThrowawayCluster own;  // stopped at exit
  std::lock_guard<std::mutex> lock(mu);
  if (!conninfo.empty()) return conninfo;
  if (const char* c = std::getenv("CANOPY_TEST_PG_CONNINFO"); c != nullptr && *c != 0) {
    conninfo = c;
  } else if (const char* dir = std::getenv("CANOPY_PG_CLUSTER_DIR"); dir != nullptr && *dir != 0) {
    conninfo = ReadConninfo(dir);
    if (conninfo.empty()) {
      return Status::Unavailable(std::string("no conninfo in ") + dir +
                                 " (did the cdc_pg_cluster fixture start?)");
    }
  } else {
    Result<std::string> started = own.Start("", "canopy-cdc-e2e");
    if (!started.ok()) return started.status();
    conninfo = started.value();
  }
  return conninfo;
}

Result<std::string> RecreateDatabase(const std::string& admin_conninfo, const std::string& name) {
  Result<std::unique_ptr<PgConnection>> admin = PgConnection::Open(admin_conninfo);
  if (!admin.ok()) return admin.status();
  Status s = (*admin)->Exec("DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
  if (s.ok()) s = (*admin)->Exec("CREATE DATABASE \"" + name + "\"");
  if (!s.ok()) return s;
  return admin_conninfo + " dbname=" + name;
}

Result<std::unique_ptr<TestDatabase>> TestDatabase::Create(const std::string& admin_conninfo,
                                                           const std::string& name) {
  Result<std::string> conninfo = RecreateDatabase(admin_conninfo, name);
  if (!conninfo.ok()) return conninfo.status();
  return std::unique_ptr<TestDatabase>(new TestDatabase(admin_conninfo, name, conninfo.value()));
}

TestDatabase::~TestDatabase() {
  Result<std::unique_ptr<PgConnection>> admin = PgConnection::Open(admin_);
  if (!admin.ok()) {
    std::cerr << "dropping database " << name_ << ": " << admin.status().ToString() << "\n";
    return;
  }
  // Slots of this database must go first (a test that failed midway may
  // leave a permanent one).
  Status s = (*admin)->Exec(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '" +
      name_ + "' AND NOT active");
  if (s.ok()) s = (*admin)->Exec("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
  if (!s.ok()) std::cerr << "dropping database " << name_ << ": " << s.ToString() << "\n";
}

}  // namespace canopy::testing
