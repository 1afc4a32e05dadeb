// row_builder.cc — text values to canopy rows.
#include "row_builder.h"

#include <charconv>
#include <limits>
#include <string>

#include "canopy/status.h"

namespace canopy::cdc::internal {

bool ParseInt64(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

bool ParseBool(std::string_view text, bool* out) {
  if (text == "t" || text == "true") {
    *out = true;
    return true;
  }
  if (text == "f" || text == "false") {
    *out = false;
    return true;
  }
  return false;
}

namespace {

Status Malformed(Table table, int field, std::string_view text) {
  std::string shown(text.substr(0, 64));
  return Status::DataLoss(
      std::string("row for ") + TableName(table) + ": field " + std::to_string(field) +
      " is not a valid " +
      (KindOfField(table, field) == FieldKind::kBoolean ? "boolean" : "integer") + ": '" + shown +
      "'");
}

// Reads fields[1..] into `row` through `set(field, value)`; builds the mask.
class FieldReader {
 public:
  FieldReader(Table table, std::span<const FieldValue> fields) : table_(table), fields_(fields) {}

  ColumnMask mask() const { return mask_; }

  // Each returns OK and leaves *out alone when the field is absent.
  Status Int(int field, int64_t* out, int64_t if_null) {
    const FieldValue& f = fields_[static_cast<size_t>(field)];
    if (f.state == FieldState::kAbsent) return Status();
    Mark(field);
    if (f.state == FieldState::kNull) {
      *out = if_null;
      return Status();
    }
    return ParseInt64(f.text, out) ? Status() : Malformed(table_, field, f.text);
  }
  Status Int32(int field, int32_t* out, int32_t if_null) {
    int64_t v = *out;
    Status s = Int(field, &v, if_null);
    if (!s.ok()) return s;
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      return Malformed(table_, field, fields_[static_cast<size_t>(field)].text);
    }
    *out = static_cast<int32_t>(v);
    return Status();
  }
  Status OptionalInt(int field, std::optional<int64_t>* out) {
    const FieldValue& f = fields_[static_cast<size_t>(field)];
    if (f.state == FieldState::kAbsent) return Status();
    Mark(field);
    if (f.state == FieldState::kNull) {
      out->reset();
      return Status();
    }
    int64_t v;
    if (!ParseInt64(f.text, &v)) return Malformed(table_, field, f.text);
    *out = v;
    return Status();
  }
  Status Bool(int field, bool* out) {
    const FieldValue& f = fields_[static_cast<size_t>(field)];
    if (f.state == FieldState::kAbsent) return Status();
    Mark(field);
    if (f.state == FieldState::kNull) {
      *out = false;
      return Status();
    }
    return ParseBool(f.text, out) ? Status() : Malformed(table_, field, f.text);
  }
  void Text(int field, std::string* out) {
    const FieldValue& f = fields_[static_cast<size_t>(field)];
    if (f.state == FieldState::kAbsent) return;
    Mark(field);
    if (f.state == FieldState::kNull) {
      out->clear();
    } else {
      out->assign(f.text);
    }
  }
  // The namespace type column: its text, NULL = 'User'.
  void Type(int field, NamespaceType* out) {
    const FieldValue& f = fields_[static_cast<size_t>(field)];
    if (f.state == FieldState::kAbsent) return;
    Mark(field);
    *out = f.state == FieldState::kNull ? NamespaceType::kUser : NamespaceTypeFromName(f.text);
  }

 private:
  void Mark(int field) { mask_ |= ColumnMask{1} << (field - 1); }

  Table table_;
  std::span<const FieldValue> fields_;
  ColumnMask mask_ = 0;
};

}  // namespace

Status ParseKey(Table table, const FieldValue& key, int64_t* out) {
  if (key.state != FieldState::kValue) {
    return Status::DataLoss(std::string("row for ") + TableName(table) +
                            " has no key value (is the replica identity the mapped key column?)");
  }
  if (!ParseInt64(key.text, out)) return Malformed(table, 0, key.text);
  return Status();
}

Status BuildUpsert(Table table, std::span<const FieldValue> fields, RowChange* out) {
  if (static_cast<int>(fields.size()) != FieldCount(table)) {
    return Status::Internal("BuildUpsert: wrong field count");
  }
  int64_t id;
  CANOPY_RETURN_IF_ERROR(ParseKey(table, fields[0], &id));
  FieldReader r(table, fields);
  switch (table) {
    case Table::kNamespaces: {
      NamespaceRow row;
      row.id = id;
      CANOPY_RETURN_IF_ERROR(r.OptionalInt(kNamespaceParentId, &row.parent_id));
      r.Type(kNamespaceType, &row.type);
      r.Text(kNamespaceName, &row.name);
      r.Text(kNamespacePath, &row.path);
      CANOPY_RETURN_IF_ERROR(r.Int32(kNamespaceVisibilityLevel, &row.visibility_level, 20));
      row.present = r.mask();
      out->emplace<UpsertNamespace>(UpsertNamespace{std::move(row)});
      return Status();
    }
    case Table::kProjects: {
      ProjectRow row;
      row.id = id;
      CANOPY_RETURN_IF_ERROR(r.Int(kProjectNamespaceId, &row.namespace_id, 0));
      CANOPY_RETURN_IF_ERROR(r.OptionalInt(kProjectProjectNamespaceId, &row.project_namespace_id));
      r.Text(kProjectName, &row.name);
      r.Text(kProjectPath, &row.path);
      CANOPY_RETURN_IF_ERROR(r.Int32(kProjectVisibilityLevel, &row.visibility_level, 0));
      CANOPY_RETURN_IF_ERROR(r.Bool(kProjectArchived, &row.archived));
      CANOPY_RETURN_IF_ERROR(r.Bool(kProjectPendingDelete, &row.pending_delete));
      row.present = r.mask();
      out->emplace<UpsertProject>(UpsertProject{std::move(row)});
      return Status();
    }
    case Table::kRunnerLinks: {
      RunnerLinkRow row;
      row.id = id;
      CANOPY_RETURN_IF_ERROR(r.Int(kRunnerLinkRunnerId, &row.runner_id, 0));
      CANOPY_RETURN_IF_ERROR(r.Int(kRunnerLinkNamespaceId, &row.namespace_id, 0));
      row.present = r.mask();
      out->emplace<UpsertRunnerLink>(UpsertRunnerLink{row});
      return Status();
    }
  }
  return Status::Internal("BuildUpsert: unknown table");
}

void SetDelete(Table table, int64_t id, RowChange* out) {
  switch (table) {
    case Table::kNamespaces:
      out->emplace<DeleteNamespace>(DeleteNamespace{id});
      return;
    case Table::kProjects:
      out->emplace<DeleteProject>(DeleteProject{id});
      return;
    case Table::kRunnerLinks:
      out->emplace<DeleteRunnerLink>(DeleteRunnerLink{id});
      return;
  }
}

}  // namespace canopy::cdc::internal
