// change_feed_e2e_test.cc — the replica's change feed (canopy/cdc/change_feed.h)
// against a real PostgreSQL: what a consumer gets for GitLab's writes, the
// subtree filter against a brute-force filter over the whole feed, resuming
// by LSN, the window's errors, and an unchanged TOASTed value.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "canopy/cdc/replica.h"
#include "canopy/testing/gitlab_forest.h"
#include "gitlab_schema.h"
#include "pg_fixture.h"

namespace canopy::cdc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ReplicaOptions FeedOptionsFor(const std::string& conninfo, size_t window) {
  ReplicaOptions o;
  o.conninfo = conninfo;
  o.create_publication = true;
  o.snapshot_workers = 2;
  o.status_interval = milliseconds(200);
  o.reconnect_min_backoff = milliseconds(50);
  o.reconnect_max_backoff = milliseconds(500);
  o.feed.max_transactions = window;
  return o;
}

// A database with GitLab's schema and a small generated forest, and a
// replica with the feed on, streaming.
struct FeedWorld {
  // `carried`: the carried columns (TableMapping::SetCarriedColumns).
  FeedWorld(const std::string& name, uint64_t seed, size_t window, std::string_view carried = "")
      : db(name), forest(canopy::testing::GenerateTestForest(seed, 1'000, 2'000)) {
    if (!db.ok()) return;
    sql = std::make_unique<Sql>(db.conninfo());
    if (!sql->ok() || !CreateGitlabSchema(*sql) || !LoadForest(*sql, forest)) return;
    ReplicaOptions options = FeedOptionsFor(db.conninfo(), window);
    if (!options.mapping.SetCarriedColumns(carried).ok()) return;
    replica = std::make_unique<Replica>(options);
    ready = replica->Start().ok() && replica->WaitUntilStreaming(seconds(60)).ok();
  }
  // Waits until everything committed so far is applied.
  void CatchUp() {
    Status s = replica->WaitUntilApplied(sql->CurrentWalLsn(), seconds(60));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Every transaction with changes after `from`, up to the newest position.
  std::vector<FeedTransaction> Collect(Lsn from, const FeedFilter& filter = {}) {
    std::vector<FeedTransaction> all;
    auto sub = replica->Subscribe(from, filter);
    EXPECT_TRUE(sub.ok()) << sub.status().ToString();
    if (!sub.ok()) return all;
    const Lsn end = replica->feed()->newest();
    std::vector<SharedFeedTransaction> batch;
    while ((*sub)->position() < end) {
      Status s = (*sub)->Next(&batch, seconds(5));
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok() || batch.empty()) break;
      for (const auto& t : batch) {
        if (!t->changes.empty()) all.push_back(*t);
      }
    }
    return all;
  }

  TestDatabase db;
  canopy::testing::GitlabForest forest;
  std::unique_ptr<Sql> sql;
  std::unique_ptr<Replica> replica;
  bool ready = false;
};

TEST(ChangeFeedE2E, GitlabWritesArriveAsWholeTransactionsWithRowsBeforeAndAfter) {
  FeedWorld w("canopy_feed_writes", TestSeed(20261206), 10'000);
  ASSERT_TRUE(w.ready);
  Sql& sql = *w.sql;
  const auto& named = w.forest.named;
  const Lsn start = w.replica->feed()->newest();
  const int64_t group = named.small_group_id;
  const int64_t project = named.user_project_id;
  const ProjectRow* project_row = w.forest.FindProject(project);
  ASSERT_NE(project_row, nullptr);
  ASSERT_TRUE(
      sql.Exec("UPDATE namespaces SET name = 'Renamed group' WHERE id = " + std::to_string(group)));
  ASSERT_TRUE(sql.Exec(
      "BEGIN;"
      "INSERT INTO namespaces (id, name, path, type, visibility_level, parent_id, traversal_ids) "
      "VALUES (900001, 'Fresh', 'fresh', 'Group', 20, " +
      std::to_string(group) + ", '{}');" + "UPDATE namespaces SET traversal_ids = ARRAY[" +
      std::to_string(group) +
      ", 900001]::bigint[] WHERE id = 900001;"
      "COMMIT"));
  ASSERT_TRUE(
      sql.Exec("UPDATE projects SET archived = true WHERE id = " + std::to_string(project)));
  ASSERT_TRUE(sql.Exec("BEGIN; DELETE FROM projects WHERE id = " + std::to_string(project) +
                       "; DELETE FROM namespaces WHERE id = " +
                       std::to_string(*project_row->project_namespace_id) + "; COMMIT"));
  ASSERT_TRUE(sql.Exec("TRUNCATE ci_runner_namespaces"));
  ASSERT_NO_FATAL_FAILURE(w.CatchUp());

  const std::vector<FeedTransaction> got = w.Collect(start);
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_GT(got[i].commit_lsn, got[i - 1].commit_lsn);
  for (const auto& t : got)
    EXPECT_GT(t.commit_unix_ms, 1'700'000'000'000) << t.commit_lsn.ToString();

  // The rename: the name before and after, the rest unchanged.
  ASSERT_EQ(got[0].changes.size(), 1u);
  const FeedChange& rename = got[0].changes[0];
  EXPECT_EQ(rename.table, Table::kNamespaces);
  EXPECT_EQ(rename.op, ChangeOp::kUpdate);
  EXPECT_EQ(rename.id, group);
  EXPECT_EQ(std::get<NamespaceRow>(rename.before).name, w.forest.FindNamespace(group)->name);
  EXPECT_EQ(std::get<NamespaceRow>(rename.after).name, "Renamed group");
  EXPECT_EQ(std::get<NamespaceRow>(rename.after).path, w.forest.FindNamespace(group)->path);
  // The creation: GitLab's INSERT then UPDATE, one transaction.
  ASSERT_EQ(got[1].changes.size(), 2u);
  EXPECT_EQ(got[1].changes[0].op, ChangeOp::kInsert);
  EXPECT_EQ(got[1].changes[1].op, ChangeOp::kUpdate);
  EXPECT_EQ(got[1].changes[1].id, 900001);
  EXPECT_EQ(HierarchyParent(got[1].changes[1].after), std::optional<int64_t>(group));
  EXPECT_EQ(got[1].changes[1].subtrees, (std::vector<int64_t>{group, 900001}));
  // The archive.
  ASSERT_EQ(got[2].changes.size(), 1u);
  EXPECT_FALSE(std::get<ProjectRow>(got[2].changes[0].before).archived);
  EXPECT_TRUE(std::get<ProjectRow>(got[2].changes[0].after).archived);
  // The delete of a project with its project namespace: what they were.
  ASSERT_EQ(got[3].changes.size(), 2u);
  EXPECT_EQ(got[3].changes[0].op, ChangeOp::kDelete);
  EXPECT_EQ(got[3].changes[0].table, Table::kProjects);
  EXPECT_EQ(std::get<ProjectRow>(got[3].changes[0].before).namespace_id, project_row->namespace_id);
  EXPECT_EQ(got[3].changes[1].table, Table::kNamespaces);
  EXPECT_EQ(got[3].changes[1].id, *project_row->project_namespace_id);
  // The TRUNCATE.
  ASSERT_EQ(got[4].changes.size(), 1u);
  EXPECT_EQ(got[4].changes[0].op, ChangeOp::kTruncate);
  EXPECT_EQ(got[4].changes[0].table, Table::kRunnerLinks);

  // Resuming from each transaction's LSN gives exactly the ones after it.
  for (size_t i = 0; i < got.size(); ++i) {
    const std::vector<FeedTransaction> rest = w.Collect(got[i].commit_lsn);
    ASSERT_EQ(rest.size(), got.size() - i - 1) << i;
    if (!rest.empty()) {
      EXPECT_EQ(rest.front().commit_lsn, got[i + 1].commit_lsn);
    }
  }
  // Tables and columns: only the projects' archived flag.
  FeedFilter archived;
  archived.tables = 1u << static_cast<unsigned>(Table::kProjects);
  archived.columns[static_cast<size_t>(Table::kProjects)] = ProjectRow::kArchived;
  const std::vector<FeedTransaction> only = w.Collect(start, archived);
  ASSERT_EQ(only.size(), 2u);  // the archive and the delete (deletes always pass)
  EXPECT_TRUE(std::get<ProjectRow>(only[0].changes[0].after).archived);
  EXPECT_TRUE(std::get<ProjectRow>(only[0].changes[0].after).name.empty());
}

// Whether `ns` is `root` or below it in `parents` (cycle-safe).
bool Inside(const std::unordered_map<int64_t, std::optional<int64_t>>& parents, int64_t root,
            std::optional<int64_t> ns) {
  for (int steps = 0; ns && steps < 1000; ++steps) {
    if (*ns == root) return true;
    auto it = parents.find(*ns);
    if (it == parents.end()) return false;
    ns = it->second;
  }
  return false;
}

TEST(ChangeFeedE2E, SubtreeFilterEqualsABruteForceFilterOverTheWholeFeed) {
  const uint64_t seed = TestSeed(20261206);
  SCOPED_TRACE("CANOPY_TEST_SEED=" + std::to_string(seed));
  FeedWorld w("canopy_feed_subtree", seed, 100'000);
  ASSERT_TRUE(w.ready);
  const Lsn start = w.replica->feed()->newest();
  // The brute force's state: every namespace's parent, every project's and
  // link's namespace, as loaded.
  std::unordered_map<int64_t, std::optional<int64_t>> parents;
  std::unordered_map<int64_t, int64_t> project_ns, link_ns;
  for (const auto& n : w.forest.namespaces) {
    if (n.id != 0) parents[n.id] = n.parent_id;
  }
  for (const auto& p : w.forest.projects) {
    if (p.id != 0) project_ns[p.id] = p.namespace_id;
  }
  for (const auto& l : w.forest.runner_links) {
    if (l.id != 0) link_ns[l.id] = l.namespace_id;
  }
  // GitLab-style transactions (transfers of subtrees, creations, deletes, ...).
  SqlWriter writer(w.forest);
  canopy::testing::GitlabForest stream_forest = w.forest;
  canopy::testing::MixedStream stream(&stream_forest, {.seed = seed});
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(writer.Apply(*w.sql, stream.Next()));
  ASSERT_NO_FATAL_FAILURE(w.CatchUp());
  const std::vector<FeedTransaction> all = w.Collect(start);
  ASSERT_GE(all.size(), 390u);  // a few stream transactions may change nothing mapped

  // Candidate subtrees: the named groups and the parents of moved groups.
  std::set<int64_t> roots = {w.forest.named.gitlab_org_id, w.forest.named.huge_group_id,
                             w.forest.named.small_group_id, w.forest.named.transfer_target_a_id,
                             w.forest.named.transfer_target_b_id};
  for (const auto& t : all) {
    for (const auto& c : t.changes) {
      if (c.table != Table::kNamespaces || c.op != ChangeOp::kUpdate) continue;
      const auto before = HierarchyParent(c.before), after = HierarchyParent(c.after);
      if (before != after && roots.size() < 40) {
        if (before) roots.insert(*before);
        if (after) roots.insert(*after);
      }
    }
  }
  // The brute force: replay the whole feed on the maps, deciding per change
  // from the maps before and after its transaction.
  std::map<int64_t, std::vector<std::pair<Lsn, std::pair<int64_t, ChangeOp>>>> expected;
  size_t entered = 0, left = 0;
  for (const auto& t : all) {
    auto where = [&](const FeedChange& c) -> std::optional<int64_t> {
      switch (c.table) {
        case Table::kNamespaces: {
          auto it = parents.find(c.id);
          return it == parents.end() ? std::nullopt : std::optional<int64_t>(c.id);
        }
        case Table::kProjects: {
          auto it = project_ns.find(c.id);
          return it == project_ns.end() ? std::nullopt : std::optional<int64_t>(it->second);
        }
        case Table::kRunnerLinks: {
          auto it = link_ns.find(c.id);
          return it == link_ns.end() ? std::nullopt : std::optional<int64_t>(it->second);
        }
      }
      return std::nullopt;
    };
    std::vector<std::optional<int64_t>> before_where;
    for (const auto& c : t.changes) before_where.push_back(where(c));
    auto parents_before = parents;
    for (const auto& c : t.changes) {
      if (c.op == ChangeOp::kTruncate) {
        if (c.table == Table::kRunnerLinks) link_ns.clear();
        if (c.table == Table::kProjects) project_ns.clear();
        if (c.table == Table::kNamespaces) parents.clear();
        continue;
      }
      const bool gone = c.op == ChangeOp::kDelete;
      switch (c.table) {
        case Table::kNamespaces:
          if (gone) {
            parents.erase(c.id);
          } else {
            parents[c.id] = HierarchyParent(c.after);
          }
          break;
        case Table::kProjects:
          if (gone) {
            project_ns.erase(c.id);
          } else {
            project_ns[c.id] = *HierarchyParent(c.after);
          }
          break;
        case Table::kRunnerLinks:
          if (gone) {
            link_ns.erase(c.id);
          } else {
            link_ns[c.id] = *HierarchyParent(c.after);
          }
          break;
      }
    }
    for (int64_t root : roots) {
      for (size_t i = 0; i < t.changes.size(); ++i) {
        const FeedChange& c = t.changes[i];
        const bool in_before = Inside(parents_before, root, before_where[i]);
        const bool in_after = Inside(parents, root, where(c));
        if (c.op == ChangeOp::kTruncate || in_before || in_after) {
          expected[root].push_back({t.commit_lsn, {c.id, c.op}});
        }
        entered += !in_before && in_after && c.op == ChangeOp::kUpdate;
        left += in_before && !in_after && c.op == ChangeOp::kUpdate;
      }
    }
  }
  EXPECT_GT(entered, 0u) << "the stream moved nothing into a watched subtree";
  EXPECT_GT(left, 0u) << "the stream moved nothing out of a watched subtree";
  for (int64_t root : roots) {
    if (!w.replica->index()->Read().GetNamespace(root)) continue;  // deleted by the stream
    FeedFilter filter;
    filter.subtree = root;
    std::vector<std::pair<Lsn, std::pair<int64_t, ChangeOp>>> got;
    for (const auto& t : w.Collect(start, filter)) {
      for (const auto& c : t.changes) got.push_back({t.commit_lsn, {c.id, c.op}});
    }
    EXPECT_EQ(got, expected[root]) << "subtree " << root;
  }
  // The replayed maps are PostgreSQL's tables now.
  std::unordered_map<int64_t, std::optional<int64_t>> sql_parents;
  for (const auto& row : w.sql->Rows("SELECT id, parent_id FROM namespaces")) {
    sql_parents[std::stoll(row[0])] =
        row[1] == "\\N" ? std::nullopt : std::optional<int64_t>(std::stoll(row[1]));
  }
  EXPECT_EQ(parents, sql_parents);
  std::unordered_map<int64_t, int64_t> sql_projects;
  for (const auto& row : w.sql->Rows("SELECT id, namespace_id FROM projects")) {
    sql_projects[std::stoll(row[0])] = std::stoll(row[1]);
  }
  EXPECT_EQ(project_ns, sql_projects);
}

TEST(ChangeFeedE2E, WindowErrorsAndUnchangedToastedValues) {
  FeedWorld w("canopy_feed_window", TestSeed(20261206), 5);
  ASSERT_TRUE(w.ready);
  Sql& sql = *w.sql;
  const int64_t project = w.forest.named.user_project_id;
  // A name stored out of line (no compression), then an UPDATE of another
  // column: pgoutput sends the name as "unchanged TOAST".
  ASSERT_TRUE(sql.Exec("ALTER TABLE projects ALTER COLUMN name SET STORAGE EXTERNAL"));
  std::string long_name;
  for (int i = 0; long_name.size() < 3000; ++i) long_name += "name-" + std::to_string(i) + ".";
  ASSERT_TRUE(sql.Exec("UPDATE projects SET name = '" + long_name +
                       "' WHERE id = " + std::to_string(project)));
  ASSERT_NO_FATAL_FAILURE(w.CatchUp());
  const Lsn before_archive = w.replica->feed()->newest();
  ASSERT_TRUE(
      sql.Exec("UPDATE projects SET archived = true WHERE id = " + std::to_string(project)));
  ASSERT_NO_FATAL_FAILURE(w.CatchUp());
  std::vector<FeedTransaction> got = w.Collect(before_archive);
  ASSERT_EQ(got.size(), 1u);
  const auto& after = std::get<ProjectRow>(got[0].changes[0].after);
  EXPECT_TRUE(after.archived);
  EXPECT_EQ(after.name, long_name);  // filled from the row before, not empty
  EXPECT_TRUE(after.present & ProjectRow::kName);

  // Past the window (5 transactions): a clear error naming the oldest start.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(sql.Exec("UPDATE namespaces SET name = 'n" + std::to_string(i) +
                         "' WHERE id = " + std::to_string(w.forest.named.small_group_id)));
  }
  ASSERT_NO_FATAL_FAILURE(w.CatchUp());
  auto old = w.replica->Subscribe(before_archive, {});
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange);
  const Lsn oldest = w.replica->feed()->oldest();
  EXPECT_NE(old.status().message().find(oldest.ToString()), std::string::npos)
      << old.status().message();
  EXPECT_TRUE(w.replica->Subscribe(oldest, {}).ok());
  // From the future; a subtree canopy does not hold.
  auto future = w.replica->Subscribe(Lsn(w.replica->feed()->newest().value + 1'000'000), {});
  EXPECT_EQ(future.status().code(), StatusCode::kInvalidArgument);
  FeedFilter unknown;
  unknown.subtree = 987'654'321;
  EXPECT_EQ(w.replica->Subscribe(Lsn(), unknown).status().code(), StatusCode::kNotFound);
  // A feed that is off says so.
  ReplicaOptions off = FeedOptionsFor(w.db.conninfo(), 0);
  Replica plain(off);
  EXPECT_EQ(plain.Subscribe(Lsn(), {}).status().code(), StatusCode::kFailedPrecondition);
  // Stop closes the feed: a waiting consumer is woken with kUnavailable.
  auto live = w.replica->Subscribe(Lsn(), {});
  ASSERT_TRUE(live.ok());
  w.replica->Stop();
  std::vector<SharedFeedTransaction> none;
  EXPECT_EQ((*live)->Next(&none, seconds(5)).code(), StatusCode::kUnavailable);
}

// A carried column (projects.description: published, not kept by the index)
// arrives with the new value an UPDATE sent, NULL as NULL, and is left out —
// unknown, never empty — when an UPDATE of another column leaves a TOASTed
// value unchanged. A carried column the publication does not have stops the
// replica with a message naming it.
TEST(ChangeFeedE2E, CarriedColumnsArriveOrAreReportedUnknownNeverEmpty) {
  FeedWorld w("canopy_feed_carried", TestSeed(20261207), 100, "projects.description");
  ASSERT_TRUE(w.ready);
  Sql& sql = *w.sql;
  const std::string a = std::to_string(w.forest.named.user_project_id);
  const std::string b = std::to_string(w.forest.named.gitlab_org_project_id);
  ASSERT_TRUE(sql.Exec("ALTER TABLE projects ALTER COLUMN description SET STORAGE EXTERNAL"));
  std::string long_text;
  for (int i = 0; long_text.size() < 3000; ++i) long_text += "words-" + std::to_string(i) + " ";
  ASSERT_NO_FATAL_FAILURE(w.CatchUp());
  const Lsn from = w.replica->feed()->newest();
  ASSERT_TRUE(sql.Exec("UPDATE projects SET description = 'short' WHERE id = " + a));
  ASSERT_TRUE(sql.Exec("UPDATE projects SET description = NULL WHERE id = " + b));
  ASSERT_TRUE(sql.Exec("UPDATE projects SET description = '" + long_text + "' WHERE id = " + a));
  ASSERT_TRUE(sql.Exec("UPDATE projects SET archived = NOT archived WHERE id = " + a));
  ASSERT_TRUE(sql.Exec("UPDATE projects SET description = '' WHERE id = " + b));
  ASSERT_NO_FATAL_FAILURE(w.CatchUp());

  std::vector<FeedTransaction> got = w.Collect(from);
  ASSERT_EQ(got.size(), 5u);
  auto carried = [&](size_t i) { return got[i].changes.at(0).carried; };
  ASSERT_EQ(carried(0).size(), 1u);
  EXPECT_EQ(carried(0)[0].column, "description");
  EXPECT_EQ(carried(0)[0].text, std::optional<std::string>("short"));
  ASSERT_EQ(carried(1).size(), 1u);
  EXPECT_FALSE(carried(1)[0].text.has_value());  // NULL
  ASSERT_EQ(carried(2).size(), 1u);
  EXPECT_EQ(carried(2)[0].text, std::optional<std::string>(long_text));
  EXPECT_TRUE(carried(3).empty());  // unchanged TOAST: unknown, not ""
  ASSERT_EQ(carried(4).size(), 1u);
  EXPECT_EQ(carried(4)[0].text, std::optional<std::string>(""));  // empty is a value
  std::string json;
  AppendFeedChangeJson(got[3], got[3].changes[0], &json);
  EXPECT_EQ(json.find("description"), std::string::npos) << json;

  // Asking for the description alone: the archive UPDATE did not send it and
  // changed nothing wanted, so it is left out.
  FeedFilter wants;
  ASSERT_TRUE(ParseFeedColumns("projects.description", &wants).ok());
  EXPECT_EQ(w.Collect(from, wants).size(), 4u);
  FeedFilter typo;
  ASSERT_TRUE(ParseFeedColumns("projects.descripton", &typo).ok());
  EXPECT_EQ(w.replica->Subscribe(Lsn(), typo).status().code(), StatusCode::kInvalidArgument);

  ReplicaOptions missing = FeedOptionsFor(w.db.conninfo(), 10);
  ASSERT_TRUE(missing.mapping.SetCarriedColumns("projects.no_such_column").ok());
  Replica wrong(missing);
  ASSERT_TRUE(wrong.Start().ok());
  Status s = wrong.WaitUntilStreaming(seconds(60));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(wrong.status().last_error.find("no_such_column"), std::string::npos)
      << s.ToString() << " / " << wrong.status().last_error;
}

}  // namespace
}  // namespace canopy::cdc::testing
