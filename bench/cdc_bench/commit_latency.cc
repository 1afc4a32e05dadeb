// commit_latency.cc — see commit_latency.h.
#include "commit_latency.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <unordered_map>

#include "canopy/lsn.h"
#include "canopy/testing/stats.h"

namespace canopy::bench::cdc_bench {

namespace {

struct Commit {
  Clock::time_point sent, returned;
  uint32_t xid = 0;
  uint64_t insert_lsn = 0;  // pg_current_wal_insert_lsn() right after COMMIT
  uint64_t end_lsn = 0;     // the commit record's end (pg_walinspect), else insert_lsn
  bool exact = false;       // end_lsn from pg_walinspect
  int kind = 0;
};

uint64_t ParseLsnOrDie(const std::string& text) {
  auto l = canopy::Lsn::Parse(text);
  if (!l) Die("bad LSN '" + text + "'");
  return l->value;
}

}  // namespace

LatencyResult RunLatency(const std::string& conninfo, canopy::cdc::Replica& replica,
                         AppliedLog& log, const std::vector<AppliedLog*>& delivered,
                         const BenchData& data, uint64_t rate, double seconds, int64_t* next_id,
                         int walsender_pid) {
  LatencyResult res;
  res.target_rate = rate;
  std::unique_ptr<PgConnection> w = ConnectOrDie(conninfo);
  std::unique_ptr<PgConnection> side = ConnectOrDie(conninfo);
  const bool walinspect = side->Exec("CREATE EXTENSION IF NOT EXISTS pg_walinspect").ok();
  // Keep the WAL of the run until its commit records are read back.
  (void)side->Exec("SELECT pg_drop_replication_slot('canopy_bench_hold')");
  const bool hold =
      side->Exec("SELECT pg_create_physical_replication_slot('canopy_bench_hold', true)").ok();
  const std::string start_lsn = ValueOrDie(*side, "SELECT pg_current_wal_insert_lsn()");

  std::mt19937_64 rng(rate * 7919 + static_cast<uint64_t>(*next_id));
  auto pick = [&rng](const std::vector<int64_t>& ids) { return ids[rng() % ids.size()]; };
  const size_t warmup = static_cast<size_t>(rate / 2);
  const size_t measured = static_cast<size_t>(static_cast<double>(rate) * seconds);
  std::vector<Commit> commits;
  commits.reserve(warmup + measured);
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.events.clear();
    log.events.reserve((warmup + measured) * 2 + 1024);
  }
  for (AppliedLog* d : delivered) {
    std::lock_guard<std::mutex> lock(d->mu);
    d->events.clear();
  }
  for (AppliedLog* d : delivered) d->recording = true;
  log.recording = true;

  const double cpu0 = SelfCpuUsage().cpu_seconds;
  const double ws0 = walsender_pid > 0 ? PidCpu(walsender_pid) : -1;
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / static_cast<double>(rate)));
  auto next = Clock::now();
  Clock::time_point measure_start;
  for (size_t i = 0; i < warmup + measured; ++i) {
    if (i == warmup) {
      measure_start = Clock::now();
      next = measure_start;
    }
    Commit c;
    c.kind = static_cast<int>(rng() % 3);
    std::string body;
    if (c.kind == 0) {
      const std::string id = std::to_string((*next_id)++);
      const std::string parent = std::to_string(pick(data.group_ids));
      body = "INSERT INTO namespaces (id, name, path, type, parent_id) VALUES (" + id + ", 'sub " +
             id + "', 's" + id + "', 'Group', " + parent +
             "); UPDATE namespaces SET traversal_ids = (SELECT " +
             "traversal_ids FROM namespaces WHERE id = " + parent + ") || " + id +
             "::bigint WHERE id = " + id + ";";
    } else if (c.kind == 1) {
      body = "UPDATE projects SET archived = NOT archived WHERE id = " +
             std::to_string(pick(data.project_ids)) + ";";
    } else {
      const std::string g = std::to_string(pick(data.leaf_subgroup_ids));
      const std::string r = std::to_string(pick(data.root_group_ids));
      body = "UPDATE namespaces SET parent_id = " + r + ", traversal_ids = ARRAY[" + r + ", " + g +
             "]::bigint[] WHERE id = " + g + ";";
    }
    const std::string sql =
        "BEGIN; " + body +
        " SELECT pg_current_xact_id(); COMMIT; SELECT pg_current_wal_insert_lsn()";
    std::this_thread::sleep_until(next);
    next += period;
    c.sent = Clock::now();
    Result<std::vector<std::string>> values = w->FirstValues(sql);
    c.returned = Clock::now();
    const std::vector<std::string> v = OrDie(std::move(values));
    if (v.size() != 2) Die("latency transaction: expected 2 values");
    c.xid = static_cast<uint32_t>(std::strtoull(v[0].c_str(), nullptr, 10) & 0xffffffffULL);
    c.insert_lsn = ParseLsnOrDie(v[1]);
    c.end_lsn = c.insert_lsn;
    commits.push_back(c);
  }
  res.seconds = std::chrono::duration<double>(commits.back().returned - measure_start).count();
  if (auto s = replica.WaitUntilApplied(canopy::Lsn(commits.back().insert_lsn),
                                        std::chrono::seconds(30));
      !s.ok()) {
    Die("latency: " + s.ToString());
  }
  // on_applied runs just after the position is published (and waiters woken):
  // let the last event land before recording stops.
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard<std::mutex> lock(log.mu);
      if (!log.events.empty() && log.events.back().lsn >= commits.back().insert_lsn) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  log.recording = false;
  // The subscribers get the last commit a little later (bounded wait).
  for (AppliedLog* d : delivered) {
    for (int i = 0; i < 5000; ++i) {
      {
        std::lock_guard<std::mutex> lock(d->mu);
        if (!d->events.empty() && d->events.back().lsn >= commits.back().insert_lsn) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    d->recording = false;
  }
  res.self_cpu = SelfCpuUsage().cpu_seconds - cpu0;
  res.walsender_cpu = ws0 >= 0 ? PidCpu(walsender_pid) - ws0 : -1;

  // Exact commit end LSNs: the COMMIT record of each transaction's xid.
  if (walinspect) {
    auto rows =
        side->Rows("SELECT xid::text, end_lsn::text FROM pg_get_wal_records_info('" + start_lsn +
                   "', pg_current_wal_flush_lsn()) WHERE resource_manager = 'Transaction' AND "
                   "record_type = 'COMMIT'");
    if (rows.ok()) {
      std::unordered_map<uint32_t, uint64_t> end_of;
      for (const auto& r : rows.value()) {
        end_of[static_cast<uint32_t>(std::strtoull(r[0].c_str(), nullptr, 10))] =
            ParseLsnOrDie(r[1]);
      }
      for (Commit& c : commits) {
        auto it = end_of.find(c.xid);
        if (it != end_of.end() && it->second <= c.insert_lsn) {
          c.end_lsn = it->second;
          c.exact = true;
        }
      }
    }
  }
  if (hold) ExecOrDie(*side, "SELECT pg_drop_replication_slot('canopy_bench_hold')");

  std::vector<AppliedEvent> events;
  {
    std::lock_guard<std::mutex> lock(log.mu);
    events.swap(log.events);
  }
  std::vector<double> lat, rtt, from_sent;
  double sum = 0;
  for (size_t i = warmup; i < commits.size(); ++i) {
    const Commit& c = commits[i];
    ++res.kinds[c.kind];
    if (c.exact) ++res.exact_lsns;
    rtt.push_back(Ms(c.returned - c.sent));
    // The applied position only grows: the first event at or past the
    // commit's end is when it became visible.
    auto it = std::lower_bound(events.begin(), events.end(), c.end_lsn,
                               [](const AppliedEvent& e, uint64_t lsn) { return e.lsn < lsn; });
    if (it == events.end()) {
      ++res.never_visible;
      continue;
    }
    from_sent.push_back(Ms(it->at - c.sent));
    double ms = Ms(it->at - c.returned);
    if (ms < 0) {
      ++res.before_return;
      ms = 0;
    }
    lat.push_back(ms);
    sum += ms;
  }
  res.commits = commits.size() - warmup;
  res.achieved_rate = static_cast<double>(res.commits) / res.seconds;
  using canopy::testing::Percentile;  // reorders its argument; max is taken first
  res.max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  res.sent_p50 = Percentile(from_sent, 0.50);
  res.sent_p99 = Percentile(from_sent, 0.99);
  res.p50 = Percentile(lat, 0.50);
  res.p90 = Percentile(lat, 0.90);
  res.p99 = Percentile(lat, 0.99);
  res.p999 = Percentile(lat, 0.999);
  res.mean = lat.empty() ? 0 : sum / static_cast<double>(lat.size());
  res.rtt_p50 = Percentile(rtt, 0.50);
  res.rtt_p99 = Percentile(rtt, 0.99);

  std::vector<double> to_subscribers;
  for (AppliedLog* d : delivered) {
    std::vector<AppliedEvent> got;
    {
      std::lock_guard<std::mutex> lock(d->mu);
      got.swap(d->events);
    }
    for (size_t i = warmup; i < commits.size(); ++i) {
      auto it = std::lower_bound(got.begin(), got.end(), commits[i].end_lsn,
                                 [](const AppliedEvent& e, uint64_t lsn) { return e.lsn < lsn; });
      if (it == got.end()) {
        ++res.delivered.never;
        continue;
      }
      to_subscribers.push_back(std::max(0.0, Ms(it->at - commits[i].returned)));
    }
  }
  res.delivered.deliveries = to_subscribers.size();
  res.delivered.max =
      to_subscribers.empty() ? 0 : *std::max_element(to_subscribers.begin(), to_subscribers.end());
  res.delivered.p50 = Percentile(to_subscribers, 0.50);
  res.delivered.p99 = Percentile(to_subscribers, 0.99);
  return res;
}

}  // namespace canopy::bench::cdc_bench
