// bench_flags.h — what the benchmark programs' CLI11 flags share: whole
// numbers read in decimal only (CLI11 alone reads "010" as octal and lets
// "-1" wrap in an unsigned option), and the names of the databases they
// (re)create.
//
//   CLI::App app{"..."};
//   canopy::bench::AddWholeNumber(&app, "--seed", options.seed, "default 1");
//
// THREAD SAFETY: for main() before any thread starts.
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <string>

namespace canopy::bench {

// Accepts decimal digits only and drops leading zeros (one "0" stays).
inline CLI::Validator DecimalValidator() {
  return CLI::Validator(
      [](std::string& value) {
        if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
          return std::string("needs a whole number, not '") + value + "'";
        }
        value.erase(0, std::min(value.find_first_not_of('0'), value.size() - 1));
        return std::string();
      },
      "");
}

// A database name canopy may create and drop: lower-case letters, digits and _
// (so it needs no quoting in SQL or in a conninfo string).
inline CLI::Validator DatabaseNameValidator() {
  return CLI::Validator(
      [](std::string& value) {
        for (char c : value) {
          if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_') {
            return std::string("needs lower-case letters, digits and _ only");
          }
        }
        return std::string();
      },
      "");
}

// An option that takes a whole number (type name N).
template <typename T>
CLI::Option* AddWholeNumber(CLI::App* app, const std::string& name, T& value,
                            const std::string& description) {
  return app->add_option(name, value, description)->type_name("N")->transform(DecimalValidator());
}

}  // namespace canopy::bench
