// canopy/cdc/walsender_protocol.h — the CopyBoth envelope of a replication
// stream: XLogData ('w') and primary keepalive ('k') from the server, standby
// status updates ('r') to it. Pure functions over bytes; no libpq.
//
//   canopy::cdc::CopyDataMessage m;
//   if (Status s = canopy::cdc::ParseCopyData(bytes, &m); !s.ok()) { stop(s); }
//   if (m.kind == canopy::cdc::CopyDataMessage::Kind::kXLogData) decode(m.xlog.payload);
//
//   auto reply = canopy::cdc::EncodeStandbyStatusUpdate({.write = w, .flush = f, .apply = a,
//                                                        .client_time = PgEpochMicrosNow()});
//
// Format: https://www.postgresql.org/docs/15/protocol-replication.html (all
// integers big-endian; times are microseconds since 2000-01-01 UTC).
//
// THREAD SAFETY: stateless functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "canopy/lsn.h"
#include "canopy/status.h"

namespace canopy::cdc {

struct XLogData {
  Lsn data_start;  // 0 for messages sent "not last" (Relation, Type, ...)
  Lsn wal_end;
  int64_t send_time = 0;
  std::span<const uint8_t> payload;  // one pgoutput message; points into the input
};

struct PrimaryKeepalive {
  Lsn wal_end;  // the walsender's sent position: everything before it was sent
  int64_t send_time = 0;
  bool reply_requested = false;
};

struct CopyDataMessage {
  enum class Kind : uint8_t { kXLogData = 'w', kKeepalive = 'k' };
  Kind kind = Kind::kKeepalive;
  XLogData xlog;
  PrimaryKeepalive keepalive;
};

// Parses one CopyData payload from the server. Errors (kDataLoss): empty,
// an unknown tag, a short header, or a keepalive with trailing bytes.
Status ParseCopyData(std::span<const uint8_t> bytes, CopyDataMessage* out);

struct StandbyStatus {
  Lsn write;
  Lsn flush;  // for a logical slot only this one advances confirmed_flush_lsn
  Lsn apply;
  int64_t client_time = 0;
  bool reply_requested = false;
};

inline constexpr size_t kStandbyStatusUpdateSize = 34;

// The 34-byte 'r' message.
std::array<uint8_t, kStandbyStatusUpdateSize> EncodeStandbyStatusUpdate(
    const StandbyStatus& status);

// Microseconds since 2000-01-01 00:00:00 UTC, now (the protocol's clock).
int64_t PgEpochMicrosNow();

// A protocol time (microseconds since 2000-01-01 UTC) as milliseconds since
// the Unix epoch.
int64_t PgEpochMicrosToUnixMillis(int64_t pg_epoch_micros);

}  // namespace canopy::cdc
