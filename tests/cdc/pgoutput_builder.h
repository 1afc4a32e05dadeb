// pgoutput_builder.h — builds pgoutput v1 / walsender byte buffers by hand for
// the decoder and assembler tests (big-endian, NUL-terminated strings).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canopy::cdc::testing {

class Bytes {
 public:
  Bytes& U8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  Bytes& Ch(char c) { return U8(static_cast<uint8_t>(c)); }
  Bytes& I16(int16_t v) { return BigEndian(static_cast<uint16_t>(v), 2); }
  Bytes& I32(int32_t v) { return BigEndian(static_cast<uint32_t>(v), 4); }
  Bytes& U32(uint32_t v) { return BigEndian(v, 4); }
  Bytes& I64(int64_t v) { return BigEndian(static_cast<uint64_t>(v), 8); }
  Bytes& U64(uint64_t v) { return BigEndian(v, 8); }
  Bytes& Str(std::string_view s) {
    b_.insert(b_.end(), s.begin(), s.end());
    b_.push_back(0);
    return *this;
  }
  Bytes& Raw(std::string_view s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Append(const Bytes& o) {
    b_.insert(b_.end(), o.b_.begin(), o.b_.end());
    return *this;
  }
  const std::vector<uint8_t>& vec() const { return b_; }
  operator const std::vector<uint8_t>&() const { return b_; }  // NOLINT

 private:
  Bytes& BigEndian(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> b_;
};

// A tuple column: nullopt = 'n', "\x01u" sentinel = 'u', else 't' + text.
struct Col {
  enum Kind { kNull, kToast, kText } kind = kNull;
  std::string text;
  static Col Null() { return {kNull, {}}; }
  static Col Toast() { return {kToast, {}}; }
  static Col T(std::string s) { return {kText, std::move(s)}; }
};

inline Bytes Tuple(const std::vector<Col>& cols) {
  Bytes b;
  b.I16(static_cast<int16_t>(cols.size()));
  for (const Col& c : cols) {
    switch (c.kind) {
      case Col::kNull:
        b.Ch('n');
        break;
      case Col::kToast:
        b.Ch('u');
        break;
      case Col::kText:
        b.Ch('t').I32(static_cast<int32_t>(c.text.size())).Raw(c.text);
        break;
    }
  }
  return b;
}

inline Bytes Begin(uint64_t final_lsn, int64_t ts, uint32_t xid) {
  return Bytes().Ch('B').U64(final_lsn).I64(ts).U32(xid);
}
inline Bytes Commit(uint64_t commit_lsn, uint64_t end_lsn, int64_t ts, uint8_t flags = 0) {
  return Bytes().Ch('C').U8(flags).U64(commit_lsn).U64(end_lsn).I64(ts);
}
inline Bytes Origin(uint64_t lsn, std::string_view name) {
  return Bytes().Ch('O').U64(lsn).Str(name);
}

struct RelCol {
  std::string name;
  bool key = false;
  uint32_t type_oid = 20;
  int32_t typmod = -1;
};
inline Bytes Relation(uint32_t oid, std::string_view nsp, std::string_view rel,
                      const std::vector<RelCol>& cols, char ident = 'd') {
  Bytes b;
  b.Ch('R').U32(oid).Str(nsp).Str(rel).Ch(ident).I16(static_cast<int16_t>(cols.size()));
  for (const RelCol& c : cols) b.U8(c.key ? 1 : 0).Str(c.name).U32(c.type_oid).I32(c.typmod);
  return b;
}
inline Bytes Type(uint32_t oid, std::string_view nsp, std::string_view name) {
  return Bytes().Ch('Y').U32(oid).Str(nsp).Str(name);
}
inline Bytes Insert(uint32_t oid, const std::vector<Col>& cols) {
  return Bytes().Ch('I').U32(oid).Ch('N').Append(Tuple(cols));
}
// old_kind: 0 (none), 'K' or 'O'.
inline Bytes Update(uint32_t oid, char old_kind, const std::vector<Col>& old_cols,
                    const std::vector<Col>& new_cols) {
  Bytes b;
  b.Ch('U').U32(oid);
  if (old_kind != 0) b.Ch(old_kind).Append(Tuple(old_cols));
  b.Ch('N').Append(Tuple(new_cols));
  return b;
}
inline Bytes Delete(uint32_t oid, char old_kind, const std::vector<Col>& old_cols) {
  return Bytes().Ch('D').U32(oid).Ch(old_kind).Append(Tuple(old_cols));
}
inline Bytes Truncate(const std::vector<uint32_t>& oids, uint8_t options = 0) {
  Bytes b;
  b.Ch('T').I32(static_cast<int32_t>(oids.size())).U8(options);
  for (uint32_t o : oids) b.U32(o);
  return b;
}
inline Bytes Message(uint8_t flags, uint64_t lsn, std::string_view prefix,
                     std::string_view content) {
  return Bytes()
      .Ch('M')
      .U8(flags)
      .U64(lsn)
      .Str(prefix)
      .I32(static_cast<int32_t>(content.size()))
      .Raw(content);
}

}  // namespace canopy::cdc::testing
