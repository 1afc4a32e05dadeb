// askers.cc — see askers.h.
#include "canopy/testing/askers.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace canopy::testing {

namespace {

// IdQuery batches per question, built once per question (a timing loop asks
// the same question many times).
class BatchQueries {
 public:
  const std::vector<IdQuery>& For(const Question& q) {
    if (built_for_ != &q) {
      queries_.assign(q.ids.size(), IdQuery{.kind = CanopyQueryKind(q.kind)});
      for (size_t i = 0; i < q.ids.size(); ++i) queries_[i].id = q.ids[i];
      built_for_ = &q;
    }
    return queries_;
  }

 private:
  const Question* built_for_ = nullptr;
  std::vector<IdQuery> queries_;
};

std::vector<int64_t> CountsList(const SubtreeCounts& c) {
  return {static_cast<int64_t>(c.descendant_groups),
          static_cast<int64_t>(c.descendant_project_namespaces), static_cast<int64_t>(c.projects),
          static_cast<int64_t>(c.unarchived_projects)};
}

Result<size_t> Deliver(QuestionKind kind, Answer answer, Answer* out) {
  const size_t n = AnswerSize(answer);
  if (out != nullptr) {
    Normalize(kind, &answer);
    *out = std::move(answer);
  }
  return n;
}

// ---- canopy in-process ----

class InProcessAsker : public Asker {
 public:
  explicit InProcessAsker(const HierarchyIndex& index) : index_(index) {}

  Result<size_t> Ask(const Question& q, Answer* out) override {
    switch (q.kind) {
      case QuestionKind::kCounts: {
        Result<SubtreeCounts> c = index_.Read().Counts(q.ids[0]);
        if (!c.ok()) return c.status();
        if (out == nullptr) return size_t{4};
        return Deliver(q.kind, Answer{CountsList(c.value())}, out);
      }
      case QuestionKind::kBatchAncestors: {
        BatchAnswer b = index_.QueryBatch(batch_.For(q));
        size_t n = 0;
        for (const IdAnswer& a : b.answers) {
          if (!a.status.ok()) return a.status;
          n += a.ids.size();
        }
        if (out == nullptr) return n;
        Answer answer;
        for (IdAnswer& a : b.answers) answer.push_back(std::move(a.ids));
        return Deliver(q.kind, std::move(answer), out);
      }
      default: {
        QueryAnswer a = index_.Query({.kind = CanopyQueryKind(q.kind), .id = q.ids[0]});
        if (!a.answer.status.ok()) return a.answer.status;
        if (out == nullptr) return a.answer.ids.size();
        return Deliver(q.kind, Answer{std::move(a.answer.ids)}, out);
      }
    }
  }

 private:
  const HierarchyIndex& index_;
  BatchQueries batch_;
};

// ---- canopy over the network ----

class CanopyNetAsker : public Asker {
 public:
  explicit CanopyNetAsker(net::ClientOptions options) : client_(std::move(options)) {}
  Status Connect() { return client_.Connect(); }

  Result<size_t> Ask(const Question& q, Answer* out) override {
    switch (q.kind) {
      case QuestionKind::kCounts: {
        auto c = client_.Counts(q.ids[0]);
        if (!c.ok()) return c.status();
        if (out == nullptr) return size_t{4};
        return Deliver(q.kind, Answer{CountsList(c->value)}, out);
      }
      case QuestionKind::kBatchAncestors: {
        Result<BatchAnswer> b = client_.QueryBatch(batch_.For(q));
        if (!b.ok()) return b.status();
        size_t n = 0;
        for (const IdAnswer& a : b->answers) {
          if (!a.status.ok()) return a.status;
          n += a.ids.size();
        }
        if (out == nullptr) return n;
        Answer answer;
        for (IdAnswer& a : b.value().answers) answer.push_back(std::move(a.ids));
        return Deliver(q.kind, std::move(answer), out);
      }
      default: {
        Result<QueryAnswer> a = client_.Query({.kind = CanopyQueryKind(q.kind), .id = q.ids[0]});
        if (!a.ok()) return a.status();
        if (!a->answer.status.ok()) return a->answer.status;
        if (out == nullptr) return a->answer.ids.size();
        return Deliver(q.kind, Answer{std::move(a.value().answer.ids)}, out);
      }
    }
  }

  Status Send(const Question& q) override {
    net::Request request;
    switch (q.kind) {
      case QuestionKind::kCounts:
        request.body = net::CountsRequest{q.ids};
        break;
      case QuestionKind::kBatchAncestors:
        request.body = net::BatchRequest{batch_.For(q)};
        break;
      default:
        request.body = IdQuery{.kind = CanopyQueryKind(q.kind), .id = q.ids[0]};
        break;
    }
    Result<uint64_t> id = client_.Send(std::move(request));
    return id.status();
  }

  Result<size_t> Receive() override {
    Result<net::Response> r = client_.Receive();
    if (!r.ok()) return r.status();
    const net::Response& response = r.value();
    if (response.error != net::ErrorCode::kOk) {
      return net::ToStatus(response.error, response.message);
    }
    if (const auto* page = std::get_if<net::IdPage>(&response.body)) return page->ids.size();
    if (const auto* batch = std::get_if<net::BatchPages>(&response.body)) {
      size_t n = 0;
      for (const net::IdPage& member : batch->members) {
        if (member.status != net::ErrorCode::kOk) {
          return net::ToStatus(member.status, member.message);
        }
        n += member.ids.size();
      }
      return n;
    }
    if (const auto* counts = std::get_if<net::CountsList>(&response.body)) {
      return 4 * counts->members.size();
    }
    return Status::DataLoss("unexpected response body");
  }

 private:
  net::Client client_;
  BatchQueries batch_;
};

// ---- PostgreSQL text results ----

// Appends the integers of `text` ("42" or "{1,2,3}") to `out`.
bool ParseIds(const char* text, int length, std::vector<int64_t>* out) {
  const char* p = text;
  const char* end = text + length;
  if (p != end && *p == '{') ++p;
  while (p < end) {
    if (*p == ',' || *p == '}') {
      ++p;
      continue;
    }
    int64_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc()) return false;
    out->push_back(v);
    p = next;
  }
  return true;
}

}  // namespace

Status Asker::Send(const Question&) { return Status::FailedPrecondition("no pipelining"); }
Result<size_t> Asker::Receive() { return Status::FailedPrecondition("no pipelining"); }

std::unique_ptr<Asker> MakeInProcessAsker(const HierarchyIndex& index) {
  return std::make_unique<InProcessAsker>(index);
}

Result<std::unique_ptr<Asker>> MakeCanopyNetAsker(const net::ClientOptions& options) {
  auto asker = std::make_unique<CanopyNetAsker>(options);
  if (Status s = asker->Connect(); !s.ok()) return s;
  return std::unique_ptr<Asker>(std::move(asker));
}

PgAsker::PgAsker(std::unique_ptr<PgConnection> db) : db_(std::move(db)) {
  pid_ = db_->backend_pid();
}

Result<std::unique_ptr<PgAsker>> PgAsker::Connect(const std::string& conninfo) {
  Result<std::unique_ptr<PgConnection>> db = PgConnection::Open(conninfo);
  if (!db.ok()) return db.status();
  std::unique_ptr<PgAsker> asker(new PgAsker(std::move(db.value())));
  asker->statement_names_.resize(kQuestionKindCount * kSqlFormCount);
  for (int k = 0; k < kQuestionKindCount; ++k) {
    for (int f = 0; f < kSqlFormCount; ++f) {
      const auto kind = static_cast<QuestionKind>(k);
      const auto form = static_cast<SqlForm>(f);
      const char* sql = SqlText(kind, form);
      if (sql == nullptr) continue;
      const std::string name = StatementName(kind, form);
      if (Status s = asker->db_->Prepare(name, sql); !s.ok()) return s;
      asker->statement_names_[k * kSqlFormCount + f] = name;
    }
  }
  return asker;
}

Result<size_t> PgAsker::Ask(const Question& q, Answer* out) {
  const std::string& name =
      statement_names_[static_cast<int>(q.kind) * kSqlFormCount + static_cast<int>(form_)];
  if (name.empty()) return Status::InvalidArgument("no SQL for this form");
  return Decode(q, db_->ExecPrepared(name, q.sql_param), out);
}

Result<size_t> PgAsker::Decode(const Question& q, PGresult* result, Answer* out) {
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    Status error = Status::Internal(std::string("postgres: ") + PQresultErrorMessage(result));
    PQclear(result);
    return error;
  }
  const int rows = PQntuples(result);
  const int fields = PQnfields(result);
  bool parsed = true;
  if (q.kind == QuestionKind::kBatchAncestors) {
    // One row per requested id: (id, its ancestors).
    scratch_.resize(q.ids.size());
    for (auto& member : scratch_) member.clear();
    std::vector<int64_t> base;
    for (int r = 0; r < rows && parsed && fields >= 2; ++r) {
      base.clear();
      parsed = ParseIds(PQgetvalue(result, r, 0), PQgetlength(result, r, 0), &base);
      if (!parsed || base.size() != 1) break;
      auto at = std::find(q.ids.begin(), q.ids.end(), base[0]);
      if (at == q.ids.end()) continue;
      parsed = ParseIds(PQgetvalue(result, r, 1), PQgetlength(result, r, 1),
                        &scratch_[at - q.ids.begin()]);
    }
  } else {
    scratch_.resize(1);
    scratch_[0].clear();
    for (int r = 0; r < rows && parsed; ++r) {
      for (int f = 0; f < fields && parsed; ++f) {
        parsed = ParseIds(PQgetvalue(result, r, f), PQgetlength(result, r, f), &scratch_[0]);
      }
    }
  }
  PQclear(result);
  if (!parsed) return Status::DataLoss("unparsable id in a PostgreSQL answer");
  const size_t n = AnswerSize(scratch_);
  if (out != nullptr) {
    *out = scratch_;
    Normalize(q.kind, out);
  }
  return n;
}

Status PgAsker::BeginPipeline() {
  if (PQenterPipelineMode(db_->raw()) != 1) {
    return Status::Internal("PQenterPipelineMode: " + db_->error_message());
  }
  return Status::Ok();
}

Status PgAsker::EndPipeline() {
  while (!in_flight_.empty()) {
    if (Result<size_t> r = Receive(); !r.ok()) return r.status();
  }
  if (PQexitPipelineMode(db_->raw()) != 1) {
    return Status::Internal("PQexitPipelineMode: " + db_->error_message());
  }
  return Status::Ok();
}

// Pipeline mode: each query is followed by a Sync, so each runs in its own
// implicit transaction (as unpipelined queries do) and an error aborts only it.
Status PgAsker::Send(const Question& q) {
  const std::string& name =
      statement_names_[static_cast<int>(q.kind) * kSqlFormCount + static_cast<int>(form_)];
  if (name.empty()) return Status::InvalidArgument("no SQL for this form");
  const char* values[1] = {q.sql_param.c_str()};
  if (PQsendQueryPrepared(db_->raw(), name.c_str(), 1, values, nullptr, nullptr, 0) != 1 ||
      PQpipelineSync(db_->raw()) != 1) {
    return Status::Internal("pipelined send: " + db_->error_message());
  }
  in_flight_.push_back(&q);
  return Status::Ok();
}

Result<size_t> PgAsker::Receive() {
  if (in_flight_.empty()) return Status::FailedPrecondition("nothing in flight");
  const Question* q = in_flight_.front();
  in_flight_.pop_front();
  PGresult* result = PQgetResult(db_->raw());  // the query's rows
  if (result == nullptr) return Status::Internal("pipeline: no result");
  Result<size_t> n = Decode(*q, result, nullptr);
  // Then the end of that query (null) and its Sync point.
  while (PGresult* rest = PQgetResult(db_->raw())) PQclear(rest);
  PGresult* sync = PQgetResult(db_->raw());
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  if (!synced && n.ok()) return Status::Internal("pipeline: missing sync point");
  return n;
}

}  // namespace canopy::testing
