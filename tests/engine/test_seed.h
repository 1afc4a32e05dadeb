// test_seed.h — seed and length of the randomized engine tests.
//   CANOPY_TEST_SEED=<n>   replays a run (tests print the seed they used)
//   CANOPY_TEST_SCALE=<x>  lengthens or shortens the streams (default 1)
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>

namespace canopy_test {

// The seed from CANOPY_TEST_SEED, else a fixed one per `salt`.
inline uint64_t TestSeed(uint64_t salt) {
  if (const char* env = std::getenv("CANOPY_TEST_SEED")) return std::strtoull(env, nullptr, 0);
  return 0x51ce5eedULL + salt;
}

// One random seed per process (printed by the tests that use it), unless
// CANOPY_TEST_SEED gives one.
inline uint64_t TestRandomSeed() {
  static const uint64_t seed = []() -> uint64_t {
    if (const char* env = std::getenv("CANOPY_TEST_SEED")) return std::strtoull(env, nullptr, 0);
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32 ^ device()) % 1'000'000'000'000;
  }();
  return seed;
}

// CANOPY_TEST_SCALE, else 1 (0.25 in sanitizer builds, which run slower).
inline double TestScale() {
  if (const char* env = std::getenv("CANOPY_TEST_SCALE")) return std::atof(env);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return 0.25;
#else
  return 1.0;
#endif
}

}  // namespace canopy_test
