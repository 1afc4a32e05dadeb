// feed_builder.h — turns a Transaction the replica is about to apply into a
// FeedTransaction (canopy/cdc/change_feed.h): the rows before and after each
// change, and the subtrees that held them, read from the index around Apply.
//
//   FeedTransaction feed;
//   { ReadView before = index.Read(); feed = DescribeTransaction(before, txn, commit_ms); }
//   index.Apply(std::move(txn));
//   { ReadView after = index.Read(); AddSubtreesAfter(after, &feed); }
//
// THREAD SAFETY: plain functions; the views must not be held across Apply.
#pragma once

#include <cstdint>
#include <vector>

#include "canopy/cdc/transaction_assembler.h"

#include "canopy/feed.h"
#include "canopy/hierarchy_index.h"

namespace canopy::cdc::internal {

// `before` must show the state right before `txn`. The changes' `before` rows
// follow earlier changes of the same transaction; `subtrees` holds the
// subtrees of the rows as they were before the transaction.
// `carried` (the assembler's TakeCommittedCarried) becomes the changes'
// carried values.
FeedTransaction DescribeTransaction(const ReadView& before, const Transaction& txn,
                                    int64_t commit_unix_ms,
                                    std::vector<ChangeCarried> carried = {});

// `after` must show the state right after the transaction: adds the subtrees
// that hold each row after it (then sorts and dedupes `subtrees`).
void AddSubtreesAfter(const ReadView& after, FeedTransaction* txn);

}  // namespace canopy::cdc::internal
