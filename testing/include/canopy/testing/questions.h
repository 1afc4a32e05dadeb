// canopy/testing/questions.h — the questions the benchmarks that compare
// canopy with GitLab's SQL ask (bench/serving): the query kinds
// of docs/queries.md, each on a few named targets of the generated forest, and
// the SQL GitLab runs for each kind in its three forms (recursive CTE on
// parent_id, traversal_ids "linear", namespace_descendants cache), from
// testing/sql/queries (canopy/testing/gitlab_sql.h). Askers that put them to
// canopy and PostgreSQL are canopy/testing/askers.h.
//
// THREAD SAFETY: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "canopy/query.h"
#include "canopy/testing/gitlab_forest.h"
#include "canopy/testing/gitlab_sql.h"

namespace canopy::testing {

enum class QuestionKind : uint8_t {
  kSelfAndAncestors = 0,
  kSelfAndDescendants = 1,  // groups only (GitLab's class scoping)
  kAllProjectIds = 2,
  kRunnersOfGroupAndAncestors = 3,
  kProjectAncestors = 4,  // the id is a project id
  kCounts = 5,            // descendant groups, project namespaces, projects, unarchived projects
  kBatchAncestors = 6,    // self_and_ancestors of 100 namespaces in one request
};
inline constexpr int kQuestionKindCount = 7;
const char* QuestionKindName(QuestionKind kind);

// The SQL of `kind` in `form` for a group (GitLab's class scoping), one
// parameter $1 (a namespace or project id, or a bigint[] for the batch);
// nullptr when the form does not apply (the cache only holds descendants,
// projects and counts).
const char* SqlText(QuestionKind kind, SqlForm form);
// The prepared statement's name ("linear_self_and_ancestors").
std::string StatementName(QuestionKind kind, SqlForm form);

// How canopy answers a kind: an IdQuery kind (single and batch), or counts.
QueryKind CanopyQueryKind(QuestionKind kind);

struct Question {
  QuestionKind kind = QuestionKind::kSelfAndAncestors;
  std::string size_class;    // "small", "gitlab-org", "huge", "chain-21", "100 random"
  std::string target;        // what the id is, with its shape: "gitlab-org (601 groups)"
  std::vector<int64_t> ids;  // one id; 100 for kBatchAncestors
  std::string sql_param;     // $1 as text: "42" or "{1,2,3}"
  size_t expected_ids = 0;   // size of the answer (ids over all members; 4 for counts)
};

// One id list per member (one member for a single question). Id lists are
// sorted ascending so the forms compare as sets; counts keep their order.
using Answer = std::vector<std::vector<int64_t>>;
// Sorts every member that is an id list (not counts).
void Normalize(QuestionKind kind, Answer* answer);
size_t AnswerSize(const Answer& answer);
// For a mismatch report: the member and id counts and the first dozen ids.
std::string DescribeAnswer(const Answer& answer);

// The first question of `kind` whose size class is `match` or whose target
// starts with it ("gitlab-org", "100 random"); nullptr when there is none.
const Question* FindQuestion(const std::vector<Question>& questions, QuestionKind kind,
                             const std::string& match);
// "1,2,3" for sep ','.
std::string JoinIds(const std::vector<int64_t>& ids, char sep);

// The questions, in table order, on the named structures of `forest`:
// ancestor kinds at three depths (a subgroup of the small group, the deepest
// gitlab-org subgroup, the 21-level chain's leaf), descendant kinds on the
// small, gitlab-org and huge groups, and one batch of 100 random namespaces
// (seeded by `seed`). Counts are not filled in (expected_ids = 0).
std::vector<Question> PickQuestions(const GitlabForest& forest, uint64_t seed);

}  // namespace canopy::testing
