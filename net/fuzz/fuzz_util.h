// fuzz_util.h — what the byte-stream fuzzers (RESP, HTTP) and their seed
// writers share: the invariant check, the chunk plan that byte 0 of an input
// chooses, and writing a seed corpus with a libFuzzer dictionary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace canopy::net::fuzz {

// abort()s with `fuzzer: invariant violated: what` unless `ok` (libFuzzer
// keeps the input that did it).
inline void CheckInvariant(const char* fuzzer, bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "%s: invariant violated: %s\n", fuzzer, what);
  std::abort();
}

// The sizes of the pieces a stream is fed in, from a plan byte: plan % 8
// picks the largest piece (1, 2, 3, 7, 16, 64 or 512 bytes, or the whole
// stream at once), the plan seeds a small deterministic generator for the
// sizes up to it. Bits 0x40 and 0x80 are left to the fuzzer's own options.
class ChunkPlan {
 public:
  static constexpr uint8_t kWhole = 7;  // plan % 8 == kWhole: one piece

  explicit ChunkPlan(uint8_t plan) : state_(plan), max_(kMaxChunk[plan % 8]) {}

  // The next piece's size (SIZE_MAX: the rest).
  size_t Next() {
    if (max_ == 0) return SIZE_MAX;
    state_ = state_ * 1664525u + 1013904223u;
    return 1 + (state_ >> 8) % max_;
  }

 private:
  static constexpr size_t kMaxChunk[] = {1, 2, 3, 7, 16, 64, 512, 0};
  uint32_t state_;
  size_t max_;
};

// The main of a seed writer: `PROGRAM DIR [DICT]` writes every stream once
// per plan byte (the byte first) as DIR/seed_N, and with DICT the tokens as
// a libFuzzer dictionary (each already escaped as the dictionary wants).
inline int WriteSeedCorpus(int argc, char** argv, const std::vector<std::string>& streams,
                           std::initializer_list<uint8_t> plans,
                           std::initializer_list<const char*> dictionary) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s DIR [DICT]\n", argv[0]);
    return 2;
  }
  std::filesystem::create_directories(argv[1]);
  int n = 0;
  for (const std::string& s : streams) {
    for (const uint8_t plan : plans) {
      std::ofstream(std::string(argv[1]) + "/seed_" + std::to_string(n++), std::ios::binary)
          << static_cast<char>(plan) << s;
    }
  }
  if (argc == 3) {
    std::ofstream dict(argv[2]);
    for (const char* token : dictionary) dict << '"' << token << "\"\n";
  }
  std::printf("wrote %d seeds to %s\n", n, argv[1]);
  return 0;
}

}  // namespace canopy::net::fuzz
