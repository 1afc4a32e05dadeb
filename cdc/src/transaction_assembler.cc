// transaction_assembler.cc — pgoutput messages to canopy transactions.
#include "canopy/cdc/transaction_assembler.h"

#include <array>
#include <utility>

#include "canopy/status.h"
#include "row_builder.h"

namespace canopy::cdc {

namespace {

using internal::FieldState;
using internal::FieldValue;

constexpr int kMaxFields = 8;
constexpr uint32_t kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23, kBoolOid = 16;

bool TypeFits(FieldKind kind, uint32_t oid) {
  switch (kind) {
    case FieldKind::kInteger:
      return oid == kInt8Oid || oid == kInt4Oid || oid == kInt2Oid;
    case FieldKind::kBoolean:
      return oid == kBoolOid;
    case FieldKind::kText:
      return true;  // read in its text form
  }
  return false;
}

}  // namespace

TransactionAssembler::TransactionAssembler(TableMapping mapping) : mapping_(std::move(mapping)) {}

void TransactionAssembler::Reset() {
  bindings_.clear();
  in_transaction_ = false;
  current_ = Transaction{};
  committed_.reset();
  current_carried_.clear();
  committed_carried_.clear();
}

std::optional<Transaction> TransactionAssembler::TakeCommitted() {
  std::optional<Transaction> out = std::move(committed_);
  committed_.reset();
  return out;
}

std::vector<ChangeCarried> TransactionAssembler::TakeCommittedCarried() {
  std::vector<ChangeCarried> out = std::move(committed_carried_);
  committed_carried_.clear();
  return out;
}

Status TransactionAssembler::RequireTransaction(PgOutputMessageType type) const {
  if (in_transaction_) return Status();
  return Status::DataLoss(std::string("pgoutput ") + PgOutputMessageTypeName(type) +
                          " outside a transaction (no Begin)");
}

Status TransactionAssembler::Process(const PgOutputMessage& m) {
  switch (m.type) {
    case PgOutputMessageType::kBegin:
      if (in_transaction_)
        return Status::DataLoss("pgoutput Begin inside a transaction (no Commit)");
      if (committed_)
        return Status::FailedPrecondition("TransactionAssembler: committed transaction not taken");
      in_transaction_ = true;
      begin_final_lsn_ = m.begin.final_lsn;
      current_ = Transaction{};
      current_carried_.clear();
      committed_carried_.clear();
      return Status();
    case PgOutputMessageType::kCommit: {
      CANOPY_RETURN_IF_ERROR(RequireTransaction(m.type));
      if (m.commit.commit_lsn != begin_final_lsn_) {
        return Status::DataLoss("pgoutput Commit LSN " + m.commit.commit_lsn.ToString() +
                                " differs from Begin's final LSN " + begin_final_lsn_.ToString());
      }
      in_transaction_ = false;
      last_commit_time_ = m.commit.commit_time;
      current_.commit_lsn = m.commit.end_lsn;
      if (m.commit.end_lsn <= skip_through_) {
        ++stats_.skipped_transactions;
        current_ = Transaction{};
        current_carried_.clear();
        return Status();
      }
      ++stats_.transactions;
      stats_.changes += current_.changes.size();
      committed_ = std::move(current_);
      committed_carried_ = std::move(current_carried_);
      current_ = Transaction{};
      current_carried_.clear();
      return Status();
    }
    case PgOutputMessageType::kRelation:
      ++stats_.relations;
      return BindRelation(m.relation);
    case PgOutputMessageType::kInsert:
      CANOPY_RETURN_IF_ERROR(RequireTransaction(m.type));
      return OnInsert(m.insert);
    case PgOutputMessageType::kUpdate:
      CANOPY_RETURN_IF_ERROR(RequireTransaction(m.type));
      return OnUpdate(m.update);
    case PgOutputMessageType::kDelete:
      CANOPY_RETURN_IF_ERROR(RequireTransaction(m.type));
      return OnDelete(m.del);
    case PgOutputMessageType::kTruncate:
      CANOPY_RETURN_IF_ERROR(RequireTransaction(m.type));
      return OnTruncate(m.truncate);
    case PgOutputMessageType::kOrigin:
    case PgOutputMessageType::kType:
    case PgOutputMessageType::kMessage:
      return Status();
  }
  return Status::DataLoss("pgoutput: unexpected message type");
}

Status TransactionAssembler::BindRelation(const RelationMessage& rel) {
  Binding b;
  b.qualified_name = rel.namespace_name + "." + rel.relation_name;
  b.column_count = rel.columns.size();
  b.table = mapping_.Find(rel.namespace_name, rel.relation_name);
  if (b.table) {
    const Table table = *b.table;
    const TableSpec& spec = mapping_.Spec(table);
    b.field_column.assign(static_cast<size_t>(FieldCount(table)), -1);
    for (int f = 0; f < FieldCount(table); ++f) {
      const std::string& name = spec.columns[static_cast<size_t>(f)];
      if (name.empty()) continue;
      for (size_t c = 0; c < rel.columns.size(); ++c) {
        if (rel.columns[c].name != name) continue;
        if (!TypeFits(KindOfField(table, f), rel.columns[c].type_oid)) {
          return Status::FailedPrecondition(
              "relation " + b.qualified_name + ": column " + name + " has type oid " +
              std::to_string(rel.columns[c].type_oid) + ", canopy needs " +
              (KindOfField(table, f) == FieldKind::kBoolean ? "boolean" : "an integer"));
        }
        b.field_column[static_cast<size_t>(f)] = static_cast<int>(c);
        break;
      }
    }
    b.carried_column.assign(spec.carried_columns.size(), -1);
    for (size_t k = 0; k < spec.carried_columns.size(); ++k) {
      for (size_t c = 0; c < rel.columns.size(); ++c) {
        if (rel.columns[c].name == spec.carried_columns[k])
          b.carried_column[k] = static_cast<int>(c);
      }
    }
    if (b.field_column[0] < 0) {
      return Status::FailedPrecondition("relation " + b.qualified_name + " has no key column " +
                                        spec.columns[0]);
    }
    // A mapped column the relation does not carry (a publication column
    // list, a dropped column) would silently keep stale values: refuse.
    std::string missing;
    for (int f = 1; f < FieldCount(table); ++f) {
      const std::string& name = spec.columns[static_cast<size_t>(f)];
      if (name.empty() || b.field_column[static_cast<size_t>(f)] >= 0) continue;
      missing += (missing.empty() ? "" : ", ") + name;
    }
    for (size_t k = 0; k < spec.carried_columns.size(); ++k) {
      if (b.carried_column[k] < 0) {
        missing += (missing.empty() ? "" : ", ") + spec.carried_columns[k] + " (carried)";
      }
    }
    if (!missing.empty()) {
      return Status::FailedPrecondition(
          "relation " + b.qualified_name + " as published lacks the mapped column(s) " + missing +
          " (a publication column list, or a dropped column; map them to \"\" "
          "with --map if canopy should not read them)");
    }
  }
  bindings_[rel.relation_id] = std::move(b);
  return Status();
}

Status TransactionAssembler::FindBinding(uint32_t relation_id, const Binding** out) const {
  auto it = bindings_.find(relation_id);
  if (it == bindings_.end()) {
    return Status::DataLoss("pgoutput: change to relation " + std::to_string(relation_id) +
                            " before its Relation message");
  }
  *out = &it->second;
  return Status();
}

Status TransactionAssembler::CheckTuple(const Binding& b, const TupleData& tuple,
                                        const char* which) const {
  if (tuple.values.size() == b.column_count) return Status();
  return Status::DataLoss("pgoutput: " + std::string(which) + " of " + b.qualified_name + " has " +
                          std::to_string(tuple.values.size()) + " columns, its Relation has " +
                          std::to_string(b.column_count));
}

namespace {

// Reads column `column` of `tuple` into *out: an unchanged-TOAST value (counted
// in *unchanged_toast) comes from `fallback` (a full old row; may be null),
// else stays absent. Error: a binary value.
Status ReadValue(const TupleData& tuple, const TupleData* fallback, size_t column, FieldValue* out,
                 uint64_t* unchanged_toast) {
  const TupleValue* v = &tuple.values[column];
  if (v->kind == TupleValueKind::kUnchangedToast) {
    ++*unchanged_toast;
    if (fallback == nullptr) return Status();  // absent
    v = &fallback->values[column];
  }
  switch (v->kind) {
    case TupleValueKind::kNull:
      out->state = FieldState::kNull;
      break;
    case TupleValueKind::kText:
      out->state = FieldState::kValue;
      out->text = v->data;
      break;
    case TupleValueKind::kUnchangedToast:
      break;  // absent
    case TupleValueKind::kBinary:
      return Status::DataLoss(
          "pgoutput: binary tuple values are not supported (canopy asks for text)");
  }
  return Status();
}

}  // namespace

Status TransactionAssembler::Upsert(const Binding& b, const TupleData& tuple,
                                    const TupleData* fallback, int64_t* key, RowChange* out) {
  const Table table = *b.table;
  std::array<FieldValue, kMaxFields> fields{};
  const int n = FieldCount(table);
  for (int f = 0; f < n; ++f) {
    const int c = b.field_column[static_cast<size_t>(f)];
    if (c < 0) continue;  // absent
    // An absent value (unchanged TOAST): the engine keeps the one it has.
    CANOPY_RETURN_IF_ERROR(ReadValue(tuple, fallback, static_cast<size_t>(c),
                                     &fields[static_cast<size_t>(f)],
                                     &stats_.unchanged_toast_values));
  }
  CANOPY_RETURN_IF_ERROR(internal::ParseKey(table, fields[0], key));
  return internal::BuildUpsert(
      table, std::span<const FieldValue>(fields.data(), static_cast<size_t>(n)), out);
}

Status TransactionAssembler::AddCarried(const Binding& b, const TupleData& tuple,
                                        const TupleData* fallback) {
  if (b.carried_column.empty()) return Status();
  const TableSpec& spec = mapping_.Spec(*b.table);
  ChangeCarried carried;
  carried.change = current_.changes.size() - 1;
  for (size_t k = 0; k < b.carried_column.size(); ++k) {
    FieldValue value;
    CANOPY_RETURN_IF_ERROR(ReadValue(tuple, fallback, static_cast<size_t>(b.carried_column[k]),
                                     &value, &stats_.unchanged_toast_values));
    if (value.state == FieldState::kAbsent) continue;  // unknown: left out
    carried.values.push_back(
        {spec.carried_columns[k], value.state == FieldState::kNull
                                      ? std::nullopt
                                      : std::optional<std::string>(std::string(value.text))});
  }
  if (!carried.values.empty()) current_carried_.push_back(std::move(carried));
  return Status();
}

Status TransactionAssembler::OnInsert(const InsertMessage& m) {
  const Binding* b;
  CANOPY_RETURN_IF_ERROR(FindBinding(m.relation_id, &b));
  if (!b->table) {
    ++stats_.unmapped_changes;
    return Status();
  }
  CANOPY_RETURN_IF_ERROR(CheckTuple(*b, m.new_tuple, "Insert new tuple"));
  int64_t key = 0;
  // Built in place (moving a freshly built RowChange trips GCC 12's
  // -Wmaybe-uninitialized on the variant's other alternatives).
  current_.changes.emplace_back();
  Status s = Upsert(*b, m.new_tuple, nullptr, &key, &current_.changes.back());
  if (s.ok()) s = AddCarried(*b, m.new_tuple, nullptr);
  if (!s.ok()) current_.changes.pop_back();
  return s;
}

namespace {
// The key value of an old tuple ('K' or 'O').
Status OldKey(Table table, const TupleData& old_tuple, int key_column, int64_t* out) {
  const TupleValue& v = old_tuple.values[static_cast<size_t>(key_column)];
  FieldValue fv;
  if (v.kind == TupleValueKind::kText) {
    fv.state = FieldState::kValue;
    fv.text = v.data;
  }
  return internal::ParseKey(table, fv, out);
}
}  // namespace

Status TransactionAssembler::OnUpdate(const UpdateMessage& m) {
  const Binding* b;
  CANOPY_RETURN_IF_ERROR(FindBinding(m.relation_id, &b));
  if (!b->table) {
    ++stats_.unmapped_changes;
    return Status();
  }
  CANOPY_RETURN_IF_ERROR(CheckTuple(*b, m.new_tuple, "Update new tuple"));
  const TupleData* old = nullptr;
  if (m.old_kind != OldTupleKind::kNone) {
    CANOPY_RETURN_IF_ERROR(CheckTuple(*b, m.old_tuple, "Update old tuple"));
    old = &m.old_tuple;
  }
  // On any error the change leaves nothing behind: back to this mark.
  const size_t mark = current_.changes.size();
  auto undo = [&](Status failed) {
    current_.changes.erase(current_.changes.begin() + static_cast<std::ptrdiff_t>(mark),
                           current_.changes.end());
    return failed;
  };
  int64_t new_key = 0;
  current_.changes.emplace_back();
  // Only a full old row ('O') can stand in for unchanged TOAST values.
  Status s = Upsert(*b, m.new_tuple, m.old_kind == OldTupleKind::kFull ? old : nullptr, &new_key,
                    &current_.changes.back());
  if (!s.ok()) return undo(std::move(s));
  if (old != nullptr) {
    int64_t old_key = 0;
    s = OldKey(*b->table, *old, b->field_column[0], &old_key);
    if (!s.ok()) return undo(std::move(s));
    if (old_key != new_key) {
      // The delete of the old key goes before the upsert of the new one.
      auto at = current_.changes.emplace(current_.changes.end() - 1);
      internal::SetDelete(*b->table, old_key, &*at);
    }
  }
  s = AddCarried(*b, m.new_tuple, m.old_kind == OldTupleKind::kFull ? old : nullptr);
  return s.ok() ? s : undo(std::move(s));
}

Status TransactionAssembler::OnDelete(const DeleteMessage& m) {
  const Binding* b;
  CANOPY_RETURN_IF_ERROR(FindBinding(m.relation_id, &b));
  if (!b->table) {
    ++stats_.unmapped_changes;
    return Status();
  }
  CANOPY_RETURN_IF_ERROR(CheckTuple(*b, m.old_tuple, "Delete old tuple"));
  int64_t key = 0;
  CANOPY_RETURN_IF_ERROR(OldKey(*b->table, m.old_tuple, b->field_column[0], &key));
  current_.changes.emplace_back();
  internal::SetDelete(*b->table, key, &current_.changes.back());
  return Status();
}

Status TransactionAssembler::OnTruncate(const TruncateMessage& m) {
  for (uint32_t id : m.relation_ids) {
    const Binding* b;
    CANOPY_RETURN_IF_ERROR(FindBinding(id, &b));
    if (!b->table) {
      ++stats_.unmapped_changes;
      continue;
    }
    current_.changes.emplace_back(std::in_place_type<TruncateTable>, TruncateTable{*b->table});
  }
  return Status();
}

}  // namespace canopy::cdc
