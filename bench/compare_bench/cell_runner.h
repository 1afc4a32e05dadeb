// cell_runner.h — times one cell of the comparison: one question asked
// through one or more askers (one thread and one connection each), one
// request at a time or pipelined, for a fixed time; latency percentiles,
// requests/s and CPU time split between the clients and the server.
//
//   CellPlan plan{.seconds = 0.5};
//   CellStats s = RunCell({asker.get()}, question, plan);
//   // s.p50_us, s.p99_us, s.requests_per_s, s.server_cpu_us_per_request() ...
//
// CPU: every client thread reads CLOCK_THREAD_CPUTIME_ID around its timed
// loop; the process's CLOCK_PROCESS_CPUTIME_ID and the CPU time of the
// server processes named by the askers (PostgreSQL backends, from
// /proc/PID/stat, 10 ms ticks) are read around the timed window. canopy's
// server runs inside this process, so its CPU is the process's minus the
// client threads' (the idle replication thread is counted with it).
//
// THREAD SAFETY: RunCell uses the askers from its own threads and returns
// after joining them; do not use the askers meanwhile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canopy/testing/askers.h"
#include "canopy/testing/questions.h"

namespace canopy::bench::compare {

// The questions and askers of canopy::testing, by their short names here.
using testing::Answer;
using testing::Asker;
using testing::DescribeAnswer;
using testing::kQuestionKindCount;
using testing::kSqlFormCount;
using testing::MakeCanopyNetAsker;
using testing::MakeInProcessAsker;
using testing::PgAsker;
using testing::PgConnection;
using testing::PickQuestions;
using testing::Question;
using testing::QuestionKind;
using testing::QuestionKindName;
using testing::SqlForm;
using testing::SqlFormName;
using testing::SqlText;

struct CellPlan {
  double seconds = 0.5;          // timed window
  double warmup_seconds = 0.05;  // untimed, before it
  // Keep going past `seconds` until this many answers, but never past max_seconds.
  uint64_t min_samples = 5;
  double max_seconds = 10;
  int in_flight = 1;  // > 1: pipelined through Send/Receive with this many outstanding
};

struct CellStats {
  uint64_t samples = 0;
  double p50_us = 0, p99_us = 0, mean_us = 0;
  double requests_per_s = 0;
  double wall_seconds = 0;
  double client_cpu_seconds = 0;    // the client threads together
  double process_cpu_seconds = 0;   // this process (clients + in-process server)
  double backend_cpu_seconds = -1;  // the askers' server processes; -1: none
  uint64_t errors = 0;              // failed requests or answers of the wrong size
  std::string first_error;

  // Server CPU per answered request: the backends' when there are any, else
  // this process's minus the clients'.
  double server_cpu_us_per_request() const;
  double client_cpu_us_per_request() const;
};

// Asks `question` through every asker at once, each from its own thread.
// REQUIRES: askers non-empty; question.expected_ids set (answers of another
// size count as errors).
CellStats RunCell(const std::vector<Asker*>& askers, const Question& question,
                  const CellPlan& plan);

}  // namespace canopy::bench::compare
