// copy_baselines.h — what PostgreSQL's COPY delivers, as the base of the
// snapshot load's ratio: the mapped columns of the three tables COPYed TO
// STDOUT on one connection (text or binary), and the snapshot loader's own
// id-range pieces COPYed in parallel without parsing.
//
// THREAD SAFETY: main-thread functions (CopyPiecesParallel runs its own
// threads, one connection each). They die on PostgreSQL errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canopy/cdc/table_mapping.h"
#include "common.h"

namespace canopy::bench::cdc_bench {

struct Timed {
  double seconds = 0;
  double cpu = 0;  // this process
  uint64_t bytes = 0;
};

// The snapshot loader's pieces (cdc/src/snapshot_loader.cc, Plan) as COPY
// statements: tables with more than `split` estimated rows cut into id
// ranges, at most 64 pieces.
std::vector<std::string> LoaderPieces(PgConnection& db, const canopy::cdc::TableMapping& m,
                                      uint64_t split);

// COPY of every mapped table with its mapped columns on one connection (one
// after another, as CopyPiecesParallel with one worker); `options` follows
// "TO STDOUT" (e.g. " (FORMAT binary)").
Timed CopyTables(const std::string& conninfo, const canopy::cdc::TableMapping& m,
                 const char* options);

// The `pieces` (COPY statements) on `workers` connections, data discarded.
Timed CopyPiecesParallel(const std::string& conninfo, const std::vector<std::string>& pieces,
                         int workers);

}  // namespace canopy::bench::cdc_bench
