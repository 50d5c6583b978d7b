// Token generation on one sequence of an Engine: prefill the prompt, then sample and feed back one token at a time
// until EOS or max_tokens. Used by `banyan generate` and `banyan chat` (which keeps the sequence across turns).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/engine.h"
#include "runtime/sampler.h"

namespace banyan {

struct GenerateOptions {
  SamplingParams sampling;       // validated; a missing seed is drawn once (with_seed) per generate call
  int max_tokens = 128;
  std::vector<int64_t> eos_ids;  // stop (without emitting) on any of these; usually spec().eos_token_ids
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated, without the EOS that stopped it
  bool stopped_by_eos = false;
  bool stopped_by_callback = false;
};

// Appends `new_tokens` to `seq` (which may already hold earlier turns), then generates. `on_token` gets each
// generated id (not EOS) and returns false to stop. Afterwards the sequence holds new_tokens and every generated
// token (and the EOS, when one stopped it). `history` is the sequence's tokens so far (prompt side of the
// repetition penalty).
GenerateResult generate(Engine& engine, SeqId seq, const std::vector<int32_t>& history,
                        const std::vector<int32_t>& new_tokens, const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token);

}  // namespace banyan
