// canopy/cdc/transaction_assembler.h — decoded pgoutput messages in, whole
// canopy::Transaction values out.
//
// The assembler keeps the Relation cache (relation OID -> which canopy table,
// and which tuple column holds each mapped field, matched BY NAME) and buffers
// one transaction from Begin to Commit. At Commit it yields a Transaction with
// commit_lsn = Commit.end_lsn, the position to apply and acknowledge.
//
//   canopy::cdc::TransactionAssembler assembler(mapping);
//   for each decoded message m:
//     if (Status s = assembler.Process(m); !s.ok()) stop(s);
//     if (auto txn = assembler.TakeCommitted()) index.Apply(std::move(*txn));
//
// Translation rules:
//   * Insert -> Upsert. Update -> Upsert of the new row; if the old key ('K'
//     or 'O' tuple) differs from the new key: Delete(old) then Upsert(new).
//   * Carried columns (TableSpec::carried_columns) are read in their text
//     form from inserts and updates into TakeCommittedCarried(); the index
//     never sees them. An unchanged-TOAST one is left out (or taken from a
//     REPLICA IDENTITY FULL old row).
//   * An unchanged-TOAST value ('u') leaves its field out of the row's
//     ColumnMask, so the engine keeps the value it has. With REPLICA IDENTITY
//     FULL the old row's value is used instead.
//   * Delete -> Delete by key. Truncate -> TruncateTable per mapped table.
//   * Changes to relations that are not mapped are counted and dropped.
//   * A re-sent Relation (e.g. after ALTER TABLE) re-binds the columns. A
//     Relation of a mapped table must carry every mapped column: one that
//     lacks some (a publication column list, a dropped column) is refused,
//     since the rows would silently keep stale values. So is one that lacks
//     a carried column.
//   * Origin, Type and logical Message are accepted and ignored.
//   * Transactions whose end LSN is <= skip_through() are dropped whole (a
//     resumed permanent slot may replay what was applied already).
// Errors (the stream cannot be trusted past them): a change outside Begin..
// Commit, Begin inside a transaction, Commit whose commit LSN differs from
// Begin's final LSN, a change to an unknown relation OID, a tuple whose column
// count differs from its Relation, a mapped table without its key column or another mapped
// column, a mapped integer/boolean column of another type, a malformed value.
//
// THREAD SAFETY: none; one thread (the replication stream's) uses it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "canopy/cdc/pgoutput.h"
#include "canopy/cdc/table_mapping.h"
#include "canopy/feed.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy::cdc {

// The carried values of one change of a committed transaction.
struct ChangeCarried {
  size_t change = 0;  // index into Transaction::changes
  std::vector<CarriedValue> values;
};

struct AssemblerStats {
  uint64_t transactions = 0;          // committed transactions handed out
  uint64_t skipped_transactions = 0;  // dropped because end LSN <= skip_through
  uint64_t changes = 0;               // row changes handed out
  uint64_t unmapped_changes = 0;      // changes to relations canopy does not mirror
  uint64_t relations = 0;             // Relation messages seen
  uint64_t unchanged_toast_values = 0;
};

class TransactionAssembler {
 public:
  // REQUIRES: mapping.Validate().ok().
  explicit TransactionAssembler(TableMapping mapping);

  // Feeds one message. O(columns of the message) plus the row's size.
  Status Process(const PgOutputMessage& message);

  // The transaction completed by the last Commit, once; nullopt otherwise.
  std::optional<Transaction> TakeCommitted();
  // The carried values of the transaction TakeCommitted returned last, in
  // change order (only changes that have some); empty without carried
  // columns.
  std::vector<ChangeCarried> TakeCommittedCarried();

  // True between Begin and Commit.
  bool in_transaction() const { return in_transaction_; }

  // The commit time of the last Commit processed (skipped ones too), in
  // microseconds since 2000-01-01 UTC as pgoutput sends it; 0 before any.
  int64_t last_commit_time() const { return last_commit_time_; }

  void set_skip_through(Lsn lsn) { skip_through_ = lsn; }
  Lsn skip_through() const { return skip_through_; }

  // Drops the buffered transaction and the relation cache (for a new stream:
  // the server re-sends Relation messages on every new session).
  void Reset();

  const AssemblerStats& stats() const { return stats_; }

 private:
  struct Binding {
    std::optional<Table> table;  // nullopt: a relation canopy does not mirror
    std::string qualified_name;  // for errors
    size_t column_count = 0;
    std::vector<int> field_column;    // field -> tuple column, -1 if absent
    std::vector<int> carried_column;  // TableSpec::carried_columns -> tuple column
  };

  Status BindRelation(const RelationMessage& rel);
  Status FindBinding(uint32_t relation_id, const Binding** out) const;
  Status CheckTuple(const Binding& b, const TupleData& tuple, const char* which) const;
  // Builds the upsert of `tuple` (`fallback` supplies 'u' values; may be
  // null) and, through *key, its key.
  Status Upsert(const Binding& b, const TupleData& tuple, const TupleData* fallback, int64_t* key,
                RowChange* out);
  // Records the carried values of `tuple` for the last change of current_.
  Status AddCarried(const Binding& b, const TupleData& tuple, const TupleData* fallback);
  Status OnInsert(const InsertMessage& m);
  Status OnUpdate(const UpdateMessage& m);
  Status OnDelete(const DeleteMessage& m);
  Status OnTruncate(const TruncateMessage& m);
  Status RequireTransaction(PgOutputMessageType type) const;

  TableMapping mapping_;
  std::unordered_map<uint32_t, Binding> bindings_;
  bool in_transaction_ = false;
  Lsn begin_final_lsn_;
  int64_t last_commit_time_ = 0;
  Transaction current_;
  std::optional<Transaction> committed_;
  std::vector<ChangeCarried> current_carried_;
  std::vector<ChangeCarried> committed_carried_;
  Lsn skip_through_;
  AssemblerStats stats_;
};

}  // namespace canopy::cdc
