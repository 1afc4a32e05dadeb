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

Result<std::unique_ptr<Asker>> MakeCanopyNetAsker(const net::ClientOptions& options) {
  auto asker = std::make_unique<CanopyNetAsker>(options);
  if (Status s = asker->Connect(); !s.ok()) return s;
  return std::unique_ptr<Asker>(std::move(asker));
}

PgAsker::PgAsker(std::unique_ptr<PgConnection> db) : db_(std::move(db)) {}

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

}  // namespace canopy::testing
