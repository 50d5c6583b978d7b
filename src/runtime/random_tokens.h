// Reproducible random token ids for benchmarks and engine tests (ids 0-2 are left out: special tokens in the
// fixture vocabularies).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace banyan {

inline std::vector<int32_t> random_token_ids(size_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(3, int32_t(vocab - 1));
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace banyan
