// feed_readers.cc — see feed_readers.h.
#include "feed_readers.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <utility>

#include "canopy/net/client.h"
#include "canopy/net/server.h"
#include "common.h"

namespace canopy::bench::cdc_bench {

namespace {

// Appends (now, position) to `log` while it records.
void Record(AppliedLog& log, Lsn position) {
  if (!log.recording.load(std::memory_order_relaxed)) return;
  const auto at = Clock::now();
  std::lock_guard<std::mutex> lock(log.mu);
  log.events.push_back({at, position.value});
}

}  // namespace

FeedReaders::FeedReaders(canopy::cdc::Replica& replica, uint64_t readers, const std::string& over)
    : over_(over) {
  if (over_ != "process" && over_ != "unix") {
    Die("CANOPY_CDC_BENCH_FEED_OVER is 'process' or 'unix', not '" + over_ + "'");
  }
  std::string socket;
  if (over_ == "unix") {
    char dir[] = "/tmp/canopy-cdc-bench.XXXXXX";
    if (::mkdtemp(dir) == nullptr) Die("mkdtemp");
    socket_dir_ = dir;
    socket = socket_dir_ + "/canopy.sock";
    canopy::net::ServerOptions options;
    options.tcp_listen.clear();
    options.unix_path = socket;
    options.threads = 2;
    options.feed = replica.feed();
    server_ = OrDie(canopy::net::Server::Start(std::move(options), replica.index()));
  }
  for (uint64_t i = 0; i < readers; ++i) {
    logs_.push_back(std::make_unique<AppliedLog>());
    AppliedLog& log = *logs_.back();
    cpu_seconds_.push_back(std::make_unique<std::atomic<double>>(0));
    std::atomic<double>& cpu = *cpu_seconds_.back();
    if (over_ == "process") {
      auto sub = replica.Subscribe(Lsn(), {});
      if (!sub.ok()) Die("subscribe: " + sub.status().ToString());
      threads_.emplace_back([this, &log, &cpu, s = std::move(sub).value()] {
        std::vector<SharedFeedTransaction> batch;
        while (!stop_.load()) {
          if (!s->Next(&batch, std::chrono::milliseconds(50)).ok()) return;
          if (!batch.empty()) Record(log, s->position());
          cpu.store(testing::CpuClockSeconds(CLOCK_THREAD_CPUTIME_ID), std::memory_order_relaxed);
        }
      });
    } else {
      canopy::net::ClientOptions options;
      options.unix_path = socket;
      auto client = std::make_unique<canopy::net::Client>(options);
      if (Result<Lsn> start = client->Subscribe(Lsn()); !start.ok()) {
        Die("subscribe over the socket: " + start.status().ToString());
      }
      threads_.emplace_back([this, &log, &cpu, c = std::move(client)] {
        while (!stop_.load()) {
          auto batch = c->NextFeed(std::chrono::milliseconds(50));
          if (batch.ok()) {
            if (!batch->value.empty()) Record(log, batch->lsn);
          } else if (batch.status().code() != StatusCode::kTimeout) {
            return;
          }
          cpu.store(testing::CpuClockSeconds(CLOCK_THREAD_CPUTIME_ID), std::memory_order_relaxed);
        }
      });
    }
  }
}

FeedReaders::~FeedReaders() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  server_.reset();
  if (!socket_dir_.empty()) {
    ::unlink((socket_dir_ + "/canopy.sock").c_str());
    ::rmdir(socket_dir_.c_str());
  }
}

std::vector<AppliedLog*> FeedReaders::logs() {
  std::vector<AppliedLog*> out;
  for (auto& log : logs_) out.push_back(log.get());
  return out;
}

double FeedReaders::CpuSeconds() const {
  double seconds = 0;
  for (const auto& cpu : cpu_seconds_) seconds += cpu->load(std::memory_order_relaxed);
  return seconds;
}

bool FeedReaders::over_socket() const { return over_ == "unix"; }

std::string FeedReaders::Describe() const {
  return over_ == "process" ? "in this process"
                            : "over a Unix socket (canopy::net::Server, 2 threads)";
}

}  // namespace canopy::bench::cdc_bench
