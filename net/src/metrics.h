// net/src/metrics.h — the server's own request counters (per listener and
// request kind) and request latency histogram, kept per I/O loop, and the
// Prometheus text exposition (format 0.0.4) of /metrics.
//
//   LoopMetrics (one per IoLoop)      written by its loop's thread only:
//     Record(listener, kind, latency)   two relaxed atomic stores, no lock,
//                                       no allocation (the request path)
//   ServerMetrics                     a plain-value sum over the loops, taken
//                                       by MetricsSource::FillMetrics
//   WritePrometheus(status, metrics, rss, out)   the /metrics body
//
// Latency: from the moment the session takes a request until its answer is
// encoded into the connection's output buffer (a min_lsn wait included, the
// socket write not).
//
// THREAD SAFETY: LoopMetrics: one writer (its loop), any number of readers
// (relaxed loads: a reader may see a request counted and its latency not yet,
// never a torn value). The rest are plain values and free functions.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "canopy/net/protocol.h"

namespace canopy::net::internal {

// Which listener a connection came in on.
enum class ListenerKind : uint8_t { kFbTcp, kFbUnix, kRespTcp, kRespUnix, kHttp };
inline constexpr size_t kListenerKinds = 5;
// "fb_tcp", "fb_unix", "resp_tcp", "resp_unix", "http".
const char* ListenerKindName(ListenerKind kind);

// What a request asked, for the counters (both wire protocols map onto the
// same kinds; RESP commands without an equivalent and undecodable requests
// are kOther).
enum class RequestKind : uint8_t {
  kOther,
  kHello,  // Hello / HELLO / AUTH
  kPing,
  kStatus,
  kIdQuery,  // one id-list query (ANCESTORS, DESCENDANTS, ...)
  kBatch,    // a batch of them (BatchQuery, the M... commands)
  kCounts,
  kFullPath,
  kResolve,
  kRunnersOfGroups,
  kMetrics,  // HTTP
  kHealthz,
  kReadyz,
  kSubscribe,  // change feed: Subscribe / FEED
};
inline constexpr size_t kRequestKinds = 14;
// "other", "hello", "ping", "status", "id_query", "batch", "counts",
// "full_path", "resolve", "runners_of_groups", "metrics", "healthz", "readyz",
// "subscribe".
const char* RequestKindName(RequestKind kind);

// Upper bounds (seconds) of the latency histogram's finite buckets.
inline constexpr std::array<double, 16> kLatencyBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};
inline constexpr size_t kLatencyBucketCount = kLatencyBuckets.size() + 1;  // + +Inf

// Counters of one I/O loop.
class LoopMetrics {
 public:
  // On the loop's thread only.
  void Record(ListenerKind listener, RequestKind kind, std::chrono::nanoseconds latency) {
    const size_t l = static_cast<size_t>(listener);
    Bump(requests_[l][static_cast<size_t>(kind)], 1);
    Bump(latency_[l][BucketOf(latency)], 1);
    Bump(latency_sum_ns_[l], static_cast<uint64_t>(std::max<int64_t>(latency.count(), 0)));
  }

  uint64_t requests(size_t listener, size_t kind) const {
    return requests_[listener][kind].load(std::memory_order_relaxed);
  }
  // Not cumulative: the count of bucket `bucket` alone.
  uint64_t latency_bucket(size_t listener, size_t bucket) const {
    return latency_[listener][bucket].load(std::memory_order_relaxed);
  }
  uint64_t latency_sum_ns(size_t listener) const {
    return latency_sum_ns_[listener].load(std::memory_order_relaxed);
  }

  static size_t BucketOf(std::chrono::nanoseconds latency);

 private:
  static void Bump(std::atomic<uint64_t>& counter, uint64_t by) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::array<std::array<std::atomic<uint64_t>, kRequestKinds>, kListenerKinds> requests_{};
  std::array<std::array<std::atomic<uint64_t>, kLatencyBucketCount>, kListenerKinds> latency_{};
  std::array<std::atomic<uint64_t>, kListenerKinds> latency_sum_ns_{};
};

// The loops' counters summed, plus what the server knows right now.
struct ServerMetrics {
  std::array<std::array<uint64_t, kRequestKinds>, kListenerKinds> requests{};
  std::array<std::array<uint64_t, kLatencyBucketCount>, kListenerKinds> latency{};
  std::array<uint64_t, kListenerKinds> latency_sum_ns{};
  std::array<bool, kListenerKinds> listening{};  // which listeners this server has
  uint64_t connections = 0;
  uint64_t waiting_requests = 0;
};

// Implemented by the server (ServerCore).
class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  virtual void FillMetrics(ServerMetrics* metrics) const = 0;
};

// The process's resident set in bytes, from /proc/self/statm (0 if unreadable).
uint64_t ProcessResidentBytes();

// Appends the /metrics body (Prometheus text format 0.0.4) to `out`.
// `metrics` may be null (then the request counters are left out).
// `index_loaded`: an index is served (else its series are zeros).
void WritePrometheus(const ServerStatus& status, bool index_loaded, const ServerMetrics* metrics,
                     uint64_t resident_bytes, std::string* out);

}  // namespace canopy::net::internal
