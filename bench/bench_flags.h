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
#include <cstddef>
#include <cstdint>
#include <optional>
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

// What a benchmark on one generated GitLab database is told: the server, the
// database it (re)creates, the forest's size and seed.
struct DatabaseFlags {
  std::string pg;  // conninfo; empty: a throwaway cluster
  std::string database;
  size_t namespaces = 100'000;
  size_t projects = 300'000;
  uint64_t seed = 1;
  bool reuse_db = false;
};

// --pg (also from `pg_env`), --database (default `default_database`),
// --namespaces, --projects, --seed (`seed_use` says what it seeds) and
// --reuse-db.
inline void AddDatabaseFlags(CLI::App* app, DatabaseFlags* f, const std::string& pg_env,
                             const std::string& default_database, const std::string& seed_use) {
  f->database = default_database;
  app->add_option("--pg", f->pg,
                  "PostgreSQL to use (a role that may CREATE DATABASE and replicate; "
                  "wal_level=logical). Default: $" +
                      pg_env + ", else a throwaway cluster from scripts/pg-test-cluster.")
      ->envname(pg_env)
      ->type_name("CONNINFO");
  app->add_option("--database", f->database, "database to (re)create, default " + default_database)
      ->type_name("NAME")
      ->check(DatabaseNameValidator());
  AddWholeNumber(app, "--namespaces", f->namespaces,
                 "users + groups, default 100000 (project namespaces come on top)");
  AddWholeNumber(app, "--projects", f->projects, "default 300000");
  AddWholeNumber(app, "--seed", f->seed, seed_use + ", default 1");
  app->add_flag("--reuse-db", f->reuse_db,
                "keep an existing database loaded with the same sizes and seed");
}

// Parses the command line into `app`'s options, then calls `check()`, which
// may throw CLI::ValidationError for what the options alone cannot say.
// Returns nullopt to go on, else main's exit status: 0 after --help, 2 after
// a usage error (its message printed).
template <typename Check>
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv, Check check) {
  try {
    app.parse(argc, argv);
    check();
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace canopy::bench
