// canopy/cdc/verify.h — "cached and uncached must return the same data":
// compares a canopy index with the answers PostgreSQL gives for every query
// kind of docs/queries.md, on a random sample of namespaces and projects (or on
// all of them).
//
//   canopy::cdc::VerifyOptions o;
//   o.sample_namespaces = 1000;       // 0 = every namespace
//   o.sample_projects = 1000;         // 0 = every project
//   auto report = canopy::cdc::Verify(conninfo, replica, o);
//   if (!report.ok()) die(report.status());
//   if (report.value().differences) for (auto& d : report.value().reported) print(d);
//
// How: the target position is o.lsn if set, else the database's
// pg_current_wal_lsn(); Verify waits until the index has applied it (for a
// Replica through WaitUntilApplied, which also covers idle keepalive
// positions; a bare HierarchyIndex only advances on published commits, so
// pass o.lsn for it when the database may have unpublished writes). Then, in
// one REPEATABLE READ snapshot, it draws the sample (seeded, so repeatable),
// computes the SQL answers for it in GitLab's SQL form (the linear
// traversal_ids form or the recursive parent_id CTE, Gitlab::ObjectHierarchy),
// and compares each with the index. The namespace and project id sets are
// compared in full.
//
// The SQL is written for GitLab's tables and columns (namespaces with
// traversal_ids, projects, ci_runner_namespaces in the search_path); a custom
// TableMapping is not supported here.
//
// Under concurrent writes the SQL snapshot may be ahead of the index, so a
// difference can be transient: the report says whether both sides were
// quiescent (the source's pg_current_wal_lsn() did not move from the start of
// the check — the position the index was waited to — to its end); re-run to
// confirm a difference seen when it was not.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/lsn.h"
#include "canopy/status.h"

namespace canopy::cdc {

class Replica;

enum class SqlForm : uint8_t {
  kLinear,     // ancestry from traversal_ids
  kRecursive,  // ancestry from a recursive CTE over parent_id
};
const char* SqlFormName(SqlForm form);

struct VerifyOptions {
  size_t sample_namespaces = 1000;  // 0 = all
  size_t sample_projects = 1000;    // 0 = all
  uint64_t seed = 1;
  SqlForm form = SqlForm::kLinear;
  // The position the index must have applied first; unset = the database's
  // pg_current_wal_lsn() when Verify starts.
  std::optional<Lsn> lsn;
  std::chrono::milliseconds wait_timeout{60'000};
  size_t max_reported = 20;  // differences described in the report
};

struct VerifyReport {
  Lsn target_lsn;           // waited for
  Lsn index_lsn;            // the index's applied LSN when compared (a Replica's
                            // position may be ahead: idle keepalives move it, not the index)
  Lsn sql_wal_lsn;          // pg_current_wal_lsn() inside the SQL snapshot
  Lsn wal_lsn_before;       // the source's WAL position when the check began (the target
                            // when it was read from the source)
  Lsn wal_lsn_after;        // pg_current_wal_lsn() after the comparison
  bool quiescent = false;   // wal_lsn_after <= wal_lsn_before: nothing was written meanwhile
  uint64_t namespaces = 0;  // in the database
  uint64_t projects = 0;
  uint64_t namespaces_checked = 0;
  uint64_t projects_checked = 0;
  uint64_t checks = 0;
  uint64_t differences = 0;           // exact count
  std::vector<std::string> reported;  // the first max_reported, described
  double sql_seconds = 0;
  double compare_seconds = 0;
  std::string Summary() const;  // one line
};

// What Verify compares with SQL: canopy's answers from an index in this
// process, or from a canopyd over the network (the `canopy verify` CLI).
// Each call answers from one committed state.
class VerifyTarget {
 public:
  virtual ~VerifyTarget() = default;
  virtual Result<Lsn> AppliedLsn() = 0;
  // Blocks until the applied position is >= lsn (kTimeout otherwise).
  virtual Status WaitUntilApplied(Lsn lsn, std::chrono::milliseconds timeout) = 0;
  // Whole answers (no paging).
  virtual IdAnswer Query(const IdQuery& query) = 0;
  virtual Result<SubtreeCounts> Counts(int64_t ns) = 0;
  virtual Result<std::string> FullPath(Table table, int64_t id) = 0;
  virtual Result<ResolvedPath> Resolve(std::string_view full_path) = 0;
  // Every namespace, project and orphan id, ascending, to compare the sets
  // in full; nullopt when the target cannot list them (then skipped).
  struct IdSets {
    std::vector<int64_t> namespaces, projects, orphan_namespaces;
  };
  virtual std::optional<IdSets> AllIds() { return std::nullopt; }
};

// Errors: kTimeout (index did not reach the target), kUnavailable /
// kFailedPrecondition (connection or SQL failure), kUnavailable (replica has
// no index yet).
Result<VerifyReport> Verify(const std::string& conninfo, const HierarchyIndex& index,
                            const VerifyOptions& options);
Result<VerifyReport> Verify(const std::string& conninfo, Replica& replica,
                            const VerifyOptions& options);
Result<VerifyReport> Verify(const std::string& conninfo, VerifyTarget& target,
                            const VerifyOptions& options);

}  // namespace canopy::cdc
