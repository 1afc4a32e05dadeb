// canopy/net/protocol.h — the messages of canopy's wire protocol, as plain C++
// values (no FlatBuffers or Asio in this header).
//
// The wire format is schemas/canopy.fbs: 4-byte little-endian length +
// one FlatBuffer. canopy::net::Client turns these values into frames and back;
// most code calls the Client's typed methods and never builds a Request by
// hand. Pipelining code does:
//
//   canopy::net::Request request;
//   request.body = canopy::IdQuery{.kind = canopy::QueryKind::kDescendants, .id = 9970};
//   canopy::Result<uint64_t> id = client.Send(request);   // request_id chosen by the client
//   ...
//   canopy::Result<canopy::net::Response> r = client.Receive();
//   if (r.ok() && r->error == canopy::net::ErrorCode::kOk) {
//     const auto& page = std::get<canopy::net::IdPage>(r->body);
//   }
//
// THREAD SAFETY: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "canopy/feed.h"
#include "canopy/lsn.h"
#include "canopy/query.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy::net {

// The protocol version this library speaks (Hello.version).
inline constexpr uint32_t kProtocolVersion = 1;
// Frame header: a 4-byte little-endian payload length.
inline constexpr size_t kFrameHeaderBytes = 4;

// The wire error codes (canopy.fbs ErrorCode; same values).
enum class ErrorCode : uint16_t {
  kOk = 0,
  kMalformedFrame = 1,
  kFailedVerification = 2,
  kUnknownRequest = 3,
  kUnknownId = 4,
  kTooLarge = 5,
  kStale = 6,
  kShuttingDown = 7,
  kUnauthorized = 8,
  kUnsupportedVersion = 9,
  kInvalidArgument = 10,
  kOverloaded = 11,
  kNotReady = 12,
  kInternal = 13,
  kOutOfRange = 14,  // a change-feed position no longer held; ends the subscription
};
inline constexpr uint16_t kMaxErrorCode = 14;

// Stable snake_case name ("ok", "unknown_id", "stale", ...); "unknown" for a
// value this library does not know.
const char* ErrorCodeName(ErrorCode code);
// The canopy::StatusCode a wire error maps to (kUnknownId -> kNotFound,
// kStale -> kTimeout, kShuttingDown/kOverloaded/kNotReady -> kUnavailable,
// kTooLarge -> kResourceExhausted, kOutOfRange -> kOutOfRange, frame/verification -> kDataLoss,
// kUnauthorized/kUnsupportedVersion -> kFailedPrecondition, ...).
StatusCode ToStatusCode(ErrorCode code);
// A Status "<code name>: <message>" for a non-OK code; OK for kOk.
Status ToStatus(ErrorCode code, std::string_view message);

// ---- requests ----

struct HelloRequest {
  uint32_t version = kProtocolVersion;
  std::string token;
  std::string client_name;
};
struct PingRequest {
  uint64_t payload = 0;
};
// Many id-list queries on one snapshot; one IdPage per query.
struct BatchRequest {
  std::vector<IdQuery> queries;
};
struct CountsRequest {
  std::vector<int64_t> ids;
};
struct FullPathRequest {
  Table table = Table::kNamespaces;  // kNamespaces or kProjects
  std::vector<int64_t> ids;
};
struct ResolveRequest {
  std::vector<std::string> paths;
};
// runners_of_groups(ns...): one ascending list for all ids together.
struct RunnersOfGroupsRequest {
  std::vector<int64_t> ids;
};
struct StatusRequest {};
// The change feed (canopy/change_feed.h for the contract, docs/feed.md for the
// wire): transactions committed after `from` (Lsn() = from now), filtered.
// Answered by a stream of FeedBatch responses with this request's id.
struct SubscribeRequest {
  Lsn from;
  FeedFilter filter;
};

using RequestBody =
    std::variant<HelloRequest, PingRequest, IdQuery, BatchRequest, CountsRequest, FullPathRequest,
                 ResolveRequest, RunnersOfGroupsRequest, StatusRequest, SubscribeRequest>;

struct Request {
  uint64_t request_id = 0;  // 0: the client assigns the next one
  Lsn min_lsn;              // Lsn(0) = answer at once
  uint32_t timeout_ms = 0;  // wait for min_lsn at most this long; 0 = the server's default
  RequestBody body;
};

// ---- responses ----

// One id list (an IdQuery's answer, or a batch member).
struct IdPage {
  ErrorCode status = ErrorCode::kOk;  // per member: kOk, kUnknownId, kInvalidArgument
  std::string message;
  std::vector<int64_t> ids;
  uint64_t total = 0;  // size of the whole answer before after_id/limit
  bool more = false;   // cut by the limit; continue with after_id = ids.back()
};
struct BatchPages {
  std::vector<IdPage> members;
};
struct CountsEntry {
  ErrorCode status = ErrorCode::kOk;
  int64_t id = 0;
  SubtreeCounts counts;
};
struct CountsList {
  std::vector<CountsEntry> members;
};
struct PathEntry {
  ErrorCode status = ErrorCode::kOk;
  int64_t id = 0;
  std::string path;
};
struct PathList {
  std::vector<PathEntry> members;
};
struct ResolvedEntry {
  ErrorCode status = ErrorCode::kOk;
  std::string path;
  ResolvedPath resolved;
};
struct ResolvedList {
  std::vector<ResolvedEntry> members;
};

// The serving node's replication state (what the CDC side reports).
// kFailed: replication gave up on an error retrying cannot heal (last_error
// says which); an index already loaded still answers as of its LSN.
enum class ServingState : uint8_t {
  kUnknown = 0,
  kLoading = 1,
  kStreaming = 2,
  kStale = 3,
  kFailed = 4
};
const char* ServingStateName(ServingState state);

struct TableLoad {
  std::string table;
  uint64_t rows = 0;
  uint64_t estimated_rows = 0;
  double rows_per_second = 0;
  double eta_seconds = -1;
  bool done = false;
};

// What the replication side knows and the index does not. Filled by a
// ServerOptions::replication_status callback; defaults when there is none.
struct ReplicationReport {
  ServingState state = ServingState::kUnknown;
  std::string stage;
  Lsn received_lsn;  // highest LSN the source reported (0 = unknown)
  std::string last_error;
  int64_t last_error_unix_ms = 0;  // when last_error happened (0: no error)
  // Commit time (ms since the Unix epoch) of the newest transaction applied
  // (before the first: when the snapshot was taken); 0: unknown.
  int64_t last_commit_unix_ms = 0;
  std::vector<TableLoad> tables;
  // For /metrics only (not in the Status reply's wire format):
  uint64_t reconnects = 0;            // sessions with the source retried since start
  uint64_t snapshots = 0;             // snapshots loaded since start
  double last_snapshot_seconds = -1;  // copy + build of the last one; -1: none yet
};

struct ServerStatus {
  Lsn applied_lsn;
  uint64_t lag_bytes = 0;  // received_lsn - applied_lsn (0 when unknown)
  // 0 while caught up (lag_bytes 0); behind, how long ago the newest applied
  // transaction committed (now - replication.last_commit_unix_ms, at least 0;
  // 0 when that is unknown). An upper bound on how stale an answer is.
  double lag_seconds = 0;
  ReplicationReport replication;
  IndexStats index;  // rows, anomalies, writer waits (applied_lsn duplicated)
  uint64_t connections = 0;
  uint64_t requests_served = 0;
  uint64_t waiting_requests = 0;  // parked on min_lsn
  std::string server_version;
};

struct Pong {
  uint64_t payload = 0;
};
struct HelloReply {
  uint32_t version = 0;
  std::string server_version;
  uint32_t max_frame_bytes = 0;
  uint32_t max_in_flight = 0;
};

// One message of a subscription. Response::lsn is the subscription's
// position after it (the first one, with no transactions: where it starts).
struct FeedBatch {
  std::vector<FeedTransaction> transactions;
};

using ResponseBody = std::variant<std::monostate, IdPage, BatchPages, CountsList, PathList,
                                  ResolvedList, ServerStatus, Pong, HelloReply, FeedBatch>;

struct Response {
  uint64_t request_id = 0;  // 0 for a connection-level error
  Lsn lsn;                  // the snapshot that answered (kStale: the applied LSN)
  ErrorCode error = ErrorCode::kOk;
  std::string message;
  ResponseBody body;  // monostate when error != kOk (except batch members' own codes)
};

}  // namespace canopy::net
