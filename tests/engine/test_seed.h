// test_seed.h — seed and length of the randomized engine tests.
//   CANOPY_TEST_SEED=<n>   replays a run (tests print the seed they used)
//   CANOPY_TEST_SCALE=<x>  lengthens or shortens the streams (default 1)
#pragma once

#include <cstdint>
#include <cstdlib>

namespace canopy_test {

// The seed from CANOPY_TEST_SEED, else a fixed one per `salt`.
inline uint64_t TestSeed(uint64_t salt) {
  if (const char* env = std::getenv("CANOPY_TEST_SEED")) return std::strtoull(env, nullptr, 0);
  return 0x51ce5eedULL + salt;
}

inline double TestScale() {
  if (const char* env = std::getenv("CANOPY_TEST_SCALE")) return std::atof(env);
  return 1.0;
}

}  // namespace canopy_test
