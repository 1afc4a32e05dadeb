// commit_latency.h — commit-to-visible latency under a steady write load: a
// writer commits small GitLab-style transactions at a fixed rate; for each
// commit, the time from the commit returning on the client to the replica's
// applied LSN reaching the commit's end LSN (ReplicaOptions::on_applied
// records every applied position in an AppliedLog).
//
// THREAD SAFETY: AppliedLog is filled from the replica's thread while
// RunLatency runs on the main thread; RunLatency dies on PostgreSQL errors.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "canopy/cdc/replica.h"
#include "common.h"
#include "gitlab_data.h"

namespace canopy::bench::cdc_bench {

struct AppliedEvent {
  Clock::time_point at;
  uint64_t lsn;
};

// Filled by ReplicaOptions::on_applied while `recording` is set.
struct AppliedLog {
  std::atomic<bool> recording{false};
  std::mutex mu;
  std::vector<AppliedEvent> events;
};

// Percentiles of commit-to-delivered over every (change-feed subscriber,
// commit) pair: from the commit returning on the client to the subscriber
// receiving a position at or past the commit's end LSN.
struct DeliveredLatency {
  size_t deliveries = 0, never = 0;
  double p50 = 0, p99 = 0, max = 0;  // ms
};

struct LatencyResult {
  uint64_t target_rate = 0;
  double achieved_rate = 0;
  size_t commits = 0;
  size_t exact_lsns = 0;     // end LSN from pg_walinspect
  size_t before_return = 0;  // visible before the COMMIT round trip returned
  size_t never_visible = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;  // ms
  double rtt_p50 = 0, rtt_p99 = 0;                                // ms
  double sent_p50 = 0, sent_p99 = 0;  // ms from sending the transaction to visible
  double self_cpu = 0, walsender_cpu = 0, seconds = 0;
  size_t kinds[3] = {0, 0, 0};
  DeliveredLatency delivered;  // with change-feed subscribers (`delivered` logs)
};

// The writer: small GitLab-style transactions, one round trip each
// (BEGIN; ...; xid; COMMIT; insert LSN), at `rate` per second for `seconds`
// after a warm-up of half a second. Kinds: 0 create a subgroup (INSERT with
// empty traversal_ids, then UPDATE them, as GitLab does; ids from *next_id
// on), 1 toggle a project's archived flag, 2 move a leaf subgroup under a
// root group. Percentiles are canopy::testing::Percentile's (nearest rank).
// `delivered`: one log per change-feed subscriber (what it received, when),
// recorded alongside `log`; empty: no subscribers.
LatencyResult RunLatency(const std::string& conninfo, canopy::cdc::Replica& replica,
                         AppliedLog& log, const std::vector<AppliedLog*>& delivered,
                         const BenchData& data, uint64_t rate, double seconds, int64_t* next_id,
                         int walsender_pid);

}  // namespace canopy::bench::cdc_bench
