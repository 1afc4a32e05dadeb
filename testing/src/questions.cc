// questions.cc — the questions, and which of GitLab's SQL texts
// (testing/sql/queries) each one runs.
#include "canopy/testing/questions.h"

#include <algorithm>
#include <array>
#include <random>

namespace canopy::testing {

namespace {

std::string ArrayLiteral(const std::vector<int64_t>& ids) {
  std::string out(1, '{');
  out += JoinIds(ids, ',');
  out += '}';
  return out;
}

// What the forest says about the named structures, from one parent walk per row.
struct ForestShape {
  std::vector<uint8_t> depth;  // by id - 1
  // Per named root: groups (self included) and projects below it.
  size_t small_groups = 0, gitlab_org_groups = 0, huge_groups = 0;
  size_t small_projects = 0, gitlab_org_projects = 0, huge_projects = 0;
  int64_t deepest_small_subgroup = 0;  // the deepest group below the small group
  int64_t deepest_small_project = 0;   // a project in that subgroup (or nearest)
};

ForestShape ShapeOf(const GitlabForest& forest) {
  ForestShape shape;
  shape.depth = NamespaceDepths(forest);
  const GitlabForestNamedIds& named = forest.named;
  auto root_of = [&](int64_t id) {
    const NamespaceRow* n = forest.FindNamespace(id);
    for (int guard = 0; n != nullptr && n->parent_id && guard < 1000; ++guard) {
      const NamespaceRow* parent = forest.FindNamespace(*n->parent_id);
      if (parent == nullptr) break;
      n = parent;
    }
    return n != nullptr ? n->id : 0;
  };
  uint8_t deepest = 0;
  for (const NamespaceRow& row : forest.namespaces) {
    if (row.id == 0 || row.type != NamespaceType::kGroup) continue;
    const int64_t root = root_of(row.id);
    if (root == 0) continue;
    if (root == named.small_group_id) {
      ++shape.small_groups;
      if (shape.depth[row.id - 1] > deepest) {
        deepest = shape.depth[row.id - 1];
        shape.deepest_small_subgroup = row.id;
      }
    }
    if (root == named.gitlab_org_id) ++shape.gitlab_org_groups;
    if (root == named.huge_group_id) ++shape.huge_groups;
  }
  uint8_t deepest_project_depth = 0;
  for (const ProjectRow& p : forest.projects) {
    if (p.id == 0) continue;
    const int64_t root = root_of(p.namespace_id);
    if (root == 0) continue;
    if (root == named.small_group_id) {
      ++shape.small_projects;
      const uint8_t d = shape.depth[p.namespace_id - 1];
      if (d > deepest_project_depth) {
        deepest_project_depth = d;
        shape.deepest_small_project = p.id;
      }
    }
    if (root == named.gitlab_org_id) ++shape.gitlab_org_projects;
    if (root == named.huge_group_id) ++shape.huge_projects;
  }
  return shape;
}

Question Make(QuestionKind kind, std::string size_class, std::string target,
              std::vector<int64_t> ids) {
  Question q;
  q.kind = kind;
  q.size_class = std::move(size_class);
  q.target = std::move(target);
  q.sql_param = ids.size() == 1 && kind != QuestionKind::kBatchAncestors ? std::to_string(ids[0])
                                                                         : ArrayLiteral(ids);
  q.ids = std::move(ids);
  return q;
}

}  // namespace

const char* QuestionKindName(QuestionKind kind) {
  switch (kind) {
    case QuestionKind::kSelfAndAncestors:
      return "self_and_ancestors";
    case QuestionKind::kSelfAndDescendants:
      return "self_and_descendants";
    case QuestionKind::kAllProjectIds:
      return "all_project_ids";
    case QuestionKind::kRunnersOfGroupAndAncestors:
      return "runners_of_group_and_ancestors";
    case QuestionKind::kProjectAncestors:
      return "project_ancestors";
    case QuestionKind::kCounts:
      return "counts";
    case QuestionKind::kBatchAncestors:
      return "batch_100_ancestors";
  }
  return "unknown";
}

const char* SqlText(QuestionKind kind, SqlForm form) {
  // Built once; the strings live as long as the program.
  static const auto* const texts = [] {
    auto* t = new std::array<std::string, kQuestionKindCount * kSqlFormCount>();
    for (int k = 0; k < kQuestionKindCount; ++k) {
      for (int f = 0; f < kSqlFormCount; ++f) {
        // The file of testing/sql/queries is named after the kind, but for the batch.
        const auto kind = static_cast<QuestionKind>(k);
        const char* name = kind == QuestionKind::kBatchAncestors ? "batch_self_and_ancestors"
                                                                 : QuestionKindName(kind);
        (*t)[k * kSqlFormCount + f] = GitlabSql(name, static_cast<SqlForm>(f));
      }
    }
    return t;
  }();
  const std::string& text =
      (*texts)[static_cast<int>(kind) * kSqlFormCount + static_cast<int>(form)];
  return text.empty() ? nullptr : text.c_str();
}

std::string StatementName(QuestionKind kind, SqlForm form) {
  return std::string(SqlFormName(form)) + "_" + QuestionKindName(kind);
}

QueryKind CanopyQueryKind(QuestionKind kind) {
  switch (kind) {
    case QuestionKind::kSelfAndAncestors:
      return QueryKind::kSelfAndAncestors;
    case QuestionKind::kSelfAndDescendants:
      return QueryKind::kSelfAndDescendants;
    case QuestionKind::kAllProjectIds:
      return QueryKind::kAllProjectIds;
    case QuestionKind::kRunnersOfGroupAndAncestors:
      return QueryKind::kRunnersOfGroupAndAncestors;
    case QuestionKind::kProjectAncestors:
      return QueryKind::kProjectAncestors;
    case QuestionKind::kCounts:
      return QueryKind::kSelfAndDescendants;  // not an IdQuery
    case QuestionKind::kBatchAncestors:
      return QueryKind::kSelfAndAncestors;
  }
  return QueryKind::kSelfAndAncestors;
}

void Normalize(QuestionKind kind, Answer* answer) {
  if (kind == QuestionKind::kCounts) return;
  for (std::vector<int64_t>& member : *answer) std::sort(member.begin(), member.end());
}

size_t AnswerSize(const Answer& answer) {
  size_t n = 0;
  for (const auto& member : answer) n += member.size();
  return n;
}

std::string DescribeAnswer(const Answer& answer) {
  constexpr size_t kShown = 12;
  std::string out = std::to_string(answer.size()) + " member(s), " +
                    std::to_string(AnswerSize(answer)) + " ids: ";
  size_t shown = 0;
  for (const auto& member : answer) {
    out += "[";
    for (size_t i = 0; i < member.size() && shown < kShown; ++i, ++shown) {
      if (i != 0) out += ',';
      out += std::to_string(member[i]);
    }
    out += shown >= kShown ? "...]" : "]";
    if (shown >= kShown) break;
  }
  return out;
}

std::vector<Question> PickQuestions(const GitlabForest& forest, uint64_t seed) {
  const GitlabForestNamedIds& named = forest.named;
  std::vector<Question> out;
  if (named.small_group_id == 0 || named.gitlab_org_id == 0 || named.huge_group_id == 0) {
    return out;  // a forest too small for the named structures
  }
  const ForestShape shape = ShapeOf(forest);
  auto depth_of = [&](int64_t ns) { return std::to_string(shape.depth[ns - 1]); };
  const ProjectRow* gitlab_org_project = forest.FindProject(named.gitlab_org_project_id);
  const int64_t gitlab_org_deep =
      gitlab_org_project != nullptr ? gitlab_org_project->namespace_id : 0;

  struct AncestorTarget {
    std::string size_class, target;
    int64_t ns, project;
  };
  std::vector<AncestorTarget> ancestor_targets;
  if (shape.deepest_small_subgroup != 0) {
    ancestor_targets.push_back(
        {"depth " + depth_of(shape.deepest_small_subgroup),
         "small group's subgroup (depth " + depth_of(shape.deepest_small_subgroup) + ")",
         shape.deepest_small_subgroup, shape.deepest_small_project});
  }
  if (gitlab_org_deep != 0) {
    ancestor_targets.push_back({"depth " + depth_of(gitlab_org_deep),
                                "gitlab-org subgroup (depth " + depth_of(gitlab_org_deep) + ")",
                                gitlab_org_deep, named.gitlab_org_project_id});
  }
  if (named.chain_21_leaf_id != 0) {
    ancestor_targets.push_back(
        {"depth " + depth_of(named.chain_21_leaf_id),
         "21-level chain's leaf (depth " + depth_of(named.chain_21_leaf_id) + ")",
         named.chain_21_leaf_id, named.chain_21_leaf_project_id});
  }
  struct GroupTarget {
    std::string size_class, target;
    int64_t ns;
  };
  const std::vector<GroupTarget> group_targets = {
      {"small",
       "small (" + std::to_string(shape.small_groups) + " groups, " +
           std::to_string(shape.small_projects) + " projects)",
       named.small_group_id},
      {"gitlab-org",
       "gitlab-org (" + std::to_string(shape.gitlab_org_groups) + " groups, " +
           std::to_string(shape.gitlab_org_projects) + " projects)",
       named.gitlab_org_id},
      {"huge",
       "huge (" + std::to_string(shape.huge_groups) + " groups, " +
           std::to_string(shape.huge_projects) + " projects)",
       named.huge_group_id},
  };

  for (const auto& t : ancestor_targets) {
    out.push_back(Make(QuestionKind::kSelfAndAncestors, t.size_class, t.target, {t.ns}));
  }
  for (const auto& t : group_targets) {
    out.push_back(Make(QuestionKind::kSelfAndDescendants, t.size_class, t.target, {t.ns}));
  }
  for (const auto& t : group_targets) {
    out.push_back(Make(QuestionKind::kAllProjectIds, t.size_class, t.target, {t.ns}));
  }
  for (const auto& t : ancestor_targets) {
    out.push_back(Make(QuestionKind::kRunnersOfGroupAndAncestors, t.size_class, t.target, {t.ns}));
  }
  for (const auto& t : ancestor_targets) {
    if (t.project == 0) continue;
    out.push_back(Make(QuestionKind::kProjectAncestors, t.size_class, "project in the " + t.target,
                       {t.project}));
  }
  for (const auto& t : group_targets) {
    out.push_back(Make(QuestionKind::kCounts, t.size_class, t.target, {t.ns}));
  }

  // 100 distinct random live namespaces of any type (users, groups, project namespaces).
  std::vector<int64_t> live;
  for (const NamespaceRow& row : forest.namespaces) {
    if (row.id != 0) live.push_back(row.id);
  }
  std::mt19937_64 random(seed);
  std::vector<int64_t> batch;
  std::sample(live.begin(), live.end(), std::back_inserter(batch),
              std::min<size_t>(100, live.size()), random);
  std::shuffle(batch.begin(), batch.end(), random);
  out.push_back(Make(QuestionKind::kBatchAncestors, "100 random",
                     std::to_string(batch.size()) + " random namespaces (any type)", batch));
  return out;
}

const Question* FindQuestion(const std::vector<Question>& questions, QuestionKind kind,
                             const std::string& match) {
  for (const Question& q : questions) {
    if (q.kind == kind && (q.size_class == match || q.target.rfind(match, 0) == 0)) return &q;
  }
  return nullptr;
}

std::string JoinIds(const std::vector<int64_t>& ids, char sep) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) out += sep;
    out += std::to_string(ids[i]);
  }
  return out;
}

}  // namespace canopy::testing
