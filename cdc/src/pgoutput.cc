// pgoutput.cc — PgOutputDecoder: pgoutput protocol v1 messages from bytes.
#include "canopy/cdc/pgoutput.h"

#include <string>

#include "byte_reader.h"
#include "canopy/status.h"

namespace canopy::cdc {
namespace {

using internal::ByteReader;

// Holds the decoding position and builds errors that name the message, the
// field and the offset.
class Parser {
 public:
  // `payload` includes the tag byte, so offsets in errors count from it.
  Parser(std::span<const uint8_t> payload, const char* message)
      : reader_(payload), message_(message) {
    uint8_t tag = 0;
    (void)reader_.ReadU8(&tag);
  }

  ByteReader& reader() { return reader_; }

  Status Truncated(const char* field) const {
    return Status::DataLoss(std::string("pgoutput ") + message_ + ": input ends at offset " +
                            std::to_string(reader_.offset()) + " inside " + field);
  }
  Status Invalid(const std::string& what) const {
    return Status::DataLoss(std::string("pgoutput ") + message_ + ": " + what + " at offset " +
                            std::to_string(reader_.offset()));
  }

  Status U8(const char* field, uint8_t* out) {
    return reader_.ReadU8(out) ? Status() : Truncated(field);
  }
  Status I16(const char* field, int16_t* out) {
    return reader_.ReadI16(out) ? Status() : Truncated(field);
  }
  Status U32(const char* field, uint32_t* out) {
    return reader_.ReadU32(out) ? Status() : Truncated(field);
  }
  Status I32(const char* field, int32_t* out) {
    return reader_.ReadI32(out) ? Status() : Truncated(field);
  }
  Status I64(const char* field, int64_t* out) {
    return reader_.ReadI64(out) ? Status() : Truncated(field);
  }
  Status LsnField(const char* field, Lsn* out) {
    uint64_t v = 0;
    if (!reader_.ReadU64(&v)) return Truncated(field);
    *out = Lsn(v);
    return Status();
  }
  Status CString(const char* field, std::string_view* out) {
    if (reader_.ReadCString(out)) return Status();
    return Invalid(std::string("string ") + field + " has no terminating NUL");
  }

  // TupleData: Int16 ncols, then per column a kind byte and, for 't'/'b',
  // Int32 length + bytes.
  Status Tuple(const char* which, TupleData* out) {
    int16_t ncols = 0;
    if (!reader_.ReadI16(&ncols)) return Truncated(which);
    if (ncols < 0) return Invalid(std::string(which) + " has a negative column count");
    // Each column takes at least one byte: refuse counts the input cannot
    // hold before allocating for them.
    if (static_cast<size_t>(ncols) > reader_.remaining()) return Truncated(which);
    out->values.resize(static_cast<size_t>(ncols));
    for (int i = 0; i < ncols; ++i) {
      TupleValue& v = out->values[static_cast<size_t>(i)];
      uint8_t kind = 0;
      if (!reader_.ReadU8(&kind)) return Truncated(which);
      switch (kind) {
        case 'n':
          v.kind = TupleValueKind::kNull;
          v.data = {};
          break;
        case 'u':
          v.kind = TupleValueKind::kUnchangedToast;
          v.data = {};
          break;
        case 't':
        case 'b': {
          v.kind = kind == 't' ? TupleValueKind::kText : TupleValueKind::kBinary;
          int32_t len = 0;
          if (!reader_.ReadI32(&len)) return Truncated(which);
          if (len < 0) {
            return Invalid(std::string(which) + " column " + std::to_string(i) +
                           " has a negative length");
          }
          if (!reader_.ReadBytes(static_cast<size_t>(len), &v.data)) return Truncated(which);
          break;
        }
        default:
          return Invalid(std::string(which) + " column " + std::to_string(i) +
                         " has unknown value kind 0x" + Hex(kind));
      }
    }
    return Status();
  }

  Status End() const {
    if (reader_.at_end()) return Status();
    return Status::DataLoss(std::string("pgoutput ") + message_ + ": " +
                            std::to_string(reader_.remaining()) + " trailing byte(s) at offset " +
                            std::to_string(reader_.offset()));
  }

  static std::string Hex(uint8_t b) {
    static const char kDigits[] = "0123456789abcdef";
    return {kDigits[b >> 4], kDigits[b & 15]};
  }

 private:
  ByteReader reader_;
  const char* message_;
};

Status DecodeBegin(Parser& p, BeginMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.LsnField("final_lsn", &m->final_lsn));
  CANOPY_RETURN_IF_ERROR(p.I64("commit_time", &m->commit_time));
  CANOPY_RETURN_IF_ERROR(p.U32("xid", &m->xid));
  return p.End();
}

Status DecodeCommit(Parser& p, CommitMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.U8("flags", &m->flags));
  CANOPY_RETURN_IF_ERROR(p.LsnField("commit_lsn", &m->commit_lsn));
  CANOPY_RETURN_IF_ERROR(p.LsnField("end_lsn", &m->end_lsn));
  CANOPY_RETURN_IF_ERROR(p.I64("commit_time", &m->commit_time));
  return p.End();
}

Status DecodeOrigin(Parser& p, OriginMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.LsnField("commit_lsn", &m->commit_lsn));
  CANOPY_RETURN_IF_ERROR(p.CString("name", &m->name));
  return p.End();
}

Status DecodeRelation(Parser& p, RelationMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.U32("relation_id", &m->relation_id));
  std::string_view nspname, relname;
  CANOPY_RETURN_IF_ERROR(p.CString("namespace", &nspname));
  CANOPY_RETURN_IF_ERROR(p.CString("relation name", &relname));
  m->namespace_name.assign(nspname);
  m->relation_name.assign(relname);
  uint8_t ident = 0;
  CANOPY_RETURN_IF_ERROR(p.U8("replica identity", &ident));
  if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i') {
    return p.Invalid("unknown replica identity 0x" + Parser::Hex(ident));
  }
  m->replica_identity = static_cast<char>(ident);
  int16_t ncols = 0;
  CANOPY_RETURN_IF_ERROR(p.I16("column count", &ncols));
  if (ncols < 0) return p.Invalid("negative column count");
  // A column takes at least 10 bytes (flags, NUL, type oid, typmod).
  if (static_cast<size_t>(ncols) * 10 > p.reader().remaining()) return p.Truncated("columns");
  m->columns.resize(static_cast<size_t>(ncols));
  for (RelationColumn& c : m->columns) {
    uint8_t flags = 0;
    CANOPY_RETURN_IF_ERROR(p.U8("column flags", &flags));
    c.is_key = (flags & 1) != 0;
    std::string_view name;
    CANOPY_RETURN_IF_ERROR(p.CString("column name", &name));
    c.name.assign(name);
    CANOPY_RETURN_IF_ERROR(p.U32("column type oid", &c.type_oid));
    CANOPY_RETURN_IF_ERROR(p.I32("column type modifier", &c.type_modifier));
  }
  return p.End();
}

Status DecodeType(Parser& p, TypeMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.U32("type oid", &m->type_id));
  CANOPY_RETURN_IF_ERROR(p.CString("namespace", &m->namespace_name));
  CANOPY_RETURN_IF_ERROR(p.CString("type name", &m->type_name));
  return p.End();
}

Status ExpectTag(Parser& p, char want, const char* field) {
  uint8_t tag = 0;
  CANOPY_RETURN_IF_ERROR(p.U8(field, &tag));
  if (tag != static_cast<uint8_t>(want)) {
    return p.Invalid(std::string("expected '") + want + "' before " + field + ", got 0x" +
                     Parser::Hex(tag));
  }
  return Status();
}

Status DecodeInsert(Parser& p, InsertMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.U32("relation_id", &m->relation_id));
  CANOPY_RETURN_IF_ERROR(ExpectTag(p, 'N', "new tuple"));
  CANOPY_RETURN_IF_ERROR(p.Tuple("new tuple", &m->new_tuple));
  return p.End();
}

Status DecodeUpdate(Parser& p, UpdateMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.U32("relation_id", &m->relation_id));
  uint8_t tag = 0;
  CANOPY_RETURN_IF_ERROR(p.U8("tuple tag", &tag));
  m->old_tuple.values.clear();
  if (tag == 'K' || tag == 'O') {
    m->old_kind = tag == 'K' ? OldTupleKind::kKey : OldTupleKind::kFull;
    CANOPY_RETURN_IF_ERROR(p.Tuple("old tuple", &m->old_tuple));
    CANOPY_RETURN_IF_ERROR(ExpectTag(p, 'N', "new tuple"));
  } else if (tag == 'N') {
    m->old_kind = OldTupleKind::kNone;
  } else {
    return p.Invalid("expected 'K', 'O' or 'N', got 0x" + Parser::Hex(tag));
  }
  CANOPY_RETURN_IF_ERROR(p.Tuple("new tuple", &m->new_tuple));
  return p.End();
}

Status DecodeDelete(Parser& p, DeleteMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.U32("relation_id", &m->relation_id));
  uint8_t tag = 0;
  CANOPY_RETURN_IF_ERROR(p.U8("tuple tag", &tag));
  if (tag != 'K' && tag != 'O') return p.Invalid("expected 'K' or 'O', got 0x" + Parser::Hex(tag));
  m->old_kind = tag == 'K' ? OldTupleKind::kKey : OldTupleKind::kFull;
  CANOPY_RETURN_IF_ERROR(p.Tuple("old tuple", &m->old_tuple));
  return p.End();
}

Status DecodeTruncate(Parser& p, TruncateMessage* m) {
  int32_t nrels = 0;
  CANOPY_RETURN_IF_ERROR(p.I32("relation count", &nrels));
  if (nrels < 0) return p.Invalid("negative relation count");
  CANOPY_RETURN_IF_ERROR(p.U8("options", &m->options));
  if (static_cast<uint64_t>(nrels) * 4 > p.reader().remaining()) return p.Truncated("relation ids");
  m->relation_ids.resize(static_cast<size_t>(nrels));
  for (uint32_t& id : m->relation_ids) CANOPY_RETURN_IF_ERROR(p.U32("relation id", &id));
  return p.End();
}

Status DecodeMessage(Parser& p, LogicalMessage* m) {
  CANOPY_RETURN_IF_ERROR(p.U8("flags", &m->flags));
  CANOPY_RETURN_IF_ERROR(p.LsnField("lsn", &m->lsn));
  CANOPY_RETURN_IF_ERROR(p.CString("prefix", &m->prefix));
  int32_t len = 0;
  CANOPY_RETURN_IF_ERROR(p.I32("content length", &len));
  if (len < 0) return p.Invalid("negative content length");
  if (!p.reader().ReadBytes(static_cast<size_t>(len), &m->content)) return p.Truncated("content");
  return p.End();
}

}  // namespace

const char* PgOutputMessageTypeName(PgOutputMessageType type) {
  switch (type) {
    case PgOutputMessageType::kBegin:
      return "Begin";
    case PgOutputMessageType::kCommit:
      return "Commit";
    case PgOutputMessageType::kOrigin:
      return "Origin";
    case PgOutputMessageType::kRelation:
      return "Relation";
    case PgOutputMessageType::kType:
      return "Type";
    case PgOutputMessageType::kInsert:
      return "Insert";
    case PgOutputMessageType::kUpdate:
      return "Update";
    case PgOutputMessageType::kDelete:
      return "Delete";
    case PgOutputMessageType::kTruncate:
      return "Truncate";
    case PgOutputMessageType::kMessage:
      return "Message";
  }
  return "?";
}

Status PgOutputDecoder::Decode(std::span<const uint8_t> payload, PgOutputMessage* out) const {
  if (payload.empty()) return Status::DataLoss("pgoutput: empty message");
  const uint8_t tag = payload[0];
  const auto type = static_cast<PgOutputMessageType>(tag);
  const char* name = PgOutputMessageTypeName(type);
  Parser p(payload, name);
  Status s;
  switch (type) {
    case PgOutputMessageType::kBegin:
      s = DecodeBegin(p, &out->begin);
      break;
    case PgOutputMessageType::kCommit:
      s = DecodeCommit(p, &out->commit);
      break;
    case PgOutputMessageType::kOrigin:
      s = DecodeOrigin(p, &out->origin);
      break;
    case PgOutputMessageType::kRelation:
      s = DecodeRelation(p, &out->relation);
      break;
    case PgOutputMessageType::kType:
      s = DecodeType(p, &out->type_info);
      break;
    case PgOutputMessageType::kInsert:
      s = DecodeInsert(p, &out->insert);
      break;
    case PgOutputMessageType::kUpdate:
      s = DecodeUpdate(p, &out->update);
      break;
    case PgOutputMessageType::kDelete:
      s = DecodeDelete(p, &out->del);
      break;
    case PgOutputMessageType::kTruncate:
      s = DecodeTruncate(p, &out->truncate);
      break;
    case PgOutputMessageType::kMessage:
      s = DecodeMessage(p, &out->message);
      break;
    default: {
      std::string what = "pgoutput: unknown message type 0x" + Parser::Hex(tag);
      if (tag >= 0x20 && tag < 0x7f) what += std::string(" ('") + static_cast<char>(tag) + "')";
      if (tag == 'S' || tag == 'E' || tag == 'c' || tag == 'A' || tag == 'b' || tag == 'P' ||
          tag == 'K' || tag == 'r' || tag == 'p') {
        what += "; streaming and two-phase messages need proto_version >= 2, canopy asks for 1";
      }
      return Status::DataLoss(std::move(what));
    }
  }
  if (s.ok()) out->type = type;
  return s;
}

}  // namespace canopy::cdc
