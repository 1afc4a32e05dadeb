// canopy/cdc/pgoutput.h — a pure parser for pgoutput (protocol version 1)
// logical replication messages.
//
// Each XLogData ('w') payload of a logical replication stream carries exactly
// one pgoutput message. PgOutputDecoder turns those bytes into a
// PgOutputMessage. It never touches the network or libpq, never reads outside
// the given span, and reports malformed or truncated input (and message types
// that protocol version 1 does not have) as a kDataLoss Status naming the
// message, the field and the byte offset.
//
//   canopy::cdc::PgOutputDecoder decoder;
//   canopy::cdc::PgOutputMessage msg;   // reuse it: its vectors keep their capacity
//   if (canopy::Status s = decoder.Decode(payload, &msg); !s.ok()) { stop(s); }
//   switch (msg.type) {
//     case canopy::cdc::PgOutputMessageType::kInsert: use(msg.insert.new_tuple); break;
//     ...
//   }
//
// LIFETIME: string_views inside a decoded message (tuple values, origin name,
// type names, logical message prefix/content) point into the input span and
// are valid only while it is. RelationMessage owns its strings (it is cached).
//
// Wire format: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
// (all integers big-endian, strings NUL-terminated). See docs/design/cdc-notes.md §2.
//
// THREAD SAFETY: PgOutputDecoder is stateless; Decode may be called from any
// number of threads with distinct output messages.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/status.h"

namespace canopy::cdc {

// The message tag byte.
enum class PgOutputMessageType : uint8_t {
  kBegin = 'B',
  kCommit = 'C',
  kOrigin = 'O',
  kRelation = 'R',
  kType = 'Y',
  kInsert = 'I',
  kUpdate = 'U',
  kDelete = 'D',
  kTruncate = 'T',
  kMessage = 'M',
};

// Returns "Begin", "Commit", ... ("?" for anything else).
const char* PgOutputMessageTypeName(PgOutputMessageType type);

// One column value of a TupleData.
enum class TupleValueKind : uint8_t {
  kNull = 'n',
  kUnchangedToast = 'u',  // an unchanged TOASTed value that was not sent
  kText = 't',            // `data` is the value's text form
  kBinary = 'b',          // only with the `binary` option (not used by canopy)
};

struct TupleValue {
  TupleValueKind kind = TupleValueKind::kNull;
  std::string_view data;  // kText/kBinary only; points into the input
};

struct TupleData {
  std::vector<TupleValue> values;  // one per column, in Relation column order
};

struct BeginMessage {
  Lsn final_lsn;            // LSN of the commit record
  int64_t commit_time = 0;  // microseconds since 2000-01-01 UTC
  uint32_t xid = 0;
};

struct CommitMessage {
  uint8_t flags = 0;
  Lsn commit_lsn;  // start of the commit record
  Lsn end_lsn;     // end of the commit record: the position to apply/acknowledge
  int64_t commit_time = 0;
};

struct OriginMessage {
  Lsn commit_lsn;  // on the origin server
  std::string_view name;
};

struct RelationColumn {
  bool is_key = false;  // flags bit 0: part of the replica identity
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
};

struct RelationMessage {
  uint32_t relation_id = 0;
  std::string namespace_name;  // "" means pg_catalog
  std::string relation_name;
  char replica_identity = 'd';  // relreplident: 'd', 'n', 'f' or 'i'
  std::vector<RelationColumn> columns;
};

struct TypeMessage {
  uint32_t type_id = 0;
  std::string_view namespace_name;
  std::string_view type_name;
};

struct InsertMessage {
  uint32_t relation_id = 0;
  TupleData new_tuple;
};

// The old-row part of an Update or Delete.
enum class OldTupleKind : uint8_t {
  kNone = 0,    // Update only: the key did not change; read it from new_tuple
  kKey = 'K',   // replica identity DEFAULT/INDEX: key columns (others are null)
  kFull = 'O',  // replica identity FULL: the whole old row
};

struct UpdateMessage {
  uint32_t relation_id = 0;
  OldTupleKind old_kind = OldTupleKind::kNone;
  TupleData old_tuple;  // empty when old_kind == kNone
  TupleData new_tuple;
};

struct DeleteMessage {
  uint32_t relation_id = 0;
  OldTupleKind old_kind = OldTupleKind::kKey;  // never kNone
  TupleData old_tuple;
};

struct TruncateMessage {
  static constexpr uint8_t kCascade = 1;
  static constexpr uint8_t kRestartIdentity = 2;
  uint8_t options = 0;
  std::vector<uint32_t> relation_ids;
};

// pg_logical_emit_message() output (only with the `messages` option).
struct LogicalMessage {
  static constexpr uint8_t kTransactional = 1;
  uint8_t flags = 0;
  Lsn lsn;
  std::string_view prefix;
  std::string_view content;
};

// A decoded message. Only the member named by `type` is meaningful; the
// others keep whatever an earlier Decode left (so their buffers are reused).
struct PgOutputMessage {
  PgOutputMessageType type = PgOutputMessageType::kBegin;
  BeginMessage begin;
  CommitMessage commit;
  OriginMessage origin;
  RelationMessage relation;
  TypeMessage type_info;
  InsertMessage insert;
  UpdateMessage update;
  DeleteMessage del;
  TruncateMessage truncate;
  LogicalMessage message;
};

class PgOutputDecoder {
 public:
  // Decodes one whole pgoutput v1 message. The message must use every byte
  // of `payload` (trailing bytes are an error).
  // Errors (kDataLoss): empty input, unknown or non-v1 tag, a field cut off
  // by the end of input, a string without its NUL, a negative count or
  // length, an unknown tuple value kind, trailing bytes.
  // Cost: O(size of payload); allocates only when `out`'s vectors grow.
  Status Decode(std::span<const uint8_t> payload, PgOutputMessage* out) const;
};

}  // namespace canopy::cdc
