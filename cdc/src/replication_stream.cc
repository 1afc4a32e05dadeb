// replication_stream.cc — the replica's CopyBoth loop: receive XLogData and
// keepalives, decode, assemble, apply at Commit, send standby status.
//
// Positions (see docs/design/cdc-notes.md §1.2, §3.3):
//   received_  highest walEnd the server reported ('w' or 'k'): "write".
//   applied_   Commit.end_lsn of the last applied transaction, or the walEnd
//              of a keepalive that arrived while nothing was buffered or
//              pending (every transaction that commits before it has been
//              received and applied): "flush" and "apply". Never ahead of
//              what the index reflects.
#include <poll.h>

#include <algorithm>

#include "canopy/cdc/pgoutput.h"
#include "canopy/cdc/walsender_protocol.h"
#include "feed_builder.h"
#include "replica_worker.h"

namespace canopy::cdc {

using internal::PgConnection;

namespace {
// Apply a batch once it holds this much, even if more data is waiting.
constexpr size_t kMaxPendingTransactions = 256;
constexpr size_t kMaxPendingChanges = 20'000;
// While a caller waits for an LSN, ask for a keepalive this often.
constexpr auto kWaiterPollInterval = std::chrono::milliseconds(10);
// Check the status deadline every this many messages of a busy stream.
constexpr int kMessagesPerClockCheck = 256;
}  // namespace

Status Replica::Worker::ApplyPendingToFeed(HierarchyIndex& index, ChangeFeed& feed) {
  for (size_t i = 0; i < pending_.size(); ++i) {
    FeedTransaction described;
    {
      const ReadView before = index.Read();
      PendingForFeed& extra = pending_for_feed_[i];
      described = internal::DescribeTransaction(before, pending_[i],
                                                PgEpochMicrosToUnixMillis(extra.commit_time),
                                                std::move(extra.carried));
    }
    CANOPY_RETURN_IF_ERROR(index.Apply(std::move(pending_[i])));
    {
      const ReadView after = index.Read();
      internal::AddSubtreesAfter(after, &described);
    }
    feed.Append(std::move(described));
  }
  return Status();
}

Status Replica::Worker::ApplyPending() {
  if (pending_.empty()) return Status();
  std::shared_ptr<HierarchyIndex> index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = index_;
  }
  const Lsn last = pending_.back().commit_lsn;
  const size_t txns = pending_.size();
  Status s = feed_       ? ApplyPendingToFeed(*index, *feed_)
             : txns == 1 ? index->Apply(std::move(pending_.front()))
                         : index->ApplyBatch(std::move(pending_));
  pending_.clear();
  pending_for_feed_.clear();
  const size_t changes = pending_changes_;
  pending_changes_ = 0;
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.transactions_applied += txns;
    status_.changes_applied += changes;
    status_.last_commit_unix_ms = PgEpochMicrosToUnixMillis(pending_commit_time_);
  }
  SetApplied(last);
  return Status();
}

Status Replica::Worker::SendStatus(PgConnection& repl, bool reply_requested) {
  const Lsn applied(applied_.load());
  const Lsn write = std::max(received_, applied);
  auto bytes = EncodeStandbyStatusUpdate({.write = write,
                                          .flush = applied,
                                          .apply = applied,
                                          .client_time = PgEpochMicrosNow(),
                                          .reply_requested = reply_requested});
  if (PQputCopyData(repl.get(), reinterpret_cast<const char*>(bytes.data()),
                    static_cast<int>(bytes.size())) != 1 ||
      PQflush(repl.get()) != 0) {
    return repl.Error("sending standby status update");
  }
  last_flush_sent_ = applied;
  next_status_ = std::chrono::steady_clock::now() + options_.status_interval;
  if (reply_requested) last_reply_request_ = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.flushed_lsn = applied;
    status_.received_lsn = write;
    ++status_.status_updates_sent;
  }
  return Status();
}

Status Replica::Worker::CheckPublicationNow() {
  next_publication_check_ = std::chrono::steady_clock::now() + options_.publication_check_interval;
  if (!check_sql_) return Status();
  Status s = CheckPublishedColumns(*check_sql_);
  if (!s.ok() && !permanent_ && PQstatus(check_sql_->get()) != CONNECTION_OK) {
    // The check's connection went away (idle_session_timeout, a terminated
    // backend): one new one before giving up the session.
    auto fresh = PgConnection::Connect(options_.conninfo, false, options_.application_name);
    if (fresh.ok()) {
      check_sql_ = std::move(fresh).value();
      s = CheckPublishedColumns(*check_sql_);
    }
  }
  if (!s.ok() && !permanent_) {
    // The check's own connection failed: a transient error of the session.
    return Status::Unavailable("checking the publication: " + s.message());
  }
  return s;
}

Status Replica::Worker::Stream(PgConnection& repl) {
  PgOutputDecoder decoder;
  PgOutputMessage message;
  CopyDataMessage envelope;
  next_status_ = std::chrono::steady_clock::now();
  last_reply_request_ = {};
  int since_clock_check = 0;

  for (;;) {
    if (stop_.load()) {
      // Best effort: report what is applied, then end the COPY.
      (void)ApplyPending();
      (void)SendStatus(repl, false);
      PQputCopyEnd(repl.get(), nullptr);
      PQflush(repl.get());
      return Status::Unavailable("stopped");
    }
    if (options_.test_pause_stream && options_.test_pause_stream()) {
      (void)Sleep(std::chrono::milliseconds(5));  // a stop is seen at the top of the loop
      continue;
    }
    char* buf = nullptr;
    const int n = PQgetCopyData(repl.get(), &buf, /*async=*/1);
    if (n > 0) {
      std::unique_ptr<char, void (*)(void*)> owned(buf, &PQfreemem);
      const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(buf),
                                           static_cast<size_t>(n));
      Status s = ParseCopyData(bytes, &envelope);
      if (!s.ok()) return s;
      if (envelope.kind == CopyDataMessage::Kind::kXLogData) {
        received_ = std::max(received_, envelope.xlog.wal_end);
        s = decoder.Decode(envelope.xlog.payload, &message);
        if (!s.ok()) return s;
        s = assembler_.Process(message);
        // A mapped relation without a mapped column, or of the wrong shape:
        // no retry can fix that (nothing of it has been applied).
        if (s.code() == StatusCode::kFailedPrecondition) return Permanent(std::move(s));
        if (!s.ok()) return s;
        if (message.type == PgOutputMessageType::kRelation &&
            options_.mapping.Find(message.relation.namespace_name,
                                  message.relation.relation_name)) {
          // The publication may have changed (a column list, a row filter):
          // check it before any change this Relation describes is applied.
          if (Status c = CheckPublicationNow(); !c.ok()) return c;
        }
        if (auto txn = assembler_.TakeCommitted()) {
          pending_changes_ += txn->changes.size();
          pending_commit_time_ = assembler_.last_commit_time();
          if (feed_) {
            pending_for_feed_.push_back({pending_commit_time_, assembler_.TakeCommittedCarried()});
          }
          pending_.push_back(std::move(*txn));
          if (pending_.size() >= kMaxPendingTransactions ||
              pending_changes_ >= kMaxPendingChanges) {
            if (Status a = ApplyPending(); !a.ok()) return a;
          }
        }
      } else {
        received_ = std::max(received_, envelope.keepalive.wal_end);
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++status_.keepalives;
        }
        if (Status a = ApplyPending(); !a.ok()) return a;
        // Idle: everything that commits before walEnd was sent, and we have
        // applied all of it.
        if (!assembler_.in_transaction()) {
          if (Status a = AdvanceIdle(envelope.keepalive.wal_end); !a.ok()) return a;
        }
        if (envelope.keepalive.reply_requested) {
          if (Status r = SendStatus(repl, false); !r.ok()) return r;
        }
      }
      if (++since_clock_check >= kMessagesPerClockCheck) {
        since_clock_check = 0;
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_status_) {
          // A long stream: status goes out on time (with what is applied).
          if (Status a = ApplyPending(); !a.ok()) return a;
          if (Status r = SendStatus(repl, false); !r.ok()) return r;
        }
        if (now >= next_publication_check_) {
          if (Status c = CheckPublicationNow(); !c.ok()) return c;
        }
      }
      continue;
    }
    if (n == -2) return repl.Error("reading the replication stream");
    if (n == -1) {
      internal::PgResult r(PQgetResult(repl.get()));
      std::string why = r.get() != nullptr ? PQresultErrorMessage(r.get()) : "";
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      if (why.empty()) {
        // The server ended COPY without an error: a walsender that is asked
        // to stop (a fast or smart shutdown) does just that.
        return Status::Unavailable(
            "server closed the replication connection without an error (PostgreSQL shutting "
            "down?)");
      }
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      return Status::Unavailable(
          "replication stream ended by the server: " + why +
          (state != nullptr ? std::string(" (SQLSTATE ") + state + ")" : ""));
    }

    // n == 0: nothing buffered. Apply what is pending, then talk and wait.
    if (Status a = ApplyPending(); !a.ok()) return a;
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_publication_check_) {
      if (Status c = CheckPublicationNow(); !c.ok()) return c;
    }
    const bool waiter = HasWaiter() && !assembler_.in_transaction();
    if (now >= next_status_) {
      if (Status r = SendStatus(repl, waiter); !r.ok()) return r;
    } else if (waiter && now - last_reply_request_ >= kWaiterPollInterval) {
      if (Status r = SendStatus(repl, true); !r.ok()) return r;
    }
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(next_status_ - now);
    if (waiter) timeout = std::min<std::chrono::milliseconds>(timeout, kWaiterPollInterval);
    timeout = std::clamp<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(1),
                                                    std::chrono::milliseconds(1000));
    const bool want_write = PQflush(repl.get()) == 1;
    if (Status w = internal::WaitSocket(repl.socket(), want_write, &wake_, &stop_pipe_,
                                        static_cast<int>(timeout.count()));
        !w.ok()) {
      return w;
    }
    wake_.Drain();
    if (PQconsumeInput(repl.get()) == 0) return repl.Error("reading the replication stream");
    since_clock_check = 0;
  }
}

}  // namespace canopy::cdc
