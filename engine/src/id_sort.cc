#include "id_sort.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>

namespace canopy::internal {

namespace {
constexpr size_t kRadixThreshold = 512;
constexpr int kDigitBits = 11;
constexpr uint64_t kDigitMask = (uint64_t{1} << kDigitBits) - 1;
constexpr uint64_t kMaxBitmapRange = uint64_t{1} << 26;  // 8 MiB of bits
}  // namespace

namespace {

// LSD radix sort of *ids by their offset from `base` (Key holds every
// offset), `passes` digits of kDigitBits. One read of the ids makes the keys
// and every pass's digit counts; the passes then scatter between two key
// buffers, the last one straight back into *ids as ids. Keys of 32 bits
// (offsets below 2^32, every real answer) halve the memory each pass moves.
template <typename Key>
void RadixSortFrom(std::vector<int64_t>* ids, int64_t base, int passes) {
  constexpr int kMaxPasses = (8 * sizeof(Key) + kDigitBits - 1) / kDigitBits;
  const size_t n = ids->size();
  thread_local std::vector<Key> keys_a, keys_b;
  keys_a.resize(n);
  if (passes > 1) keys_b.resize(n);  // the last pass writes into *ids
  std::array<std::array<uint32_t, kDigitMask + 1>, kMaxPasses> counts;
  for (int pass = 0; pass < passes; ++pass) counts[pass].fill(0);
  for (size_t i = 0; i < n; ++i) {
    const Key k = static_cast<Key>(static_cast<uint64_t>((*ids)[i]) - static_cast<uint64_t>(base));
    keys_a[i] = k;
    for (int pass = 0; pass < passes; ++pass)
      ++counts[pass][(k >> (pass * kDigitBits)) & kDigitMask];
  }
  for (int pass = 0; pass < passes; ++pass) {
    uint32_t sum = 0;
    for (uint32_t& c : counts[pass]) {
      const uint32_t here = c;
      c = sum;
      sum += here;
    }
  }
  std::vector<Key>* src = &keys_a;
  std::vector<Key>* dst = &keys_b;
  for (int pass = 0; pass + 1 < passes; ++pass) {
    const int shift = pass * kDigitBits;
    std::array<uint32_t, kDigitMask + 1>& next = counts[pass];
    for (Key k : *src) (*dst)[next[(k >> shift) & kDigitMask]++] = k;
    std::swap(src, dst);
  }
  const int shift = (passes - 1) * kDigitBits;
  std::array<uint32_t, kDigitMask + 1>& next = counts[passes - 1];
  int64_t* out = ids->data();
  for (Key k : *src) {
    out[next[(k >> shift) & kDigitMask]++] =
        static_cast<int64_t>(static_cast<uint64_t>(k) + static_cast<uint64_t>(base));
  }
}

// Sorts *ids, all in [base, base + 2^bits), by their offset from base.
void RadixSort(std::vector<int64_t>* ids, int64_t base, int bits) {
  const int passes = (bits + kDigitBits - 1) / kDigitBits;
  if (passes == 0) return;  // all equal
  if (bits <= 32) {
    RadixSortFrom<uint32_t>(ids, base, passes);
  } else {
    RadixSortFrom<uint64_t>(ids, base, passes);
  }
}

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
  if (bits == 0) {  // all equal
    ids->erase(ids->begin() + 1, ids->end());
    return;
  }

  // Dense answers (most of the ids in their range): one bit per possible
  // id, then read the set bits back in order. Reading a word back costs a
  // mispredicted branch or two, so the bitmap pays only from about 8 ids a
  // word on; below that the radix passes are cheaper (canopy_engine_bench's
  // ':changed' answers, which sort: gitlab-org's 5,000 projects 8.8 -> 2.0
  // ns per id when this threshold went from 1 id per 32 words to 8 ids per
  // word). At most an 8 MiB bitmap per reader thread.
  if (range / 8 <= n && range < kMaxBitmapRange) {
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

  RadixSort(ids, base, bits);
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
}

void SortIds(std::vector<int64_t>* ids) {
  if (ids->size() < kRadixThreshold) {
    std::sort(ids->begin(), ids->end());
    return;
  }
  auto [min_it, max_it] = std::minmax_element(ids->begin(), ids->end());
  const int64_t base = *min_it;
  const uint64_t range = static_cast<uint64_t>(*max_it) - static_cast<uint64_t>(base);
  RadixSort(ids, base, range == 0 ? 0 : 64 - std::countl_zero(range));
}

SortedIdRun::SortedIdRun(std::span<const int64_t> ids) : size_(ids.size()) {
  if (ids.empty()) return;
  const uint64_t range = static_cast<uint64_t>(ids.back()) - static_cast<uint64_t>(ids.front());
  if (range > std::numeric_limits<uint32_t>::max()) {
    wide_.assign(ids.begin(), ids.end());
    return;
  }
  base_ = ids.front();
  chunks_.reserve((ids.size() + kChunkIds - 1) / kChunkIds);
  for (size_t at = 0; at < ids.size(); at += kChunkIds) {
    const size_t n = std::min(kChunkIds, ids.size() - at);
    std::shared_ptr<uint32_t[]> chunk(new uint32_t[n]);
    for (size_t i = 0; i < n; ++i) {
      chunk[i] =
          static_cast<uint32_t>(static_cast<uint64_t>(ids[at + i]) - static_cast<uint64_t>(base_));
    }
    chunks_.push_back(std::move(chunk));
  }
}

void SortedIdRun::AddChunks(std::span<const uint32_t> offsets) {
  for (size_t at = 0; at < offsets.size(); at += kChunkIds) {
    const size_t n = std::min(kChunkIds, offsets.size() - at);
    std::shared_ptr<uint32_t[]> chunk(new uint32_t[n]);
    std::memcpy(chunk.get(), offsets.data() + at, n * sizeof(uint32_t));
    chunks_.push_back(std::move(chunk));
  }
  size_ += offsets.size();
}

SortedIdRun::IdRange SortedIdRun::LastChunkIds() const {
  if (!narrow() || chunks_.empty()) return {};
  constexpr int64_t kMaxOffset = std::numeric_limits<uint32_t>::max();
  const int64_t last = base_ > std::numeric_limits<int64_t>::max() - kMaxOffset
                           ? std::numeric_limits<int64_t>::max()
                           : base_ + kMaxOffset;
  return {base_ + static_cast<int64_t>(chunks_.back()[0]), last};
}

size_t SortedIdRun::LowerBound(int64_t id) const {
  if (!wide_.empty()) {
    return static_cast<size_t>(std::lower_bound(wide_.begin(), wide_.end(), id) - wide_.begin());
  }
  if (size_ == 0 || id <= base_) return 0;
  const uint64_t wide_offset = static_cast<uint64_t>(id) - static_cast<uint64_t>(base_);
  if (wide_offset > std::numeric_limits<uint32_t>::max()) return size_;
  const auto offset = static_cast<uint32_t>(wide_offset);
  // The chunk it falls in: the last one whose first offset is not above it.
  const auto after = std::upper_bound(chunks_.begin(), chunks_.end(), offset,
                                      [](uint32_t o, const Chunk& c) { return o < c[0]; });
  if (after == chunks_.begin()) return 0;
  const size_t k = static_cast<size_t>(after - chunks_.begin()) - 1;
  const uint32_t* chunk = chunks_[k].get();
  return k * kChunkIds +
         static_cast<size_t>(std::lower_bound(chunk, chunk + ChunkSize(k), offset) - chunk);
}

void SortedIdRun::AppendTo(size_t begin, size_t end, std::vector<int64_t>* out) const {
  const size_t at = out->size();
  out->resize(at + (end - begin));
  int64_t* to = out->data() + at;
  if (!wide_.empty()) {
    std::copy(wide_.begin() + static_cast<std::ptrdiff_t>(begin),
              wide_.begin() + static_cast<std::ptrdiff_t>(end), to);
    return;
  }
  const int64_t base = base_;
  for (size_t i = begin; i < end;) {
    const size_t k = i / kChunkIds, from_i = i % kChunkIds;
    const size_t n = std::min(end - i, ChunkSize(k) - from_i);
    const uint32_t* from = chunks_[k].get() + from_i;
    for (size_t j = 0; j < n; ++j) to[j] = base + static_cast<int64_t>(from[j]);  // vectorized
    to += n;
    i += n;
  }
}

size_t SortedIdRun::bytes() const {
  size_t b = wide_.capacity() * sizeof(int64_t) + chunks_.capacity() * sizeof(Chunk);
  for (size_t k = 0; k < chunks_.size(); ++k) {
    b += ChunkSize(k) * sizeof(uint32_t) / static_cast<size_t>(chunks_[k].use_count());
  }
  return b;
}

SortedIdRun SortedIdRun::WithChanges(std::span<const int64_t> removed,
                                     std::span<const int64_t> added) const {
  const auto fits = [&](int64_t id) {
    return id >= base_ && static_cast<uint64_t>(id) - static_cast<uint64_t>(base_) <=
                              std::numeric_limits<uint32_t>::max();
  };
  if (wide_.empty() && size_ != 0 && removed.size() <= size_ &&
      (added.empty() || (fits(added.front()) && fits(added.back()))) &&
      (removed.empty() || (fits(removed.front()) && fits(removed.back())))) {
    // The base stays (no id is below it). The chunks before the first change
    // are shared; the offsets from there on are copied out (`old`), and the
    // ones between two changed ids copied in blocks into `to`, each change
    // found by binary search.
    size_t first = size_;
    if (!removed.empty()) first = LowerBound(removed.front());
    if (!added.empty()) first = std::min(first, LowerBound(added.front()));
    const size_t kept_chunks = first / kChunkIds;
    std::vector<uint32_t> old;
    old.reserve(size_ - kept_chunks * kChunkIds);
    for (size_t k = kept_chunks; k < chunks_.size(); ++k) {
      old.insert(old.end(), chunks_[k].get(), chunks_[k].get() + ChunkSize(k));
    }
    const auto offset = [&](int64_t id) {
      return static_cast<uint32_t>(static_cast<uint64_t>(id) - static_cast<uint64_t>(base_));
    };
    std::vector<uint32_t> to;  // (filled by block inserts: no zeroing first)
    to.reserve(old.size() + added.size());
    const uint32_t* from = old.data();
    const uint32_t* const end = from + old.size();
    size_t r = 0, a = 0;
    bool as_required = true;  // (else the widened copy below, memory-safe for any input)
    while (as_required && (r < removed.size() || a < added.size())) {
      const bool remove = a == added.size() || (r < removed.size() && removed[r] < added[a]);
      const uint32_t at = offset(remove ? removed[r++] : added[a++]);
      const uint32_t* block_end = std::lower_bound(from, end, at);
      const bool there = block_end != end && *block_end == at;
      // (an added id twice, or out of order, would be found placed already)
      as_required = remove == there && (remove || to.empty() || to.back() < at);
      if (!as_required) break;
      to.insert(to.end(), from, block_end);
      if (remove) {
        from = block_end + 1;  // (the removed id itself)
      } else {
        to.push_back(at);
        from = block_end;
      }
    }
    if (as_required) {
      to.insert(to.end(), from, end);
      SortedIdRun run;
      run.base_ = base_;
      run.chunks_.reserve(kept_chunks + (to.size() + kChunkIds - 1) / kChunkIds);
      run.chunks_.assign(chunks_.begin(),
                         chunks_.begin() + static_cast<std::ptrdiff_t>(kept_chunks));
      run.size_ = kept_chunks * kChunkIds;
      run.AddChunks(to);
      return run;
    }
  }
  std::vector<int64_t> ids;
  AppendTo(0, size(), &ids);
  ApplySortedChanges(&ids, removed, added);
  return SortedIdRun(ids);
}

namespace {
// MergeSortedIds over anything indexable with size() (a span or a run).
template <typename Ids, typename AppendAll>
void MergeFromBack(std::vector<int64_t>* ids, const Ids& more, AppendAll append_all) {
  if (ids->empty() || more.size() == 0 || ids->back() < more[0]) {
    append_all();  // a copy, not a merge
    return;
  }
  size_t rest = ids->size(), from = more.size(), to = rest + from;
  ids->resize(to);
  int64_t* out = ids->data();
  while (from > 0 && rest > 0) {
    if (out[rest - 1] > more[from - 1]) {
      out[--to] = out[--rest];
    } else {
      out[--to] = more[--from];
    }
  }
  // What is left of `more` is below everything placed: it goes first, as is.
  for (size_t i = 0; i < from; ++i) out[i] = more[i];
}
}  // namespace

void ApplySortedChanges(std::vector<int64_t>* ids, std::span<const int64_t> removed,
                        std::span<const int64_t> added) {
  if (!removed.empty()) {
    // Each removed id found by binary search; the ids between move down.
    int64_t* data = ids->data();
    const size_t n = ids->size();
    size_t kept = 0, next = 0;
    for (const int64_t id : removed) {
      const size_t at = static_cast<size_t>(std::lower_bound(data + next, data + n, id) - data);
      if (at == n || data[at] != id) continue;  // (not there: nothing to take out)
      std::memmove(data + kept, data + next, (at - next) * sizeof(int64_t));
      kept += at - next;
      next = at + 1;
    }
    std::memmove(data + kept, data + next, (n - next) * sizeof(int64_t));
    ids->resize(kept + (n - next));
  }
  MergeSortedIds(ids, added);
}

void MergeSortedIds(std::vector<int64_t>* ids, std::span<const int64_t> more) {
  MergeFromBack(ids, more, [&] { ids->insert(ids->end(), more.begin(), more.end()); });
}

void MergeSortedIds(std::vector<int64_t>* ids, const SortedIdRun& more) {
  MergeFromBack(ids, more, [&] { more.AppendTo(0, more.size(), ids); });
}

void SortAndMergeIds(std::vector<int64_t>* ids, std::span<const SortedIdRun* const> pieces) {
  // A merge pass costs about what sorting costs (a branch per id), so only
  // a piece holding at least half of the answer is merged; the rest is sorted.
  size_t total = ids->size(), largest = pieces.size();
  for (size_t i = 0; i < pieces.size(); ++i) {
    total += pieces[i]->size();
    if (largest == pieces.size() || pieces[i]->size() > pieces[largest]->size()) largest = i;
  }
  const SortedIdRun* merged = nullptr;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i == largest && pieces[i]->size() * 2 >= total) {
      merged = pieces[i];
    } else {
      pieces[i]->AppendTo(0, pieces[i]->size(), ids);
    }
  }
  SortUniqueIds(ids);
  if (merged != nullptr) MergeSortedIds(ids, *merged);
}

}  // namespace canopy::internal
