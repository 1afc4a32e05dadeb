// Reading a GitlabForest: lookups, counts, depths, insert order, validation,
// and the transactions that load it into an engine.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "canopy/testing/gitlab_forest.h"

namespace canopy::testing {

std::vector<int64_t> GitlabForestNamedIds::ProtectedNamespaceIds() const {
  std::vector<int64_t> ids = {gitlab_org_id,        huge_group_id,      small_group_id,
                              chain_21_leaf_id,     deep_chain_leaf_id, transfer_target_a_id,
                              transfer_target_b_id, user_namespace_id};
  ids.insert(ids.end(), chain_21.begin(), chain_21.end());
  ids.insert(ids.end(), deep_chain.begin(), deep_chain.end());
  std::erase(ids, 0);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::vector<int64_t> GitlabForestNamedIds::ProtectedProjectIds() const {
  std::vector<int64_t> ids = {user_project_id, gitlab_org_project_id, chain_21_leaf_project_id};
  std::erase(ids, 0);
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace {
template <typename Row>
const Row* FindRow(const std::vector<Row>& rows, int64_t id) {
  if (id <= 0 || static_cast<uint64_t>(id) > rows.size()) return nullptr;
  const Row& row = rows[static_cast<size_t>(id - 1)];
  return row.id == id ? &row : nullptr;
}
}  // namespace

const NamespaceRow* GitlabForest::FindNamespace(int64_t id) const {
  return FindRow(namespaces, id);
}
const ProjectRow* GitlabForest::FindProject(int64_t id) const { return FindRow(projects, id); }
const RunnerLinkRow* GitlabForest::FindRunnerLink(int64_t id) const {
  return FindRow(runner_links, id);
}

GitlabForestCounts CountForest(const GitlabForest& forest) {
  GitlabForestCounts counts;
  for (const NamespaceRow& row : forest.namespaces) {
    if (row.id == 0) continue;
    switch (row.type) {
      case NamespaceType::kUser:
        ++counts.users;
        break;
      case NamespaceType::kGroup:
        ++counts.groups;
        if (!row.parent_id) ++counts.top_level_groups;
        break;
      case NamespaceType::kProject:
        ++counts.project_namespaces;
        break;
    }
  }
  for (const ProjectRow& row : forest.projects) counts.projects += row.id != 0;
  for (const RunnerLinkRow& row : forest.runner_links) counts.runner_links += row.id != 0;
  for (uint8_t d : NamespaceDepths(forest)) counts.max_depth = std::max<int>(counts.max_depth, d);
  return counts;
}

std::vector<uint8_t> NamespaceDepths(const GitlabForest& forest) {
  constexpr uint8_t kUnknown = 0, kOnPath = 255;
  const std::vector<NamespaceRow>& rows = forest.namespaces;
  std::vector<uint8_t> depth(rows.size(), kUnknown);
  std::vector<size_t> path;
  for (size_t start = 0; start < rows.size(); ++start) {
    if (rows[start].id == 0 || depth[start] != kUnknown) continue;
    // Walk up to a root or a known depth, then fill the path top-down.
    size_t i = start;
    uint8_t base = 0;  // depth of the node above the path's top
    bool cycle = false;
    while (true) {
      if (depth[i] == kOnPath) {
        cycle = true;
        break;
      }
      if (depth[i] != kUnknown) {
        base = depth[i];
        break;
      }
      depth[i] = kOnPath;
      path.push_back(i);
      const NamespaceRow& row = rows[i];
      const NamespaceRow* parent = row.parent_id ? forest.FindNamespace(*row.parent_id) : nullptr;
      if (parent == nullptr) break;  // a root, or an orphan counted as one
      i = static_cast<size_t>(parent->id - 1);
    }
    // Fill top-down. Rows on (or hanging below) a cycle get no depth: they
    // stay 0 and are walked again from each start, which only invalid data pays.
    for (size_t k = path.size(); k-- > 0;) {
      if (cycle) {
        depth[path[k]] = kUnknown;
      } else {
        base = static_cast<uint8_t>(std::min(base + 1, 254));
        depth[path[k]] = base;
      }
    }
    path.clear();
  }
  return depth;
}

std::vector<int64_t> NamespaceIdsParentsFirst(const GitlabForest& forest) {
  const std::vector<uint8_t> depth = NamespaceDepths(forest);
  size_t by_depth[256] = {};
  for (size_t i = 0; i < depth.size(); ++i) {
    if (forest.namespaces[i].id != 0 && depth[i] != 0) ++by_depth[depth[i]];
  }
  size_t offset[256] = {};
  for (int d = 1; d < 256; ++d) offset[d] = offset[d - 1] + by_depth[d - 1];
  std::vector<int64_t> ids(offset[255] + by_depth[255]);
  for (size_t i = 0; i < depth.size(); ++i) {
    if (forest.namespaces[i].id != 0 && depth[i] != 0) {
      ids[offset[depth[i]]++] = forest.namespaces[i].id;
    }
  }
  return ids;
}

std::vector<int64_t> NamespaceIdsPreorder(const GitlabForest& forest) {
  // Children of each slot in compressed rows (ascending id, as the rows are
  // stored by id), then an explicit-stack DFS from the roots.
  const std::vector<NamespaceRow>& rows = forest.namespaces;
  const size_t n = rows.size();
  auto parent_slot = [&](const NamespaceRow& row) -> int64_t {
    const NamespaceRow* p = row.parent_id ? forest.FindNamespace(*row.parent_id) : nullptr;
    return p == nullptr ? -1 : p->id - 1;
  };
  std::vector<uint32_t> begin(n + 1, 0);
  for (const NamespaceRow& row : rows) {
    if (row.id == 0) continue;
    if (const int64_t p = parent_slot(row); p >= 0) ++begin[static_cast<size_t>(p) + 1];
  }
  for (size_t i = 0; i < n; ++i) begin[i + 1] += begin[i];
  std::vector<uint32_t> children(begin[n]);
  std::vector<uint32_t> fill(begin.begin(), begin.end() - 1);
  for (size_t i = 0; i < n; ++i) {
    if (rows[i].id == 0) continue;
    if (const int64_t p = parent_slot(rows[i]); p >= 0)
      children[fill[static_cast<size_t>(p)]++] = static_cast<uint32_t>(i);
  }
  std::vector<int64_t> order;
  order.reserve(n);
  std::vector<uint8_t> seen(n, 0);  // guards against parent cycles in invalid data
  std::vector<uint32_t> stack;
  for (size_t root = 0; root < n; ++root) {
    if (rows[root].id == 0 || parent_slot(rows[root]) >= 0) continue;
    stack.push_back(static_cast<uint32_t>(root));
    while (!stack.empty()) {
      const uint32_t slot = stack.back();
      stack.pop_back();
      if (seen[slot]) continue;
      seen[slot] = 1;
      order.push_back(rows[slot].id);
      for (uint32_t k = begin[slot + 1]; k-- > begin[slot];)
        stack.push_back(children[k]);  // ascending pops
    }
  }
  return order;
}

namespace {

Status Violation(std::string what, int64_t id) {
  return Status::DataLoss(std::move(what) + " (id " + std::to_string(id) + ")");
}

Status ValidateNamespaces(const GitlabForest& forest) {
  const std::vector<NamespaceRow>& rows = forest.namespaces;
  for (size_t i = 0; i < rows.size(); ++i) {
    const NamespaceRow& row = rows[i];
    if (row.id == 0) continue;
    if (row.id != static_cast<int64_t>(i + 1))
      return Violation("namespace id not at its slot", row.id);
    if (row.path.empty() || row.name.empty())
      return Violation("namespace without name/path", row.id);
    const NamespaceRow* parent = row.parent_id ? forest.FindNamespace(*row.parent_id) : nullptr;
    if (row.parent_id && parent == nullptr) return Violation("namespace parent missing", row.id);
    switch (row.type) {
      case NamespaceType::kUser:
        if (parent != nullptr) return Violation("user namespace with a parent", row.id);
        break;
      case NamespaceType::kGroup:
        if (parent != nullptr && parent->type != NamespaceType::kGroup) {
          return Violation("group whose parent is not a group", row.id);
        }
        break;
      case NamespaceType::kProject:
        if (parent == nullptr) return Violation("project namespace without a parent", row.id);
        if (parent->type == NamespaceType::kProject) {
          return Violation("project namespace as a parent", parent->id);
        }
        break;
    }
  }
  const std::vector<uint8_t> depth = NamespaceDepths(forest);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].id != 0 && depth[i] == 0)
      return Violation("namespace on a parent cycle", rows[i].id);
  }
  // Sibling uniqueness: (parent, path) over every type (routes), and GitLab's
  // unique index (name, parent_id, type) for rows with a parent.
  {
    std::vector<std::pair<int64_t, std::string_view>> keys;
    keys.reserve(rows.size());
    for (const NamespaceRow& row : rows) {
      if (row.id != 0) keys.emplace_back(row.parent_id.value_or(0), row.path);
    }
    std::sort(keys.begin(), keys.end());
    auto dup = std::adjacent_find(keys.begin(), keys.end());
    if (dup != keys.end()) {
      return Violation("duplicate path '" + std::string(dup->second) + "' under parent",
                       dup->first);
    }
  }
  {
    std::vector<std::tuple<int64_t, NamespaceType, std::string_view>> keys;
    keys.reserve(rows.size());
    for (const NamespaceRow& row : rows) {
      if (row.id != 0 && row.parent_id) keys.emplace_back(*row.parent_id, row.type, row.name);
    }
    std::sort(keys.begin(), keys.end());
    auto dup = std::adjacent_find(keys.begin(), keys.end());
    if (dup != keys.end()) {
      return Violation("duplicate name '" + std::string(std::get<2>(*dup)) + "' under parent",
                       std::get<0>(*dup));
    }
  }
  return Status::Ok();
}

Status ValidateProjects(const GitlabForest& forest) {
  std::vector<int64_t> owner(forest.namespaces.size(), 0);  // project of each project namespace
  for (size_t i = 0; i < forest.projects.size(); ++i) {
    const ProjectRow& p = forest.projects[i];
    if (p.id == 0) continue;
    if (p.id != static_cast<int64_t>(i + 1)) return Violation("project id not at its slot", p.id);
    const NamespaceRow* ns = forest.FindNamespace(p.namespace_id);
    if (ns == nullptr) return Violation("project namespace_id missing", p.id);
    if (ns->type == NamespaceType::kProject) {
      return Violation("project inside a project namespace", p.id);
    }
    const NamespaceRow* pns =
        p.project_namespace_id ? forest.FindNamespace(*p.project_namespace_id) : nullptr;
    if (pns == nullptr || pns->type != NamespaceType::kProject) {
      return Violation("project without its project namespace", p.id);
    }
    if (pns->parent_id != p.namespace_id) {
      return Violation("project namespace parent differs from project namespace_id", p.id);
    }
    if (pns->path != p.path || pns->name != p.name) {
      return Violation("project namespace name/path differs from the project's", p.id);
    }
    int64_t& o = owner[static_cast<size_t>(pns->id - 1)];
    if (o != 0) return Violation("project namespace shared by two projects", pns->id);
    o = p.id;
  }
  for (const NamespaceRow& row : forest.namespaces) {
    if (row.id != 0 && row.type == NamespaceType::kProject && owner[row.id - 1] == 0) {
      return Violation("project namespace without a project", row.id);
    }
  }
  return Status::Ok();
}

Status ValidateRunnerLinks(const GitlabForest& forest) {
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (size_t i = 0; i < forest.runner_links.size(); ++i) {
    const RunnerLinkRow& link = forest.runner_links[i];
    if (link.id == 0) continue;
    if (link.id != static_cast<int64_t>(i + 1))
      return Violation("link id not at its slot", link.id);
    const NamespaceRow* ns = forest.FindNamespace(link.namespace_id);
    if (ns == nullptr || ns->type != NamespaceType::kGroup) {
      return Violation("runner link to a missing or non-group namespace", link.id);
    }
    if (link.runner_id <= 0 || link.runner_id >= forest.next_runner_id) {
      return Violation("runner link with an unallocated runner id", link.id);
    }
    pairs.emplace_back(link.runner_id, link.namespace_id);
  }
  std::sort(pairs.begin(), pairs.end());
  auto dup = std::adjacent_find(pairs.begin(), pairs.end());
  if (dup != pairs.end()) return Violation("runner linked twice to namespace", dup->second);
  return Status::Ok();
}

// Cuts a stream of changes into transactions of at most `max` changes.
class Chunker {
 public:
  Chunker(const LoadOptions& options, size_t expected, const std::function<void(Transaction)>& sink)
      : options_(options), sink_(sink), lsn_(options.first_lsn.value), expected_(expected) {
    Reserve();
  }
  void Add(RowChange change) {
    txn_.changes.push_back(std::move(change));
    if (options_.max_changes_per_transaction != 0 &&
        txn_.changes.size() >= options_.max_changes_per_transaction) {
      Flush();
    }
  }
  size_t Finish() {
    Flush();
    return emitted_;
  }

 private:
  void Reserve() {
    const size_t max = options_.max_changes_per_transaction;
    txn_.changes.reserve(max == 0 ? expected_
                                  : std::min(max, expected_ - std::min(expected_, added_)));
  }
  void Flush() {
    if (txn_.changes.empty()) return;
    added_ += txn_.changes.size();
    txn_.commit_lsn = Lsn(lsn_);
    lsn_ += options_.lsn_step;
    ++emitted_;
    sink_(std::move(txn_));
    txn_ = Transaction{};
    Reserve();
  }

  const LoadOptions& options_;
  const std::function<void(Transaction)>& sink_;
  Transaction txn_;
  uint64_t lsn_;
  size_t expected_;
  size_t added_ = 0;
  size_t emitted_ = 0;
};

}  // namespace

Status ValidateForest(const GitlabForest& forest) {
  if (Status s = ValidateNamespaces(forest); !s.ok()) return s;
  if (Status s = ValidateProjects(forest); !s.ok()) return s;
  return ValidateRunnerLinks(forest);
}

size_t ForEachLoadTransaction(const GitlabForest& forest, const LoadOptions& options,
                              const std::function<void(Transaction)>& sink) {
  size_t expected = 0;
  if (options.namespaces) expected += forest.namespaces.size();
  if (options.projects) expected += forest.projects.size();
  if (options.runner_links) expected += forest.runner_links.size();
  Chunker chunker(options, expected, sink);
  std::vector<int64_t> preorder;
  if (options.order == LoadOrder::kPreorder) preorder = NamespaceIdsPreorder(forest);
  if (options.namespaces) {
    if (options.order == LoadOrder::kById) {
      for (const NamespaceRow& row : forest.namespaces) {
        if (row.id != 0) chunker.Add(UpsertNamespace{row});
      }
    } else {
      std::vector<int64_t> parents_first;
      if (options.order == LoadOrder::kParentsFirst)
        parents_first = NamespaceIdsParentsFirst(forest);
      for (int64_t id : options.order == LoadOrder::kPreorder ? preorder : parents_first) {
        chunker.Add(UpsertNamespace{forest.namespaces[static_cast<size_t>(id - 1)]});
      }
    }
  }
  if (options.projects) {
    if (options.order == LoadOrder::kPreorder) {
      // Projects grouped by namespace, namespaces in pre-order.
      std::vector<uint32_t> rank(forest.namespaces.size(), UINT32_MAX);
      for (size_t k = 0; k < preorder.size(); ++k)
        rank[static_cast<size_t>(preorder[k] - 1)] = static_cast<uint32_t>(k);
      std::vector<std::pair<uint32_t, uint32_t>> keyed;  // (rank of namespace, project slot)
      keyed.reserve(forest.projects.size());
      for (size_t i = 0; i < forest.projects.size(); ++i) {
        const ProjectRow& row = forest.projects[i];
        if (row.id == 0) continue;
        const NamespaceRow* ns = forest.FindNamespace(row.namespace_id);
        keyed.emplace_back(ns == nullptr ? UINT32_MAX : rank[static_cast<size_t>(ns->id - 1)],
                           static_cast<uint32_t>(i));
      }
      std::sort(keyed.begin(), keyed.end());
      for (const auto& [r, slot] : keyed) chunker.Add(UpsertProject{forest.projects[slot]});
    } else {
      for (const ProjectRow& row : forest.projects) {
        if (row.id != 0) chunker.Add(UpsertProject{row});
      }
    }
  }
  if (options.runner_links) {
    for (const RunnerLinkRow& row : forest.runner_links) {
      if (row.id != 0) chunker.Add(UpsertRunnerLink{row});
    }
  }
  return chunker.Finish();
}

std::vector<Transaction> LoadTransactions(const GitlabForest& forest, const LoadOptions& options) {
  std::vector<Transaction> txns;
  ForEachLoadTransaction(forest, options, [&](Transaction txn) { txns.push_back(std::move(txn)); });
  return txns;
}

Transaction LoadTransaction(const GitlabForest& forest, Lsn commit_lsn) {
  LoadOptions options;
  options.first_lsn = commit_lsn;
  std::vector<Transaction> txns = LoadTransactions(forest, options);
  if (txns.empty()) return Transaction{commit_lsn, {}};
  return std::move(txns.front());
}

size_t CountRowChanges(const std::vector<Transaction>& txns) {
  size_t n = 0;
  for (const Transaction& txn : txns) n += txn.changes.size();
  return n;
}

}  // namespace canopy::testing
