// gitlab_sql.cc — see gitlab_sql.h. The texts come from testing/sql, turned
// into a table by testing/CMakeLists.txt (testing_sql_files.inc).
#include "canopy/testing/gitlab_sql.h"

#include <cctype>
#include <cstdlib>

namespace canopy::testing {

namespace {

struct SqlFile {
  const char* name;  // "queries/linear/descendants"
  const char* text;
};

constexpr SqlFile kFiles[] = {
#include "testing_sql_files.inc"
};

const char* Find(std::string_view form, std::string_view name) {
  std::string path = "queries/";
  path += form;
  path += '/';
  path += name;
  return TestingSqlFile(path);
}

bool IsIdentifierByte(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

}  // namespace

const char* TestingSqlFile(std::string_view name) {
  for (const SqlFile& file : kFiles) {
    if (name == file.name) return file.text;
  }
  return nullptr;
}

const char* SqlFormName(SqlForm form) {
  switch (form) {
    case SqlForm::kRecursive:
      return "recursive";
    case SqlForm::kLinear:
      return "linear";
    case SqlForm::kCache:
      return "cache";
  }
  return "unknown";
}

const char* GitlabSqlTemplate(std::string_view name, SqlForm form) {
  if (const char* text = Find(SqlFormName(form), name)) return text;
  // What walks no hierarchy has one text, in queries/any/, for the linear and
  // the recursive form alike (the cache holds only what it holds).
  return form == SqlForm::kCache ? nullptr : Find("any", name);
}

std::string GitlabSql(std::string_view name, SqlForm form, std::string_view type) {
  const char* text = GitlabSqlTemplate(name, form);
  if (text == nullptr) return {};
  if (type != "Group" && type != "User" && type != "Project") std::abort();
  struct Placeholder {
    std::string_view from, to;
  };
  std::string quoted_type(1, '\'');
  quoted_type.append(type);
  quoted_type += '\'';
  const Placeholder placeholders[] = {{":'full_path'", "$1"},
                                      {":'last'", "$2"},
                                      {":'type'", quoted_type},
                                      {":ids", "$1"},
                                      {":id", "$1"}};
  std::string out;
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (line.starts_with("--")) continue;
    for (size_t i = 0; i < line.size();) {
      const Placeholder* hit = nullptr;
      // A placeholder starts with one ':' (not a "::" cast) and ends at a
      // non-identifier byte.
      if (line[i] == ':' && (i == 0 || line[i - 1] != ':') &&
          (i + 1 < line.size() && line[i + 1] != ':')) {
        for (const Placeholder& p : placeholders) {
          const size_t end = i + p.from.size();
          if (line.substr(i, p.from.size()) == p.from &&
              (end >= line.size() || !IsIdentifierByte(line[end]))) {
            hit = &p;
            break;
          }
        }
      }
      if (hit != nullptr) {
        out += hit->to;
        i += hit->from.size();
      } else {
        out += line[i++];
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace canopy::testing
