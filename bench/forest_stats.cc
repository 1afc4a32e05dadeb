// canopy_forest_stats — generates a GitLab-shaped forest, prints its shape,
// optionally runs a mixed write stream over it, and validates the result.
//
//   canopy_forest_stats [--namespaces N] [--projects P] [--links R] [--seed S] [--stream T]
//
// Exits 1 when the forest (or the forest after the stream) is invalid.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_flags.h"
#include "canopy/testing/gitlab_forest.h"
#include "canopy/testing/stats.h"

namespace {

using Clock = std::chrono::steady_clock;
using canopy::testing::SecondsSince;

struct Subtree {
  size_t groups = 0, project_namespaces = 0, projects = 0;
  int levels = 0;
};

// Sizes below `root`, from parent links (O(n) per call; fine for a report).
Subtree Measure(const canopy::testing::GitlabForest& forest, const std::vector<uint8_t>& depth,
                int64_t root) {
  Subtree s;
  if (root == 0) return s;
  const size_t n = forest.namespaces.size();
  std::vector<uint8_t> inside(n, 0);  // 0 unknown, 1 yes, 2 no
  inside[static_cast<size_t>(root - 1)] = 1;
  auto is_inside = [&](size_t i) {
    std::vector<size_t> path;
    size_t cur = i;
    uint8_t verdict = 2;
    while (true) {
      if (inside[cur] != 0) {
        verdict = inside[cur];
        break;
      }
      path.push_back(cur);
      const auto& row = forest.namespaces[cur];
      if (!row.parent_id) break;
      cur = static_cast<size_t>(*row.parent_id - 1);
    }
    for (size_t k : path) inside[k] = verdict;
    return verdict == 1;
  };
  const int root_depth = depth[static_cast<size_t>(root - 1)];
  for (size_t i = 0; i < n; ++i) {
    const auto& row = forest.namespaces[i];
    if (row.id == 0 || row.id == root || !is_inside(i)) continue;
    if (row.type == canopy::NamespaceType::kProject) {
      ++s.project_namespaces;
    } else {
      ++s.groups;
      s.levels = std::max(s.levels, depth[i] - root_depth);
    }
  }
  for (const auto& p : forest.projects) {
    if (p.id != 0 && is_inside(static_cast<size_t>(p.namespace_id - 1))) ++s.projects;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  canopy::testing::GitlabForestOptions options;
  options.namespaces = 100'000;
  options.projects = 300'000;
  size_t stream = 0;
  CLI::App app(
      "canopy_forest_stats: generates a GitLab-shaped forest, prints its shape, optionally runs "
      "a mixed write stream over it, and validates the result",
      "canopy_forest_stats");
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--namespaces", options.namespaces,
                 "users + groups, default 100000 (project namespaces come on top)")
      ->type_name("N")
      ->transform(canopy::bench::DecimalValidator());
  app.add_option("--projects", options.projects, "default 300000")
      ->type_name("P")
      ->transform(canopy::bench::DecimalValidator());
  app.add_option_function<size_t>(
         "--links", [&options](size_t links) { options.runner_links = links; },
         "ci_runner_namespaces rows, default namespaces / 50")
      ->type_name("R")
      ->transform(canopy::bench::DecimalValidator());
  app.add_option("--seed", options.seed, "default 1")
      ->type_name("S")
      ->transform(canopy::bench::DecimalValidator());
  app.add_option("--stream", stream,
                 "transactions of the mixed write stream to run, default 0 (none)")
      ->type_name("T")
      ->transform(canopy::bench::DecimalValidator());
  app.footer(
      "Exit status: 0, or 1 when the forest (or the forest after the stream) is invalid, "
      "2 on usage.");
  if (auto status = canopy::bench::ParseCommandLine(app, argc, argv, [] {})) return *status;

  auto start = Clock::now();
  canopy::testing::GitlabForest forest = canopy::testing::GenerateGitlabForest(options);
  std::printf("generated in %.2f s (seed %llu)\n", SecondsSince(start),
              static_cast<unsigned long long>(options.seed));

  const canopy::testing::GitlabForestCounts c = canopy::testing::CountForest(forest);
  std::printf(
      "users %zu, groups %zu (top-level %zu), project namespaces %zu, projects %zu, "
      "runner links %zu, max depth %d\n",
      c.users, c.groups, c.top_level_groups, c.project_namespaces, c.projects, c.runner_links,
      c.max_depth);

  const std::vector<uint8_t> depth = canopy::testing::NamespaceDepths(forest);
  size_t by_depth[256] = {};
  std::vector<uint32_t> children(forest.namespaces.size(), 0);
  size_t inverted = 0;  // parent id > child id (historical transfers)
  for (size_t i = 0; i < forest.namespaces.size(); ++i) {
    const auto& row = forest.namespaces[i];
    if (row.id == 0 || row.type == canopy::NamespaceType::kProject) continue;
    ++by_depth[depth[i]];
    if (row.parent_id) {
      ++children[static_cast<size_t>(*row.parent_id - 1)];
      inverted += *row.parent_id > row.id;
    }
  }
  std::printf("users+groups by depth:");
  for (int d = 1; d < 256; ++d) {
    if (by_depth[d] != 0) std::printf(" %d:%zu", d, by_depth[d]);
  }
  std::printf("\nmax subgroups of one group %u; groups whose parent id is larger: %zu\n",
              *std::max_element(children.begin(), children.end()), inverted);

  {
    std::vector<uint32_t> direct(forest.namespaces.size(), 0);
    for (const auto& p : forest.projects) {
      if (p.id != 0) ++direct[static_cast<size_t>(p.namespace_id - 1)];
    }
    size_t empty_groups = 0, groups = 0;
    for (size_t i = 0; i < direct.size(); ++i) {
      if (forest.namespaces[i].id == 0 ||
          forest.namespaces[i].type != canopy::NamespaceType::kGroup)
        continue;
      ++groups;
      empty_groups += direct[i] == 0;
    }
    std::vector<uint32_t> top = direct;
    const size_t k = std::min<size_t>(5, top.size());
    std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(k), top.end(),
                      std::greater<>());
    std::printf("projects directly in one namespace, largest:");
    for (size_t i = 0; i < k; ++i) std::printf(" %u", top[i]);
    std::printf("; groups without direct projects: %zu of %zu\n", empty_groups, groups);
  }

  const auto& named = forest.named;
  struct {
    const char* name;
    int64_t id;
  } roots[] = {{"gitlab-org", named.gitlab_org_id},
               {"huge group", named.huge_group_id},
               {"small group", named.small_group_id},
               {"chain 21 root", named.chain_21.empty() ? 0 : named.chain_21[0]},
               {"deep chain root", named.deep_chain.empty() ? 0 : named.deep_chain[0]},
               {"user namespace", named.user_namespace_id}};
  for (const auto& r : roots) {
    const Subtree s = Measure(forest, depth, r.id);
    std::printf(
        "%-16s id %-8lld descendant groups %-7zu project namespaces %-7zu projects %-7zu "
        "levels below %d\n",
        r.name, static_cast<long long>(r.id), s.groups, s.project_namespaces, s.projects, s.levels);
  }

  start = Clock::now();
  canopy::Status status = canopy::testing::ValidateForest(forest);
  std::printf("validate: %s (%.2f s)\n", status.ok() ? "ok" : status.message().c_str(),
              SecondsSince(start));
  if (!status.ok()) return 1;

  if (stream > 0) {
    start = Clock::now();
    canopy::testing::MixedStream mixed(&forest, {.seed = options.seed});
    const double setup = SecondsSince(start);
    start = Clock::now();
    size_t changes = 0, largest = 0;
    for (size_t i = 0; i < stream; ++i) {
      canopy::Transaction txn = mixed.Next();
      changes += txn.changes.size();
      largest = std::max(largest, txn.changes.size());
    }
    std::printf(
        "stream: %zu transactions, %zu row changes (largest %zu) in %.3f s (+%.2f s setup); "
        "last lsn %s\n  ",
        stream, changes, largest, SecondsSince(start), setup,
        std::to_string(mixed.last_lsn().value).c_str());
    for (int op = 0; op < canopy::testing::kStreamOpCount; ++op) {
      std::printf("%s %llu  ",
                  canopy::testing::StreamOpName(static_cast<canopy::testing::StreamOp>(op)),
                  static_cast<unsigned long long>(mixed.op_counts()[op]));
    }
    status = canopy::testing::ValidateForest(forest);
    std::printf("\nvalidate after stream: %s\n", status.ok() ? "ok" : status.message().c_str());
    if (!status.ok()) return 1;
  }
  return 0;
}
