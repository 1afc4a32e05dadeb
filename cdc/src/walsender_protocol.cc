// walsender_protocol.cc — the replication CopyBoth envelope.
#include "canopy/cdc/walsender_protocol.h"

#include <chrono>
#include <string>

#include "byte_reader.h"

namespace canopy::cdc {

namespace {
constexpr int64_t kUnixToPgEpochSeconds = 946'684'800;

void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}
}  // namespace

Status ParseCopyData(std::span<const uint8_t> bytes, CopyDataMessage* out) {
  if (bytes.empty()) return Status::DataLoss("replication stream: empty CopyData message");
  internal::ByteReader r(bytes.subspan(1));
  switch (bytes[0]) {
    case 'w': {
      uint64_t start = 0, end = 0;
      int64_t time = 0;
      if (!r.ReadU64(&start) || !r.ReadU64(&end) || !r.ReadI64(&time)) {
        return Status::DataLoss("replication stream: XLogData header cut short (" +
                                std::to_string(bytes.size()) + " bytes, need 25)");
      }
      out->kind = CopyDataMessage::Kind::kXLogData;
      out->xlog.data_start = Lsn(start);
      out->xlog.wal_end = Lsn(end);
      out->xlog.send_time = time;
      out->xlog.payload = bytes.subspan(1 + 24);
      return Status();
    }
    case 'k': {
      uint64_t end = 0;
      int64_t time = 0;
      uint8_t reply = 0;
      if (!r.ReadU64(&end) || !r.ReadI64(&time) || !r.ReadU8(&reply)) {
        return Status::DataLoss("replication stream: keepalive cut short (" +
                                std::to_string(bytes.size()) + " bytes, need 18)");
      }
      if (!r.at_end()) return Status::DataLoss("replication stream: keepalive has trailing bytes");
      out->kind = CopyDataMessage::Kind::kKeepalive;
      out->keepalive.wal_end = Lsn(end);
      out->keepalive.send_time = time;
      out->keepalive.reply_requested = reply != 0;
      return Status();
    }
    default: {
      static const char kDigits[] = "0123456789abcdef";
      std::string hex = {kDigits[bytes[0] >> 4], kDigits[bytes[0] & 15]};
      return Status::DataLoss("replication stream: unknown CopyData message type 0x" + hex);
    }
  }
}

std::array<uint8_t, kStandbyStatusUpdateSize> EncodeStandbyStatusUpdate(const StandbyStatus& s) {
  std::array<uint8_t, kStandbyStatusUpdateSize> out{};
  out[0] = 'r';
  PutU64(&out[1], s.write.value);
  PutU64(&out[9], s.flush.value);
  PutU64(&out[17], s.apply.value);
  PutU64(&out[25], static_cast<uint64_t>(s.client_time));
  out[33] = s.reply_requested ? 1 : 0;
  return out;
}

int64_t PgEpochMicrosToUnixMillis(int64_t pg_epoch_micros) {
  return pg_epoch_micros / 1000 + kUnixToPgEpochSeconds * 1000;
}

int64_t PgEpochMicrosNow() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::microseconds>(now).count() -
         kUnixToPgEpochSeconds * 1'000'000;
}

}  // namespace canopy::cdc
