#include "id_sort.h"

#include <algorithm>
#include <array>
#include <bit>

namespace canopy::internal {

namespace {
constexpr size_t kRadixThreshold = 512;
constexpr int kDigitBits = 11;
constexpr uint64_t kDigitMask = (uint64_t{1} << kDigitBits) - 1;
}  // namespace

void SortIds(std::vector<int64_t>* ids) {
  const size_t n = ids->size();
  if (n < kRadixThreshold) {
    std::sort(ids->begin(), ids->end());
    return;
  }
  auto [min_it, max_it] = std::minmax_element(ids->begin(), ids->end());
  const int64_t base = *min_it;
  const uint64_t range = static_cast<uint64_t>(*max_it) - static_cast<uint64_t>(base);
  const int bits = range == 0 ? 0 : 64 - std::countl_zero(range);
  const int passes = (bits + kDigitBits - 1) / kDigitBits;
  if (passes == 0) return;

  thread_local std::vector<uint64_t> keys_a, keys_b;
  keys_a.resize(n);
  keys_b.resize(n);
  for (size_t i = 0; i < n; ++i) {
    keys_a[i] = static_cast<uint64_t>((*ids)[i]) - static_cast<uint64_t>(base);
  }
  std::vector<uint64_t>* src = &keys_a;
  std::vector<uint64_t>* dst = &keys_b;
  std::array<uint32_t, kDigitMask + 1> counts;
  for (int pass = 0; pass < passes; ++pass) {
    const int shift = pass * kDigitBits;
    counts.fill(0);
    for (uint64_t k : *src) ++counts[(k >> shift) & kDigitMask];
    uint32_t sum = 0;
    for (uint32_t& c : counts) {
      uint32_t here = c;
      c = sum;
      sum += here;
    }
    for (uint64_t k : *src) (*dst)[counts[(k >> shift) & kDigitMask]++] = k;
    std::swap(src, dst);
  }
  for (size_t i = 0; i < n; ++i) {
    (*ids)[i] = static_cast<int64_t>((*src)[i] + static_cast<uint64_t>(base));
  }
}

}  // namespace canopy::internal
