// canopy/net/async_client.h — an asynchronous client for canopyd
// (canopy::client): many calls in flight on one connection, each completed by
// a callback or a std::future.
//
//   canopy::net::ClientOptions options;
//   options.unix_path = "/run/canopy/canopy.sock";   // or host/port for TCP
//   canopy::net::AsyncClient client(options);        // starts its I/O thread; connects lazily
//
//   // Callback form: runs on the client's I/O thread when the answer arrives.
//   client.Query({.kind = canopy::QueryKind::kSelfAndAncestors, .id = 42}, {},
//                [](canopy::Result<canopy::QueryAnswer> a) {
//                  if (!a.ok()) { ... a.status() ... }     // transport or server error
//                  else if (!a->answer.status.ok()) { ... } // e.g. kNotFound: unknown id
//                  else use(a->answer.ids, a->lsn);
//                });
//
//   // Future form: many calls pipelined on the one connection, then collected.
//   std::vector<std::future<canopy::Result<canopy::QueryAnswer>>> answers;
//   for (int64_t id : ids)
//     answers.push_back(client.Query({.kind = canopy::QueryKind::kDescendants, .id = id}));
//   for (auto& f : answers) use(f.get());
//
//   // Read your own write: answered once the server applied commit_lsn
//   // (kTimeout "stale: ..." after the wait), without holding any thread.
//   client.Query(q, {.min_lsn = commit_lsn, .wait = std::chrono::milliseconds(2000)}, handler);
//
// DESIGN: the client owns one I/O thread (Boost.Asio, private: this header
// needs neither Asio nor FlatBuffers) and one connection. A call copies its
// arguments (spans need not outlive it), takes a request id and is handed to
// the I/O thread, which connects if needed, writes requests in batches and
// matches each answer to its call by request id (answers to min_lsn requests
// may overtake others). Answers and errors are the blocking Client's: the same
// value types, the same ToStatusCode() mapping (see client.h), made by the
// same code (the connection and each typed call are defined once for both).
//
// WRITES: a call is not written the moment the I/O thread accepts it: one
// write is scheduled for the end of that turn of the event loop, so calls
// that arrive together leave together — all calls started by handlers of the
// answers of one read, and whatever other threads submitted meanwhile — and
// while a write is under way, every call that arrives joins the next write
// (up to 64 KiB each). A caller that starts a window of 32 calls from a
// handler sends them in one write. stats() counts writes and requests.
//
// THREAD SAFETY: every method may be called from any thread, concurrently,
// including from inside a completion handler — except the destructor, which
// must not race with other calls on the same object.
//
// COMPLETION: every call completes exactly once: its handler runs once (or its
// future becomes ready once), always on the client's I/O thread, never inline
// in the calling thread — also for a call refused at once. (Exceptions: out of
// memory while preparing a call completes it inline with kResourceExhausted;
// so does every call, with kInternal, if the I/O thread could not start.)
// Handlers run one at a time, so they must not block: waiting in a handler on
// a future of the same client deadlocks. A handler may start new calls, call
// Close(), or even destroy the client. An exception thrown by a handler is
// caught and dropped; no exception leaves the client into the caller or the
// event loop, except std::bad_alloc from creating a future form's promise.
//
// ERRORS (transport; server errors map as in the blocking Client):
//   kUnavailable        cannot connect; the connection was lost, or closed by
//                       Close() or the destructor, while the call was queued or
//                       in flight; reconnect is off and the connection is down.
//   kTimeout            connecting took longer than connect_timeout (every call
//                       waiting for that connection), or a call got no answer
//                       within io_timeout (+ its min_lsn wait): that call gets
//                       kTimeout, the connection is dropped, and the calls still
//                       outstanding on it get kUnavailable.
//   kResourceExhausted  max_outstanding calls were already outstanding: the call
//                       is refused at once, not queued (backpressure). Pipeline
//                       up to the limit, or use the batch calls for many ids.
//   kDataLoss           the server sent something that does not decode (the
//                       connection is dropped; the others get the same error).
//   kFailedPrecondition the server refused the handshake (token, version).
//   kInvalidArgument    a caller-chosen request id already in flight (Call), or
//                       a unix_path too long for a socket address.
//
// RECONNECT: no automatic retry (every request is a read, so the caller may
// simply call again). On a broken connection every call queued or in flight
// on it fails, and the next call connects again. With ClientOptions::reconnect = false, calls after
// a connection ended fail with kUnavailable until Connect() is called.
//
// LIFETIME: ~AsyncClient() and Close() complete every outstanding call with
// kUnavailable before they return (when called from a non-I/O thread), so
// handlers may capture references to objects that outlive the client. The
// destructor then stops and joins the I/O thread. Destroying the client from
// its own handler is allowed: the remaining completions then run right after
// that handler returns, and the thread exits by itself.
//
// COST: a few small allocations per call (the handler, the request, the
// posted operation); requests are encoded on the I/O thread into one write
// buffer (up to 64 KiB per write, see WRITES), answers decoded there. No timer per call:
// one watchdog checks every deadline while calls are outstanding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/net/client.h"
#include "canopy/net/protocol.h"
#include "canopy/query.h"
#include "canopy/status.h"

namespace canopy::net {

struct AsyncClientOptions {
  // Calls accepted and not yet completed (queued for the connection + written
  // and not answered). A call beyond this completes with kResourceExhausted.
  // The server reads up to its own max_in_flight per connection (256 by
  // default) and holds the rest in the socket buffers.
  size_t max_outstanding = 4096;
};

class AsyncClient {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  // Starts the I/O thread; connects on the first call (or Connect()). If the
  // thread cannot be started, every call completes at once, inline, with
  // kInternal.
  explicit AsyncClient(ClientOptions options, AsyncClientOptions async = {});
  // Completes every outstanding call with kUnavailable, then joins the thread.
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Connects (and says Hello) unless connected; `done` gets OK or the error
  // (kUnavailable, kTimeout, kFailedPrecondition). Also re-enables connecting
  // after a loss when ClientOptions::reconnect is false.
  void Connect(std::function<void(Status)> done);
  std::future<Status> Connect();
  // Closes the connection: every call queued or in flight completes with
  // kUnavailable. From another thread it returns after those completions ran;
  // from a handler it takes effect right after the handler returns. The next
  // call connects again (see RECONNECT).
  void Close();
  // A snapshot: the connection is up and the handshake done.
  bool connected() const;
  // A snapshot: calls accepted and not yet completed.
  size_t outstanding() const;
  // The server's Hello reply of the current (or last) connection; empty
  // before the first one.
  HelloReply server_hello() const;
  // A snapshot of the connection's counters (see ClientStats in client.h):
  // requests_written / writes is how many calls left per write.
  ClientStats stats() const;

  // ---- typed calls; answers as the blocking Client's (client.h) ----
  // Each has a callback form and a future form.

  // A single query; an unknown id is the answer's status (kNotFound), not an error.
  void Query(const IdQuery& query, const CallOptions& call, Callback<QueryAnswer> done);
  std::future<Result<QueryAnswer>> Query(const IdQuery& query, const CallOptions& call = {});
  // Many queries on one snapshot, one round trip; one IdAnswer per query, in order.
  void QueryBatch(std::span<const IdQuery> queries, const CallOptions& call,
                  Callback<BatchAnswer> done);
  std::future<Result<BatchAnswer>> QueryBatch(std::span<const IdQuery> queries,
                                              const CallOptions& call = {});
  // The same kind for many ids (the batch helper for an N+1 loop).
  void QueryMany(const IdQuery& prototype, std::span<const int64_t> ids, const CallOptions& call,
                 Callback<BatchAnswer> done);
  std::future<Result<BatchAnswer>> QueryMany(const IdQuery& prototype, std::span<const int64_t> ids,
                                             const CallOptions& call = {});

  void Counts(int64_t ns, const CallOptions& call, Callback<Answer<SubtreeCounts>> done);
  std::future<Result<Answer<SubtreeCounts>>> Counts(int64_t ns, const CallOptions& call = {});
  void CountsMany(std::span<const int64_t> ids, const CallOptions& call,
                  Callback<Answer<std::vector<Result<SubtreeCounts>>>> done);
  std::future<Result<Answer<std::vector<Result<SubtreeCounts>>>>> CountsMany(
      std::span<const int64_t> ids, const CallOptions& call = {});

  // full_path of a namespace (Table::kNamespaces) or a project (kProjects).
  void FullPath(Table table, int64_t id, const CallOptions& call,
                Callback<Answer<std::string>> done);
  std::future<Result<Answer<std::string>>> FullPath(Table table, int64_t id,
                                                    const CallOptions& call = {});
  void FullPaths(Table table, std::span<const int64_t> ids, const CallOptions& call,
                 Callback<Answer<std::vector<Result<std::string>>>> done);
  std::future<Result<Answer<std::vector<Result<std::string>>>>> FullPaths(
      Table table, std::span<const int64_t> ids, const CallOptions& call = {});

  void Resolve(std::string_view full_path, const CallOptions& call,
               Callback<Answer<ResolvedPath>> done);
  std::future<Result<Answer<ResolvedPath>>> Resolve(std::string_view full_path,
                                                    const CallOptions& call = {});
  void ResolveMany(std::span<const std::string> paths, const CallOptions& call,
                   Callback<Answer<std::vector<Result<ResolvedPath>>>> done);
  std::future<Result<Answer<std::vector<Result<ResolvedPath>>>>> ResolveMany(
      std::span<const std::string> paths, const CallOptions& call = {});

  // runners_of_groups(ns...): one ascending list.
  void RunnersOfGroups(std::span<const int64_t> ids, const CallOptions& call,
                       Callback<Answer<std::vector<int64_t>>> done);
  std::future<Result<Answer<std::vector<int64_t>>>> RunnersOfGroups(std::span<const int64_t> ids,
                                                                    const CallOptions& call = {});

  void GetStatus(Callback<ServerStatus> done);
  std::future<Result<ServerStatus>> GetStatus();
  // Round trip; the server's applied LSN.
  void Ping(uint64_t payload, Callback<Lsn> done);
  std::future<Result<Lsn>> Ping(uint64_t payload = 0);

  // ---- generic ----
  // Sends `request` and completes with its Response (a Response whose error
  // is not kOk is an ok Result). Returns the request id: request.request_id,
  // or a fresh one when it is 0. A caller-chosen id that is already in flight
  // completes with kInvalidArgument.
  uint64_t Call(Request request, Callback<Response> done);
  std::future<Result<Response>> Call(Request request);

  class Impl;  // internal

 private:
  std::shared_ptr<Impl> impl_;  // shared with the I/O thread, which may outlive *this
};

}  // namespace canopy::net
