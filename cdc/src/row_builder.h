// row_builder.h — turns the text values of one mapped row (from a pgoutput
// tuple or a COPY line) into canopy's row changes.
//
// Shared by the TransactionAssembler (streaming) and the SnapshotLoader (COPY),
// so both read values exactly the same way:
//   integers: PostgreSQL's text form of int2/int4/int8 ("-42");
//   booleans: "t"/"f" (also "true"/"false");
//   text: as is.
// A NULL key is an error; a NULL parent_id / project_namespace_id is a root /
// absent; any other NULL takes the column's default (see canopy/rows.h).
//
// THREAD SAFETY: stateless functions.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "canopy/cdc/table_mapping.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy::cdc::internal {

enum class FieldState : uint8_t {
  kAbsent,  // not mapped, not in the relation, or an unchanged TOAST value
  kNull,
  kValue,
};

struct FieldValue {
  FieldState state = FieldState::kAbsent;
  std::string_view text;
};

// Parses an integer / boolean field's text. false on malformed text.
bool ParseInt64(std::string_view text, int64_t* out);
bool ParseBool(std::string_view text, bool* out);

// The key (field 0) of a row. Errors: NULL/absent or malformed.
Status ParseKey(Table table, const FieldValue& key, int64_t* out);

// The upsert for `fields` (size FieldCount(table)); absent fields are left
// out of the row's ColumnMask. Errors (kDataLoss): a NULL or absent key, a
// malformed integer or boolean.
Status BuildUpsert(Table table, std::span<const FieldValue> fields, RowChange* out);

// Makes *out the delete of `id` from `table`.
void SetDelete(Table table, int64_t id, RowChange* out);

}  // namespace canopy::cdc::internal
