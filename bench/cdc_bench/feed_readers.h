// feed_readers.h — canopy_cdc_bench's change-feed subscribers: N readers of
// the replica's feed from "now" on, each logging (when, position) of every
// delivery while its log records (commit-to-delivered latency).
//
// Two ways to read, chosen by CANOPY_CDC_BENCH_FEED_OVER:
//   * "process" (default): FeedSubscription::Next on a thread per reader;
//   * "unix": a canopy::net::Server in this process serves the feed on a Unix
//     socket (as canopyd does, 2 I/O threads), and each reader is a
//     canopy::net::Client on a thread of its own (Subscribe / NextFeed): the
//     server's encoding, the socket and the client's decoding are in the
//     numbers. The server, the readers and the replica share the process, so
//     the bench's CPU holds all three.
//
// THREAD SAFETY: Start and the destructor on the main thread; the logs are
// AppliedLogs (commit_latency.h).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "canopy/cdc/replica.h"
#include "commit_latency.h"

namespace canopy::net {
class Server;
}

namespace canopy::bench::cdc_bench {

class FeedReaders {
 public:
  // Dies on errors (a bench). `over` is "process" or "unix".
  FeedReaders(canopy::cdc::Replica& replica, uint64_t readers, const std::string& over);
  ~FeedReaders();  // stops the readers (and the server)
  FeedReaders(const FeedReaders&) = delete;
  FeedReaders& operator=(const FeedReaders&) = delete;

  std::vector<AppliedLog*> logs();
  // CPU seconds the reader threads used so far (each thread's own clock,
  // published after every read): the rest of the process's CPU is the
  // replica's and, over the socket, the server's.
  double CpuSeconds() const;
  // "in this process" / "over a Unix socket (canopy::net::Server, 2 threads)".
  std::string Describe() const;
  // Whether the subscribers read through a socket ("unix"), not in process.
  bool over_socket() const;

 private:
  std::string over_;
  std::string socket_dir_;
  std::unique_ptr<canopy::net::Server> server_;
  std::vector<std::unique_ptr<AppliedLog>> logs_;
  std::vector<std::unique_ptr<std::atomic<double>>> cpu_seconds_;  // per reader thread
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

}  // namespace canopy::bench::cdc_bench
