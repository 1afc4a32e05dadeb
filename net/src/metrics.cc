#include "metrics.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string_view>

namespace canopy::net::internal {

const char* ListenerKindName(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::kFbTcp:
      return "fb_tcp";
    case ListenerKind::kFbUnix:
      return "fb_unix";
    case ListenerKind::kRespTcp:
      return "resp_tcp";
    case ListenerKind::kRespUnix:
      return "resp_unix";
    case ListenerKind::kHttp:
      return "http";
  }
  return "unknown";
}

const char* RequestKindName(RequestKind kind) {
  switch (kind) {
    case RequestKind::kOther:
      return "other";
    case RequestKind::kHello:
      return "hello";
    case RequestKind::kPing:
      return "ping";
    case RequestKind::kStatus:
      return "status";
    case RequestKind::kIdQuery:
      return "id_query";
    case RequestKind::kBatch:
      return "batch";
    case RequestKind::kCounts:
      return "counts";
    case RequestKind::kFullPath:
      return "full_path";
    case RequestKind::kResolve:
      return "resolve";
    case RequestKind::kRunnersOfGroups:
      return "runners_of_groups";
    case RequestKind::kMetrics:
      return "metrics";
    case RequestKind::kHealthz:
      return "healthz";
    case RequestKind::kReadyz:
      return "readyz";
    case RequestKind::kSubscribe:
      return "subscribe";
  }
  return "other";
}

size_t LoopMetrics::BucketOf(std::chrono::nanoseconds latency) {
  const double seconds = static_cast<double>(latency.count()) * 1e-9;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) return i;
  }
  return kLatencyBuckets.size();
}

uint64_t ProcessResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(page > 0 ? page : 4096);
}

namespace {

// The kinds each listener's protocol can count (the others stay unexported).
bool KindApplies(size_t listener, size_t kind) {
  const bool http = listener == static_cast<size_t>(ListenerKind::kHttp);
  const auto k = static_cast<RequestKind>(kind);
  const bool http_kind = k == RequestKind::kMetrics || k == RequestKind::kHealthz ||
                         k == RequestKind::kReadyz || k == RequestKind::kOther;
  const bool query_kind =
      k != RequestKind::kMetrics && k != RequestKind::kHealthz && k != RequestKind::kReadyz;
  return http ? http_kind : query_kind;
}

class Writer {
 public:
  explicit Writer(std::string* out) : out_(*out) {}

  void Header(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }

  // name{labels} value — `labels` is "" or `k="v",...` already escaped.
  void Sample(std::string_view name, std::string_view labels, uint64_t value) {
    Name(name, labels);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    (void)ec;
    out_.append(buf, end).append("\n");
  }
  void Sample(std::string_view name, std::string_view labels, double value) {
    Name(name, labels);
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    if (ec != std::errc()) {
      out_.append("NaN\n");
      return;
    }
    out_.append(buf, end).append("\n");
  }

  // Escapes a label value as the text format wants (\\, \", \n).
  static std::string Label(std::string_view key, std::string_view value) {
    std::string s(key);
    s += "=\"";
    for (char c : value) {
      if (c == '\\') {
        s += "\\\\";
      } else if (c == '"') {
        s += "\\\"";
      } else if (c == '\n') {
        s += "\\n";
      } else {
        s += c;
      }
    }
    s += '"';
    return s;
  }

 private:
  void Name(std::string_view name, std::string_view labels) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ");
  }

  std::string& out_;
};

}  // namespace

void WritePrometheus(const ServerStatus& status, bool index_loaded, const ServerMetrics* metrics,
                     uint64_t resident_bytes, std::string* out) {
  Writer w(out);
  const ReplicationReport& r = status.replication;
  const IndexStats& ix = status.index;

  w.Header("canopy_build_info", "gauge", "The server's version (always 1).");
  w.Sample("canopy_build_info", Writer::Label("version", status.server_version), uint64_t{1});

  w.Header("canopy_replica_state", "gauge",
           "Replication state: 1 for the current state, 0 for the others.");
  for (ServingState s : {ServingState::kUnknown, ServingState::kLoading, ServingState::kStreaming,
                         ServingState::kStale, ServingState::kFailed}) {
    w.Sample("canopy_replica_state", Writer::Label("state", ServingStateName(s)),
             uint64_t{r.state == s ? 1u : 0u});
  }
  w.Header("canopy_replication_applied_lsn", "gauge",
           "WAL position (LSN as a number) the served index reflects; 0 before the first "
           "snapshot.");
  w.Sample("canopy_replication_applied_lsn", "", status.applied_lsn.value);
  w.Header("canopy_replication_received_lsn", "gauge",
           "Highest WAL position (LSN as a number) the source reported; 0 when unknown.");
  w.Sample("canopy_replication_received_lsn", "", r.received_lsn.value);
  w.Header("canopy_replication_lag_bytes", "gauge",
           "received_lsn - applied_lsn in bytes of WAL (0 when unknown).");
  w.Sample("canopy_replication_lag_bytes", "", status.lag_bytes);
  w.Header("canopy_replication_lag_seconds", "gauge",
           "0 while caught up; behind, now - the commit time of the newest applied transaction.");
  w.Sample("canopy_replication_lag_seconds", "", status.lag_seconds);
  w.Header("canopy_replication_last_commit_timestamp_seconds", "gauge",
           "Commit time (Unix seconds) of the newest applied transaction (before any: when the "
           "snapshot was taken); 0 when unknown.");
  w.Sample("canopy_replication_last_commit_timestamp_seconds", "",
           static_cast<double>(r.last_commit_unix_ms) * 1e-3);
  w.Header("canopy_replication_reconnects_total", "counter",
           "Sessions with the source retried after an error.");
  w.Sample("canopy_replication_reconnects_total", "", r.reconnects);

  w.Header("canopy_snapshots_total", "counter", "Snapshots loaded.");
  w.Sample("canopy_snapshots_total", "", r.snapshots);
  if (r.last_snapshot_seconds >= 0) {
    w.Header("canopy_snapshot_last_duration_seconds", "gauge",
             "Copy + build time of the last completed snapshot.");
    w.Sample("canopy_snapshot_last_duration_seconds", "", r.last_snapshot_seconds);
  }
  if (!r.tables.empty()) {
    w.Header("canopy_snapshot_rows", "gauge",
             "Rows copied per table by the last (or running) snapshot.");
    for (const TableLoad& t : r.tables) {
      w.Sample("canopy_snapshot_rows", Writer::Label("table", t.table), t.rows);
    }
    w.Header("canopy_snapshot_estimated_rows", "gauge",
             "PostgreSQL's row estimate per table at snapshot start (0: unknown).");
    for (const TableLoad& t : r.tables) {
      w.Sample("canopy_snapshot_estimated_rows", Writer::Label("table", t.table), t.estimated_rows);
    }
    w.Header("canopy_snapshot_table_done", "gauge", "1 once the table's copy is complete.");
    for (const TableLoad& t : r.tables) {
      w.Sample("canopy_snapshot_table_done", Writer::Label("table", t.table),
               uint64_t{t.done ? 1u : 0u});
    }
  }

  w.Header("canopy_index_loaded", "gauge", "1 once an index is being served.");
  w.Sample("canopy_index_loaded", "", uint64_t{index_loaded ? 1u : 0u});
  w.Header("canopy_index_rows", "gauge", "Rows in the served index per table.");
  w.Sample("canopy_index_rows", Writer::Label("table", "namespaces"), ix.namespaces);
  w.Sample("canopy_index_rows", Writer::Label("table", "projects"), ix.projects);
  w.Sample("canopy_index_rows", Writer::Label("table", "runner_links"), ix.runner_links);
  w.Header("canopy_index_orphans", "gauge",
           "Rows whose parent is unknown (namespaces: parent_id; projects: namespace_id).");
  w.Sample("canopy_index_orphans", Writer::Label("table", "namespaces"), ix.orphan_namespaces);
  w.Sample("canopy_index_orphans", Writer::Label("table", "projects"), ix.orphan_projects);
  w.Header("canopy_index_cycles_refused_total", "counter",
           "Parent changes refused because they made a cycle.");
  w.Sample("canopy_index_cycles_refused_total", "", ix.cycles_refused);
  w.Header("canopy_index_unknown_deletes_total", "counter",
           "Deletes of ids the index did not hold.");
  w.Sample("canopy_index_unknown_deletes_total", "", ix.unknown_deletes);
  w.Header("canopy_index_transactions_applied_total", "counter",
           "Transactions with at least one change applied to the served index.");
  w.Sample("canopy_index_transactions_applied_total", "", ix.transactions_applied);
  w.Header("canopy_index_row_changes_applied_total", "counter",
           "Row changes applied to the served index.");
  w.Sample("canopy_index_row_changes_applied_total", "", ix.row_changes_applied);
  w.Header("canopy_index_publishes_total", "counter", "States published by the index writer.");
  w.Sample("canopy_index_publishes_total", "", ix.publishes);
  w.Header("canopy_index_publish_wait_seconds_total", "counter",
           "Time the index writer waited for readers before publishing.");
  w.Sample("canopy_index_publish_wait_seconds_total", "",
           static_cast<double>(ix.total_publish_wait_ns) * 1e-9);
  w.Header("canopy_index_publish_wait_max_seconds", "gauge",
           "Longest wait of the index writer for readers.");
  w.Sample("canopy_index_publish_wait_max_seconds", "",
           static_cast<double>(ix.max_publish_wait_ns) * 1e-9);
  w.Header("canopy_index_memory_bytes", "gauge",
           "Estimated memory of the served index (both copies and shared strings).");
  w.Sample("canopy_index_memory_bytes", "", ix.memory_bytes);
  w.Header("canopy_process_resident_memory_bytes", "gauge",
           "Resident set size of the process (/proc/self/statm).");
  w.Sample("canopy_process_resident_memory_bytes", "", resident_bytes);

  w.Header("canopy_open_connections", "gauge", "Client connections open now (every listener).");
  w.Sample("canopy_open_connections", "", status.connections);
  w.Header("canopy_waiting_requests", "gauge", "Requests parked until their min_lsn is applied.");
  w.Sample("canopy_waiting_requests", "", status.waiting_requests);

  if (metrics == nullptr) return;
  w.Header("canopy_requests_total", "counter", "Requests taken, by listener and kind.");
  for (size_t l = 0; l < kListenerKinds; ++l) {
    if (!metrics->listening[l]) continue;
    const std::string listener =
        Writer::Label("listener", ListenerKindName(static_cast<ListenerKind>(l)));
    for (size_t k = 0; k < kRequestKinds; ++k) {
      if (!KindApplies(l, k)) continue;
      w.Sample("canopy_requests_total",
               listener + "," + Writer::Label("kind", RequestKindName(static_cast<RequestKind>(k))),
               metrics->requests[l][k]);
    }
  }
  w.Header("canopy_request_duration_seconds", "histogram",
           "From taking a request to its answer being ready to write (min_lsn waits included).");
  for (size_t l = 0; l < kListenerKinds; ++l) {
    if (!metrics->listening[l]) continue;
    const std::string listener =
        Writer::Label("listener", ListenerKindName(static_cast<ListenerKind>(l)));
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kLatencyBucketCount; ++b) {
      cumulative += metrics->latency[l][b];
      std::string le;
      if (b < kLatencyBuckets.size()) {
        char buf[32];
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), kLatencyBuckets[b]);
        (void)ec;
        le = Writer::Label("le", std::string_view(buf, static_cast<size_t>(end - buf)));
      } else {
        le = Writer::Label("le", "+Inf");
      }
      w.Sample("canopy_request_duration_seconds_bucket", listener + "," + le, cumulative);
    }
    w.Sample("canopy_request_duration_seconds_sum", listener,
             static_cast<double>(metrics->latency_sum_ns[l]) * 1e-9);
    w.Sample("canopy_request_duration_seconds_count", listener, cumulative);
  }
}

}  // namespace canopy::net::internal
