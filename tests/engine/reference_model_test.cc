// reference_model_test.cc — the engine against a brute-force reference model.
//
// Randomized GitLab-shaped transaction streams (random_stream.h) go to both
// canopy::HierarchyIndex and canopy_test::ReferenceModel. After every
// transaction (or ApplyBatch) every query kind is compared for every
// namespace and project id, plus ids the index never held or no longer holds:
// through the ReadView methods, through ReadView::Run (whole and paged, and
// in IdOrder::kAny), through HierarchyIndex::QueryBatch and (sampled)
// HierarchyIndex::Query; then stats gauges, row contents, id lists and the
// applied LSN.
//
// Replay: CANOPY_TEST_SEED=<seed> (printed on failure). Length:
// CANOPY_TEST_SCALE=<factor> (default 1; 0.25 in sanitizer builds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "random_stream.h"
#include "reference_model.h"
#include "test_rows.h"
#include "test_seed.h"

namespace canopy_test {
namespace {

using canopy::HierarchyIndex;
using canopy::IndexStats;
using canopy::ReadView;
using canopy::Status;

uint64_t BaseSeed() { return canopy_test::TestRandomSeed(); }

double Scale() { return canopy_test::TestScale(); }

// Collects the differences between the engine and the model: a few of each
// kind (keyed by the text before the first '('), so that one known
// discrepancy cannot hide another.
class Diffs {
 public:
  template <typename... Args>
  void Add(const Args&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    std::string text = out.str();
    ++count_;
    if (++per_kind_[text.substr(0, text.find('('))] > 3 || items_.size() >= 60) return;
    items_.push_back(std::move(text));
  }
  bool empty() const { return count_ == 0; }
  std::string ToString() const {
    std::string out = std::to_string(count_) + " difference(s), up to 3 of each kind:\n";
    for (const auto& s : items_) out += "  " + s + "\n";
    return out;
  }

 private:
  size_t count_ = 0;
  std::map<std::string, size_t> per_kind_;
  std::vector<std::string> items_;
};

const char* OrderName(HierarchyOrder order) {
  return order == HierarchyOrder::kRootFirst ? "root_first" : "self_first";
}

// Compares one engine against one model, on one pinned view.
class EngineVsModel {
 public:
  EngineVsModel(const HierarchyIndex& index, const ReferenceModel& model, uint64_t seed)
      : index_(index), model_(model), rng_(seed) {}

  // Empty when the engine agrees with the model on everything checked.
  std::string Check() {
    ReadView view = index_.Read();
    if (view.lsn() != model_.applied_lsn()) {
      diffs_.Add("view.lsn()=", view.lsn().value, " want ", model_.applied_lsn().value);
    }
    if (index_.applied_lsn() != model_.applied_lsn()) {
      diffs_.Add("index.applied_lsn()=", index_.applied_lsn().value);
    }
    CheckStats(view.Stats(), "view.Stats()");
    CheckStats(index_.Stats(), "index.Stats()");
    CheckRowsAndLists(view);

    for (const auto& [id, row] : model_.namespaces()) CheckNamespace(view, id);
    for (int64_t id : UnknownIds(model_.namespaces())) CheckNamespace(view, id);
    for (const auto& [id, row] : model_.projects()) CheckProject(view, id);
    for (int64_t id : UnknownIds(model_.projects())) CheckProject(view, id);
    CheckRunnersOfGroups(view);

    // The batch form: everything the single forms asked, on one state.
    canopy::BatchAnswer batch = index_.QueryBatch(batch_);
    if (batch.lsn != model_.applied_lsn()) diffs_.Add("QueryBatch lsn=", batch.lsn.value);
    if (batch.answers.size() != batch_.size()) {
      diffs_.Add("QueryBatch answered ", batch.answers.size(), " of ", batch_.size());
    } else {
      for (size_t i = 0; i < batch_.size(); ++i) {
        CompareAnswer("QueryBatch", batch_[i], batch_want_[i], batch.answers[i]);
      }
    }
    return diffs_.empty() ? std::string() : diffs_.ToString();
  }

 private:
  template <typename Map>
  std::vector<int64_t> UnknownIds(const Map& known) {
    std::vector<int64_t> out = {0, -1, std::numeric_limits<int64_t>::max(),
                                std::numeric_limits<int64_t>::min()};
    int64_t max_id = known.empty() ? 0 : known.rbegin()->first;
    out.push_back(max_id + 1);
    // ids that existed once (or never) below the largest one
    for (int i = 0; i < 4 && max_id > 1; ++i) {
      int64_t id = 1 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(max_id));
      if (!known.count(id)) out.push_back(id);
    }
    return out;
  }

  void CheckStats(const IndexStats& s, const char* where) {
    auto expect = [&](const char* field, uint64_t got, uint64_t want) {
      if (got != want) diffs_.Add(where, ".", field, "=", got, " want ", want);
    };
    expect("applied_lsn", s.applied_lsn.value, model_.applied_lsn().value);
    expect("namespaces", s.namespaces, model_.namespaces().size());
    expect("projects", s.projects, model_.projects().size());
    expect("runner_links", s.runner_links, model_.links().size());
    expect("orphan_namespaces", s.orphan_namespaces, model_.OrphanNamespaceCount());
    expect("orphan_projects", s.orphan_projects, model_.OrphanProjectCount());
    expect("cycles_refused", s.cycles_refused, 0);
    expect("unknown_deletes", s.unknown_deletes, model_.unknown_deletes());
    expect("transactions_applied", s.transactions_applied, model_.transactions_applied());
  }

  void CheckRowsAndLists(const ReadView& view) {
    std::vector<int64_t> want;
    for (const auto& [id, r] : model_.namespaces()) want.push_back(id);
    if (view.ListNamespaceIds() != want) {
      diffs_.Add("ListNamespaceIds=", IdsToString(view.ListNamespaceIds()), " want ",
                 IdsToString(want));
    }
    want.clear();
    for (const auto& [id, r] : model_.projects()) want.push_back(id);
    if (view.ListProjectIds() != want) {
      diffs_.Add("ListProjectIds=", IdsToString(view.ListProjectIds()), " want ",
                 IdsToString(want));
    }
    if (view.ListOrphanNamespaceIds() != model_.OrphanNamespaceIds()) {
      diffs_.Add("ListOrphanNamespaceIds=", IdsToString(view.ListOrphanNamespaceIds()), " want ",
                 IdsToString(model_.OrphanNamespaceIds()));
    }
    for (const auto& [id, want_row] : model_.namespaces()) {
      std::optional<NamespaceRow> got = view.GetNamespace(id);
      if (!got || got->id != id || got->parent_id != want_row.parent_id ||
          got->type != want_row.type || got->name != want_row.name || got->path != want_row.path ||
          got->visibility_level != want_row.visibility_level) {
        diffs_.Add("GetNamespace(", id, ")=", got ? DescribeNamespace(*got) : "nullopt", " want ",
                   DescribeNamespace(want_row));
      }
    }
    for (const auto& [id, want_row] : model_.projects()) {
      std::optional<ProjectRow> got = view.GetProject(id);
      if (!got || got->id != id || got->namespace_id != want_row.namespace_id ||
          got->project_namespace_id != want_row.project_namespace_id ||
          got->name != want_row.name || got->path != want_row.path ||
          got->visibility_level != want_row.visibility_level ||
          got->archived != want_row.archived || got->pending_delete != want_row.pending_delete) {
        diffs_.Add("GetProject(", id, ")=", got ? DescribeProject(*got) : "nullopt", " want ",
                   DescribeProject(want_row));
      }
    }
    for (const auto& [id, want_row] : model_.links()) {
      std::optional<RunnerLinkRow> got = view.GetRunnerLink(id);
      if (!got || got->id != id || got->runner_id != want_row.runner_id ||
          got->namespace_id != want_row.namespace_id) {
        diffs_.Add("GetRunnerLink(", id, ") differs");
      }
    }
    for (int64_t id : UnknownIds(model_.namespaces())) {
      if (view.GetNamespace(id)) diffs_.Add("GetNamespace(", id, ") of an unknown id");
    }
    for (int64_t id : UnknownIds(model_.projects())) {
      if (view.GetProject(id)) diffs_.Add("GetProject(", id, ") of an unknown id");
    }
    for (int64_t id : UnknownIds(model_.links())) {
      if (view.GetRunnerLink(id)) diffs_.Add("GetRunnerLink(", id, ") of an unknown id");
    }
  }

  // `got` must equal the model's answer, or be kNotFound (and empty) when
  // the model has no such id.
  void ExpectIds(const std::string& what, const RefIds& want, const Status& status,
                 const std::vector<int64_t>& got) {
    if (!want.found) {
      if (status.code() != StatusCode::kNotFound || !got.empty()) {
        diffs_.Add(what, ": want not_found, got ", status.ToString(), " ", IdsToString(got));
      }
      return;
    }
    if (!status.ok()) {
      diffs_.Add(what, ": want ", IdsToString(want.ids), ", got ", status.ToString());
    } else if (got != want.ids) {
      diffs_.Add(what, ": want ", IdsToString(want.ids), ", got ", IdsToString(got));
    }
  }

  static std::string Call(const char* method, int64_t id, const std::string& extra = "") {
    return std::string(method) + "(" + std::to_string(id) + (extra.empty() ? "" : ", " + extra) +
           ")";
  }

  bool AscendingForPaging(QueryKind kind) const {
    if (kind == QueryKind::kRootAncestor) return canopy::IsAscendingKind(kind);
    return RefIsAscendingKind(kind);
  }

  // The answer `q` must get, given the model's full (unpaged) answer.
  IdAnswer Expected(const IdQuery& q, const RefIds& full) const {
    if (!full.found) {
      IdAnswer a;
      a.status = canopy::Status::NotFound("");
      return a;
    }
    if (q.after_id && !AscendingForPaging(q.kind)) {
      IdAnswer a;
      a.status = canopy::Status::InvalidArgument("");
      return a;
    }
    return PageOf(full.ids, q);
  }

  void CompareAnswer(const char* form, const IdQuery& q, const IdAnswer& want,
                     const IdAnswer& got) {
    if (got.status.code() != want.status.code()) {
      diffs_.Add(form, " ", DescribeQuery(q), ": status ", got.status.ToString(), " want ",
                 canopy::StatusCodeName(want.status.code()), " (ids ", IdsToString(got.ids), ")");
      return;
    }
    if (!want.status.ok()) {
      if (!got.ids.empty()) diffs_.Add(form, " ", DescribeQuery(q), ": ids on an error");
      return;
    }
    if (got.ids != want.ids || got.total != want.total || got.more != want.more) {
      diffs_.Add(form, " ", DescribeQuery(q), ": ids ", IdsToString(got.ids), " total ", got.total,
                 " more ", got.more, " want ", IdsToString(want.ids), " total ", want.total,
                 " more ", want.more);
    }
  }

  // Runs `q` and a randomly paged variant through ReadView::Run, queues both
  // for the batch, and sometimes also asks HierarchyIndex::Query.
  void CheckGeneric(const ReadView& view, const IdQuery& q) {
    const RefIds full = model_.Full(q);
    const IdAnswer want = Expected(q, full);
    CompareAnswer("Run", q, want, view.Run(q));
    batch_.push_back(q);
    batch_want_.push_back(want);

    IdQuery paged = q;
    const size_t n = full.ids.size();
    paged.limit = static_cast<uint32_t>(rng_() % (n + 2));
    if (AscendingForPaging(q.kind) && rng_() % 2) {
      if (n > 0 && rng_() % 3) {
        paged.after_id = full.ids[rng_() % n];
      } else {
        paged.after_id = static_cast<int64_t>(rng_() % 1000) - 10;
      }
    } else if (full.found && rng_() % 10 == 0) {
      paged.after_id = 5;  // on an ancestor kind: a bad query
    }
    const IdAnswer want_paged = Expected(paged, full);
    CompareAnswer("Run(paged)", paged, want_paged, view.Run(paged));
    batch_.push_back(paged);
    batch_want_.push_back(want_paged);

    if (rng_() % 20 == 0) {
      canopy::QueryAnswer single = index_.Query(q);
      if (single.lsn != model_.applied_lsn()) diffs_.Add("Query lsn=", single.lsn.value);
      CompareAnswer("Query", q, want, single.answer);
    }
    CheckAnyOrder(view, q, full);
  }

  // `q` in IdOrder::kAny: an ascending kind answers the same ids, each once,
  // in any order (sorted, they are the model's answer); a limit takes that
  // many of them; after_id is refused. Ancestor kinds ignore it.
  void CheckAnyOrder(const ReadView& view, IdQuery q, const RefIds& full) {
    q.id_order = canopy::IdOrder::kAny;
    q.after_id.reset();
    q.limit = 0;
    const bool ascending = RefIsAscendingKind(q.kind);
    IdAnswer got = view.Run(q);
    if (ascending) std::sort(got.ids.begin(), got.ids.end());  // duplicates stay and differ
    CompareAnswer("Run(any)", q, Expected(q, full), got);

    const size_t n = full.ids.size();
    if (ascending && full.found && n >= 2) {
      q.limit = 1 + static_cast<uint32_t>(rng_() % (n - 1));  // < n: cut
      got = view.Run(q);
      std::vector<int64_t> seen = got.ids;
      std::sort(seen.begin(), seen.end());
      const bool subset =
          std::includes(full.ids.begin(), full.ids.end(), seen.begin(), seen.end()) &&
          std::adjacent_find(seen.begin(), seen.end()) == seen.end();
      if (!got.status.ok() || got.ids.size() != q.limit || !got.more || got.total != n || !subset) {
        diffs_.Add("Run(any, limited) ", DescribeQuery(q), ": ", got.status.ToString(), " ids ",
                   IdsToString(got.ids), " total ", got.total, " more ", got.more, " of ",
                   IdsToString(full.ids));
      }
      q.limit = 0;
    }
    q.after_id = n > 0 ? full.ids[rng_() % n] : 0;
    got = view.Run(q);
    if (got.status.code() != StatusCode::kInvalidArgument || !got.ids.empty()) {
      diffs_.Add("Run(any, after_id) ", DescribeQuery(q), ": ", got.status.ToString(),
                 " want invalid_argument");
    }
  }

  void CheckNamespace(const ReadView& view, int64_t ns) {
    const bool known = model_.HasNamespace(ns);
    std::vector<int64_t> got{-42};  // methods clear *out first
    auto reset = [&] { got.assign(1, -42); };
    for (HierarchyOrder order : {HierarchyOrder::kRootFirst, HierarchyOrder::kSelfFirst}) {
      reset();
      ExpectIds(Call("SelfAndAncestors", ns, OrderName(order)), model_.SelfAndAncestors(ns, order),
                view.SelfAndAncestors(ns, order, &got), got);
      reset();
      ExpectIds(Call("Ancestors", ns, OrderName(order)), model_.Ancestors(ns, order),
                view.Ancestors(ns, order, &got), got);
      // tops: an ancestor, ns itself, some other namespace, an unknown id
      std::vector<int64_t> tops = {ns, 123456789};
      if (known) {
        const auto& chain = model_.Chain(ns);
        tops.push_back(chain[rng_() % chain.size()]);
        auto it = model_.namespaces().begin();
        std::advance(it, rng_() % model_.namespaces().size());
        tops.push_back(it->first);
      }
      for (int64_t top : tops) {
        reset();
        ExpectIds(Call("AncestorsUpto", ns, "top=" + std::to_string(top) + ", " + OrderName(order)),
                  model_.AncestorsUpto(ns, top, order), view.AncestorsUpto(ns, top, order, &got),
                  got);
        IdQuery q{.kind = QueryKind::kAncestorsUpto, .id = ns, .top = top, .order = order};
        CheckGeneric(view, q);
      }
      CheckGeneric(view, {.kind = QueryKind::kSelfAndAncestors, .id = ns, .order = order});
      CheckGeneric(view, {.kind = QueryKind::kAncestors, .id = ns, .order = order});
    }

    canopy::Result<int64_t> root = view.RootAncestor(ns);
    RefIds want_root = model_.RootAncestor(ns);
    if (want_root.found != root.ok() || (root.ok() && root.value() != want_root.ids[0])) {
      diffs_.Add(Call("RootAncestor", ns), " = ",
                 root.ok() ? std::to_string(root.value()) : root.status().ToString(), " want ",
                 want_root.found ? std::to_string(want_root.ids[0]) : "not_found");
    } else if (!root.ok() && root.status().code() != StatusCode::kNotFound) {
      diffs_.Add(Call("RootAncestor", ns), ": ", root.status().ToString());
    }
    CheckGeneric(view, {.kind = QueryKind::kRootAncestor, .id = ns});

    for (bool pns : {false, true}) {
      const std::string flag = pns ? "include_pns" : "groups";
      reset();
      ExpectIds(Call("SelfAndDescendants", ns, flag), model_.SelfAndDescendants(ns, pns),
                view.SelfAndDescendants(ns, pns, &got), got);
      reset();
      ExpectIds(Call("Descendants", ns, flag), model_.Descendants(ns, pns),
                view.Descendants(ns, pns, &got), got);
      reset();
      ExpectIds(Call("SelfAndHierarchy", ns, flag), model_.SelfAndHierarchy(ns, pns),
                view.SelfAndHierarchy(ns, pns, &got), got);
      for (QueryKind kind : {QueryKind::kSelfAndDescendants, QueryKind::kDescendants,
                             QueryKind::kSelfAndHierarchy}) {
        CheckGeneric(view, {.kind = kind, .id = ns, .include_project_namespaces = pns});
      }
    }

    reset();
    ExpectIds(Call("AllProjectIds", ns), model_.AllProjectIds(ns, false),
              view.AllProjectIds(ns, &got), got);
    reset();
    ExpectIds(Call("AllUnarchivedProjectIds", ns), model_.AllProjectIds(ns, true),
              view.AllUnarchivedProjectIds(ns, &got), got);
    reset();
    ExpectIds(Call("RunnersOfGroupAndAncestors", ns), model_.RunnersOfGroupAndAncestors(ns),
              view.RunnersOfGroupAndAncestors(ns, &got), got);
    reset();
    view.RunnersOfGroups(std::span<const int64_t>(&ns, 1), &got);
    if (got != model_.RunnersOfGroups(std::span<const int64_t>(&ns, 1))) {
      diffs_.Add(Call("RunnersOfGroups", ns), " = ", IdsToString(got), " want ",
                 IdsToString(model_.RunnersOfGroups(std::span<const int64_t>(&ns, 1))));
    }
    for (QueryKind kind : {QueryKind::kAllProjectIds, QueryKind::kAllUnarchivedProjectIds,
                           QueryKind::kRunnersOfGroup, QueryKind::kRunnersOfGroupAndAncestors}) {
      CheckGeneric(view, {.kind = kind, .id = ns});
    }

    canopy::Result<canopy::SubtreeCounts> counts = view.Counts(ns);
    std::optional<canopy::SubtreeCounts> want_counts = model_.Counts(ns);
    if (counts.ok() != want_counts.has_value()) {
      diffs_.Add(Call("Counts", ns), ": ok=", counts.ok(), " want ok=", want_counts.has_value());
    } else if (counts.ok()) {
      const auto& c = counts.value();
      const auto& w = *want_counts;
      if (c.descendant_groups != w.descendant_groups ||
          c.descendant_project_namespaces != w.descendant_project_namespaces ||
          c.projects != w.projects || c.unarchived_projects != w.unarchived_projects) {
        diffs_.Add(Call("Counts", ns), " = {", c.descendant_groups, ",",
                   c.descendant_project_namespaces, ",", c.projects, ",", c.unarchived_projects,
                   "} want {", w.descendant_groups, ",", w.descendant_project_namespaces, ",",
                   w.projects, ",", w.unarchived_projects, "}");
      }
    } else if (counts.status().code() != StatusCode::kNotFound) {
      diffs_.Add(Call("Counts", ns), ": ", counts.status().ToString());
    }

    canopy::Result<std::string> path = view.NamespaceFullPath(ns);
    std::optional<std::string> want_path = model_.NamespaceFullPath(ns);
    if (path.ok() != want_path.has_value() || (path.ok() && path.value() != *want_path)) {
      diffs_.Add(Call("NamespaceFullPath", ns), " = ",
                 path.ok() ? path.value() : path.status().ToString(), " want ",
                 want_path.value_or("not_found"));
    }
    if (known) {  // (orphans and what hangs below them are unreachable)
      CheckResolve(view, *want_path);
      CheckResolve(view, *want_path + "/no-such-child");
      CheckCaseVariants(view, *want_path);
    }
  }

  // The path in upper case, in lower case and with random letters flipped:
  // found ignoring case unless the exact path names something.
  void CheckCaseVariants(const ReadView& view, const std::string& full_path) {
    std::string upper = full_path, lower = full_path, mixed = full_path;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (char& ch : mixed) {
      if (rng_() % 2 == 0) continue;
      const auto u = static_cast<unsigned char>(ch);
      ch = static_cast<char>(std::isupper(u) ? std::tolower(u) : std::toupper(u));
    }
    CheckResolve(view, upper);
    if (lower != full_path) CheckResolve(view, lower);
    if (mixed != full_path && mixed != upper && mixed != lower) CheckResolve(view, mixed);
  }

  void CheckResolve(const ReadView& view, const std::string& full_path) {
    canopy::Result<canopy::ResolvedPath> got = view.Resolve(full_path);
    std::optional<canopy::ResolvedPath> want = model_.Resolve(full_path);
    if (got.ok() != want.has_value() ||
        (got.ok() && (got.value().table != want->table || got.value().id != want->id))) {
      diffs_.Add("Resolve(\"", full_path, "\") = ",
                 got.ok() ? "table " + std::to_string(static_cast<int>(got.value().table)) +
                                " id " + std::to_string(got.value().id)
                          : got.status().ToString(),
                 " want ",
                 want ? "table " + std::to_string(static_cast<int>(want->table)) + " id " +
                            std::to_string(want->id)
                      : "not found");
    }
  }

  void CheckProject(const ReadView& view, int64_t project) {
    std::vector<int64_t> got{-42};
    for (HierarchyOrder order : {HierarchyOrder::kRootFirst, HierarchyOrder::kSelfFirst}) {
      got.assign(1, -42);
      ExpectIds(Call("ProjectAncestors", project, OrderName(order)),
                model_.ProjectAncestors(project, order),
                view.ProjectAncestors(project, order, &got), got);
      CheckGeneric(view, {.kind = QueryKind::kProjectAncestors, .id = project, .order = order});
    }
    got.assign(1, -42);
    ExpectIds(Call("RunnersOfParentGroupsOfProject", project),
              model_.RunnersOfParentGroupsOfProject(project),
              view.RunnersOfParentGroupsOfProject(project, &got), got);
    CheckGeneric(view, {.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = project});

    canopy::Result<std::string> path = view.ProjectFullPath(project);
    const ProjectRow* row = model_.FindProject(project);
    if (!row) {
      if (path.ok()) diffs_.Add(Call("ProjectFullPath", project), " of an unknown project");
      return;
    }
    if (!model_.IsAttached(*row)) return;  // the header leaves an orphan's path open
    std::string want_path = *model_.ProjectFullPath(project);
    if (!path.ok() || path.value() != want_path) {
      diffs_.Add(Call("ProjectFullPath", project), " = ",
                 path.ok() ? path.value() : path.status().ToString(), " want ", want_path);
    }
    CheckResolve(view, want_path);
    CheckCaseVariants(view, want_path);
  }

  void CheckRunnersOfGroups(const ReadView& view) {
    std::vector<int64_t> ids;
    for (const auto& [id, r] : model_.namespaces()) {
      if (rng_() % 4 == 0) ids.push_back(id);
    }
    if (!ids.empty()) ids.push_back(ids.front());  // a duplicate
    ids.push_back(987654321);                      // unknown
    for (const auto& [lid, link] : model_.links()) {
      if (!model_.HasNamespace(link.namespace_id)) ids.push_back(link.namespace_id);  // dangling
    }
    std::shuffle(ids.begin(), ids.end(), rng_);
    std::vector<int64_t> got{-42};
    view.RunnersOfGroups(ids, &got);
    if (got != model_.RunnersOfGroups(ids)) {
      diffs_.Add("RunnersOfGroups(", IdsToString(ids), ") = ", IdsToString(got), " want ",
                 IdsToString(model_.RunnersOfGroups(ids)));
    }
    got.assign(1, -42);
    view.RunnersOfGroups({}, &got);
    if (!got.empty()) diffs_.Add("RunnersOfGroups({}) not empty");
  }

  const HierarchyIndex& index_;
  const ReferenceModel& model_;
  std::mt19937_64 rng_;
  Diffs diffs_;
  std::vector<IdQuery> batch_;
  std::vector<IdAnswer> batch_want_;
};

struct Coverage {
  size_t max_depth = 0, max_namespaces = 0, max_projects = 0, max_orphans = 0;
  size_t max_orphan_projects = 0, batches = 0, backwards = 0, truncates = 0, compactions = 0;
};

// Streams `steps` (scaled) transactions into an index and the model,
// comparing after each one.
void RunStream(const StreamProfile& profile, int steps, uint64_t offset) {
  const uint64_t seed = BaseSeed() + offset;
  steps = std::max(40, static_cast<int>(steps * Scale()));
  SCOPED_TRACE("replay with CANOPY_TEST_SEED=" + std::to_string(BaseSeed()) + " (profile " +
               profile.name + ", stream seed " + std::to_string(seed) + ")");
  const auto start = std::chrono::steady_clock::now();

  HierarchyIndex index;
  ReferenceModel model;
  RandomStream stream(seed, profile);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 1);
  std::deque<std::string> recent;  // the last transactions, for the failure message
  Coverage cov;

  for (int step = 0; step < steps; ++step) {
    std::vector<Transaction> txns;
    if (rng() % 12 == 0) {  // several transactions, one publish
      ReferenceModel ahead = model;
      const int n = 2 + static_cast<int>(rng() % 3);
      for (int i = 0; i < n; ++i) {
        txns.push_back(stream.Next(ahead));
        ASSERT_TRUE(ahead.Apply(txns.back()));
      }
      ++cov.batches;
    } else {
      txns.push_back(stream.Next(model));
    }
    std::string described;
    for (const auto& t : txns) {
      described += DescribeTransaction(t);
      for (const auto& c : t.changes)
        cov.truncates += std::holds_alternative<canopy::TruncateTable>(c);
    }

    // Sometimes send it with an LSN that goes backwards first: refused, nothing applied.
    if (model.applied_lsn().value > 0 && rng() % 50 == 0) {
      std::vector<Transaction> stale = txns;
      stale.back().commit_lsn = Lsn(model.applied_lsn().value - 1 - rng() % 3);
      Status s = stale.size() == 1 ? index.Apply(stale[0]) : index.ApplyBatch(stale);
      ASSERT_EQ(s.code(), StatusCode::kOutOfRange)
          << "step " << step << ": a transaction going backwards was not refused\n"
          << described;
      ++cov.backwards;
      std::string diff = EngineVsModel(index, model, rng()).Check();
      ASSERT_TRUE(diff.empty()) << "step " << step
                                << ": a refused (backwards) transaction changed the index\n"
                                << diff << "refused:\n"
                                << described;
    }

    Status s = txns.size() == 1 ? index.Apply(txns[0]) : index.ApplyBatch(txns);
    ASSERT_TRUE(s.ok()) << "step " << step << ": " << s.ToString() << "\n" << described;
    for (const auto& t : txns) ASSERT_TRUE(model.Apply(t));
    ASSERT_FALSE(model.HasCycle()) << "test bug: the stream made a cycle\n" << described;
    ASSERT_EQ(RandomStream::TypeRuleViolations(model), "") << "test bug\n" << described;

    if (rng() % 40 == 0) {  // re-lay the copies out: answers and LSN must not change
      ASSERT_TRUE(index.Compact().ok()) << "step " << step;
      described += "(then Compact())\n";
      ++cov.compactions;
    }
    recent.push_back(described);
    if (recent.size() > 4) recent.pop_front();

    std::string diff = EngineVsModel(index, model, rng()).Check();
    if (!diff.empty()) {
      std::string history;
      for (const auto& t : recent) history += t;
      FAIL() << "step " << step << " of " << steps << ": engine and model differ\n"
             << diff << "last transactions (oldest first):\n"
             << history;
    }

    for (const auto& [id, r] : model.namespaces()) {
      cov.max_depth = std::max(cov.max_depth, model.Chain(id).size());
    }
    cov.max_namespaces = std::max(cov.max_namespaces, model.namespaces().size());
    cov.max_projects = std::max(cov.max_projects, model.projects().size());
    cov.max_orphans = std::max<size_t>(cov.max_orphans, model.OrphanNamespaceCount());
    cov.max_orphan_projects = std::max<size_t>(cov.max_orphan_projects, model.OrphanProjectCount());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ stream   ] " << profile.name << ": " << steps << " steps in " << seconds
            << " s; max depth " << cov.max_depth << ", max namespaces " << cov.max_namespaces
            << ", max projects " << cov.max_projects << ", max orphan namespaces "
            << cov.max_orphans << ", max orphan projects " << cov.max_orphan_projects
            << ", batches " << cov.batches << ", refused backwards " << cov.backwards
            << ", truncates " << cov.truncates << ", compactions " << cov.compactions
            << ", unknown deletes " << model.unknown_deletes() << ", seed " << BaseSeed() << "\n";
}

TEST(ReferenceModelTest, BalancedStream) { RunStream(StreamProfile::Balanced(), 1200, 1); }

TEST(ReferenceModelTest, SmallDenseStreamOfMovesAndSwaps) {
  RunStream(StreamProfile::SmallDense(), 2500, 2);
}

TEST(ReferenceModelTest, DeepChainsStream) { RunStream(StreamProfile::Deep(), 700, 3); }

TEST(ReferenceModelTest, OrphansAndBadDataStream) { RunStream(StreamProfile::Orphans(), 1500, 4); }

// Sibling paths that differ only in case: Resolve's exact-then-ignoring-case rule.
TEST(ReferenceModelTest, CaseTwinsStream) { RunStream(StreamProfile::CaseTwins(), 1200, 5); }

// The model itself, on a hand-checked example, so a model bug cannot hide
// an engine bug by agreeing with it.
TEST(ReferenceModelTest, ModelAnswersAHandCheckedExample) {
  ReferenceModel m;
  Transaction t{Lsn(10), {}};
  auto ns = [](int64_t id, std::optional<int64_t> parent, NamespaceType type, std::string path) {
    NamespaceRow r;
    r.id = id;
    r.parent_id = parent;
    r.type = type;
    r.path = std::move(path);
    return canopy::UpsertNamespace{r};
  };
  // 1 (group) -> 2 (group) -> 3 (group); 2 -> 10 (project ns of project 7); 5 = user
  t.changes = {ns(3, 2, NamespaceType::kGroup, "c"),
               ns(1, std::nullopt, NamespaceType::kGroup, "a"),
               ns(2, 1, NamespaceType::kGroup, "b"),
               ns(10, 2, NamespaceType::kProject, "proj"),
               ns(5, std::nullopt, NamespaceType::kUser, "u"),
               ns(6, 99, NamespaceType::kGroup, "orphan")};
  ProjectRow p;
  p.id = 7;
  p.namespace_id = 2;
  p.project_namespace_id = 10;
  p.path = "proj";
  p.archived = true;
  t.changes.push_back(canopy::UpsertProject{p});
  t.changes.push_back(canopy::UpsertRunnerLink{{.id = 1, .runner_id = 40, .namespace_id = 1}});
  t.changes.push_back(canopy::UpsertRunnerLink{{.id = 2, .runner_id = 41, .namespace_id = 3}});
  ASSERT_TRUE(m.Apply(t));
  using V = std::vector<int64_t>;
  EXPECT_EQ(m.SelfAndAncestors(3, HierarchyOrder::kRootFirst).ids, (V{1, 2, 3}));
  EXPECT_EQ(m.SelfAndAncestors(3, HierarchyOrder::kSelfFirst).ids, (V{3, 2, 1}));
  EXPECT_EQ(m.AncestorsUpto(3, 1, HierarchyOrder::kRootFirst).ids, (V{2}));
  EXPECT_EQ(m.AncestorsUpto(3, 77, HierarchyOrder::kRootFirst).ids, (V{1, 2}));
  EXPECT_EQ(m.SelfAndAncestors(10, HierarchyOrder::kRootFirst).ids, (V{1, 2, 10}));
  EXPECT_EQ(m.AncestorsUpto(3, 3, HierarchyOrder::kRootFirst).ids, (V{1, 2}));
  EXPECT_EQ(m.SelfAndDescendants(1, false).ids, (V{1, 2, 3}));
  EXPECT_EQ(m.SelfAndDescendants(1, true).ids, (V{1, 2, 3, 10}));
  EXPECT_EQ(m.SelfAndHierarchy(2, false).ids, (V{1, 2, 3}));
  EXPECT_EQ(m.AllProjectIds(1, false).ids, (V{7}));
  EXPECT_EQ(m.AllProjectIds(1, true).ids, (V{}));
  EXPECT_EQ(m.AllProjectIds(10, false).ids, (V{7}));
  EXPECT_EQ(m.AllProjectIds(3, false).ids, (V{}));
  EXPECT_EQ(m.ProjectAncestors(7, HierarchyOrder::kRootFirst).ids, (V{1, 2}));
  EXPECT_EQ(m.RunnersOfGroupAndAncestors(3).ids, (V{40, 41}));
  EXPECT_EQ(m.RunnersOfParentGroupsOfProject(7).ids, (V{40}));
  EXPECT_EQ(m.RootAncestor(6).ids, (V{6}));
  EXPECT_TRUE(m.IsOrphan(6));
  EXPECT_EQ(m.OrphanNamespaceCount(), 1u);
  EXPECT_EQ(*m.NamespaceFullPath(3), "a/b/c");
  EXPECT_EQ(*m.ProjectFullPath(7), "a/b/proj");
  EXPECT_EQ(m.Resolve("a/b/proj")->table, Table::kProjects);
  EXPECT_EQ(m.Resolve("a/b")->id, 2);
  EXPECT_EQ(m.Resolve("a/B")->id, 2) << "ignoring case when nothing matches exactly";
  EXPECT_EQ(m.Resolve("A/b/PROJ")->table, Table::kProjects);
  EXPECT_FALSE(m.Resolve("a/b/"));
  EXPECT_EQ(m.Counts(1)->descendant_groups, 2u);
  EXPECT_EQ(m.Counts(1)->descendant_project_namespaces, 1u);
  EXPECT_EQ(m.Counts(1)->unarchived_projects, 0u);
  EXPECT_FALSE(m.SelfAndAncestors(4, HierarchyOrder::kRootFirst).found);
  EXPECT_FALSE(m.Resolve("orphan")) << "orphans are unreachable";
  EXPECT_TRUE(m.RunnersOfGroup(12345).found) << "kRunnersOfGroup never answers not found";

  IdQuery q{.kind = QueryKind::kSelfAndDescendants, .id = 1, .limit = 1, .after_id = 1};
  IdAnswer page = PageOf(m.Full(q).ids, q);
  EXPECT_EQ(page.ids, (V{2}));
  EXPECT_EQ(page.total, 3u);
  EXPECT_TRUE(page.more);

  // Group 2 goes: 3 and 10 become orphans, project 7 too; its project
  // namespace still names it; the link to 3 still counts.
  ASSERT_TRUE(m.Apply(Transaction{Lsn(11), {canopy::DeleteNamespace{2}}}));
  EXPECT_EQ(m.OrphanNamespaceIds(), (V{3, 6, 10}));
  EXPECT_EQ(m.OrphanProjectCount(), 1u);
  EXPECT_EQ(m.AllProjectIds(1, false).ids, (V{}));
  EXPECT_EQ(m.AllProjectIds(10, false).ids, (V{7}));
  EXPECT_EQ(m.ProjectAncestors(7, HierarchyOrder::kRootFirst).ids, (V{}));
  EXPECT_EQ(m.RunnersOfGroups(V{2, 3}), (V{41}));
  EXPECT_EQ(*m.NamespaceFullPath(3), "c");
  EXPECT_FALSE(m.Resolve("c"));
  EXPECT_FALSE(m.ProjectFullPath(7));
}

// The model's Resolve on case variants, by hand (the same rows as
// resolve_case_test.cc's branch test, in another order).
TEST(ReferenceModelTest, ModelResolvesCaseVariantsByHand) {
  ReferenceModel m;
  ASSERT_TRUE(m.Apply(Transaction{
      Lsn(10),
      {Group(5, 3, "x"), Group(3, 2, "a"), Group(4, 1, "A"), Group(2, std::nullopt, "ORG"),
       Group(1, std::nullopt, "Org"), ProjectNamespace(20, 2, "p"), Project(100, 2, 20, "p"),
       ProjectNamespace(21, 1, "y"), Project(101, 1, 21, "y"), Group(6, 2, "Y"),
       Group(61, 2, "dup"), Group(60, 2, "dup"), Group(62, 61, "below")}}));
  auto resolve = [&](std::string_view path) -> std::string {
    std::optional<canopy::ResolvedPath> r = m.Resolve(path);
    if (!r) return "not_found";
    return (r->table == Table::kProjects ? "project:" : "ns:") + std::to_string(r->id);
  };
  EXPECT_EQ(resolve("Org"), "ns:1");
  EXPECT_EQ(resolve("ORG"), "ns:2");
  EXPECT_EQ(resolve("org"), "ns:1");
  EXPECT_EQ(resolve("org/a"), "ns:3");
  EXPECT_EQ(resolve("Org/A"), "ns:4");
  EXPECT_EQ(resolve("ORG/A/X"), "ns:5");
  EXPECT_EQ(resolve("org/P"), "project:100");
  EXPECT_EQ(resolve("org/y"), "ns:6");
  EXPECT_EQ(resolve("Org/y"), "project:101");
  EXPECT_EQ(resolve("Org/Y"), "ns:6");
  EXPECT_EQ(resolve("ORG/dup"), "ns:60");
  EXPECT_EQ(resolve("ORG/dup/below"), "ns:62");
  EXPECT_EQ(resolve("org/y/"), "not_found");
  EXPECT_EQ(resolve("org/p/x"), "not_found");
}

}  // namespace
}  // namespace canopy_test
