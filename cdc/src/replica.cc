// replica.cc — Replica's API and its worker's session: connect, publication,
// slot, snapshot, resume.
#include "canopy/cdc/replica.h"

#include <libpq-fe.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <random>
#include <set>
#include <system_error>
#include <thread>

#include "canopy/status.h"
#include "replica_worker.h"
#include "row_builder.h"
#include "snapshot_loader.h"

namespace canopy::cdc {

using internal::PgConnection;

const char* ReplicaStateName(ReplicaState state) {
  switch (state) {
    case ReplicaState::kStopped:
      return "stopped";
    case ReplicaState::kConnecting:
      return "connecting";
    case ReplicaState::kLoading:
      return "loading";
    case ReplicaState::kStreaming:
      return "streaming";
    case ReplicaState::kStale:
      return "stale";
    case ReplicaState::kFailed:
      return "failed";
  }
  return "?";
}

namespace {

int64_t UnixMsNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool IsPermanentReplicationError(const Status& error) {
  if (error.ok()) return false;
  const std::string& m = error.message();
  static const char* const kStates[] = {"3D000", "28000", "28P01", "42501",
                                        "42P01", "42703", "42704"};
  for (const char* state : kStates) {
    if (m.find(std::string("(SQLSTATE ") + state + ")") != std::string::npos) return true;
  }
  // libpq reports a refused connection as text only (no SQLSTATE).
  if (m.find("cannot connect to PostgreSQL") != std::string::npos) {
    static const char* const kTexts[] = {
        "\" does not exist",  // database "x" / role "x" does not exist
        "password authentication failed", "no pg_hba.conf entry", "permission denied",
        "must be superuser or replication role"};
    for (const char* text : kTexts) {
      if (m.find(text) != std::string::npos) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- Replica

namespace {
// The feed's options with the mapping's carried columns.
FeedOptions FeedOptionsOf(const ReplicaOptions& options) {
  FeedOptions feed = options.feed;
  for (Table t : kAllTables) {
    feed.carried_columns[static_cast<size_t>(t)] = options.mapping.Spec(t).carried_columns;
  }
  return feed;
}
}  // namespace

Replica::Replica(ReplicaOptions options)
    : options_(std::move(options)),
      feed_(options_.feed.max_transactions > 0 ? ChangeFeed::Create(FeedOptionsOf(options_), Lsn())
                                               : nullptr) {}

Replica::~Replica() { Stop(); }

Status Replica::Start() {
  std::lock_guard<std::mutex> lock(start_mutex_);
  if (worker_) return Status::FailedPrecondition("replica already started");
  if (options_.conninfo.empty()) return Status::InvalidArgument("ReplicaOptions.conninfo is empty");
  if (options_.publication.empty())
    return Status::InvalidArgument("ReplicaOptions.publication is empty");
  {
    // A conninfo libpq cannot parse never will: refuse it now, not by retrying forever.
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options_.conninfo.c_str(), &error);
    if (parsed == nullptr) {
      std::string why = error != nullptr ? error : "out of memory";
      if (error != nullptr) PQfreemem(error);
      while (!why.empty() && why.back() == '\n') why.pop_back();
      return Status::InvalidArgument("cannot parse the conninfo: " + why);
    }
    PQconninfoFree(parsed);
  }
  CANOPY_RETURN_IF_ERROR(options_.mapping.Validate());
  // Carried values go to the change feed only: without it they would be
  // read from every row for nothing, and their columns demanded of the
  // publication.
  if (options_.feed.max_transactions == 0 && options_.mapping.CarriesColumns()) {
    return Status::InvalidArgument(
        "the mapping carries columns (TableSpec::carried_columns) but the change feed is off "
        "(feed.max_transactions is 0): only the feed carries them");
  }
  for (char c : options_.slot_name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return Status::InvalidArgument("slot name may contain only a-z, 0-9 and _: " +
                                     options_.slot_name);
    }
  }
  if (options_.slot_name.size() > 63)
    return Status::InvalidArgument("slot name longer than 63 bytes");
  if (options_.status_interval <= std::chrono::milliseconds(0) ||
      options_.status_interval > std::chrono::seconds(10)) {
    return Status::InvalidArgument("status_interval must be in (0, 10 s]");
  }
  worker_ = std::make_unique<Worker>(options_, feed_);
  thread_ = std::thread([w = worker_.get()] { w->Run(); });
  return Status();
}

void Replica::Stop() {
  std::lock_guard<std::mutex> lock(start_mutex_);
  if (!worker_) return;
  worker_->RequestStop();
  if (thread_.joinable()) thread_.join();
  if (feed_) feed_->Close();
  // Keep the worker: its index and status stay readable after Stop.
}

Status Replica::WaitUntilApplied(Lsn lsn, std::chrono::milliseconds timeout) {
  if (!worker_) return Status::Unavailable("replica not started");
  return worker_->WaitUntilApplied(lsn, timeout);
}

void Replica::RequestPosition(Lsn lsn, std::chrono::milliseconds for_how_long) {
  if (worker_) worker_->RequestPosition(lsn, for_how_long);
}

Status Replica::WaitUntilStreaming(std::chrono::milliseconds timeout) {
  if (!worker_) return Status::Unavailable("replica not started");
  return worker_->WaitUntilStreaming(timeout);
}

std::shared_ptr<const HierarchyIndex> Replica::index() const {
  return worker_ ? worker_->index() : nullptr;
}

QueryAnswer Replica::Query(const IdQuery& query) const {
  std::shared_ptr<const HierarchyIndex> idx = index();
  if (!idx) {
    QueryAnswer a;
    a.answer.status = Status::Unavailable("replica has no index yet");
    return a;
  }
  return idx->Query(query);
}

ReplicaStatus Replica::status() const {
  if (!worker_) return ReplicaStatus{};
  return worker_->status();
}

Result<std::unique_ptr<FeedSubscription>> Replica::Subscribe(Lsn from, const FeedFilter& filter) {
  if (options_.feed.max_transactions == 0) {
    return Status::FailedPrecondition("the change feed is off (ReplicaOptions::feed)");
  }
  std::shared_ptr<const HierarchyIndex> index = this->index();
  if (!index) return Status::Unavailable("the replica has no snapshot yet");
  return feed_->Subscribe(from, filter, index.get());
}

// ---------------------------------------------------------------- Worker

Replica::Worker::Worker(const ReplicaOptions& options, std::shared_ptr<ChangeFeed> feed)
    : options_(options), feed_(std::move(feed)), assembler_(options.mapping) {
  status_.state = ReplicaState::kConnecting;
  status_.temporary_slot = options.slot_name.empty();
}

Replica::Worker::~Worker() = default;

void Replica::Worker::Log(LogLevel level, std::string message) const {
  if (!options_.log) return;
  LogRecord record;
  record.level = level;
  record.component = "replica";
  record.message = std::move(message);
  if (!slot_name_.empty()) record.fields.push_back({"slot", slot_name_});
  record.fields.push_back({"lsn", Lsn(applied_.load()).ToString()});
  options_.log(record);
}

void Replica::Worker::SetState(ReplicaState state, const char* stage) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.state = state;
    status_.stage = stage;
  }
  cv_.notify_all();
}

void Replica::Worker::SetApplied(Lsn lsn) {
  if (lsn.value <= applied_.load(std::memory_order_relaxed)) return;
  std::shared_ptr<HierarchyIndex> index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_.store(lsn.value);
    status_.applied_lsn = lsn;
    index = index_;
  }
  cv_.notify_all();
  NotifyApplied(std::move(index), lsn);
}

void Replica::Worker::NotifyApplied(std::shared_ptr<HierarchyIndex> index, Lsn lsn) const {
  if (options_.on_applied && index) options_.on_applied(index, lsn);
}

Status Replica::Worker::AdvanceIdle(Lsn wal_end) {
  if (wal_end.value <= applied_.load(std::memory_order_relaxed)) return Status();
  std::shared_ptr<HierarchyIndex> index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = index_;
  }
  if (index && index->applied_lsn() < wal_end) {
    CANOPY_RETURN_IF_ERROR(index->Apply(Transaction{wal_end, {}}));
    if (feed_) feed_->Append(FeedTransaction{wal_end, 0, {}});  // a position, nothing committed
  }
  SetApplied(wal_end);
  return Status();
}

void Replica::Worker::RequestPosition(Lsn lsn, std::chrono::milliseconds for_how_long) {
  if (lsn.value <= applied_.load()) return;
  // A stream already asking for an earlier waiter polls every
  // kWaiterPollInterval and reads the new target itself: wake it only when it
  // is not (a server parks many requests at once).
  const bool was_asking = HasWaiter();
  uint64_t target = wait_target_.load();
  while (target < lsn.value && !wait_target_.compare_exchange_weak(target, lsn.value)) {
  }
  const int64_t deadline = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               (std::chrono::steady_clock::now() + for_how_long).time_since_epoch())
                               .count();
  int64_t current = wait_deadline_ns_.load();
  while (current < deadline && !wait_deadline_ns_.compare_exchange_weak(current, deadline)) {
  }
  if (!was_asking) wake_.Wake();
}

bool Replica::Worker::HasWaiter() const {
  if (wait_target_.load() <= applied_.load()) return false;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  return now < wait_deadline_ns_.load();
}

void Replica::Worker::RequestStop() {
  stop_.store(true);
  wake_.Wake();
  stop_pipe_.Wake();
  cv_.notify_all();
}

bool Replica::Worker::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&] { return stop_.load(); });
  return !stop_.load();
}

Status Replica::Worker::WaitUntilApplied(Lsn lsn, std::chrono::milliseconds timeout) {
  // Ask the stream to request keepalives until the position reaches lsn (or
  // this waiter gives up).
  RequestPosition(lsn, timeout);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] {
    return applied_.load() >= lsn.value || stop_.load() || status_.state == ReplicaState::kFailed;
  });
  if (applied_.load() >= lsn.value) return Status();
  if (stop_.load()) return Status::Unavailable("replica stopped");
  if (status_.state == ReplicaState::kFailed)
    return Status::FailedPrecondition("replica failed: " + status_.last_error);
  return Status::Timeout("applied LSN " + Lsn(applied_.load()).ToString() + " did not reach " +
                         lsn.ToString() + " (state " + ReplicaStateName(status_.state) +
                         (status_.last_error.empty() ? "" : ", last error: " + status_.last_error) +
                         ")");
}

Status Replica::Worker::WaitUntilStreaming(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] {
    return (index_ && status_.state == ReplicaState::kStreaming) || stop_.load() ||
           status_.state == ReplicaState::kFailed;
  });
  if (index_ && status_.state == ReplicaState::kStreaming) return Status();
  if (stop_.load()) return Status::Unavailable("replica stopped");
  if (status_.state == ReplicaState::kFailed)
    return Status::FailedPrecondition("replica failed: " + status_.last_error);
  return Status::Timeout(std::string("replica not streaming (state ") +
                         ReplicaStateName(status_.state) + ", stage " + status_.stage +
                         (status_.last_error.empty() ? "" : ", last error: " + status_.last_error) +
                         ")");
}

std::shared_ptr<const HierarchyIndex> Replica::Worker::index() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_;
}

ReplicaStatus Replica::Worker::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  ReplicaStatus s = status_;
  if (loader_ != nullptr) s.tables = loader_->Progress();
  // The server reported at least what is applied (received_lsn is updated
  // with each status update, the applied position with every batch).
  if (s.received_lsn < s.applied_lsn) s.received_lsn = s.applied_lsn;
  return s;
}

void Replica::Worker::Run() {
  auto backoff = options_.reconnect_min_backoff;
  bool first = true;
  while (!stop_.load()) {
    if (!first) {
      std::lock_guard<std::mutex> lock(mu_);
      ++status_.reconnects;
    }
    first = false;
    const uint64_t snapshots_before = status().snapshots;
    const uint64_t applied_before = applied_.load();
    Status s = Session();
    check_sql_.reset();
    if (stop_.load()) break;
    const bool permanent = permanent_ || (!stream_started_ && IsPermanentReplicationError(s));
    // A session that made progress resets the backoff.
    if (status().snapshots != snapshots_before || applied_.load() != applied_before) {
      backoff = options_.reconnect_min_backoff;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_.last_error = s.ToString();
      status_.last_error_unix_ms = UnixMsNow();
      if (permanent) {
        status_.state = ReplicaState::kFailed;
        status_.stage = "failed";
      } else {
        status_.state = index_ ? ReplicaState::kStale : ReplicaState::kConnecting;
        status_.stage = "backoff";
      }
    }
    cv_.notify_all();
    if (permanent) {
      Log(LogLevel::kError, "failed, not retrying (retrying cannot fix this): " + s.ToString());
      if (options_.on_failed) options_.on_failed(s);
      return;  // the state stays kFailed
    }
    Log(LogLevel::kWarning, "session ended: " + s.ToString() + "; retrying in " +
                                std::to_string(backoff.count()) + " ms");
    if (!Sleep(backoff)) break;
    backoff = std::min(backoff * 2, options_.reconnect_max_backoff);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.state = ReplicaState::kStopped;
    status_.stage = "stopped";
  }
  cv_.notify_all();
}

Status Replica::Worker::Permanent(Status s) {
  if (!s.ok()) permanent_ = true;
  return s;
}

Status Replica::Worker::CheckPublishedColumns(PgConnection& sql) {
  const std::string& pub = options_.publication;
  if (sql.server_version() < 150000) return Status();  // no column lists or row filters before 15
  // One row per published column (a table without a column list lists all
  // of its columns).
  auto r = sql.ExecParams(
      "SELECT p.schemaname, p.tablename, p.rowfilter, a.attname "
      "FROM pg_publication_tables p LEFT JOIN LATERAL unnest(p.attnames) AS a(attname) ON true "
      "WHERE p.pubname = $1",
      {pub}, PGRES_TUPLES_OK);
  if (!r.ok()) return r.status();
  for (Table t : kAllTables) {
    const TableSpec& spec = options_.mapping.Spec(t);
    PublishedTable published;
    bool found = false;
    for (int i = 0; i < r.value().rows(); ++i) {
      if (r.value().Get(i, 0) != spec.schema || r.value().Get(i, 1) != spec.table) continue;
      found = true;
      if (!r.value().IsNull(i, 2)) published.row_filter = r.value().Get(i, 2);
      if (!r.value().IsNull(i, 3)) published.columns.push_back(r.value().Get(i, 3));
    }
    if (!found) {
      return Permanent(Status::FailedPrecondition("publication " + pub + " does not publish " +
                                                  QualifiedName(spec) + " (ALTER PUBLICATION " +
                                                  QuoteIdentifier(pub) + " ADD TABLE " +
                                                  QualifiedName(spec) + ")"));
    }
    CANOPY_RETURN_IF_ERROR(Permanent(CheckPublishedTable(spec, pub, published)));
  }
  return Status();
}

Status Replica::Worker::CheckPublication(PgConnection& sql) {
  const std::string& pub = options_.publication;
  auto exists = sql.ExecParams(
      "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication "
      "WHERE pubname = $1",
      {pub}, PGRES_TUPLES_OK);
  if (!exists.ok()) return exists.status();
  std::string all_tables;
  for (Table t : kAllTables) {
    if (!all_tables.empty()) all_tables += ", ";
    all_tables += QualifiedName(options_.mapping.Spec(t));
  }
  if (exists.value().rows() == 0) {
    if (!options_.create_publication) {
      return Permanent(Status::FailedPrecondition(
          "publication " + pub + " does not exist (CREATE PUBLICATION " + QuoteIdentifier(pub) +
          " FOR TABLE " + all_tables + ", or start canopyd with --create-publication)"));
    }
    Log(LogLevel::kInfo, "creating publication " + pub);
    return sql
        .Exec("CREATE PUBLICATION " + QuoteIdentifier(pub) + " FOR TABLE " + all_tables,
              PGRES_COMMAND_OK)
        .status();
  }
  const internal::PgResult& r = exists.value();
  for (int c = 0; c < 4; ++c) {
    if (r.Get(0, c) != "t") {
      return Permanent(Status::FailedPrecondition(
          "publication " + pub +
          " must publish insert, update, delete and truncate (ALTER "
          "PUBLICATION " +
          QuoteIdentifier(pub) + " SET (publish = 'insert, update, delete, truncate'))"));
    }
  }
  auto tables =
      sql.ExecParams("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1",
                     {pub}, PGRES_TUPLES_OK);
  if (!tables.ok()) return tables.status();
  std::set<std::pair<std::string, std::string>> published;
  for (int i = 0; i < tables.value().rows(); ++i)
    published.emplace(tables.value().Get(i, 0), tables.value().Get(i, 1));
  std::string missing;
  for (Table t : kAllTables) {
    const TableSpec& spec = options_.mapping.Spec(t);
    if (published.count({spec.schema, spec.table}) != 0) continue;
    if (!missing.empty()) missing += ", ";
    missing += QualifiedName(spec);
  }
  if (missing.empty()) return Status();
  if (!options_.create_publication) {
    return Permanent(Status::FailedPrecondition(
        "publication " + pub + " lacks " + missing + " (ALTER PUBLICATION " + QuoteIdentifier(pub) +
        " ADD TABLE " + missing + ", or start canopyd with --create-publication)"));
  }
  Log(LogLevel::kInfo, "adding " + missing + " to publication " + pub);
  return sql
      .Exec("ALTER PUBLICATION " + QuoteIdentifier(pub) + " ADD TABLE " + missing, PGRES_COMMAND_OK)
      .status();
}

Result<bool> Replica::Worker::CanResume(PgConnection& sql) {
  if (temporary_slot_ || !index()) return false;
  auto r = sql.ExecParams(
      "SELECT active_pid, confirmed_flush_lsn, wal_status FROM pg_replication_slots "
      "WHERE slot_name = $1 AND slot_type = 'logical'",
      {slot_name_}, PGRES_TUPLES_OK);
  if (!r.ok()) return r.status();
  if (r.value().rows() == 0) return false;
  if (!r.value().IsNull(0, 2) && r.value().Get(0, 2) == "lost") {
    // max_slot_wal_keep_size removed WAL the slot still needed.
    Log(LogLevel::kWarning,
        "slot " + slot_name_ +
            " lost WAL it needed (max_slot_wal_keep_size); a fresh snapshot is needed");
    return false;
  }
  if (!r.value().IsNull(0, 0)) {
    // A walsender of an earlier session of ours may still hold the slot.
    Log(LogLevel::kInfo,
        "terminating backend " + r.value().Get(0, 0) + " that holds slot " + slot_name_);
    auto t = sql.ExecParams("SELECT pg_terminate_backend($1::int, 5000)", {r.value().Get(0, 0)},
                            PGRES_TUPLES_OK);
    if (!t.ok()) return t.status();
  }
  if (!r.value().IsNull(0, 1)) {
    auto confirmed = Lsn::Parse(r.value().Get(0, 1));
    if (confirmed && confirmed->value > applied_.load()) {
      Log(LogLevel::kWarning, "slot " + slot_name_ + " confirmed " + confirmed->ToString() +
                                  " beyond applied " + Lsn(applied_.load()).ToString() +
                                  "; a fresh snapshot is needed");
      return false;
    }
  }
  return true;
}

Status Replica::Worker::Bootstrap(PgConnection& repl, PgConnection& sql, Lsn* start) {
  const bool have_index = index() != nullptr;
  SetState(have_index ? ReplicaState::kStale : ReplicaState::kLoading, "slot");
  if (temporary_slot_) {
    std::random_device rd;
    slot_name_ = "canopy_" + std::to_string(getpid()) + "_" + std::to_string(++slot_counter_) +
                 "_" + std::to_string(rd() % 100000);
  } else {
    // An in-memory index cannot resume across processes: start over. A
    // walsender of an earlier session of ours may still hold the slot; one
    // of another process makes the drop fail (the slot must not be in use).
    if (have_index) {
      auto t = sql.ExecParams(
          "SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots "
          "WHERE slot_name = $1 AND active_pid IS NOT NULL",
          {slot_name_}, PGRES_TUPLES_OK);
      if (!t.ok()) return t.status();
    }
    auto r = sql.ExecParams(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        "WHERE slot_name = $1",
        {slot_name_}, PGRES_TUPLES_OK);
    if (!r.ok()) return r.status();
  }
  // The snapshot holds every transaction committed before the slot exists.
  const int64_t snapshot_taken_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count();
  std::string create = "CREATE_REPLICATION_SLOT " + QuoteIdentifier(slot_name_) +
                       (temporary_slot_ ? " TEMPORARY" : "") + " LOGICAL pgoutput";
  create += repl.server_version() >= 150000 ? " (SNAPSHOT 'export')" : " EXPORT_SNAPSHOT";
  auto slot = repl.ExecInterruptible(create, PGRES_TUPLES_OK, &stop_, &stop_pipe_);
  if (!slot.ok()) return slot.status();
  auto consistent = Lsn::Parse(slot.value().Get(0, 1));
  const std::string snapshot_name = slot.value().Get(0, 2);
  if (!consistent || snapshot_name.empty())
    return Status::DataLoss("CREATE_REPLICATION_SLOT: unexpected result");
  Log(LogLevel::kInfo, "slot " + slot_name_ + " consistent at " + consistent->ToString() +
                           ", snapshot " + snapshot_name);
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.slot_name = slot_name_;
    status_.consistent_point = *consistent;
  }

  // Stage: copy.
  const auto t0 = std::chrono::steady_clock::now();
  SetState(have_index ? ReplicaState::kStale : ReplicaState::kLoading, "copy");
  internal::SnapshotLoader loader({.conninfo = options_.conninfo,
                                   .mapping = options_.mapping,
                                   .workers = options_.snapshot_workers,
                                   .split_rows = options_.snapshot_split_rows,
                                   .application_name = options_.application_name + "-snapshot"},
                                  &stop_, &stop_pipe_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    loader_ = &loader;
  }
  Status planned = loader.Plan(snapshot_name);
  // The index is built while the pieces are copied (stage "build" once the
  // copy is done): made with the tables' row estimates as capacity hints.
  std::shared_ptr<HierarchyIndex> fresh;
  std::optional<SnapshotPieces> pieces;
  if (planned.ok()) {
    HierarchyIndexOptions index_options;
    index_options.expected_namespaces = loader.EstimatedRows(Table::kNamespaces);
    index_options.expected_projects = loader.EstimatedRows(Table::kProjects);
    index_options.expected_runner_links = loader.EstimatedRows(Table::kRunnerLinks);
    fresh = std::make_shared<HierarchyIndex>(index_options);
    pieces.emplace(loader.piece_count());
  }
  Status copied, built;
  std::chrono::steady_clock::time_point t_copied;
  auto copy = [&] {
    try {
      copied = loader.Copy(snapshot_name, &*pieces);
    } catch (const std::exception& e) {  // (out of memory)
      copied = Status::ResourceExhausted(std::string("snapshot copy: ") + e.what());
      pieces->Abandon(copied);  // (the build must not wait for pieces that never come)
    }
    t_copied = std::chrono::steady_clock::now();
    if (copied.ok()) SetState(have_index ? ReplicaState::kStale : ReplicaState::kLoading, "build");
  };
  if (planned.ok()) {
    // Laid out in pre-order (subtree walks read memory in order). The
    // second left-right copy is a copy of the first, not a replay: made
    // while the first serves, and the first streamed transaction waits
    // for it.
    std::thread copier;
    struct JoinOnExit {
      std::thread& thread;
      ~JoinOnExit() {
        if (thread.joinable()) thread.join();
      }
    } join_copier{copier};
    try {
      copier = std::thread(copy);
    } catch (const std::system_error&) {
      copy();  // no thread: copy first, then build
    }
    built = fresh->BulkLoad(*consistent, *pieces);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    loader_ = nullptr;
    status_.tables = loader.Progress();
  }
  CANOPY_RETURN_IF_ERROR(planned);
  // The build's own error, unless it is the copy's (the build stopped on the
  // abandoned pieces); a failed build stops the copy too.
  if (!built.ok() && (built.code() != copied.code() || built.message() != copied.message())) {
    return built;
  }
  CANOPY_RETURN_IF_ERROR(copied);
  for (const TableLoadProgress& p : loader.Progress()) {
    Log(LogLevel::kInfo, "copied " + std::to_string(p.rows) + " rows of " + p.table + " in " +
                             std::to_string(p.seconds) + " s");
  }
  pieces.reset();
  Log(LogLevel::kInfo,
      "index built (laid out; its second copy is made while it serves) " +
          std::to_string(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t_copied).count()) +
          " s after the copy");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard<std::mutex> lock(mu_);
    index_ = std::move(fresh);  // the old index (if any) lives on while readers hold it
    applied_.store(consistent->value);
    status_.applied_lsn = *consistent;
    status_.last_snapshot_seconds = seconds;
    status_.last_commit_unix_ms = snapshot_taken_unix_ms;
    ++status_.snapshots;
  }
  // The feed cannot say what happened between the old position and this
  // snapshot: its subscribers resynchronise (kOutOfRange). (Outside mu_: the
  // feed's listeners run in Reset.)
  if (feed_) feed_->Reset(*consistent);
  cv_.notify_all();
  {
    std::shared_ptr<HierarchyIndex> serving;
    {
      std::lock_guard<std::mutex> lock(mu_);
      serving = index_;
    }
    NotifyApplied(std::move(serving), *consistent);
  }
  Log(LogLevel::kInfo,
      "snapshot applied at " + consistent->ToString() + " in " + std::to_string(seconds) + " s");
#ifdef __GLIBC__
  // The copied rows are freed: give their pages back (after the index
  // serves; the trim walks every arena).
  malloc_trim(0);
#endif
  assembler_.Reset();
  assembler_.set_skip_through(*consistent);
  *start = *consistent;
  return Status();
}

Status Replica::Worker::Session() {
  permanent_ = false;
  stream_started_ = false;
  SetState(index() ? ReplicaState::kStale : ReplicaState::kConnecting, "connect");
  auto repl_or = PgConnection::Connect(options_.conninfo, true, options_.application_name);
  if (!repl_or.ok()) return repl_or.status();
  PgConnection& repl = *repl_or.value();
  auto ident = repl.Exec("IDENTIFY_SYSTEM", PGRES_TUPLES_OK);
  if (!ident.ok()) return ident.status();
  if (ident.value().rows() != 1 || ident.value().columns() < 4) {
    return Status::DataLoss("IDENTIFY_SYSTEM: unexpected result");
  }
  uint64_t system_id = std::strtoull(ident.value().Get(0, 0).c_str(), nullptr, 10);
  uint32_t timeline =
      static_cast<uint32_t>(std::strtoul(ident.value().Get(0, 1).c_str(), nullptr, 10));
  bool same_system;
  {
    std::lock_guard<std::mutex> lock(mu_);
    same_system = status_.system_id == system_id && status_.timeline == timeline;
    if (!same_system && status_.system_id != 0) {
      Log(LogLevel::kWarning,
          "system id or timeline changed (restore or failover): fresh snapshot");
    }
    status_.system_id = system_id;
    status_.timeline = timeline;
  }

  {
    auto sql_or = PgConnection::Connect(options_.conninfo, false, options_.application_name);
    if (!sql_or.ok()) return sql_or.status();
    PgConnection& sql = *sql_or.value();
    CANOPY_RETURN_IF_ERROR(CheckPublication(sql));
    CANOPY_RETURN_IF_ERROR(CheckPublishedColumns(sql));
    temporary_slot_ = options_.slot_name.empty();
    if (!temporary_slot_) slot_name_ = options_.slot_name;

    Lsn start;
    bool resume = false;
    if (same_system) {
      auto can = CanResume(sql);
      if (!can.ok()) return can.status();
      resume = can.value();
    }
    if (resume) {
      start = Lsn(applied_.load());
      Log(LogLevel::kInfo, "resuming slot " + slot_name_ + " at " + start.ToString());
      assembler_.Reset();
      assembler_.set_skip_through(start);
    } else {
      CANOPY_RETURN_IF_ERROR(Bootstrap(repl, sql, &start));
    }
    if (stop_.load()) return Status::Unavailable("stopped");

    std::string cmd = "START_REPLICATION SLOT " + QuoteIdentifier(slot_name_) + " LOGICAL " +
                      start.ToString() + " (proto_version '1', publication_names " +
                      QuoteLiteral(QuoteIdentifier(options_.publication)) + ")";
    auto started = repl.ExecInterruptible(cmd, PGRES_COPY_BOTH, &stop_, &stop_pipe_);
    if (!started.ok()) return started.status();
    stream_started_ = true;
    check_sql_ = std::move(sql_or).value();  // kept for publication re-checks while streaming
  }
  received_ = Lsn(applied_.load());
  last_flush_sent_ = Lsn();
  pending_.clear();
  pending_for_feed_.clear();
  pending_changes_ = 0;
  {
    // Healthy again: the error of an earlier session is history.
    std::lock_guard<std::mutex> lock(mu_);
    status_.state = ReplicaState::kStreaming;
    status_.stage = "stream";
    status_.last_error.clear();
    status_.last_error_unix_ms = 0;
  }
  cv_.notify_all();
  next_publication_check_ = std::chrono::steady_clock::now() + options_.publication_check_interval;
  Log(LogLevel::kInfo, "streaming from " + Lsn(applied_.load()).ToString());
  return Stream(repl);
}

}  // namespace canopy::cdc
