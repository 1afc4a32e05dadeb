// bench_setup.cc — see bench_setup.h.
#include "bench_setup.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>

#include "canopy/testing/gitlab_database.h"
#include "canopy/testing/pg_connection.h"
#include "canopy/testing/stats.h"

namespace canopy::bench::compare {

namespace {

using Clock = std::chrono::steady_clock;
using testing::ConninfoWith;
using testing::PgConnection;
using testing::SecondsSince;

Result<uint64_t> Count(PgConnection& db, const std::string& table) {
  Result<std::string> v = db.Value("SELECT count(*) FROM " + table);
  if (!v.ok()) return v.status();
  return static_cast<uint64_t>(std::stoull(v.value()));
}

}  // namespace

Result<DatabaseLoad> PrepareDatabase(const std::string& admin_conninfo, const std::string& database,
                                     const testing::GitlabForest& forest,
                                     const std::string& shape_key, bool reuse) {
  DatabaseLoad load;
  Result<std::string> db_conninfo = ConninfoWith(admin_conninfo, {{"dbname", database}});
  if (!db_conninfo.ok()) return db_conninfo.status();
  {
    Result<std::unique_ptr<PgConnection>> admin = PgConnection::Open(admin_conninfo);
    if (!admin.ok()) return admin.status();
    if (reuse) {
      Result<std::string> exists =
          (*admin)->Value("SELECT count(*) FROM pg_database WHERE datname = '" + database + "'");
      if (exists.ok() && exists.value() == "1") {
        Result<std::unique_ptr<PgConnection>> db = PgConnection::Open(db_conninfo.value());
        if (db.ok()) {
          Result<std::string> key = (*db)->Value("SELECT shape FROM canopy_compare_shape");
          load.reused = key.ok() && key.value() == shape_key;
        }
      }
    }
    if (!load.reused) {
      Status s = (*admin)->Exec("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
      if (s.ok()) s = (*admin)->Exec("CREATE DATABASE " + database);
      if (!s.ok()) return s;
    }
  }
  Result<std::unique_ptr<PgConnection>> opened = PgConnection::Open(db_conninfo.value());
  if (!opened.ok()) return opened.status();
  PgConnection& db = *opened.value();
  if (!load.reused) {
    auto t0 = Clock::now();
    Status s = testing::CreateGitlabTables(db);
    if (s.ok()) s = testing::CreateNamespaceDescendantsTable(db);
    if (!s.ok()) return s;
    load.create_seconds = SecondsSince(t0);
    t0 = Clock::now();
    std::cerr << "compare_bench: COPY into namespaces, projects, ci_runner_namespaces...\n";
    if (s = testing::LoadGitlabForest(db, forest); !s.ok()) return s;
    load.copy_seconds = SecondsSince(t0);
    t0 = Clock::now();
    std::cerr << "compare_bench: GitLab's indexes and constraints, VACUUM ANALYZE...\n";
    if (s = testing::AddGitlabIndexesAndConstraints(db); !s.ok()) return s;
    load.index_seconds = SecondsSince(t0);
    t0 = Clock::now();
    std::cerr << "compare_bench: namespace_descendants (enable + refresh)...\n";
    Result<uint64_t> cached = testing::PopulateNamespaceDescendants(db);
    if (!cached.ok()) return cached.status();
    load.cache_seconds = SecondsSince(t0);
    s = db.Exec("CREATE TABLE canopy_compare_shape AS SELECT '" + shape_key + "'::text AS shape");
    if (!s.ok()) return s;
  }
  Result<uint64_t> n = Count(db, "namespaces");
  Result<uint64_t> p = Count(db, "projects");
  Result<uint64_t> l = Count(db, "ci_runner_namespaces");
  Result<uint64_t> c = Count(db, "namespace_descendants WHERE outdated_at IS NULL");
  if (!n.ok() || !p.ok() || !l.ok() || !c.ok()) return Status::Internal("counting rows failed");
  load.namespace_rows = n.value();
  load.project_rows = p.value();
  load.runner_link_rows = l.value();
  load.cached_groups = c.value();
  return load;
}

std::string CpuDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return (model.empty() ? std::string("unknown CPU") : model) + ", " + std::to_string(cores) +
         " cores online";
}

std::string MemoryDescription() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  in >> key >> kb;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", kb / (1024.0 * 1024.0));
  return buf;
}

std::string KernelDescription() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

std::string CommandOutput(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  char buf[512];
  std::string out;
  if (std::fgets(buf, sizeof buf, pipe) != nullptr) out = buf;
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace canopy::bench::compare
