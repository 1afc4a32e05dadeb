// Internal: the generator's random numbers and row names.
//
// The standard distributions are implementation-defined, so a seed would give
// different forests with different standard libraries. Everything here is
// fixed arithmetic: xoshiro256** seeded through splitmix64.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace canopy::testing::internal {

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& s : s_) {
      x += 0x9E3779B97F4A7C15ULL;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      s = z ^ (z >> 31);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n); n > 0. Multiply-shift (bias < n / 2^64, irrelevant here).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Unit() < p; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Words for paths; none contains '-', '_', '.', a digit or equals a special
// path, so "word-<base36 id>" is unique per id.
inline constexpr std::string_view kGroupWords[] = {
    "api",           "web",     "backend",  "frontend",    "infra",     "docs",      "tools",
    "mobile",        "data",    "ml",       "security",    "ops",       "platform",  "core",
    "sdk",           "cli",     "charts",   "runners",     "pages",     "design",    "qa",
    "billing",       "search",  "auth",     "gateway",     "cache",     "monitor",   "deploy",
    "cloud",         "edge",    "labs",     "sandbox",     "analytics", "payments",  "growth",
    "support",       "legal",   "research", "compiler",    "kernel",    "firmware",  "android",
    "ios",           "desktop", "services", "shared",      "internal",  "archive",   "team",
    "squad",         "tribe",   "product",  "engineering", "devops",    "terraform", "helm",
    "observability", "storage", "network",  "database",    "queue",     "mailer",    "notify",
    "events"};
inline constexpr std::string_view kUserWords[] = {
    "alice", "bob",    "carol",   "dave",  "erin",   "frank", "grace",  "heidi",
    "ivan",  "judy",   "mallory", "niaj",  "olivia", "peggy", "rupert", "sybil",
    "trent", "victor", "walter",  "yuki",  "amir",   "bea",   "chen",   "dmitri",
    "elena", "fatima", "gus",     "hana",  "ines",   "jonas", "kofi",   "lena",
    "marta", "nils",   "omar",    "priya", "quinn",  "rosa",  "sven",   "tomas"};
inline constexpr std::string_view kProjectWords[] = {
    "gitlab",   "website",  "handbook", "operator", "runner",    "charts",    "cli",
    "client",   "server",   "library",  "plugin",   "theme",     "dotfiles",  "notes",
    "blog",     "homework", "scripts",  "infra",    "terraform", "ansible",   "pipeline",
    "app",      "service",  "worker",   "frontend", "backend",   "mobile",    "docs",
    "examples", "demo",     "template", "bot",      "parser",    "compiler",  "engine",
    "sdk",      "api",      "proxy",    "exporter", "dashboard", "game",      "tracker",
    "scraper",  "wiki",     "config",   "monorepo", "tests",     "benchmarks"};

template <size_t N>
std::string_view Pick(Rng& rng, const std::string_view (&words)[N]) {
  return words[rng.Below(N)];
}

// Appends `value` in lowercase base 36.
inline void AppendBase36(std::string* out, uint64_t value) {
  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, 36);
  (void)ec;
  out->append(buf, end);
}

// path = word + sep + base36(id); name = Word + ' ' + base36(id). Both are
// unique per id, hence unique among any siblings.
inline void MakeNameAndPath(std::string_view word, char sep, uint64_t id, std::string* name,
                            std::string* path) {
  path->clear();
  path->reserve(word.size() + 8);
  path->append(word);
  path->push_back(sep);
  AppendBase36(path, id);
  name->clear();
  name->reserve(word.size() + 8);
  name->append(word);
  (*name)[0] = static_cast<char>((*name)[0] - 'a' + 'A');
  name->push_back(' ');
  AppendBase36(name, id);
}

// GitLab's visibility levels.
inline constexpr int32_t kPrivate = 0, kInternal = 10, kPublic = 20;

inline int32_t DrawGroupVisibility(Rng& rng) {
  const uint64_t r = rng.Below(100);
  return r < 55 ? kPrivate : (r < 62 ? kInternal : kPublic);
}
inline int32_t DrawProjectVisibility(Rng& rng) {
  const uint64_t r = rng.Below(100);
  return r < 70 ? kPrivate : (r < 75 ? kInternal : kPublic);
}

}  // namespace canopy::testing::internal
