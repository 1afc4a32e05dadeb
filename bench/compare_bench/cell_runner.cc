// cell_runner.cc — see cell_runner.h.
#include "cell_runner.h"

#include <time.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <deque>
#include <mutex>
#include <thread>

#include "canopy/testing/child_process.h"
#include "canopy/testing/stats.h"

namespace canopy::bench::compare {

namespace {

using Clock = std::chrono::steady_clock;
using testing::CpuClockSeconds;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What one client thread measured.
struct ThreadResult {
  std::vector<uint32_t> latencies_ns;
  double cpu_seconds = 0;
  Clock::time_point finished;
  uint64_t errors = 0;
  std::string first_error;
};

class ClientLoop {
 public:
  ClientLoop(Asker* asker, const Question& q, const CellPlan& plan, uint64_t min_samples,
             ThreadResult* result)
      : asker_(asker), q_(q), plan_(plan), min_samples_(min_samples), result_(result) {}

  // Warm-up, then the two barrier phases, then the timed loop.
  void Run(std::barrier<>& sync, const Clock::time_point& start) {
    const bool pipelined = plan_.in_flight > 1;
    if (pipelined) Check(asker_->BeginPipeline());
    Loop(Clock::now() + Dur(plan_.warmup_seconds), Clock::time_point::max(), false);
    sync.arrive_and_wait();  // warmed up
    sync.arrive_and_wait();  // `start` is set
    const double cpu0 = CpuClockSeconds(CLOCK_THREAD_CPUTIME_ID);
    Loop(start + Dur(plan_.seconds), start + Dur(plan_.max_seconds), true);
    result_->cpu_seconds = CpuClockSeconds(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    result_->finished = Clock::now();
    if (pipelined) Check(asker_->EndPipeline());
  }

 private:
  static Clock::duration Dur(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }

  void Check(const Status& s) {
    if (s.ok()) return;
    if (result_->errors++ == 0) result_->first_error = s.ToString();
  }
  void CheckAnswer(const Result<size_t>& r) {
    if (!r.ok()) {
      Check(r.status());
    } else if (r.value() != q_.expected_ids) {
      Check(Status::DataLoss("answer has " + std::to_string(r.value()) + " ids, expected " +
                             std::to_string(q_.expected_ids)));
    }
  }
  void Record(bool timed, Clock::time_point sent, Clock::time_point answered) {
    if (!timed) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(answered - sent).count();
    result_->latencies_ns.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
  }
  bool Done(bool timed, Clock::time_point now, Clock::time_point deadline,
            Clock::time_point hard_deadline) const {
    if (now >= hard_deadline) return true;
    if (now < deadline) return false;
    return !timed || result_->latencies_ns.size() >= min_samples_;
  }

  void Loop(Clock::time_point deadline, Clock::time_point hard_deadline, bool timed) {
    if (plan_.in_flight <= 1) {
      for (;;) {
        const Clock::time_point sent = Clock::now();
        const Result<size_t> r = asker_->Ask(q_, nullptr);
        const Clock::time_point answered = Clock::now();
        CheckAnswer(r);
        Record(timed, sent, answered);
        if (!r.ok() || Done(timed, answered, deadline, hard_deadline)) return;
      }
    }
    // Pipelined: keep in_flight requests outstanding; answers come in order.
    while (sent_at_.size() < static_cast<size_t>(plan_.in_flight)) {
      const Status s = asker_->Send(q_);
      Check(s);
      if (!s.ok()) return;
      sent_at_.push_back(Clock::now());
    }
    for (;;) {
      const Result<size_t> r = asker_->Receive();
      const Clock::time_point answered = Clock::now();
      CheckAnswer(r);
      if (!r.ok()) return;
      Record(timed, sent_at_.front(), answered);
      sent_at_.pop_front();
      if (Done(timed, answered, deadline, hard_deadline)) return;
      const Status s = asker_->Send(q_);
      Check(s);
      if (!s.ok()) return;
      sent_at_.push_back(Clock::now());
    }
  }

  Asker* asker_;
  const Question& q_;
  const CellPlan& plan_;
  uint64_t min_samples_;
  ThreadResult* result_;
  std::deque<Clock::time_point> sent_at_;
};

}  // namespace

double CellStats::server_cpu_us_per_request() const {
  if (samples == 0) return 0;
  const double cpu =
      backend_cpu_seconds >= 0 ? backend_cpu_seconds : process_cpu_seconds - client_cpu_seconds;
  return std::max(cpu, 0.0) * 1e6 / static_cast<double>(samples);
}

double CellStats::client_cpu_us_per_request() const {
  return samples == 0 ? 0 : client_cpu_seconds * 1e6 / static_cast<double>(samples);
}

CellStats RunCell(const std::vector<Asker*>& askers, const Question& question,
                  const CellPlan& plan) {
  const size_t n = askers.size();
  std::vector<ThreadResult> results(n);
  std::barrier<> sync(static_cast<std::ptrdiff_t>(n + 1));
  Clock::time_point start;
  const uint64_t min_per_thread = (plan.min_samples + n - 1) / n;
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ClientLoop(askers[i], question, plan, min_per_thread, &results[i]).Run(sync, start);
    });
  }
  sync.arrive_and_wait();  // every client warmed up
  std::vector<int> pids;
  for (Asker* a : askers) {
    if (a->server_pid() > 0) pids.push_back(a->server_pid());
  }
  double backend0 = 0;
  for (int pid : pids) backend0 += testing::ProcessCpuSeconds(pid);
  const double process0 = CpuClockSeconds(CLOCK_PROCESS_CPUTIME_ID);
  start = Clock::now();
  sync.arrive_and_wait();  // go
  for (std::thread& t : threads) t.join();
  const double process1 = CpuClockSeconds(CLOCK_PROCESS_CPUTIME_ID);
  double backend1 = 0;
  for (int pid : pids) backend1 += testing::ProcessCpuSeconds(pid);

  CellStats stats;
  std::vector<uint32_t> all;
  Clock::time_point last = start;
  for (ThreadResult& r : results) {
    all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    stats.client_cpu_seconds += r.cpu_seconds;
    last = std::max(last, r.finished);
    stats.errors += r.errors;
    if (stats.first_error.empty()) stats.first_error = r.first_error;
  }
  stats.samples = all.size();
  stats.wall_seconds = Seconds(last - start);
  stats.process_cpu_seconds = process1 - process0;
  if (!pids.empty()) stats.backend_cpu_seconds = backend1 - backend0;
  if (!all.empty()) {
    double sum = 0;
    for (uint32_t v : all) sum += v;
    stats.mean_us = sum / all.size() / 1e3;
    stats.p50_us = testing::Percentile(all, 0.50) / 1e3;
    stats.p99_us = testing::Percentile(all, 0.99) / 1e3;
    stats.requests_per_s = stats.wall_seconds > 0 ? all.size() / stats.wall_seconds : 0;
  }
  return stats;
}

}  // namespace canopy::bench::compare
