// feed_e2e_test.cc — canopyd's change feed (docs/feed.md) end to end: a
// real PostgreSQL, canopyd --feed-window replicating it, GitLab-style
// transactions, and three consumers — canopy::net::Client (FlatBuffers
// Subscribe), `canopy watch --json` and redis-py polling FEED
// (tests/e2e/clients/feed_client.py). A consumer that applies what it
// receives to a copy of the tables ends with PostgreSQL's tables; the three
// consumers see the same changes; bad input gets clear errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "canopy/feed.h"
#include "canopy/net/client.h"
#include "e2e_util.h"

namespace canopy::e2e {
namespace {

using std::chrono::seconds;

const std::string kSourceDir = CANOPY_SOURCE_DIR;
const std::string kFeedClient = kSourceDir + "/tests/e2e/clients/feed_client.py";
const std::string kCatalogSync = kSourceDir + "/docs/examples/catalog_sync.py";

// The rows a consumer keeps, as text, from the feed or from SQL.
using Table = std::map<int64_t, std::string>;
struct Copy {
  Table namespaces, projects, links;
};

std::string Opt(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "null"; }

std::string RowText(const FeedRow& row) {
  std::ostringstream out;
  if (const auto* n = std::get_if<NamespaceRow>(&row)) {
    out << Opt(n->parent_id) << "|" << NamespaceTypeName(n->type) << "|" << n->name << "|"
        << n->path << "|" << n->visibility_level;
  } else if (const auto* p = std::get_if<ProjectRow>(&row)) {
    out << p->namespace_id << "|" << Opt(p->project_namespace_id) << "|" << p->name << "|"
        << p->path << "|" << p->visibility_level << "|" << p->archived << "|" << p->pending_delete;
  } else if (const auto* l = std::get_if<RunnerLinkRow>(&row)) {
    out << l->runner_id << "|" << l->namespace_id;
  }
  return out.str();
}

Copy CopyOf(const canopy::testing::GitlabForest& forest) {
  Copy c;
  for (const auto& n : forest.namespaces) {
    if (n.id != 0) c.namespaces[n.id] = RowText(n);
  }
  for (const auto& p : forest.projects) {
    if (p.id != 0) c.projects[p.id] = RowText(p);
  }
  for (const auto& l : forest.runner_links) {
    if (l.id != 0) c.links[l.id] = RowText(l);
  }
  return c;
}

void Apply(const FeedTransaction& txn, Copy* copy) {
  for (const FeedChange& change : txn.changes) {
    Table& table = change.table == canopy::Table::kNamespaces ? copy->namespaces
                   : change.table == canopy::Table::kProjects ? copy->projects
                                                              : copy->links;
    switch (change.op) {
      case ChangeOp::kTruncate:
        table.clear();
        break;
      case ChangeOp::kDelete:
        table.erase(change.id);
        break;
      default:
        table[change.id] = RowText(change.after);
    }
  }
}

Copy CopyOfSql(cdc::testing::Sql& sql) {
  Copy c;
  auto b = [](const std::string& v) { return v == "t" ? "1" : "0"; };
  auto n = [](const std::string& v) { return v == "\\N" ? std::string("null") : v; };
  for (const auto& r :
       sql.Rows("SELECT id, parent_id, type, name, path, visibility_level FROM namespaces")) {
    c.namespaces[std::stoll(r[0])] = n(r[1]) + "|" + r[2] + "|" + r[3] + "|" + r[4] + "|" + r[5];
  }
  for (const auto& r :
       sql.Rows("SELECT id, namespace_id, project_namespace_id, name, path, visibility_level, "
                "archived, coalesce(pending_delete, false) FROM projects")) {
    c.projects[std::stoll(r[0])] =
        r[1] + "|" + n(r[2]) + "|" + r[3] + "|" + r[4] + "|" + r[5] + "|" + b(r[6]) + "|" + b(r[7]);
  }
  for (const auto& r : sql.Rows("SELECT id, runner_id, namespace_id FROM ci_runner_namespaces")) {
    c.links[std::stoll(r[0])] = r[1] + "|" + r[2];
  }
  return c;
}

class FeedE2E : public DaemonTest {
 protected:
  void StartWithFeed(const std::string& name) {
    ASSERT_NO_FATAL_FAILURE(Prepare(name));
    resp_sock_ = dir_.path() + "/resp.sock";
    ASSERT_NO_FATAL_FAILURE(StartFeedDaemon("100000"));
  }
  // canopyd with a feed of `window` transactions that carries projects.description.
  void StartFeedDaemon(const std::string& window) {
    ASSERT_NO_FATAL_FAILURE(StartDaemon("none", nullptr,
                                        {"--feed-window", window, "--feed-columns",
                                         "projects.description", "--resp-unix", resp_sock_}));
  }
  // canopyd's applied LSN once it has applied everything committed so far.
  Lsn CaughtUp() {
    const ProgramRun run =
        Cli({"--json", "--min-lsn", WalLsn().ToString(), "--wait-ms", "60000", "status"});
    EXPECT_EQ(run.code(), 0) << run.Describe();
    return Lsn::Parse(JsonField(run.out, "applied_lsn").value_or("")).value_or(Lsn());
  }
  // Everything after `from` up to `until`, through canopy::net::Client.
  std::vector<FeedTransaction> Subscribe(Lsn from, Lsn until, const FeedFilter& filter = {}) {
    net::ClientOptions options;
    options.unix_path = sock_;
    net::Client client(options);
    std::vector<FeedTransaction> all;
    Result<Lsn> start = client.Subscribe(from, filter);
    EXPECT_TRUE(start.ok()) << start.status().ToString();
    if (!start.ok()) return all;
    for (Lsn position = *start; position < until;) {
      auto batch = client.NextFeed(seconds(30));
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok()) break;
      position = batch->lsn;
      for (auto& t : batch->value) {
        if (!t.changes.empty()) all.push_back(std::move(t));
      }
    }
    return all;
  }
  std::string resp_sock_;
};

// "lsn table op id" per change.
std::vector<std::string> Keys(const std::vector<FeedTransaction>& txns) {
  std::vector<std::string> keys;
  for (const auto& t : txns) {
    for (const auto& c : t.changes) {
      keys.push_back(t.commit_lsn.ToString() + " " + FeedTableName(c.table) + " " +
                     ChangeOpName(c.op) + " " + std::to_string(c.id));
    }
  }
  return keys;
}

TEST_F(FeedE2E, ConsumersOnEveryProtocolSeeEveryChangeAndTheirCopiesEqualSql) {
  ASSERT_NO_FATAL_FAILURE(StartWithFeed("canopy_e2e_feed"));
  const Lsn start = CaughtUp();
  Copy copy = CopyOf(forest_);  // the snapshot canopyd loaded
  // GitLab's writes: creations, transfers of subtrees, renames, visibility,
  // archive, deletes with their project namespace, runner links; then a
  // TRUNCATE and a transfer of a whole subgroup.
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(300));
  ASSERT_TRUE(sql_->Exec("TRUNCATE ci_runner_namespaces"));
  const int64_t moved = PickMovableSubgroup();
  ASSERT_NE(moved, 0);
  SubtreeTransfer transfer;
  ASSERT_NO_FATAL_FAILURE(TransferSubtree(moved, forest_.named.transfer_target_a_id, &transfer));
  const Lsn end = CaughtUp();
  ASSERT_GT(end, start);

  // 1. canopy::net::Client: a copy kept from the feed equals SQL.
  const std::vector<FeedTransaction> txns = Subscribe(start, end);
  ASSERT_GE(txns.size(), 290u);
  for (size_t i = 1; i < txns.size(); ++i) ASSERT_GT(txns[i].commit_lsn, txns[i - 1].commit_lsn);
  for (const auto& t : txns) Apply(t, &copy);
  const Copy sql = CopyOfSql(*sql_);
  EXPECT_EQ(copy.namespaces, sql.namespaces);
  EXPECT_EQ(copy.projects, sql.projects);
  EXPECT_EQ(copy.links, sql.links);
  const std::vector<std::string> keys = Keys(txns);

  // 2. canopy watch --json: the same changes, one JSON line each.
  ProgramRun watch =
      Cli({"--json", "watch", "--from", start.ToString(), "--count", std::to_string(keys.size())});
  ASSERT_EQ(watch.code(), 0) << watch.Describe();
  std::vector<std::string> cli_keys;
  std::istringstream lines(watch.out);
  for (std::string line; std::getline(lines, line);) {
    cli_keys.push_back(
        JsonField(line, "lsn").value_or("?") + " " + JsonField(line, "table").value_or("?") + " " +
        JsonField(line, "op").value_or("?") + " " + JsonField(line, "id").value_or("?"));
  }
  EXPECT_EQ(cli_keys, keys);

  // 3. redis-py polling FEED ... BLOCK: the same changes, JSON that python parses.
  ProgramRun py = RunProgram({CANOPY_PYTHON3, kFeedClient, "--unix", resp_sock_, "--from",
                              start.ToString(), "--until", end.ToString()},
                             seconds(120));
  ASSERT_EQ(py.code(), 0) << py.Describe();
  std::vector<std::string> py_keys;
  std::istringstream py_lines(py.out);
  for (std::string line; std::getline(py_lines, line);) {
    std::istringstream words(line);
    std::string lsn, table, op, id;
    words >> lsn >> table >> op >> id;
    py_keys.push_back(lsn + " " + table + " " + op + " " + id);
  }
  EXPECT_EQ(py_keys, keys);

  // The subtree filter over the wire: the transfer into target A shows the
  // moved subgroup and every namespace below it.
  FeedFilter into_a;
  into_a.subtree = forest_.named.transfer_target_a_id;
  std::vector<int64_t> seen;
  for (const auto& t : Subscribe(start, end, into_a)) {
    for (const auto& c : t.changes) {
      if (c.table == canopy::Table::kNamespaces) seen.push_back(c.id);
    }
  }
  EXPECT_NE(std::find(seen.begin(), seen.end(), moved), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), transfer.deep), seen.end());
}

TEST_F(FeedE2E, BadInputGetsClearErrorsOnEveryListener) {
  ASSERT_NO_FATAL_FAILURE(StartWithFeed("canopy_e2e_feed_errors"));
  const Lsn applied = CaughtUp();
  // Older than the window (the snapshot's LSN is the oldest start): exit 9,
  // the message names where to resume from.
  ProgramRun old = Cli({"watch", "--from", "0/1"});
  EXPECT_EQ(old.code(), 9) << old.Describe();
  EXPECT_NE(old.err.find("oldest start is LSN"), std::string::npos) << old.err;
  // In the future; an unknown subtree; unknown tables and columns.
  ProgramRun future = Cli({"watch", "--from", Lsn(applied.value + (uint64_t{1} << 40)).ToString()});
  EXPECT_EQ(future.code(), 2) << future.Describe();
  EXPECT_NE(future.err.find("in the future"), std::string::npos) << future.err;
  ProgramRun subtree = Cli({"watch", "--subtree", "987654321"});
  EXPECT_EQ(subtree.code(), 1) << subtree.Describe();
  ProgramRun tables = Cli({"watch", "--tables", "namespaces,issues"});
  EXPECT_EQ(tables.code(), 2) << tables.Describe();
  EXPECT_NE(tables.err.find("unknown table 'issues'"), std::string::npos) << tables.err;
  ProgramRun columns = Cli({"watch", "--columns", "projects.descripton"});
  EXPECT_EQ(columns.code(), 2) << columns.Describe();
  EXPECT_NE(columns.err.find("unknown column 'descripton' of projects"), std::string::npos)
      << columns.err;
  // RESP: the same errors as replies; the connection and the server go on.
  ProgramRun py = RunProgram({CANOPY_PYTHON3, kFeedClient, "--unix", resp_sock_, "--from", "0/1",
                              "--until", applied.ToString()},
                             seconds(60));
  EXPECT_EQ(py.code(), 1) << py.Describe();
  EXPECT_NE(py.out.find("oldest start is LSN"), std::string::npos) << py.out;
  ProgramRun ok = Cli({"status"});
  EXPECT_EQ(ok.code(), 0) << ok.Describe();
}

// docs/examples/catalog_sync.py, the trigger-free replacement of GitLab's
// catalog_resources sync (with the description, a column canopy's index does
// not keep: canopyd carries it): its table equals the source query (EXCEPT
// both ways) after 2,000 GitLab-style transactions, description edits (a
// TOASTed one left unchanged by an UPDATE of another column) and a TRUNCATE,
// across a killed walsender, a kill -9 of the worker (it resumes from its
// stored position), a restart of canopyd (the position is gone: it
// resynchronises) and a worker paused until the window has moved past it (it
// resynchronises).
TEST_F(FeedE2E, CatalogSyncWorkerKeepsItsTableEqualToProjects) {
  ASSERT_NO_FATAL_FAILURE(StartWithFeed("canopy_e2e_feed_worker"));
  ScopedEnv socket("CANOPY_RESP_SOCKET", resp_sock_);
  ScopedEnv dsn("CATALOG_DSN", db_->conninfo());
  ScopedEnv idle("CATALOG_STORE_IDLE_SECONDS", "0.5");  // position-only moves: stored soon
  // "0", or the count and a few of the differing rows (which side, id,
  // name, description length, visibility).
  auto differences = [&] {
    const std::string diff =
        "(SELECT 'catalog' AS side, project_id, name, description, visibility_level "
        " FROM catalog_resources "
        " EXCEPT SELECT 'catalog', id, name, description, visibility_level FROM projects) "
        "UNION ALL (SELECT 'projects', id, name, description, visibility_level FROM projects "
        " EXCEPT SELECT 'projects', project_id, name, description, visibility_level "
        " FROM catalog_resources)";
    std::string out = sql_->Value("SELECT count(*) FROM (" + diff + ") d");
    for (const auto& r : sql_->Rows("SELECT side, project_id, name, length(description), "
                                    "visibility_level FROM (" +
                                    diff +
                                    ") d "
                                    "ORDER BY project_id, side LIMIT 12")) {
      out += "\n ";
      for (const std::string& v : r) out += " " + v;
    }
    return out;
  };
  auto stored = [&] {
    return Lsn::Parse(sql_->Value("SELECT lsn FROM catalog_sync_position")).value_or(Lsn());
  };
  // Waits (bounded) until the worker has stored canopyd's position.
  auto wait_for_worker = [&](DaemonProcess& worker) {
    const Lsn target = CaughtUp();
    const auto deadline = std::chrono::steady_clock::now() + seconds(90);
    while (stored() < target && std::chrono::steady_clock::now() < deadline) {
      ASSERT_TRUE(worker.running()) << worker.Log();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_GE(stored(), target) << worker.Log();
  };
  // Description edits: new values, NULLs, and a long one stored out of line
  // that an UPDATE of the name then leaves unchanged (pgoutput does not send
  // it: the feed leaves it out, the worker keeps what it has).
  ASSERT_TRUE(sql_->Exec("ALTER TABLE projects ALTER COLUMN description SET STORAGE EXTERNAL"));
  const std::string toasted = std::to_string(forest_.named.user_project_id);
  auto edit_descriptions = [&] {
    ASSERT_TRUE(
        sql_->Exec("UPDATE projects SET description = 'd' || md5(random()::text) "
                   "WHERE id IN (SELECT id FROM projects ORDER BY random() LIMIT 30)"));
    ASSERT_TRUE(
        sql_->Exec("UPDATE projects SET description = NULL "
                   "WHERE id IN (SELECT id FROM projects ORDER BY random() LIMIT 5)"));
    ASSERT_TRUE(
        sql_->Exec("UPDATE projects SET description = repeat(md5(random()::text), 100) "
                   "WHERE id = " +
                   toasted));
    ASSERT_TRUE(sql_->Exec("UPDATE projects SET name = name || '.' WHERE id = " + toasted));
  };
  const std::vector<std::string> argv = {CANOPY_PYTHON3, kCatalogSync};

  // --once with nothing stored: it copies `projects`, then follows the feed.
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(50));
  ASSERT_NO_FATAL_FAILURE(edit_descriptions());
  ProgramRun once = RunProgram({CANOPY_PYTHON3, kCatalogSync, "--once"}, seconds(120));
  ASSERT_EQ(once.code(), 0) << once.Describe();
  EXPECT_NE(once.out.find("resynchronised"), std::string::npos) << once.out;
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(150));
  ASSERT_NO_FATAL_FAILURE(edit_descriptions());
  CaughtUp();
  once = RunProgram({CANOPY_PYTHON3, kCatalogSync, "--once"}, seconds(120));
  ASSERT_EQ(once.code(), 0) << once.Describe();
  EXPECT_EQ(once.out.find("resynchronised"), std::string::npos) << once.out;  // it resumed
  EXPECT_EQ(differences(), "0");
  EXPECT_EQ(sql_->Value("SELECT length(description) FROM catalog_resources "
                        "WHERE project_id = " +
                        toasted),
            "3200");

  // A running worker; canopyd's walsender killed while GitLab writes; the
  // worker killed -9, then started again.
  auto worker = std::make_unique<DaemonProcess>();
  ASSERT_TRUE(worker->Start(argv, dir_.path() + "/worker.log"));
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(300));
  ASSERT_NO_FATAL_FAILURE(edit_descriptions());
  ASSERT_EQ(sql_->Value("SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots "
                        "WHERE database = current_database() AND active_pid IS NOT NULL"),
            "1");
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(200));
  ASSERT_NO_FATAL_FAILURE(wait_for_worker(*worker));
  EXPECT_EQ(differences(), "0") << worker->Log();
  worker->Stop(SIGKILL);
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(300));
  ASSERT_NO_FATAL_FAILURE(edit_descriptions());
  worker = std::make_unique<DaemonProcess>();
  ASSERT_TRUE(worker->Start(argv, dir_.path() + "/worker.log"));
  ASSERT_NO_FATAL_FAILURE(wait_for_worker(*worker));
  EXPECT_EQ(differences(), "0") << worker->Log();

  // canopyd restarted (with a window of 100 transactions): the worker's
  // position is older than the new window.
  const ProcessExit stopped = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(stopped.exited && stopped.code == 0) << stopped.Describe();
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(100));
  ASSERT_NO_FATAL_FAILURE(StartFeedDaemon("100"));
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(100));
  ASSERT_NO_FATAL_FAILURE(edit_descriptions());
  ASSERT_NO_FATAL_FAILURE(wait_for_worker(*worker));
  EXPECT_EQ(differences(), "0") << worker->Log();
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  const size_t gone = count(worker->Log(), "is gone");
  EXPECT_GE(gone, 1u) << worker->Log();

  // The worker paused while 800 transactions commit (the window holds 100):
  // on waking, its position is gone and it resynchronises. (2,000
  // MixedStream transactions in all, and 24 of description edits.)
  ASSERT_EQ(::kill(worker->pid(), SIGSTOP), 0);
  ASSERT_NO_FATAL_FAILURE(ApplyMixedStream(800));
  ASSERT_NO_FATAL_FAILURE(edit_descriptions());
  CaughtUp();
  ASSERT_EQ(::kill(worker->pid(), SIGCONT), 0);
  ASSERT_NO_FATAL_FAILURE(wait_for_worker(*worker));
  EXPECT_EQ(differences(), "0") << worker->Log();
  EXPECT_GT(count(worker->Log(), "is gone"), gone) << worker->Log();

  // An UPDATE of a project's id that leaves its long description unchanged:
  // the feed has a delete and an insert without the description (unknown),
  // and the worker reads it from projects.
  ASSERT_TRUE(
      sql_->Exec("UPDATE projects SET description = repeat(md5(random()::text), 100) "
                 "WHERE id = (SELECT max(id) FROM projects)"));
  ASSERT_TRUE(
      sql_->Exec("UPDATE projects SET id = id + 1000000 "
                 "WHERE id = (SELECT max(id) FROM projects)"));
  ASSERT_NO_FATAL_FAILURE(wait_for_worker(*worker));
  EXPECT_EQ(differences(), "0") << worker->Log();
  EXPECT_EQ(sql_->Value("SELECT length(description) FROM catalog_resources "
                        "WHERE project_id = (SELECT max(id) FROM projects)"),
            "3200");

  // TRUNCATE projects: the worker empties its table.
  ASSERT_TRUE(sql_->Exec("TRUNCATE projects"));
  ASSERT_NO_FATAL_FAILURE(wait_for_worker(*worker));
  EXPECT_EQ(differences(), "0") << worker->Log();
  EXPECT_EQ(sql_->Value("SELECT count(*) FROM catalog_resources"), "0");
  const ProcessExit end = worker->Stop(SIGTERM);
  EXPECT_FALSE(end.timed_out) << end.Describe();
}

}  // namespace
}  // namespace canopy::e2e
