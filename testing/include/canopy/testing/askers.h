// canopy/testing/askers.h — one way of asking a Question, per system under comparison:
// canopy over the network (canopy::net Client, Unix socket or TCP), and
// PostgreSQL through libpq with prepared statements in one SQL form.
//
//   std::unique_ptr<Asker> asker = ...;
//   Answer answer;
//   Result<size_t> ids = asker->Ask(question, &answer);   // one round trip
//   ids = asker->Ask(question, nullptr);                   // timing loops: size only
//
// Every Ask/Receive decodes the whole answer (the ids are parsed, as an
// application would), and returns the number of ids in it (summed over batch
// members; 4 for counts) so a timing loop can check it cheaply.
//
// THREAD SAFETY: one thread at a time per asker (each owns one connection).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "canopy/net/client.h"
#include "canopy/query.h"
#include "canopy/status.h"
#include "canopy/testing/pg_connection.h"
#include "canopy/testing/questions.h"

namespace canopy::testing {

class Asker {
 public:
  virtual ~Asker() = default;
  // Asks and waits. `out` (optional) receives the normalized answer.
  virtual Result<size_t> Ask(const Question& question, Answer* out) = 0;
};

// Connects a canopy::net::Client (`options` names the Unix path or TCP port).
Result<std::unique_ptr<Asker>> MakeCanopyNetAsker(const net::ClientOptions& options);

// Connects to PostgreSQL and prepares every statement of every form of
// every kind; `form` picks which one Ask uses (set_form changes it).
class PgAsker : public Asker {
 public:
  static Result<std::unique_ptr<PgAsker>> Connect(const std::string& conninfo);

  void set_form(SqlForm form) { form_ = form; }
  Result<size_t> Ask(const Question& question, Answer* out) override;

 private:
  explicit PgAsker(std::unique_ptr<PgConnection> db);
  // Parses a PGresult of `question` into scratch_ (and `out`); PQclear()s it.
  Result<size_t> Decode(const Question& question, PGresult* result, Answer* out);

  std::unique_ptr<PgConnection> db_;
  SqlForm form_ = SqlForm::kLinear;
  std::vector<std::string> statement_names_;  // [kind * kSqlFormCount + form]
  Answer scratch_;
};

}  // namespace canopy::testing
