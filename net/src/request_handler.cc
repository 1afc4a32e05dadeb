#include "request_handler.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string>
#include <utility>

namespace canopy::net::internal {
namespace {

std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->c_str(), s->size());
}

std::span<const int64_t> Ids(const flatbuffers::Vector<int64_t>* v) {
  if (v == nullptr) return {};
  return {v->data(), v->size()};
}

}  // namespace

ServerStatus CollectStatus(const HierarchyIndex* index, const StatusSource* source) {
  ServerStatus status;
  if (index != nullptr) {
    status.index = index->Stats();
    status.applied_lsn = status.index.applied_lsn;
  }
  if (source != nullptr) source->FillStatus(&status);
  // The source reported at least what is applied: never show less (the two
  // are read at slightly different times).
  if (status.replication.received_lsn.value != 0 &&
      status.replication.received_lsn < status.applied_lsn) {
    status.replication.received_lsn = status.applied_lsn;
  }
  const Lsn received = status.replication.received_lsn;
  status.lag_bytes = received > status.applied_lsn ? received.value - status.applied_lsn.value : 0;
  const int64_t last_commit_ms = status.replication.last_commit_unix_ms;
  if (status.lag_bytes > 0 && last_commit_ms > 0) {
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    status.lag_seconds =
        static_cast<double>(std::max<int64_t>(now_ms - last_commit_ms, 0)) / 1000.0;
  }
  return status;
}

void AppendShortest(double value, std::string* out) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, ec == std::errc() ? end : buf);
}

RequestHandler::RequestHandler(HandlerLimits limits, const StatusSource* status_source)
    : limits_(limits), status_source_(status_source) {}

IdQuery RequestHandler::Capped(IdQuery query) const {
  if (query.limit == 0 || query.limit > limits_.max_ids_per_page)
    query.limit = limits_.max_ids_per_page;
  return query;
}

void RequestHandler::Answer(const fb::Request& request, const HierarchyIndex* index,
                            flatbuffers::FlatBufferBuilder* b) {
  const uint64_t id = request.request_id();
  const Lsn lsn = index != nullptr ? index->applied_lsn() : Lsn();
  switch (request.body_type()) {
    case fb::RequestBody::Ping:
      EncodePong(id, lsn, request.body_as_Ping()->payload(), b);
      return;
    case fb::RequestBody::Status:
      EncodeStatus(id, CollectStatus(index, status_source_), b);
      return;
    case fb::RequestBody::Hello: {
      HelloReply hello;
      hello.version = kProtocolVersion;
      EncodeHelloReply(id, lsn, hello, b);
      return;
    }
    default:
      break;
  }
  if (index == nullptr) {
    EncodeError(id, lsn, ErrorCode::kNotReady, "the index is not loaded yet", b);
    return;
  }
  switch (request.body_type()) {
    case fb::RequestBody::IdQuery: {
      Lsn at;
      {
        ReadView view = index->Read();
        at = view.lsn();
        view.Run(Capped(ToIdQuery(*request.body_as_IdQuery())), &answer_);
      }
      EncodeIdAnswer(id, at, answer_, b);
      break;
    }
    case fb::RequestBody::BatchQuery:
      AnswerBatch(id, request.body_as_BatchQuery(), *index, b);
      break;
    case fb::RequestBody::Counts: {
      counts_.clear();
      Lsn at;
      {
        ReadView view = index->Read();
        at = view.lsn();
        for (int64_t ns : Ids(request.body_as_Counts()->ids())) {
          Result<SubtreeCounts> c = view.Counts(ns);
          CountsEntry e;
          e.id = ns;
          e.status = ErrorCodeFor(c.status());
          if (c.ok()) e.counts = *c;
          counts_.push_back(e);
        }
      }
      EncodeCounts(id, at, counts_, b);
      break;
    }
    case fb::RequestBody::FullPath: {
      const fb::FullPath* f = request.body_as_FullPath();
      const bool projects = f->target() == fb::Target::Project;
      paths_.clear();
      Lsn at;
      {
        ReadView view = index->Read();
        at = view.lsn();
        for (int64_t x : Ids(f->ids())) {
          Result<std::string> p = projects ? view.ProjectFullPath(x) : view.NamespaceFullPath(x);
          PathEntry e;
          e.id = x;
          e.status = ErrorCodeFor(p.status());
          if (p.ok()) e.path = std::move(p).value();
          paths_.push_back(std::move(e));
        }
      }
      EncodePaths(id, at, paths_, b);
      break;
    }
    case fb::RequestBody::Resolve: {
      const fb::Resolve* r = request.body_as_Resolve();
      resolved_.clear();
      Lsn at;
      {
        ReadView view = index->Read();
        at = view.lsn();
        if (r->paths() != nullptr) {
          for (const flatbuffers::String* path : *r->paths()) {
            Result<ResolvedPath> p = view.Resolve(View(path));
            ResolvedEntry e;
            e.path = std::string(View(path));
            e.status = ErrorCodeFor(p.status());
            if (p.ok()) e.resolved = *p;
            resolved_.push_back(std::move(e));
          }
        }
      }
      EncodeResolved(id, at, resolved_, b);
      break;
    }
    case fb::RequestBody::RunnersOfGroups: {
      IdAnswer answer;
      Lsn at;
      {
        ReadView view = index->Read();
        at = view.lsn();
        view.RunnersOfGroups(Ids(request.body_as_RunnersOfGroups()->ids()), &answer.ids);
      }
      answer.total = answer.ids.size();
      EncodeIdAnswer(id, at, answer, b);
      break;
    }
    default:  // DecodeRequest let through only the kinds above
      EncodeError(id, lsn, ErrorCode::kUnknownRequest, "unknown request type", b);
      return;
  }
  if (b->GetSize() > limits_.max_response_bytes) {
    EncodeError(id, lsn, ErrorCode::kTooLarge,
                "answer of " + std::to_string(b->GetSize()) + " bytes exceeds the server's " +
                    std::to_string(limits_.max_response_bytes) +
                    "-byte frame limit; page it with limit",
                b);
  }
}

void RequestHandler::AnswerBatch(uint64_t request_id, const fb::BatchQuery* batch,
                                 const HierarchyIndex& index, flatbuffers::FlatBufferBuilder* b) {
  queries_.clear();
  if (batch->queries() != nullptr) {
    queries_.reserve(batch->queries()->size());
    for (const fb::IdQuery* q : *batch->queries()) queries_.push_back(Capped(ToIdQuery(*q)));
  }
  const BatchAnswer answer = index.QueryBatch(queries_);
  if (answer.answers.size() != queries_.size()) {  // the engine ran out of memory
    EncodeError(request_id, answer.lsn, ErrorCode::kTooLarge, "batch answer too large to build", b);
    return;
  }
  // Refuse before encoding an answer that cannot fit in a frame.
  size_t bytes = 64;
  for (const IdAnswer& a : answer.answers) bytes += 48 + a.ids.size() * sizeof(int64_t);
  if (bytes > limits_.max_response_bytes) {
    EncodeError(request_id, answer.lsn, ErrorCode::kTooLarge,
                "batch answer of ~" + std::to_string(bytes) + " bytes exceeds the server's " +
                    std::to_string(limits_.max_response_bytes) +
                    "-byte frame limit; use limit per query",
                b);
    return;
  }
  EncodeBatchAnswer(request_id, answer, b);
}

}  // namespace canopy::net::internal
