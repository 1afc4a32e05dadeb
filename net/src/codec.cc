#include "codec.h"

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace canopy::net::internal {
namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// A Subscribe names at most this many carried columns.
constexpr size_t kMaxCarriedColumns = 64;

std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->c_str(), s->size());
}

DecodedRequest RequestError(uint64_t request_id, ErrorCode code, std::string message) {
  DecodedRequest d;
  d.error = code;
  d.request_id = request_id;
  d.message = std::move(message);
  return d;
}

bool ValidIdQuery(const fb::IdQuery& q) {
  return static_cast<int>(q.kind()) < kQueryKindCount &&
         static_cast<uint8_t>(q.order()) <= static_cast<uint8_t>(fb::HierarchyOrder::MAX) &&
         static_cast<uint8_t>(q.id_order()) <= static_cast<uint8_t>(fb::IdOrder::MAX);
}

template <typename T>
size_t SizeOf(const flatbuffers::Vector<T>* v) {
  return v == nullptr ? 0 : v->size();
}

// FlatBuffers 2.0.8's Verifier checks a scalar vector's alignment only to 4
// bytes (its length field), so a [long] may sit misaligned in a hostile
// buffer; reading it would be undefined behaviour. (Frames start 8-aligned,
// so the absolute address is what counts.) Empty vectors are exempt: the
// builder does not align them, and nothing is read from them.
bool Aligned(const flatbuffers::Vector<int64_t>* v) {
  return v == nullptr || v->size() == 0 ||
         reinterpret_cast<uintptr_t>(v->Data()) % alignof(int64_t) == 0;
}

fb::Target ToWireTarget(Table table) {
  return table == Table::kProjects ? fb::Target::Project : fb::Target::Namespace;
}
Table FromWireTarget(fb::Target target) {
  return target == fb::Target::Project ? Table::kProjects : Table::kNamespaces;
}

void FinishResponse(FlatBufferBuilder* b, uint64_t request_id, Lsn lsn, ErrorCode code,
                    std::string_view message, fb::ResponseBody body_type, Offset<void> body) {
  Offset<flatbuffers::String> msg = message.empty() ? 0 : b->CreateString(message);
  b->FinishSizePrefixed(
      fb::CreateResponse(*b, request_id, lsn.value, ToWire(code), msg, body_type, body),
      fb::RequestIdentifier());
}

Offset<fb::IdList> BuildIdList(FlatBufferBuilder* b, const IdAnswer& a) {
  const ErrorCode code = ErrorCodeFor(a.status);
  Offset<flatbuffers::String> msg =
      a.status.ok() || a.status.message().empty() ? 0 : b->CreateString(a.status.message());
  auto ids = b->CreateVector(a.ids);
  return fb::CreateIdList(*b, ToWire(code), msg, ids, a.total, a.more);
}

IdPage ToIdPage(const fb::IdList& list) {
  IdPage page;
  page.status = FromWire(list.status());
  page.message = std::string(View(list.message()));
  if (list.ids() != nullptr) page.ids.assign(list.ids()->begin(), list.ids()->end());
  page.total = list.total();
  page.more = list.more();
  return page;
}

}  // namespace

ErrorCode ErrorCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return ErrorCode::kOk;
    case StatusCode::kNotFound:
      return ErrorCode::kUnknownId;
    case StatusCode::kInvalidArgument:
      return ErrorCode::kInvalidArgument;
    case StatusCode::kOutOfRange:  // a change-feed position no longer held
      return ErrorCode::kOutOfRange;
    case StatusCode::kResourceExhausted:
      return ErrorCode::kTooLarge;
    case StatusCode::kUnavailable:
      return ErrorCode::kNotReady;
    case StatusCode::kTimeout:
      return ErrorCode::kStale;
    default:
      return ErrorCode::kInternal;
  }
}

// ---------------------------------------------------------------------------
// Requests, server side

DecodedRequest DecodeRequest(std::span<const uint8_t> frame, const DecoderLimits& limits) {
  flatbuffers::Verifier::Options options;
  options.max_depth = 8;  // Request > body > BatchQuery > [IdQuery]: 4 deep
  options.max_tables = limits.max_batch_queries + 64;
  if (frame.size() < kFrameHeaderBytes + 8 || frame.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    DecodedRequest d =
        RequestError(0, ErrorCode::kFailedVerification, "frame too short to be a Request");
    d.fatal = true;
    return d;
  }
  if (reinterpret_cast<uintptr_t>(frame.data()) % alignof(uint64_t) != 0) {
    DecodedRequest d = RequestError(0, ErrorCode::kFailedVerification, "unaligned frame buffer");
    d.fatal = true;  // a caller bug (FrameReader aligns frames), never trust it
    return d;
  }
  flatbuffers::Verifier verifier(frame.data(), frame.size(), options);
  if (!verifier.VerifySizePrefixedBuffer<fb::Request>(fb::RequestIdentifier())) {
    DecodedRequest d =
        RequestError(0, ErrorCode::kFailedVerification, "frame is not a verifiable canopy Request");
    d.fatal = true;
    return d;
  }
  const fb::Request* request = flatbuffers::GetSizePrefixedRoot<fb::Request>(frame.data());
  const uint64_t id = request->request_id();
  // A union type with no value verifies; every reader below assumes a body.
  if (request->body_type() != fb::RequestBody::NONE && request->body() == nullptr) {
    return RequestError(id, ErrorCode::kInvalidArgument, "request body missing");
  }
  const flatbuffers::Vector<int64_t>* ids = nullptr;
  if (const fb::Counts* c = request->body_as_Counts()) ids = c->ids();
  if (const fb::FullPath* f = request->body_as_FullPath()) ids = f->ids();
  if (const fb::RunnersOfGroups* r = request->body_as_RunnersOfGroups()) ids = r->ids();
  if (!Aligned(ids)) {
    DecodedRequest d = RequestError(id, ErrorCode::kFailedVerification, "misaligned id vector");
    d.fatal = true;
    return d;
  }
  switch (request->body_type()) {
    case fb::RequestBody::NONE:
      return RequestError(id, ErrorCode::kUnknownRequest, "request has no body");
    case fb::RequestBody::Hello:
    case fb::RequestBody::Ping:
    case fb::RequestBody::Status:
      break;
    case fb::RequestBody::IdQuery: {
      const fb::IdQuery* q = request->body_as_IdQuery();
      if (!ValidIdQuery(*q))
        return RequestError(id, ErrorCode::kInvalidArgument,
                            "unknown query kind, order or id_order");
      break;
    }
    case fb::RequestBody::BatchQuery: {
      const fb::BatchQuery* batch = request->body_as_BatchQuery();
      const size_t n = SizeOf(batch->queries());
      if (n > limits.max_batch_queries) {
        return RequestError(id, ErrorCode::kTooLarge,
                            "batch of " + std::to_string(n) + " queries; the limit is " +
                                std::to_string(limits.max_batch_queries));
      }
      for (size_t i = 0; i < n; ++i) {
        if (!ValidIdQuery(*batch->queries()->Get(static_cast<flatbuffers::uoffset_t>(i)))) {
          return RequestError(
              id, ErrorCode::kInvalidArgument,
              "batch member " + std::to_string(i) + ": unknown query kind, order or id_order");
        }
      }
      break;
    }
    case fb::RequestBody::Counts: {
      const fb::Counts* c = request->body_as_Counts();
      if (SizeOf(c->ids()) > limits.max_ids) {
        return RequestError(id, ErrorCode::kTooLarge, "too many ids for counts");
      }
      break;
    }
    case fb::RequestBody::FullPath: {
      const fb::FullPath* f = request->body_as_FullPath();
      if (static_cast<uint8_t>(f->target()) > static_cast<uint8_t>(fb::Target::MAX)) {
        return RequestError(id, ErrorCode::kInvalidArgument, "unknown full_path target");
      }
      if (SizeOf(f->ids()) > limits.max_ids) {
        return RequestError(id, ErrorCode::kTooLarge, "too many ids for full_path");
      }
      break;
    }
    case fb::RequestBody::Resolve: {
      const fb::Resolve* r = request->body_as_Resolve();
      if (SizeOf(r->paths()) > limits.max_paths) {
        return RequestError(id, ErrorCode::kTooLarge, "too many paths for resolve");
      }
      break;
    }
    case fb::RequestBody::RunnersOfGroups: {
      const fb::RunnersOfGroups* r = request->body_as_RunnersOfGroups();
      if (SizeOf(r->ids()) > limits.max_ids) {
        return RequestError(id, ErrorCode::kTooLarge, "too many ids for runners_of_groups");
      }
      break;
    }
    case fb::RequestBody::Subscribe: {
      const fb::Subscribe* sub = request->body_as_Subscribe();
      if (sub->tables() == 0 || sub->tables() > 0b111) {
        return RequestError(id, ErrorCode::kInvalidArgument,
                            "subscribe: tables must name at least one of the three tables");
      }
      if (SizeOf(sub->columns()) > 3) {
        return RequestError(id, ErrorCode::kInvalidArgument,
                            "subscribe: columns has one entry per table (at most 3)");
      }
      if (SizeOf(sub->carried()) > kMaxCarriedColumns) {
        return RequestError(
            id, ErrorCode::kInvalidArgument,
            "subscribe: at most " + std::to_string(kMaxCarriedColumns) + " carried columns");
      }
      if (sub->carried() != nullptr) {
        std::vector<std::string> columns[3];
        for (const flatbuffers::String* name : *sub->carried()) {
          if (Status s = ParseTableColumn(View(name), columns); !s.ok()) {
            return RequestError(id, ErrorCode::kInvalidArgument,
                                "subscribe: carried column " + s.message());
          }
        }
      }
      break;
    }
    default:
      return RequestError(
          id, ErrorCode::kUnknownRequest,
          "unknown request type " + std::to_string(static_cast<unsigned>(request->body_type())));
  }
  DecodedRequest d;
  d.request_id = id;
  d.request = request;
  return d;
}

IdQuery ToIdQuery(const fb::IdQuery& q) {
  IdQuery query;
  query.kind = static_cast<QueryKind>(q.kind());
  query.id = q.id();
  query.top = q.top();
  query.order = static_cast<HierarchyOrder>(q.order());
  query.include_project_namespaces = q.include_project_namespaces();
  query.limit = q.limit();
  if (q.after_id()) query.after_id = *q.after_id();
  query.id_order = static_cast<IdOrder>(q.id_order());
  return query;
}

SubscribeRequest ToSubscribeRequest(const fb::Subscribe& sub) {
  SubscribeRequest r;
  r.from = Lsn(sub.from_lsn());
  r.filter.tables = sub.tables();
  if (sub.subtree()) r.filter.subtree = *sub.subtree();
  if (sub.columns() != nullptr) {
    for (flatbuffers::uoffset_t t = 0; t < sub.columns()->size() && t < 3; ++t) {
      r.filter.columns[t] = sub.columns()->Get(t);
    }
  }
  if (sub.carried() != nullptr) {  // checked by DecodeRequest
    for (const flatbuffers::String* name : *sub.carried()) {
      (void)ParseTableColumn(View(name), r.filter.carried);
    }
  }
  return r;
}

// ---------------------------------------------------------------------------
// Responses, server side

void EncodeError(uint64_t request_id, Lsn lsn, ErrorCode code, std::string_view message,
                 FlatBufferBuilder* b) {
  b->Clear();
  FinishResponse(b, request_id, lsn, code, message, fb::ResponseBody::NONE, 0);
}

void EncodeIdAnswer(uint64_t request_id, Lsn lsn, const IdAnswer& answer, FlatBufferBuilder* b) {
  b->Clear();
  auto list = BuildIdList(b, answer);
  FinishResponse(
      b, request_id, lsn, ErrorCodeFor(answer.status),
      answer.status.ok() ? std::string_view() : std::string_view(answer.status.message()),
      fb::ResponseBody::IdList, list.Union());
}

void EncodeBatchAnswer(uint64_t request_id, const BatchAnswer& batch, FlatBufferBuilder* b) {
  b->Clear();
  std::vector<Offset<fb::IdList>> members;
  members.reserve(batch.answers.size());
  for (const IdAnswer& a : batch.answers) members.push_back(BuildIdList(b, a));
  auto lists = fb::CreateBatchIdLists(*b, b->CreateVector(members));
  FinishResponse(b, request_id, batch.lsn, ErrorCode::kOk, {}, fb::ResponseBody::BatchIdLists,
                 lists.Union());
}

void EncodeCounts(uint64_t request_id, Lsn lsn, std::span<const CountsEntry> members,
                  FlatBufferBuilder* b) {
  b->Clear();
  std::vector<Offset<fb::CountsEntry>> entries;
  entries.reserve(members.size());
  for (const CountsEntry& e : members) {
    entries.push_back(fb::CreateCountsEntry(*b, ToWire(e.status), e.id, e.counts.descendant_groups,
                                            e.counts.descendant_project_namespaces,
                                            e.counts.projects, e.counts.unarchived_projects));
  }
  auto list = fb::CreateCountsList(*b, b->CreateVector(entries));
  FinishResponse(b, request_id, lsn, ErrorCode::kOk, {}, fb::ResponseBody::CountsList,
                 list.Union());
}

void EncodePaths(uint64_t request_id, Lsn lsn, std::span<const PathEntry> members,
                 FlatBufferBuilder* b) {
  b->Clear();
  std::vector<Offset<fb::PathEntry>> entries;
  entries.reserve(members.size());
  for (const PathEntry& e : members) {
    Offset<flatbuffers::String> path = e.path.empty() ? 0 : b->CreateString(e.path);
    entries.push_back(fb::CreatePathEntry(*b, ToWire(e.status), e.id, path));
  }
  auto list = fb::CreatePathList(*b, b->CreateVector(entries));
  FinishResponse(b, request_id, lsn, ErrorCode::kOk, {}, fb::ResponseBody::PathList, list.Union());
}

void EncodeResolved(uint64_t request_id, Lsn lsn, std::span<const ResolvedEntry> members,
                    FlatBufferBuilder* b) {
  b->Clear();
  std::vector<Offset<fb::ResolvedEntry>> entries;
  entries.reserve(members.size());
  for (const ResolvedEntry& e : members) {
    Offset<flatbuffers::String> path = e.path.empty() ? 0 : b->CreateString(e.path);
    entries.push_back(fb::CreateResolvedEntry(*b, ToWire(e.status), path,
                                              ToWireTarget(e.resolved.table), e.resolved.id));
  }
  auto list = fb::CreateResolvedList(*b, b->CreateVector(entries));
  FinishResponse(b, request_id, lsn, ErrorCode::kOk, {}, fb::ResponseBody::ResolvedList,
                 list.Union());
}

void EncodeStatus(uint64_t request_id, const ServerStatus& s, FlatBufferBuilder* b) {
  b->Clear();
  std::vector<Offset<fb::TableProgress>> tables;
  tables.reserve(s.replication.tables.size());
  for (const TableLoad& t : s.replication.tables) {
    tables.push_back(fb::CreateTableProgress(*b, b->CreateString(t.table), t.rows, t.estimated_rows,
                                             t.rows_per_second, t.eta_seconds, t.done));
  }
  auto tables_vec = b->CreateVector(tables);
  auto stage = b->CreateString(s.replication.stage);
  auto last_error = b->CreateString(s.replication.last_error);
  auto version = b->CreateString(s.server_version);
  const IndexStats& x = s.index;
  auto reply = fb::CreateStatusReply(
      *b, s.applied_lsn.value, s.replication.received_lsn.value, s.lag_bytes,
      static_cast<fb::ServingState>(s.replication.state), stage, last_error, x.namespaces,
      x.projects, x.runner_links, x.orphan_namespaces, x.orphan_projects, x.cycles_refused,
      x.unknown_deletes, x.transactions_applied, x.row_changes_applied, x.publishes,
      x.last_publish_wait_ns, x.max_publish_wait_ns, x.memory_bytes, tables_vec, s.connections,
      s.requests_served, s.waiting_requests, version, s.replication.last_error_unix_ms,
      s.replication.last_commit_unix_ms, s.lag_seconds);
  FinishResponse(b, request_id, s.applied_lsn, ErrorCode::kOk, {}, fb::ResponseBody::StatusReply,
                 reply.Union());
}

namespace {

Offset<fb::FeedRow> BuildFeedRow(FlatBufferBuilder* b, const FeedRow& row) {
  return std::visit(
      [b](const auto& r) -> Offset<fb::FeedRow> {
        using Row = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<Row, std::monostate>) {
          return 0;
        } else if constexpr (std::is_same_v<Row, NamespaceRow>) {
          auto name = b->CreateString(r.name);
          auto path = b->CreateString(r.path);
          fb::FeedRowBuilder row(*b);
          row.add_present(r.present);
          if (r.parent_id) row.add_parent_id(*r.parent_id);
          row.add_type(static_cast<uint8_t>(r.type));
          row.add_name(name);
          row.add_path(path);
          row.add_visibility_level(r.visibility_level);
          return row.Finish();
        } else if constexpr (std::is_same_v<Row, ProjectRow>) {
          auto name = b->CreateString(r.name);
          auto path = b->CreateString(r.path);
          fb::FeedRowBuilder row(*b);
          row.add_present(r.present);
          row.add_name(name);
          row.add_path(path);
          row.add_visibility_level(r.visibility_level);
          row.add_namespace_id(r.namespace_id);
          if (r.project_namespace_id) row.add_project_namespace_id(*r.project_namespace_id);
          row.add_archived(r.archived);
          row.add_pending_delete(r.pending_delete);
          return row.Finish();
        } else {
          fb::FeedRowBuilder row(*b);
          row.add_present(r.present);
          row.add_namespace_id(r.namespace_id);
          row.add_runner_id(r.runner_id);
          return row.Finish();
        }
      },
      row);
}

// The row of `table` that `wire` describes (monostate when absent).
FeedRow ToFeedRow(Table table, const fb::FeedRow* wire) {
  if (wire == nullptr) return std::monostate{};
  switch (table) {
    case Table::kNamespaces: {
      NamespaceRow r;
      r.present = wire->present();
      if (wire->parent_id()) r.parent_id = *wire->parent_id();
      r.type = static_cast<NamespaceType>(wire->type());
      r.name = std::string(View(wire->name()));
      r.path = std::string(View(wire->path()));
      r.visibility_level = wire->visibility_level();
      return r;
    }
    case Table::kProjects: {
      ProjectRow r;
      r.present = wire->present();
      r.name = std::string(View(wire->name()));
      r.path = std::string(View(wire->path()));
      r.visibility_level = wire->visibility_level();
      r.namespace_id = wire->namespace_id();
      if (wire->project_namespace_id()) r.project_namespace_id = *wire->project_namespace_id();
      r.archived = wire->archived();
      r.pending_delete = wire->pending_delete();
      return r;
    }
    case Table::kRunnerLinks: {
      RunnerLinkRow r;
      r.present = wire->present();
      r.namespace_id = wire->namespace_id();
      r.runner_id = wire->runner_id();
      return r;
    }
  }
  return std::monostate{};
}

}  // namespace

void EncodeFeedBatch(uint64_t request_id, Lsn position, std::span<const SharedFeedTransaction> txns,
                     FlatBufferBuilder* b) {
  b->Clear();
  std::vector<Offset<fb::FeedTransaction>> transactions;
  transactions.reserve(txns.size());
  std::vector<Offset<fb::FeedChange>> changes;
  for (const SharedFeedTransaction& shared : txns) {
    const FeedTransaction& t = *shared;
    changes.clear();
    for (const FeedChange& c : t.changes) {
      auto before = BuildFeedRow(b, c.before);
      auto after = BuildFeedRow(b, c.after);
      auto subtrees = c.subtrees.empty() ? 0 : b->CreateVector(c.subtrees);
      Offset<flatbuffers::Vector<Offset<fb::CarriedValue>>> carried = 0;
      if (!c.carried.empty()) {
        std::vector<Offset<fb::CarriedValue>> values;
        values.reserve(c.carried.size());
        for (const CarriedValue& v : c.carried) {
          auto column = b->CreateString(v.column);
          values.push_back(
              fb::CreateCarriedValue(*b, column, v.text ? b->CreateString(*v.text) : 0));
        }
        carried = b->CreateVector(values);
      }
      changes.push_back(fb::CreateFeedChange(*b, static_cast<fb::FeedTable>(c.table),
                                             static_cast<fb::ChangeOp>(c.op), c.id, before, after,
                                             subtrees, carried));
    }
    transactions.push_back(fb::CreateFeedTransaction(*b, t.commit_lsn.value, t.commit_unix_ms,
                                                     b->CreateVector(changes)));
  }
  auto batch = fb::CreateFeedBatch(*b, b->CreateVector(transactions));
  FinishResponse(b, request_id, position, ErrorCode::kOk, {}, fb::ResponseBody::FeedBatch,
                 batch.Union());
}

void EncodePong(uint64_t request_id, Lsn lsn, uint64_t payload, FlatBufferBuilder* b) {
  b->Clear();
  auto pong = fb::CreatePong(*b, payload);
  FinishResponse(b, request_id, lsn, ErrorCode::kOk, {}, fb::ResponseBody::Pong, pong.Union());
}

void EncodeHelloReply(uint64_t request_id, Lsn lsn, const HelloReply& hello, FlatBufferBuilder* b) {
  b->Clear();
  auto reply = fb::CreateHelloReply(*b, hello.version, b->CreateString(hello.server_version),
                                    hello.max_frame_bytes, hello.max_in_flight);
  FinishResponse(b, request_id, lsn, ErrorCode::kOk, {}, fb::ResponseBody::HelloReply,
                 reply.Union());
}

// ---------------------------------------------------------------------------
// Requests and responses, client side

namespace {

Offset<fb::IdQuery> BuildIdQuery(FlatBufferBuilder* b, const IdQuery& q) {
  flatbuffers::Optional<int64_t> after = flatbuffers::nullopt;
  if (q.after_id) after = *q.after_id;
  return fb::CreateIdQuery(*b, static_cast<fb::QueryKind>(q.kind), q.id, q.top,
                           static_cast<fb::HierarchyOrder>(q.order), q.include_project_namespaces,
                           q.limit, after, static_cast<fb::IdOrder>(q.id_order));
}

struct BodyEncoder {
  FlatBufferBuilder* b;
  std::pair<fb::RequestBody, Offset<void>> operator()(const HelloRequest& r) const {
    auto token = r.token.empty() ? 0 : b->CreateString(r.token);
    auto name = r.client_name.empty() ? 0 : b->CreateString(r.client_name);
    return {fb::RequestBody::Hello, fb::CreateHello(*b, r.version, token, name).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const PingRequest& r) const {
    return {fb::RequestBody::Ping, fb::CreatePing(*b, r.payload).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const IdQuery& q) const {
    return {fb::RequestBody::IdQuery, BuildIdQuery(b, q).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const BatchRequest& r) const {
    std::vector<Offset<fb::IdQuery>> queries;
    queries.reserve(r.queries.size());
    for (const IdQuery& q : r.queries) queries.push_back(BuildIdQuery(b, q));
    return {fb::RequestBody::BatchQuery,
            fb::CreateBatchQuery(*b, b->CreateVector(queries)).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const CountsRequest& r) const {
    return {fb::RequestBody::Counts, fb::CreateCounts(*b, b->CreateVector(r.ids)).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const FullPathRequest& r) const {
    return {fb::RequestBody::FullPath,
            fb::CreateFullPath(*b, ToWireTarget(r.table), b->CreateVector(r.ids)).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const ResolveRequest& r) const {
    return {fb::RequestBody::Resolve,
            fb::CreateResolve(*b, b->CreateVectorOfStrings(r.paths)).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const RunnersOfGroupsRequest& r) const {
    return {fb::RequestBody::RunnersOfGroups,
            fb::CreateRunnersOfGroups(*b, b->CreateVector(r.ids)).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const StatusRequest&) const {
    return {fb::RequestBody::Status, fb::CreateStatus(*b).Union()};
  }
  std::pair<fb::RequestBody, Offset<void>> operator()(const SubscribeRequest& r) const {
    flatbuffers::Optional<int64_t> subtree = flatbuffers::nullopt;
    if (r.filter.subtree) subtree = *r.filter.subtree;
    const bool all_columns = r.filter.columns[0] == kAllColumns &&
                             r.filter.columns[1] == kAllColumns &&
                             r.filter.columns[2] == kAllColumns;
    auto columns = all_columns ? 0 : b->CreateVector(r.filter.columns, 3);
    std::vector<std::string> carried;
    for (Table t : {Table::kNamespaces, Table::kProjects, Table::kRunnerLinks}) {
      if (r.filter.columns[static_cast<size_t>(t)] == kAllColumns) continue;
      for (const std::string& column : r.filter.carried[static_cast<size_t>(t)]) {
        carried.push_back(std::string(FeedTableName(t)) + "." + column);
      }
    }
    auto carried_names = carried.empty() ? 0 : b->CreateVectorOfStrings(carried);
    return {fb::RequestBody::Subscribe,
            fb::CreateSubscribe(*b, r.from.value, static_cast<uint8_t>(r.filter.tables), subtree,
                                columns, carried_names)
                .Union()};
  }
};

ServerStatus ToServerStatus(const fb::StatusReply& r) {
  ServerStatus s;
  s.applied_lsn = Lsn(r.applied_lsn());
  s.lag_bytes = r.lag_bytes();
  s.replication.state =
      static_cast<uint8_t>(r.state()) <= static_cast<uint8_t>(fb::ServingState::MAX)
          ? static_cast<ServingState>(r.state())
          : ServingState::kUnknown;
  s.replication.stage = std::string(View(r.stage()));
  s.replication.received_lsn = Lsn(r.received_lsn());
  s.replication.last_error = std::string(View(r.last_error()));
  s.replication.last_error_unix_ms = r.last_error_unix_ms();
  s.replication.last_commit_unix_ms = r.last_commit_unix_ms();
  s.lag_seconds = r.lag_seconds();
  if (r.tables() != nullptr) {
    for (const fb::TableProgress* t : *r.tables()) {
      TableLoad load;
      load.table = std::string(View(t->table()));
      load.rows = t->rows();
      load.estimated_rows = t->estimated_rows();
      load.rows_per_second = t->rows_per_second();
      load.eta_seconds = t->eta_seconds();
      load.done = t->done();
      s.replication.tables.push_back(std::move(load));
    }
  }
  IndexStats& x = s.index;
  x.applied_lsn = s.applied_lsn;
  x.namespaces = r.namespaces();
  x.projects = r.projects();
  x.runner_links = r.runner_links();
  x.orphan_namespaces = r.orphan_namespaces();
  x.orphan_projects = r.orphan_projects();
  x.cycles_refused = r.cycles_refused();
  x.unknown_deletes = r.unknown_deletes();
  x.transactions_applied = r.transactions_applied();
  x.row_changes_applied = r.row_changes_applied();
  x.publishes = r.publishes();
  x.last_publish_wait_ns = r.last_publish_wait_ns();
  x.max_publish_wait_ns = r.max_publish_wait_ns();
  x.memory_bytes = r.memory_bytes();
  s.connections = r.connections();
  s.requests_served = r.requests_served();
  s.waiting_requests = r.waiting_requests();
  s.server_version = std::string(View(r.server_version()));
  return s;
}

}  // namespace

void EncodeRequest(const Request& request, FlatBufferBuilder* b) {
  b->Clear();
  auto [type, body] = std::visit(BodyEncoder{b}, request.body);
  b->FinishSizePrefixed(fb::CreateRequest(*b, request.request_id, request.min_lsn.value,
                                          request.timeout_ms, type, body),
                        fb::RequestIdentifier());
}

Result<Response> DecodeResponse(std::span<const uint8_t> frame) {
  if (frame.size() < kFrameHeaderBytes + 8 || frame.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Status::DataLoss("response frame too short");
  }
  flatbuffers::Verifier::Options options;
  options.max_depth = 8;
  options.max_tables = 50'000'000;  // a batch answer has one table per member
  if (reinterpret_cast<uintptr_t>(frame.data()) % alignof(uint64_t) != 0) {
    return Status::DataLoss("unaligned response frame buffer");
  }
  flatbuffers::Verifier verifier(frame.data(), frame.size(), options);
  if (!verifier.VerifySizePrefixedBuffer<fb::Response>(fb::RequestIdentifier())) {
    return Status::DataLoss("response frame does not verify");
  }
  const fb::Response* r = flatbuffers::GetSizePrefixedRoot<fb::Response>(frame.data());
  bool aligned = true;
  if (const fb::IdList* list = r->body_as_IdList()) aligned = Aligned(list->ids());
  if (const fb::BatchIdLists* lists = r->body_as_BatchIdLists(); lists && lists->members()) {
    for (const fb::IdList* list : *lists->members()) aligned = aligned && Aligned(list->ids());
  }
  if (const fb::FeedBatch* feed = r->body_as_FeedBatch(); feed && feed->transactions()) {
    for (const fb::FeedTransaction* t : *feed->transactions()) {
      if (t->changes() == nullptr) continue;
      for (const fb::FeedChange* c : *t->changes()) {
        aligned = aligned && Aligned(c->subtrees());
        if (static_cast<uint8_t>(c->table()) > static_cast<uint8_t>(fb::FeedTable::MAX) ||
            static_cast<uint8_t>(c->op()) > static_cast<uint8_t>(fb::ChangeOp::MAX) ||
            (c->before() != nullptr && c->before()->type() > 2) ||
            (c->after() != nullptr && c->after()->type() > 2)) {
          return Status::DataLoss("feed change with an unknown table, op or namespace type");
        }
        if (c->carried() != nullptr) {
          for (const fb::CarriedValue* v : *c->carried()) {
            if (v->column() == nullptr || v->column()->size() == 0) {
              return Status::DataLoss("feed change with a carried value that names no column");
            }
          }
        }
      }
    }
  }
  if (!aligned) return Status::DataLoss("response has a misaligned id vector");
  Response out;
  out.request_id = r->request_id();
  out.lsn = Lsn(r->lsn());
  out.error = FromWire(r->error());
  out.message = std::string(View(r->message()));
  switch (r->body_type()) {
    case fb::ResponseBody::IdList:
      if (const fb::IdList* list = r->body_as_IdList()) out.body = ToIdPage(*list);
      break;
    case fb::ResponseBody::BatchIdLists: {
      BatchPages pages;
      if (const fb::BatchIdLists* lists = r->body_as_BatchIdLists(); lists && lists->members()) {
        pages.members.reserve(lists->members()->size());
        for (const fb::IdList* list : *lists->members()) pages.members.push_back(ToIdPage(*list));
      }
      out.body = std::move(pages);
      break;
    }
    case fb::ResponseBody::CountsList: {
      CountsList list;
      if (const fb::CountsList* l = r->body_as_CountsList(); l && l->members()) {
        for (const fb::CountsEntry* e : *l->members()) {
          CountsEntry entry;
          entry.status = FromWire(e->status());
          entry.id = e->id();
          entry.counts.descendant_groups = e->descendant_groups();
          entry.counts.descendant_project_namespaces = e->descendant_project_namespaces();
          entry.counts.projects = e->projects();
          entry.counts.unarchived_projects = e->unarchived_projects();
          list.members.push_back(entry);
        }
      }
      out.body = std::move(list);
      break;
    }
    case fb::ResponseBody::PathList: {
      PathList list;
      if (const fb::PathList* l = r->body_as_PathList(); l && l->members()) {
        for (const fb::PathEntry* e : *l->members()) {
          list.members.push_back({FromWire(e->status()), e->id(), std::string(View(e->path()))});
        }
      }
      out.body = std::move(list);
      break;
    }
    case fb::ResponseBody::ResolvedList: {
      ResolvedList list;
      if (const fb::ResolvedList* l = r->body_as_ResolvedList(); l && l->members()) {
        for (const fb::ResolvedEntry* e : *l->members()) {
          ResolvedEntry entry;
          entry.status = FromWire(e->status());
          entry.path = std::string(View(e->path()));
          entry.resolved.table = FromWireTarget(e->target());
          entry.resolved.id = e->id();
          list.members.push_back(std::move(entry));
        }
      }
      out.body = std::move(list);
      break;
    }
    case fb::ResponseBody::StatusReply:
      if (const fb::StatusReply* s = r->body_as_StatusReply()) out.body = ToServerStatus(*s);
      break;
    case fb::ResponseBody::Pong:
      if (const fb::Pong* p = r->body_as_Pong()) out.body = Pong{p->payload()};
      break;
    case fb::ResponseBody::HelloReply:
      if (const fb::HelloReply* h = r->body_as_HelloReply()) {
        out.body = HelloReply{h->version(), std::string(View(h->server_version())),
                              h->max_frame_bytes(), h->max_in_flight()};
      }
      break;
    case fb::ResponseBody::FeedBatch: {
      FeedBatch batch;
      if (const fb::FeedBatch* f = r->body_as_FeedBatch(); f && f->transactions()) {
        batch.transactions.reserve(f->transactions()->size());
        for (const fb::FeedTransaction* t : *f->transactions()) {
          FeedTransaction txn;
          txn.commit_lsn = Lsn(t->commit_lsn());
          txn.commit_unix_ms = t->commit_unix_ms();
          if (t->changes() != nullptr) {
            txn.changes.reserve(t->changes()->size());
            for (const fb::FeedChange* c : *t->changes()) {
              FeedChange change;
              change.table = static_cast<Table>(c->table());
              change.op = static_cast<ChangeOp>(c->op());
              change.id = c->id();
              change.before = ToFeedRow(change.table, c->before());
              change.after = ToFeedRow(change.table, c->after());
              if (c->subtrees() != nullptr) {
                change.subtrees.assign(c->subtrees()->begin(), c->subtrees()->end());
              }
              if (c->carried() != nullptr) {
                for (const fb::CarriedValue* v : *c->carried()) {
                  CarriedValue value{std::string(View(v->column())), std::nullopt};
                  if (v->text() != nullptr) value.text = std::string(View(v->text()));
                  change.carried.push_back(std::move(value));
                }
              }
              txn.changes.push_back(std::move(change));
            }
          }
          batch.transactions.push_back(std::move(txn));
        }
      }
      out.body = std::move(batch);
      break;
    }
    default:
      break;  // NONE, or a body from a newer server: no body
  }
  return out;
}

}  // namespace canopy::net::internal
