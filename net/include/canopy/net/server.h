// canopy/net/server.h — canopyd's network front: serves a HierarchyIndex over
// TCP and/or a Unix domain socket with the protocol of schemas/canopy.fbs.
//
//   canopy::HierarchyIndex index;                 // filled by the CDC side (or by Apply)
//   canopy::net::ServerOptions options;
//   options.tcp_listen = "127.0.0.1:7433";
//   options.unix_path = "/run/canopy/canopy.sock";
//   canopy::Result<std::unique_ptr<canopy::net::Server>> server =
//       canopy::net::Server::Start(options, canopy::net::Server::Borrow(index));
//   if (!server.ok()) die(server.status());
//   ...                                           // replication applies transactions
//   (*server)->NotifyApplied(index.applied_lsn()); // wakes min_lsn waiters at once
//   ...
//   (*server)->Stop();                            // graceful; also done by the destructor
//
// SHAPE (as Boost.Beast's async server, threaded as Redis): one listener per
// endpoint accepts connections; each connection is a session reading
// requests (do_read/on_read), answering, and writing answers back, with
// deadlines; every I/O error ends only that session. Thread-per-core: the
// server runs `threads` I/O threads, each with its own event loop; a session
// lives on one thread from accept to close, and nothing on the request path
// crosses threads or takes a lock. Two wire protocols share all of it:
// canopy's FlatBuffers frames (tcp_listen, unix_path) and Redis's RESP
// (resp_tcp_listen, resp_unix_path; docs/resp.md); so does the operators'
// HTTP endpoint (http_listen: /metrics, /healthz, /readyz).
//
// GUARANTEES
//   * Every answer reflects one committed index state and carries its LSN.
//     Answers are copied out of the index before any socket write.
//   * min_lsn: a request whose min_lsn is not applied yet is parked, without
//     holding a thread, until NotifyApplied() (or the poller, every
//     lsn_poll_interval) sees it applied, then answered; after its timeout it
//     is answered STALE with the current LSN.
//   * Backpressure: a connection with max_in_flight unanswered or unwritten
//     requests is not read from until that drops, so a client that pipelines
//     without reading costs bounded memory; a write that makes no progress for
//     write_timeout closes the connection.
//   * A bad frame (zero or oversized length, failed verification), a missing
//     token, or an unsupported version closes only that connection, after an
//     error frame with request_id 0 (or the request's id) was sent.
//   * Stop(): stops accepting, answers waiting (min_lsn) requests
//     SHUTTING_DOWN, finishes requests already read, flushes answers, closes
//     every connection (forcibly after shutdown_grace), joins the threads.
//
// THREAD SAFETY: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "canopy/change_feed.h"
#include "canopy/hierarchy_index.h"
#include "canopy/log.h"
#include "canopy/lsn.h"
#include "canopy/net/protocol.h"
#include "canopy/status.h"
#include "canopy/version.h"

namespace canopy::net {

// Log entries are canopy::LogRecord (canopy/log.h), component "server".
using canopy::LogLevel;
using canopy::LogLevelName;

struct ServerOptions {
  // "HOST:PORT" ("127.0.0.1:7433", "[::1]:7433", "localhost:0"); port 0 picks
  // a free port (see Server::tcp_port()). Empty: no TCP listener.
  std::string tcp_listen = "127.0.0.1:7433";
  // A Unix domain socket path; a stale socket file there is replaced. Empty:
  // none. At least one listener is required.
  std::string unix_path;
  // The Redis-protocol (RESP) listeners, same rules as the two above (see
  // docs/resp.md). Empty: none.
  std::string resp_tcp_listen;
  std::string resp_unix_path;
  // The operators' HTTP endpoint (GET /metrics, /healthz, /readyz;
  // docs/operations.md), "HOST:PORT" as tcp_listen. Empty: none. It counts
  // toward max_connections like the others.
  std::string http_listen;
  // /readyz answers 503 while the replication lag (received_lsn -
  // applied_lsn) is over this many bytes of WAL, or (when above 0) while
  // ServerStatus::lag_seconds is over ready_max_lag_seconds.
  uint64_t ready_max_lag_bytes = uint64_t{64} << 20;
  double ready_max_lag_seconds = 0;
  // The Unix socket files (unix_path and resp_unix_path) get this mode (e.g.
  // 0660; a client needs write permission to connect) and group (a name),
  // between bind and listen, so no client connects before. Unset / empty:
  // as the umask and the process's group leave them.
  std::optional<uint32_t> unix_mode;
  std::string unix_group;
  // I/O threads, each with its own event loop; a connection stays on one
  // thread from accept to close. 0: one per core this process may run on.
  int threads = 0;

  // A non-empty token makes every connection start with Hello{token} (RESP:
  // AUTH token, or HELLO ... AUTH user token; HTTP: "Authorization: Bearer
  // token" on /metrics, /healthz and /readyz exempt). Server::SetToken
  // replaces it.
  std::string token;

  uint32_t max_connections = 4096;
  // Requests read but not yet answered + answers not yet written, per
  // connection; reading pauses at this many. (RESP and HTTP count parked
  // requests only: Redis clients write a whole pipeline before reading, so
  // their unwritten answers are bounded in bytes, not in number.)
  uint32_t max_in_flight = 256;
  // Requests parked on min_lsn across the server (OVERLOADED beyond).
  uint32_t max_waiting = 100'000;
  uint32_t max_request_frame_bytes = 4u << 20;
  uint32_t max_response_frame_bytes = 64u << 20;
  // Every id-list page is cut at this many ids (more=true + cursor).
  uint32_t max_ids_per_page = 1'000'000;
  uint32_t max_batch_queries = 10'000;
  uint32_t max_ids_per_request = 100'000;  // counts / full_path / runners_of_groups / resolve

  // A started frame must be complete within read_timeout; a connection with
  // nothing in flight is closed after idle_timeout; a write must complete
  // within write_timeout.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds idle_timeout{300'000};
  std::chrono::milliseconds write_timeout{10'000};
  // min_lsn waits: timeout_ms 0 means default_wait; never more than max_wait.
  std::chrono::milliseconds default_wait{5'000};
  std::chrono::milliseconds max_wait{60'000};
  // Fallback for a replication side that does not call NotifyApplied
  // (0 = no polling).
  std::chrono::milliseconds lsn_poll_interval{10};
  // Stop() closes connections that have not finished by then.
  std::chrono::milliseconds shutdown_grace{5'000};

  // Hello and Status answers carry it ("canopyd x.y.z", canopy/version.h).
  std::string server_version = std::string("canopyd ") + kVersion;
  // Receives log records, component "server"; a connection's records carry
  // the fields "session", "listener" and "peer" (the client's address, or
  // "unix"). Called from I/O threads; keep it cheap. Empty: silent.
  LogSink log;
  // What the replication side knows (state, received LSN, snapshot
  // progress), for the Status reply. Called from I/O threads. May be empty.
  std::function<ReplicationReport()> replication_status;
  // Called (from an I/O thread) when a request parks on min_lsn for up to
  // `wait`: the replication side can ask its source for the position
  // (canopy::cdc::Replica::RequestPosition). Keep it cheap. May be empty.
  std::function<void(Lsn min_lsn, std::chrono::milliseconds wait)> on_wait_for_lsn;

  // The change feed Subscribe serves (canopy/change_feed.h; canopyd: its
  // replica's). Null: Subscribe is answered INVALID_ARGUMENT. A subscription
  // streams on its connection: its batches wait while that connection's
  // unwritten answers are over the answer buffer bound, and a subscription
  // that falls behind the feed's window ends with OUT_OF_RANGE (the
  // connection and the feed go on).
  std::shared_ptr<ChangeFeed> feed;
  uint32_t max_subscriptions_per_connection = 16;
  uint32_t max_subscriptions = 10'000;  // across the server (OVERLOADED beyond)
  // Per FeedBatch message (and past its first transaction, about 1 MiB of them).
  uint32_t max_feed_batch_transactions = 256;
};

class Server {
 public:
  // Binds the listeners and starts serving `index` (may be null until the
  // first snapshot: requests other than ping/status then get NOT_READY).
  // Errors: kInvalidArgument (options, bad address), kUnavailable (bind/listen
  // failed, e.g. the port is in use).
  static Result<std::unique_ptr<Server>> Start(ServerOptions options,
                                               std::shared_ptr<const HierarchyIndex> index);
  // A non-owning shared_ptr for an index that outlives the server.
  static std::shared_ptr<const HierarchyIndex> Borrow(const HierarchyIndex& index);

  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves `index` from now on (a re-snapshot swapped in a new one). Requests
  // already answering keep the index they started with.
  void SetIndex(std::shared_ptr<const HierarchyIndex> index);
  // Tells the server the index applied `lsn` (called by the replication side
  // after each apply): parked min_lsn requests up to it are answered now.
  // Cheap when nothing waits. Never blocks on I/O.
  void NotifyApplied(Lsn lsn);

  // Replaces the token (canopyd re-reads its token file on SIGHUP): every
  // authentication from now on needs `token`; connections already
  // authenticated stay open. Whether a token is required is fixed at Start.
  // Errors: kFailedPrecondition (started without a token), kInvalidArgument
  // (empty token).
  Status SetToken(std::string token);

  // Replaces ServerOptions::ready_max_lag_bytes for /readyz answers from now
  // on (canopyd applies a changed setting on SIGHUP). Any thread.
  void SetReadyMaxLagBytes(uint64_t bytes);

  // Graceful stop (see GUARANTEES). Idempotent; blocks until done.
  void Stop();

  // The bound TCP port (useful with port 0); 0 without a TCP listener.
  uint16_t tcp_port() const;
  const std::string& unix_path() const;
  // The same for the RESP listeners.
  uint16_t resp_tcp_port() const;
  const std::string& resp_unix_path() const;
  // The HTTP listener's bound port; 0 without one.
  uint16_t http_port() const;
  // The I/O threads serving.
  int threads() const;
  // Live connections and parked requests right now.
  uint64_t connections() const;
  uint64_t waiting_requests() const;
  uint64_t requests_served() const;

  class Impl;  // internal

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace canopy::net
