// GenerateGitlabForest: the GitLab.com-shaped forest.
//
// One pass of creation events in a random interleaving (each event stream is
// picked with probability proportional to what it has left, i.e. a uniformly
// random merge), so ids are in creation order and the named structures, users,
// ordinary groups and projects are mixed through the id space as on a real
// instance. Fan-out is skewed by preferential attachment: a group is picked as
// a parent (or as a project's home) with probability proportional to
// 1 + what it already has.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "canopy/testing/gitlab_forest.h"
#include "random.h"

namespace canopy::testing {
namespace {

using internal::Rng;

constexpr int kGitlabOrgMaxLevels = 6;
constexpr double kProjectAttachment = 0.4;
constexpr int kHugeGroupMaxLevels = kMaxGroupLevels - 1;  // still legal when moved one level down

size_t Scaled(size_t cap, double share, size_t of) {
  return std::min(cap, static_cast<size_t>(std::llround(share * static_cast<double>(of))));
}

class ForestBuilder {
 public:
  ForestBuilder(const GitlabForestOptions& options, GitlabForest* forest)
      : options_(options), forest_(forest), rng_(options.seed) {}

  void Build();

 private:
  enum Stream {
    kUsers,
    kTopGroups,
    kSubgroups,
    kHuge,
    kOrg,
    kOrgProjects,
    kGroupProjects,
    kLinks,
    kTransfers,
    kStreamCount
  };

  NamespaceRow& NewNamespace(NamespaceType type, int64_t parent) {
    NamespaceRow& row = forest_->namespaces.emplace_back();
    row.id = static_cast<int64_t>(forest_->namespaces.size());
    if (parent != 0) row.parent_id = parent;
    row.type = type;
    depth_.push_back(parent == 0 ? 1 : static_cast<uint8_t>(depth_[parent - 1] + 1));
    visibility_.push_back(static_cast<uint8_t>(internal::kPublic));
    child_groups_.push_back(0);
    return row;
  }
  NamespaceRow& Ns(int64_t id) { return forest_->namespaces[id - 1]; }
  int Depth(int64_t id) const { return depth_[id - 1]; }
  // Visibility of a user/group namespace from a compact copy: reading the
  // row itself is a cache miss per project on a 4M-row forest.
  int32_t Visibility(int64_t id) const { return visibility_[id - 1]; }

  // A group under `parent` (0 = top-level); named from `word` unless name/path given.
  int64_t AddGroup(int64_t parent, std::string_view word, std::string_view name = {},
                   std::string_view path = {}, int32_t visibility = -1) {
    NamespaceRow& row = NewNamespace(NamespaceType::kGroup, parent);
    const int64_t id = row.id;
    if (path.empty()) {
      internal::MakeNameAndPath(word, '-', static_cast<uint64_t>(id), &row.name, &row.path);
    } else {
      row.name = name;
      row.path = path;
    }
    int32_t vis = visibility >= 0 ? visibility : internal::DrawGroupVisibility(rng_);
    if (parent != 0) {
      vis = std::min(vis, Visibility(parent));
      ++child_groups_[parent - 1];
    }
    row.visibility_level = vis;
    visibility_[id - 1] = static_cast<uint8_t>(vis);
    all_groups_.push_back(id);
    return id;
  }

  int64_t AddUser() {
    NamespaceRow& row = NewNamespace(NamespaceType::kUser, 0);
    internal::MakeNameAndPath(internal::Pick(rng_, internal::kUserWords), '.',
                              static_cast<uint64_t>(row.id), &row.name, &row.path);
    row.visibility_level = internal::kPublic;  // the column default; GitLab leaves it there
    users_.push_back(row.id);
    return row.id;
  }

  // A project in namespace `ns` plus its project namespace.
  int64_t AddProject(int64_t ns) {
    ProjectRow& project = forest_->projects.emplace_back();
    project.id = static_cast<int64_t>(forest_->projects.size());
    project.namespace_id = ns;
    internal::MakeNameAndPath(internal::Pick(rng_, internal::kProjectWords), '_',
                              static_cast<uint64_t>(project.id), &project.name, &project.path);
    project.visibility_level = std::min(internal::DrawProjectVisibility(rng_), Visibility(ns));
    const uint64_t r = rng_.Below(1000);
    project.archived = r < 30;
    project.pending_delete = r >= 998;
    NamespaceRow& pns = NewNamespace(NamespaceType::kProject, ns);
    pns.name = project.name;
    pns.path = project.path;
    pns.visibility_level = project.visibility_level;
    project.project_namespace_id = pns.id;
    return project.id;
  }

  void AddLink(int64_t runner, int64_t ns) {
    RunnerLinkRow& link = forest_->runner_links.emplace_back();
    link.id = static_cast<int64_t>(forest_->runner_links.size());
    link.runner_id = runner;
    link.namespace_id = ns;
  }
  int64_t NewRunner() { return forest_->next_runner_id++; }

  // Preferential attachment: a parent from `pa` (which holds each group once
  // plus once per child), moved up while it is at `max_levels`.
  int64_t PickParent(std::vector<int64_t>* pa, int max_levels) {
    int64_t p = (*pa)[rng_.Below(pa->size())];
    while (Depth(p) >= max_levels) p = *Ns(p).parent_id;
    return p;
  }
  int64_t AddAttachedGroup(std::vector<int64_t>* pa, int max_levels) {
    const int64_t parent = PickParent(pa, max_levels);
    const int64_t id = AddGroup(parent, internal::Pick(rng_, internal::kGroupWords));
    pa->push_back(parent);
    pa->push_back(id);
    return id;
  }

  void AddProjectHome(std::vector<int64_t>* pa, std::vector<int64_t>* uniform, int64_t id) {
    pa->push_back(id);
    uniform->push_back(id);
  }
  int64_t PickProjectHome(std::vector<int64_t>* pa, const std::vector<int64_t>& uniform) {
    const int64_t ns = rng_.Chance(kProjectAttachment) ? (*pa)[rng_.Below(pa->size())]
                                                       : uniform[rng_.Below(uniform.size())];
    pa->push_back(ns);
    return ns;
  }

  void BuildNamedStructures(size_t small_projects, bool chain_project);
  void TryHistoricalTransfer();
  void AddRandomLink();

  const GitlabForestOptions& options_;
  GitlabForest* forest_;
  Rng rng_;
  std::vector<uint8_t> depth_;          // per namespace id - 1 (exact for groups/users)
  std::vector<uint8_t> visibility_;     // per namespace id - 1 (exact for groups/users)
  std::vector<uint32_t> child_groups_;  // per namespace id - 1
  std::vector<int64_t> users_, all_groups_;
  std::vector<int64_t> general_pa_, huge_pa_, org_pa_;  // parent pickers
  // Project homes: each group once per project it has plus once (pa), and
  // once (uniform). A project picks from pa with kProjectAttachment, else
  // uniformly: enough skew for a long tail without one group taking a third.
  std::vector<int64_t> project_pa_, org_project_pa_;
  std::vector<int64_t> project_uniform_, org_project_uniform_;
  std::vector<int64_t> org_projects_;
  std::vector<int64_t> last_runner_namespaces_;
};

void ForestBuilder::BuildNamedStructures(size_t small_projects, bool chain_project) {
  GitlabForestNamedIds& named = forest_->named;
  named.gitlab_org_id = AddGroup(0, "", "GitLab.org", "gitlab-org", internal::kPublic);
  org_pa_.push_back(named.gitlab_org_id);
  AddProjectHome(&org_project_pa_, &org_project_uniform_, named.gitlab_org_id);

  named.huge_group_id = AddGroup(0, "", "Huge Corp", "hugecorp", internal::kPrivate);
  huge_pa_.push_back(named.huge_group_id);
  AddProjectHome(&project_pa_, &project_uniform_, named.huge_group_id);

  // Small group: root -> 3 children -> (2, 2, 1) grandchildren = 8 descendants.
  named.small_group_id = AddGroup(0, "", "Small Team", "smallteam", internal::kInternal);
  std::vector<int64_t> small{named.small_group_id};
  const int grandchildren[3] = {2, 2, 1};
  for (int c = 0; c < 3; ++c) {
    const int64_t child =
        AddGroup(named.small_group_id, internal::Pick(rng_, internal::kGroupWords));
    small.push_back(child);
    for (int g = 0; g < grandchildren[c]; ++g) {
      small.push_back(AddGroup(child, internal::Pick(rng_, internal::kGroupWords)));
    }
  }
  for (size_t i = 0; i < small_projects; ++i) AddProject(small[i % small.size()]);

  int64_t parent = 0;
  for (int level = 1; level <= kMaxGroupLevels; ++level) {
    parent = level == 1 ? AddGroup(0, "", "Chain 21", "chain21", internal::kPublic)
                        : AddGroup(parent, "level");
    named.chain_21.push_back(parent);
  }
  named.chain_21_leaf_id = parent;
  if (chain_project) named.chain_21_leaf_project_id = AddProject(parent);

  parent = 0;
  for (int level = 1; level <= options_.deep_chain_levels; ++level) {
    parent = level == 1 ? AddGroup(0, "", "Deep Chain", "deepchain", internal::kPublic)
                        : AddGroup(parent, "level");
    named.deep_chain.push_back(parent);
  }
  named.deep_chain_leaf_id = parent;

  named.transfer_target_a_id =
      AddGroup(0, "", "Transfer Target A", "transfer-target-a", internal::kPrivate);
  named.transfer_target_b_id =
      AddGroup(0, "", "Transfer Target B", "transfer-target-b", internal::kPrivate);
}

void ForestBuilder::TryHistoricalTransfer() {
  // A childless ordinary subgroup moves under another ordinary group, often a
  // newer one: its parent id becomes larger than its own. Childless keeps the
  // depth bookkeeping exact and can never make a cycle.
  if (general_pa_.empty()) return;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int64_t g = general_pa_[rng_.Below(general_pa_.size())];
    NamespaceRow& row = Ns(g);
    if (!row.parent_id || child_groups_[g - 1] != 0) continue;
    const int64_t p = general_pa_[rng_.Below(general_pa_.size())];
    if (p == g || p == *row.parent_id || Depth(p) >= kMaxGroupLevels) continue;
    --child_groups_[*row.parent_id - 1];
    ++child_groups_[p - 1];
    row.parent_id = p;
    row.visibility_level = std::min(row.visibility_level, Visibility(p));
    visibility_[g - 1] = static_cast<uint8_t>(row.visibility_level);
    depth_[g - 1] = static_cast<uint8_t>(Depth(p) + 1);
    return;
  }
}

void ForestBuilder::AddRandomLink() {
  if (all_groups_.empty()) return;
  const int64_t ns = all_groups_[rng_.Below(all_groups_.size())];
  const bool reuse = forest_->next_runner_id > 1 && rng_.Chance(0.2) &&
                     std::find(last_runner_namespaces_.begin(), last_runner_namespaces_.end(),
                               ns) == last_runner_namespaces_.end();
  if (!reuse) {
    NewRunner();
    last_runner_namespaces_.clear();
  }
  AddLink(forest_->next_runner_id - 1, ns);
  last_runner_namespaces_.push_back(ns);
}

void ForestBuilder::Build() {
  GitlabForest& f = *forest_;
  f = GitlabForest{};
  f.options = options_;
  const size_t n = options_.namespaces;
  const size_t p_total = n == 0 ? 0 : options_.projects;
  const size_t r_total = options_.runner_links.value_or(n / 50);
  const int deep_levels = std::clamp(options_.deep_chain_levels, 1, 200);

  // ---- budgets ----
  const size_t fixed_groups = 2 + 9 + kMaxGroupLevels + static_cast<size_t>(deep_levels) + 2;
  const bool named = options_.named_structures && n >= fixed_groups + 20;
  size_t users = static_cast<size_t>(std::llround(options_.user_fraction * static_cast<double>(n)));
  users = std::min(users, n);
  size_t groups = n - users;
  if (named && groups < fixed_groups + 10) {
    groups = fixed_groups + 10;
    users = n - groups;
  }
  const size_t rest = named ? groups - fixed_groups : groups;
  const size_t huge = named ? Scaled(options_.huge_group_descendants, 0.4, rest) : 0;
  const size_t org = named ? Scaled(options_.gitlab_org_subgroups, 0.02, rest) : 0;
  const size_t ordinary = rest - huge - org;
  size_t top = static_cast<size_t>(
      std::llround(options_.top_level_group_fraction * static_cast<double>(ordinary)));
  if (ordinary > 0) top = std::clamp<size_t>(top, 1, ordinary);
  const size_t sub = ordinary - top;
  const size_t transfers = static_cast<size_t>(
      std::llround(options_.historical_transfer_fraction * static_cast<double>(sub)));

  const size_t small_projects = named ? std::min<size_t>(24, p_total / 20) : 0;
  const bool chain_project = named && p_total >= 50;
  const bool named_user = named && p_total >= 50 && users > 0;
  const size_t org_projects = named ? Scaled(options_.gitlab_org_projects, 0.002, p_total) : 0;
  size_t left = p_total - small_projects - (chain_project ? 1 : 0) - org_projects;

  // Projects per user: Binomial(3, mean / 3), within the user share.
  std::vector<uint8_t> user_projects(users, 0);
  {
    const double budget = std::min(options_.user_project_share * static_cast<double>(p_total),
                                   static_cast<double>(left));
    const double mean = users == 0 ? 0.0 : std::min(1.2, budget / static_cast<double>(users));
    size_t sum = 0;
    const size_t cap = static_cast<size_t>(budget);
    for (size_t i = 0; i < users; ++i) {
      uint8_t k = named_user && i == 0 ? 3 : 0;
      if (!(named_user && i == 0)) {
        for (int t = 0; t < 3; ++t) k += rng_.Chance(mean / 3.0) ? 1 : 0;
      }
      k = static_cast<uint8_t>(std::min<size_t>(k, cap > sum ? cap - sum : 0));
      if (named_user && i == 0) k = static_cast<uint8_t>(std::min<size_t>(3, left));
      user_projects[i] = k;
      sum += k;
    }
    left -= std::min(left, sum);
  }
  const size_t group_projects = left;

  const size_t special_links = named && r_total >= 9 ? 9 : 0;

  f.namespaces.reserve(n + p_total);
  f.projects.reserve(p_total);
  f.runner_links.reserve(r_total);
  depth_.reserve(n + p_total);
  visibility_.reserve(n + p_total);
  child_groups_.reserve(n + p_total);
  all_groups_.reserve(groups);
  users_.reserve(users);
  general_pa_.reserve(2 * ordinary);
  huge_pa_.reserve(2 * huge + 1);
  org_pa_.reserve(2 * org + 1);
  project_pa_.reserve(ordinary + huge + 1 + group_projects);
  project_uniform_.reserve(ordinary + huge + 1);
  org_project_pa_.reserve(org + 1 + org_projects);
  org_project_uniform_.reserve(org + 1);

  // ---- the named structures first (they are old, like gitlab-org) ----
  if (named) BuildNamedStructures(small_projects, chain_project);
  size_t next_user = 0;
  auto create_user = [&] {
    const int64_t id = AddUser();
    for (uint8_t k = 0; k < user_projects[next_user]; ++k) AddProject(id);
    ++next_user;
    return id;
  };
  if (users > 0) {
    const int64_t id = create_user();
    if (named_user) {
      f.named.user_namespace_id = id;
      f.named.user_project_id = f.projects.back().id;
    }
  }
  size_t remaining[kStreamCount] = {};
  remaining[kUsers] = users > 0 ? users - 1 : 0;
  remaining[kTopGroups] = top;
  remaining[kSubgroups] = sub;
  remaining[kHuge] = huge;
  remaining[kOrg] = org;
  remaining[kOrgProjects] = org_projects;
  remaining[kGroupProjects] = group_projects;
  remaining[kLinks] = r_total - special_links;
  remaining[kTransfers] = transfers;
  if (top > 0 && users == 0 && !named) {
    // Something must exist to hold the first group project.
    const int64_t id = AddGroup(0, internal::Pick(rng_, internal::kGroupWords));
    general_pa_.push_back(id);
    AddProjectHome(&project_pa_, &project_uniform_, id);
    --remaining[kTopGroups];
  }
  if (special_links > 0) {
    const GitlabForestNamedIds& nm = f.named;
    for (int i = 0; i < 3; ++i) AddLink(NewRunner(), nm.gitlab_org_id);
    for (int i = 0; i < 2; ++i) AddLink(NewRunner(), nm.huge_group_id);
    AddLink(NewRunner(), nm.small_group_id);
    AddLink(NewRunner(), nm.chain_21.front());
    AddLink(NewRunner(), nm.chain_21[9]);
    AddLink(NewRunner(), nm.deep_chain.front());
  }

  // ---- the interleaved creation events ----
  size_t total = 0;
  for (size_t r : remaining) total += r;
  while (total > 0) {
    uint64_t pick = rng_.Below(total);
    int s = 0;
    while (pick >= remaining[s]) pick -= remaining[s++];
    --remaining[s];
    --total;
    switch (s) {
      case kUsers:
        create_user();
        break;
      case kSubgroups:
        if (!general_pa_.empty()) {
          const int64_t id = AddAttachedGroup(&general_pa_, kMaxGroupLevels);
          AddProjectHome(&project_pa_, &project_uniform_, id);
          break;
        }
        [[fallthrough]];  // nothing to attach to yet: a top-level group instead
      case kTopGroups: {
        const int64_t id = AddGroup(0, internal::Pick(rng_, internal::kGroupWords));
        general_pa_.push_back(id);
        AddProjectHome(&project_pa_, &project_uniform_, id);
        break;
      }
      case kHuge:
        AddProjectHome(&project_pa_, &project_uniform_,
                       AddAttachedGroup(&huge_pa_, kHugeGroupMaxLevels));
        break;
      case kOrg:
        AddProjectHome(&org_project_pa_, &org_project_uniform_,
                       AddAttachedGroup(&org_pa_, kGitlabOrgMaxLevels));
        break;
      case kOrgProjects: {
        org_projects_.push_back(
            AddProject(PickProjectHome(&org_project_pa_, org_project_uniform_)));
        break;
      }
      case kGroupProjects: {
        if (project_pa_.empty()) {  // no group at all (user_fraction = 1)
          AddProject(users_[rng_.Below(users_.size())]);
          break;
        }
        AddProject(PickProjectHome(&project_pa_, project_uniform_));
        break;
      }
      case kLinks:
        AddRandomLink();
        break;
      case kTransfers:
        TryHistoricalTransfer();
        break;
      default:
        break;
    }
  }

  if (named && !org_projects_.empty()) {
    int best_depth = -1;
    for (int64_t pid : org_projects_) {
      const int d = Depth(f.projects[pid - 1].namespace_id);
      if (d > best_depth) {
        best_depth = d;
        f.named.gitlab_org_project_id = pid;
      }
    }
  }
}

}  // namespace

GitlabForest GenerateGitlabForest(const GitlabForestOptions& options) {
  GitlabForest forest;
  ForestBuilder(options, &forest).Build();
  return forest;
}

GitlabForest GenerateTestForest(uint64_t seed, size_t namespaces, size_t projects) {
  GitlabForestOptions options;
  options.seed = seed;
  options.namespaces = namespaces;
  options.projects = projects;
  options.huge_group_descendants = namespaces / 10;
  options.gitlab_org_subgroups = namespaces / 60;
  options.gitlab_org_projects = projects / 30;
  return GenerateGitlabForest(options);
}

}  // namespace canopy::testing
