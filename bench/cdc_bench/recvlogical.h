// recvlogical.h — PostgreSQL's own logical decoding client as the apply
// throughput's base: pg_recvlogical (pgoutput, proto_version 1, the canopy
// publication) draining a slot to /dev/null up to an end position, with its
// CPU time and its walsender's.
//
// THREAD SAFETY: main-thread functions; they die on errors.
#pragma once

#include <string>

#include "common.h"

namespace canopy::bench::cdc_bench {

struct RecvResult {
  double seconds = 0;
  double cpu = 0;             // pg_recvlogical itself
  double walsender_cpu = -1;  // its walsender (last sample before it ended)
  double sys_cpu = 0;         // pg_recvlogical's system part
  long switches = 0;          // pg_recvlogical's context switches
};

// Runs `bindir`/pg_recvlogical on `slot` until `endpos` and waits for it;
// `db` samples the walsender's process id meanwhile.
RecvResult RunRecvLogical(PgConnection& db, const std::string& bindir, const std::string& conninfo,
                          const std::string& slot, const std::string& endpos);

// The process id of the walsender serving `slot` (0 when inactive).
int SlotPid(PgConnection& db, const std::string& slot);

}  // namespace canopy::bench::cdc_bench
