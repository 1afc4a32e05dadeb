// bench_database.cc — see bench_database.h.
#include "bench_database.h"

#include <chrono>
#include <iostream>

#include "canopy/testing/child_process.h"
#include "canopy/testing/pg_connection.h"
#include "canopy/testing/stats.h"
#include "machine_facts.h"

namespace canopy::bench {

Status StartPostgres(const DatabaseFlags& flags, const std::string& name, BenchDatabase* db) {
  if (!flags.pg.empty()) {
    db->admin_conninfo = flags.pg;
    return Status::Ok();
  }
  Result<std::string> started = db->cluster.Start("", "canopy-" + name + "-pg");
  if (!started.ok()) return started.status();
  db->admin_conninfo = started.value();
  return Status::Ok();
}

void GenerateForest(const DatabaseFlags& flags, const std::string& log_prefix, BenchDatabase* db) {
  const auto start = std::chrono::steady_clock::now();
  testing::GitlabForestOptions options;
  options.seed = flags.seed;
  options.namespaces = flags.namespaces;
  options.projects = flags.projects;
  std::cerr << log_prefix << ": generating " << flags.namespaces << " namespaces + "
            << flags.projects << " projects (seed " << flags.seed << ")...\n";
  db->forest = std::make_unique<testing::GitlabForest>(testing::GenerateGitlabForest(options));
  db->generate_seconds = testing::SecondsSince(start);
  db->questions = testing::PickQuestions(*db->forest, flags.seed);
  db->counts = testing::CountForest(*db->forest);
}

Status LoadDatabase(const DatabaseFlags& flags, const std::string& log_prefix, BenchDatabase* db) {
  const std::string shape_key = "namespaces=" + std::to_string(flags.namespaces) +
                                " projects=" + std::to_string(flags.projects) +
                                " seed=" + std::to_string(flags.seed) + " v1";
  Result<testing::GitlabDatabaseLoad> loaded = testing::PrepareGitlabDatabase(
      db->admin_conninfo, flags.database, *db->forest, shape_key, flags.reuse_db, log_prefix);
  db->forest.reset();
  if (!loaded.ok()) return loaded.status();
  db->load = loaded.value();
  Result<std::string> conninfo =
      testing::ConninfoWith(db->admin_conninfo, {{"dbname", flags.database}});
  if (!conninfo.ok()) return conninfo.status();
  db->db_conninfo = conninfo.value();
  Result<std::unique_ptr<testing::PgConnection>> pg = testing::PgConnection::Open(db->db_conninfo);
  if (!pg.ok()) return pg.status();
  Result<std::string> version = (*pg)->Value("SHOW server_version");
  db->pg_version = version.ok() ? version.value() : "?";
  for (const char* name :
       {"shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather"}) {
    Result<std::string> v = (*pg)->Value(std::string("SHOW ") + name);
    db->pg_settings +=
        std::string(db->pg_settings.empty() ? "" : ", ") + name + "=" + (v.ok() ? v.value() : "?");
  }
  const testing::ProcCpu backend = testing::ReadProcCpu((*pg)->backend_pid());
  db->postmaster = backend.ok ? backend.ppid : 0;
  return Status::Ok();
}

std::string RunLine(double run_seconds) {
  const std::string revision =
      CommandOutput("git -C '" CANOPY_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null");
  const std::string dirty = CommandOutput("git -C '" CANOPY_SOURCE_DIR
                                          "' status --porcelain --untracked-files=no 2>/dev/null");
  return "Run: " + UtcNow() + ", canopy " + (revision.empty() ? "unknown revision" : revision) +
         (dirty.empty() ? "" : " (with uncommitted changes)") + ", whole run " +
         testing::Fixed(run_seconds, 0) + " s";
}

std::string MachineLine(const std::string& load_at_start) {
  return "Machine: " + CpuDescription() + ", " + MemoryDescription() + " RAM, " +
         KernelDescription() + "; load average at start " + load_at_start + ", at end " +
         LoadAverage() + ".";
}

std::string DataLine(const DatabaseFlags& flags, const BenchDatabase& db) {
  const testing::GitlabForestCounts& c = db.counts;
  const testing::GitlabDatabaseLoad& load = db.load;
  return "Data (generator seed " + std::to_string(flags.seed) + "): " + std::to_string(c.users) +
         " users, " + std::to_string(c.groups) + " groups, " +
         std::to_string(c.project_namespaces) + " project namespaces (" +
         std::to_string(load.namespace_rows) + " namespaces rows), " +
         std::to_string(load.project_rows) + " projects, " + std::to_string(load.runner_link_rows) +
         " ci_runner_namespaces rows; deepest level " + std::to_string(c.max_depth) +
         "; namespace_descendants rows: " + std::to_string(load.cached_groups) +
         " (groups with >= " + std::to_string(testing::kNamespaceDescendantsThreshold) +
         " descendant namespaces)";
}

}  // namespace canopy::bench
