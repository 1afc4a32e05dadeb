// copy_rows.cc — a generated forest in PostgreSQL's COPY text format.
#include <string>
#include <string_view>
#include <vector>

#include "canopy/testing/gitlab_forest.h"

namespace canopy::testing {
namespace {

// COPY text escaping of a value.
void AppendText(std::string* out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\\':
        *out += "\\\\";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      default:
        *out += c;
    }
  }
}

void AppendId(std::string* out, const std::optional<int64_t>& id) {
  *out += id ? std::to_string(*id) : "\\N";
}

}  // namespace

std::string NamespaceCopyRows(const GitlabForest& forest, std::string_view row_suffix) {
  std::string rows;
  rows.reserve(forest.namespaces.size() * (80 + row_suffix.size()));
  std::vector<int64_t> path;
  for (const NamespaceRow& row : forest.namespaces) {
    if (row.id == 0) continue;  // deleted by a stream
    path.clear();
    for (const NamespaceRow* n = &row; n != nullptr;) {
      path.push_back(n->id);
      if (!n->parent_id || path.size() > 1000) break;  // 1000: a cycle guard
      n = forest.FindNamespace(*n->parent_id);
    }
    rows += std::to_string(row.id);
    rows += '\t';
    AppendText(&rows, row.name);
    rows += '\t';
    AppendText(&rows, row.path);
    rows += '\t';
    rows += NamespaceTypeName(row.type);
    rows += '\t';
    rows += std::to_string(row.visibility_level);
    rows += '\t';
    AppendId(&rows, row.parent_id);
    rows += "\t{";
    for (size_t i = path.size(); i-- > 0;) {
      rows += std::to_string(path[i]);
      if (i != 0) rows += ',';
    }
    rows += '}';
    rows += row_suffix;
    rows += '\n';
  }
  return rows;
}

std::string ProjectCopyRows(const GitlabForest& forest, std::string_view row_suffix) {
  std::string rows;
  rows.reserve(forest.projects.size() * (64 + row_suffix.size()));
  for (const ProjectRow& row : forest.projects) {
    if (row.id == 0) continue;
    rows += std::to_string(row.id);
    rows += '\t';
    AppendText(&rows, row.name);
    rows += '\t';
    AppendText(&rows, row.path);
    rows += '\t';
    rows += std::to_string(row.namespace_id);
    rows += '\t';
    rows += std::to_string(row.visibility_level);
    rows += row.archived ? "\tt" : "\tf";
    rows += row.pending_delete ? "\tt\t" : "\tf\t";
    AppendId(&rows, row.project_namespace_id);
    rows += row_suffix;
    rows += '\n';
  }
  return rows;
}

std::string RunnerLinkCopyRows(const GitlabForest& forest) {
  std::string rows;
  for (const RunnerLinkRow& row : forest.runner_links) {
    if (row.id == 0) continue;
    rows += std::to_string(row.id) + '\t' + std::to_string(row.runner_id) + '\t' +
            std::to_string(row.namespace_id) + '\n';
  }
  return rows;
}

}  // namespace canopy::testing
