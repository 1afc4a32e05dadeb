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

void SortUniqueIds(std::vector<int64_t>* ids) {
  const size_t n = ids->size();
  if (n < kRadixThreshold) {
    std::sort(ids->begin(), ids->end());
    ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
    return;
  }
  auto [min_it, max_it] = std::minmax_element(ids->begin(), ids->end());
  const int64_t base = *min_it;
  const uint64_t range = static_cast<uint64_t>(*max_it) - static_cast<uint64_t>(base);
  const int bits = range == 0 ? 0 : 64 - std::countl_zero(range);
  const int passes = (bits + kDigitBits - 1) / kDigitBits;
  if (passes == 0) {  // all equal
    ids->erase(ids->begin() + 1, ids->end());
    return;
  }

  // Dense answers (a big group's subtree is a large share of an id range):
  // one bit per possible id, then read the set bits back in order.
  if (range / 32 <= n) {
    thread_local std::vector<uint64_t> bitmap;
    const size_t words = static_cast<size_t>(range / 64) + 1;
    bitmap.assign(words, 0);
    for (int64_t id : *ids) {
      const uint64_t k = static_cast<uint64_t>(id) - static_cast<uint64_t>(base);
      bitmap[k >> 6] |= uint64_t{1} << (k & 63);
    }
    size_t out = 0;
    for (size_t w = 0; w < words; ++w) {
      for (uint64_t word = bitmap[w]; word != 0; word &= word - 1) {
        const uint64_t k = (uint64_t{w} << 6) + static_cast<uint64_t>(std::countr_zero(word));
        (*ids)[out++] = static_cast<int64_t>(k + static_cast<uint64_t>(base));
      }
    }
    ids->resize(out);  // duplicates collapsed into one bit
    return;
  }

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
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
}

void SortAndMergeIds(std::vector<int64_t>* ids, std::span<const std::span<const int64_t>> pieces) {
  // Each merge pass reads and writes every id once, as the sort does about
  // twice: merge the few largest pieces, sort the rest with the loose ids.
  constexpr size_t kMergedPieces = 7;  // + the sorted rest: three passes
  thread_local std::vector<std::span<const int64_t>> merged;
  merged.assign(pieces.begin(), pieces.end());
  if (merged.size() > kMergedPieces) {
    std::nth_element(merged.begin(), merged.begin() + (kMergedPieces - 1), merged.end(),
                     [](auto a, auto b) { return a.size() > b.size(); });
    for (size_t i = kMergedPieces; i < merged.size(); ++i) {
      ids->insert(ids->end(), merged[i].begin(), merged[i].end());
    }
    merged.resize(kMergedPieces);
  }
  SortUniqueIds(ids);
  if (merged.empty()) return;
  // Lay the pieces out after the sorted ids as segments, then merge
  // neighbouring segments pairwise until one is left (bottom-up merge sort
  // over the known runs), alternating between *ids and a scratch buffer.
  thread_local std::vector<size_t> bounds, next_bounds;
  thread_local std::vector<int64_t> scratch;
  bounds.clear();
  bounds.push_back(0);
  if (!ids->empty()) bounds.push_back(ids->size());
  for (std::span<const int64_t> piece : merged) {
    if (piece.empty()) continue;
    ids->insert(ids->end(), piece.begin(), piece.end());
    bounds.push_back(ids->size());
  }
  scratch.resize(ids->size());
  int64_t* src = ids->data();
  int64_t* dst = scratch.data();
  while (bounds.size() > 2) {
    next_bounds.clear();
    next_bounds.push_back(0);
    for (size_t i = 0; i + 1 < bounds.size(); i += 2) {
      const size_t begin = bounds[i], middle = bounds[i + 1];
      const size_t end = i + 2 < bounds.size() ? bounds[i + 2] : middle;
      std::merge(src + begin, src + middle, src + middle, src + end, dst + begin);
      next_bounds.push_back(end);
    }
    bounds.swap(next_bounds);
    std::swap(src, dst);
  }
  if (src != ids->data()) std::copy(src, src + ids->size(), ids->data());
}

}  // namespace canopy::internal
