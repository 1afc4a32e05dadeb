// canopy/testing/stats.h — what every benchmark's numbers share: the one
// percentile definition (p50, p99, ...), elapsed seconds, fixed-point text.
//
//   std::vector<double> latencies_us = ...;
//   double p99 = canopy::testing::Percentile(latencies_us, 0.99);
//   std::cout << canopy::testing::Fixed(canopy::testing::SecondsSince(t0), 2);
//
// Nearest rank: the smallest value with at least q of all values at or below
// it (rank ceil(q * n), at least 1). 0 for no values. Percentile reorders its
// argument (std::nth_element, O(n)); it never copies it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace canopy::testing {

// REQUIRES: 0 <= q <= 1.
template <typename T>
double Percentile(std::vector<T>& values, double q) {
  if (values.empty()) return 0;
  const double n = static_cast<double>(values.size());
  size_t rank = static_cast<size_t>(std::ceil(q * n));
  rank = std::clamp<size_t>(rank, 1, values.size());
  auto nth = values.begin() + static_cast<std::ptrdiff_t>(rank - 1);
  std::nth_element(values.begin(), nth, values.end());
  return static_cast<double>(*nth);
}

// Seconds of std::chrono::steady_clock since `start`.
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// `v` with `decimals` digits after the point ("%.*f"), as report tables print it.
inline std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace canopy::testing
