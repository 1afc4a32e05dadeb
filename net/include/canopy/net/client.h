// canopy/net/client.h — a synchronous client for canopyd (canopy::client).
//
//   canopy::net::ClientOptions options;
//   options.unix_path = "/run/canopy/canopy.sock";   // or host/port for TCP
//   canopy::net::Client client(options);
//   canopy::Result<canopy::QueryAnswer> a =
//       client.Query({.kind = canopy::QueryKind::kSelfAndAncestors, .id = 42});
//   if (!a.ok()) { ... a.status() ... }                 // transport or server error
//   else if (!a->answer.status.ok()) { ... }            // e.g. kNotFound: unknown id
//   else use(a->answer.ids, a->lsn);
//
//   // Read your own write: wait (server side, up to 2 s) until the LSN of the
//   // app's PostgreSQL commit is applied; kTimeout ("stale: ...") otherwise.
//   client.Query(q, {.min_lsn = commit_lsn, .wait = std::chrono::milliseconds(2000)});
//
//   // One round trip for many ids (seed 004's N+1 lesson):
//   client.QueryBatch(queries);    client.Counts(ids);    client.FullPaths(Table::kProjects, ids);
//
//   // Pipelining: send many, then read; answers carry the request ids.
//   for (auto& r : requests) client.Send(r);
//   for (size_t i = 0; i < requests.size(); ++i) client.Receive();
//   // ... or keep a window of 32 in flight and get each answer with its index:
//   client.Pipeline(requests, 32, [](size_t i, canopy::net::Response r) { ... });
//
// The typed calls mirror HierarchyIndex's answers (QueryAnswer, BatchAnswer,
// IdAnswer), so an answer over the network compares equal to the engine's own.
// Error mapping: see ToStatusCode() in protocol.h (unknown id -> kNotFound,
// STALE -> kTimeout, SHUTTING_DOWN/NOT_READY/OVERLOADED -> kUnavailable, ...);
// transport failures are kUnavailable (cannot connect, connection lost) or
// kTimeout (no answer within io_timeout; the connection is then dropped).
//
// Reconnect: a typed call (or Call) on a client whose connection is down
// connects first; if the connection breaks during a call and nothing else was
// pipelined on it, the call reconnects once and is retried (every canopy
// request is a read, so a retry is safe).
//
// WRITES (pipelining): Send() only encodes; requests leave in batches, one
// write for everything queued: when 64 KiB are queued, on Flush(), and on
// Receive() when the requests queued are at least as many as the answers
// surely coming for requests already written (min_lsn requests, which the
// server may park, do not count), or none are coming. So a caller keeping a
// window of W requests in flight (Receive one, Send one) writes W/2 requests
// per write instead of one, while the server always has at least W/2 to work
// on; Send x N then Receive x N writes all N at the first Receive. This
// depends only on the sequence of calls, never on timing. stats() counts
// writes and requests. The price: a queued request may wait for up to W/2
// answers before it is written.
//
// Internals: both clients share one connection implementation
// (net/src/client_transport.h: connect, Hello, framing, write batching,
// reading) and one definition of each typed call (net/src/typed_answers.h).
//
// THREAD SAFETY: not thread-safe; use one Client per thread (they are cheap:
// one socket each), or guard it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/net/protocol.h"
#include "canopy/query.h"
#include "canopy/status.h"

namespace canopy::net {

struct ClientOptions {
  // TCP server; ignored when unix_path is set.
  std::string host = "127.0.0.1";
  uint16_t port = 7433;
  std::string unix_path;
  std::string token;  // sent in Hello
  std::string client_name = "canopy-client";
  std::chrono::milliseconds connect_timeout{3'000};
  // A call that gets no answer in this long fails with kTimeout. min_lsn
  // waits are added on top of it.
  std::chrono::milliseconds io_timeout{30'000};
  uint32_t max_frame_bytes = 64u << 20;  // largest answer accepted
  bool reconnect = true;
};

// Per-call options.
struct CallOptions {
  Lsn min_lsn;                        // Lsn(0): answer at once
  std::chrono::milliseconds wait{0};  // min_lsn wait; 0 = the server's default
};

// What a client's connection(s) did, counted since the client was made
// (over reconnects). A write is one send call to the kernel; a request is
// counted when the write carrying it completed. Hello frames count as requests
// (one per connection). requests_written / writes is the batching factor.
struct ClientStats {
  uint64_t connects = 0;          // handshakes completed
  uint64_t writes = 0;            // send calls that wrote bytes
  uint64_t requests_written = 0;  // request frames those writes carried
  uint64_t bytes_written = 0;
  uint64_t reads = 0;           // receive calls that returned bytes
  uint64_t responses_read = 0;  // answer frames decoded (Hello replies included)
};

// A value with the LSN of the snapshot that answered.
template <typename T>
struct Answer {
  Lsn lsn;
  T value;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Connects and says Hello (version, token). Errors: kUnavailable (refused,
  // unreachable), kTimeout, kFailedPrecondition ("unauthorized: ...",
  // "unsupported_version: ...").
  Status Connect();
  void Close();
  bool connected() const;
  // The server's Hello reply of the current connection.
  const HelloReply& server_hello() const;

  // ---- typed calls: one round trip each ----
  // A single query. An unknown id is not an error here (as in the engine):
  // the answer's status is kNotFound. Every IdQuery field travels, id_order
  // too (IdOrder::kAny: the same set, unsorted; more = true if the server's
  // page cap cut it).
  Result<QueryAnswer> Query(const IdQuery& query, const CallOptions& call = {});
  // Many queries on one snapshot; one IdAnswer per query, in order.
  Result<BatchAnswer> QueryBatch(std::span<const IdQuery> queries, const CallOptions& call = {});
  // The same kind for many ids (the batch helper for an N+1 loop).
  Result<BatchAnswer> QueryMany(const IdQuery& prototype, std::span<const int64_t> ids,
                                const CallOptions& call = {});
  // Every page of an ascending query, following the cursor (several round
  // trips; pages may come from different LSNs — the last one is returned).
  // With IdOrder::kAny: one unsorted page when the whole answer fits in it,
  // else the ascending pages (an unordered answer has no cursor).
  Result<QueryAnswer> QueryAll(IdQuery query, uint32_t page_size, const CallOptions& call = {});

  Result<Answer<SubtreeCounts>> Counts(int64_t ns, const CallOptions& call = {});
  Result<Answer<std::vector<Result<SubtreeCounts>>>> CountsMany(std::span<const int64_t> ids,
                                                                const CallOptions& call = {});
  // full_path of a namespace (Table::kNamespaces) or a project (kProjects).
  Result<Answer<std::string>> FullPath(Table table, int64_t id, const CallOptions& call = {});
  Result<Answer<std::vector<Result<std::string>>>> FullPaths(Table table,
                                                             std::span<const int64_t> ids,
                                                             const CallOptions& call = {});
  Result<Answer<ResolvedPath>> Resolve(std::string_view full_path, const CallOptions& call = {});
  Result<Answer<std::vector<Result<ResolvedPath>>>> ResolveMany(std::span<const std::string> paths,
                                                                const CallOptions& call = {});
  // runners_of_groups(ns...): one ascending list.
  Result<Answer<std::vector<int64_t>>> RunnersOfGroups(std::span<const int64_t> ids,
                                                       const CallOptions& call = {});
  // With call.min_lsn, the status waits on the server like any request (without
  // it, it answers at once: a probe).
  Result<ServerStatus> GetStatus(const CallOptions& call = {});
  // Round trip; returns the server's applied LSN.
  // With call.min_lsn, the answer waits on the server like any request: a
  // cheap "wait until the server has applied this LSN".
  Result<Lsn> Ping(uint64_t payload = 0, const CallOptions& call = {});

  // ---- the change feed (canopy/change_feed.h; docs/feed.md) ----
  // Subscribes this connection from `from` (Lsn() = from now) and returns the
  // start position. From then on the connection carries the feed: use this
  // client only for NextFeed (another call would skip feed messages).
  // Errors: kOutOfRange ("out_of_range: ...", `from` older than the server's
  // window; the message names the oldest LSN to resume from), kNotFound (the
  // subtree), kInvalidArgument (no feed, a `from` in the future),
  // kUnavailable (too many subscriptions, transport).
  Result<Lsn> Subscribe(Lsn from, const FeedFilter& filter = {});
  // The next message of the subscription: its transactions (none: the
  // position moved) and the position after them (Answer::lsn). kTimeout when
  // nothing came within `timeout` (the subscription goes on); the
  // subscription's end as its error (kOutOfRange: fell behind the window;
  // kUnavailable: the server stops, or the connection was lost).
  Result<Answer<std::vector<FeedTransaction>>> NextFeed(std::chrono::milliseconds timeout);

  // ---- generic + pipelining ----
  // Sends `request` and waits for its answer. REQUIRES: nothing pipelined is
  // outstanding. A Response with error != kOk is returned as is (ok Result).
  Result<Response> Call(Request request);
  // Queues `request` without waiting for its answer (connecting first if
  // needed) and returns its request_id (assigned when 0). Requests are
  // written in batches (see WRITES above): when 64 KiB are queued, on
  // Flush(), and on Receive() when needed. Answers that arrive while writing
  // are buffered, so a long pipeline cannot deadlock against a server that
  // pauses reading (backpressure).
  Result<uint64_t> Send(Request request);
  // Writes every queued request (one write). Errors: kTimeout, kUnavailable.
  Status Flush();
  // The next answer, in arrival order; writes the queued requests first when
  // WRITES above says so. Errors: kTimeout (nothing within io_timeout + the
  // longest min_lsn wait outstanding), kUnavailable (connection lost: every
  // outstanding request is lost), kDataLoss. An error frame for the whole
  // connection (request id 0) is returned as a Response.
  Result<Response> Receive();
  // Requests sent and not yet received.
  size_t outstanding() const;

  // Sends every request keeping at most `window` (>= 1; 0 counts as 1)
  // unanswered, and hands each answer to `on_answer` with the index of its
  // request, in arrival order (min_lsn answers may overtake). Requests with
  // request_id 0 get fresh ids; caller-chosen ids must be distinct.
  // REQUIRES: outstanding() == 0. Returns OK once every request was answered
  // (server errors are in the Responses), or the first transport error
  // (kUnavailable, kTimeout, kDataLoss; a connection-level error frame as its
  // status): answers delivered before it stand, the rest are lost, and the
  // connection is closed. No retry. At window 32 about 16 requests leave per
  // write (see WRITES).
  Status Pipeline(std::span<const Request> requests, size_t window,
                  const std::function<void(size_t index, Response response)>& on_answer);

  // Counters of this client's writes and reads (see ClientStats).
  ClientStats stats() const;

  class Impl;  // internal

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace canopy::net
