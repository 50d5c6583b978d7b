// Single-threaded encode throughput of a tokenizer over a JSONL corpus ({"text": ...} lines, .jsonl or .jsonl.xz).
#pragma once
#include <cstdint>
#include <filesystem>

#include "format/tokenizer/tokenizer.h"

namespace banyan {

struct TokenizerBenchResult {
  uint64_t bytes = 0;      // UTF-8 bytes of text encoded
  uint64_t tokens = 0;     // ids produced
  uint64_t documents = 0;
  double seconds = 0;      // wall-clock encode time (reading and decompressing the corpus are not timed)
  double mb_per_s = 0;     // bytes / 1e6 / seconds
  // CPU time of the encoding thread: the one-core throughput even when other processes share the cores.
  double cpu_seconds = 0;
  double cpu_mb_per_s = 0;
};

// Reads every text of `corpus` (up to max_bytes of text when non-zero) into memory, then encodes each once
// without special tokens on the calling thread.
TokenizerBenchResult bench_tokenizer(const Tokenizer& tokenizer, const std::filesystem::path& corpus,
                                     uint64_t max_bytes = 0);

}  // namespace banyan
