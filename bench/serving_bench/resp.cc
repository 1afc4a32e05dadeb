// resp.cc — see resp.h.
#include "resp.h"

#include <string_view>

namespace canopy::bench::serving {

namespace {

void AppendBulk(std::string* out, std::string_view s) {
  *out += '$';
  *out += std::to_string(s.size());
  *out += "\r\n";
  out->append(s);
  *out += "\r\n";
}

}  // namespace

std::string RespIdArray(const std::vector<int64_t>& ids) {
  std::string out(1, '*');
  out += std::to_string(ids.size());
  out += "\r\n";
  for (int64_t id : ids) {
    out += ':';
    out += std::to_string(id);
    out += "\r\n";
  }
  return out;
}

std::string RespBatch(const std::vector<std::vector<int64_t>>& lists) {
  std::string out(1, '*');
  out += std::to_string(lists.size());
  out += "\r\n";
  for (const auto& ids : lists) out += RespIdArray(ids);
  return out;
}

std::string RespCounts(const std::vector<int64_t>& four_counts) {
  static const char* const kNames[] = {"descendant_groups", "descendant_project_namespaces",
                                       "projects", "unarchived_projects"};
  std::string out = "*8\r\n";
  for (size_t i = 0; i < 4 && i < four_counts.size(); ++i) {
    AppendBulk(&out, kNames[i]);
    out += ':';
    out += std::to_string(four_counts[i]);
    out += "\r\n";
  }
  return out;
}

}  // namespace canopy::bench::serving
