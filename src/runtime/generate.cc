#include "runtime/generate.h"

#include <algorithm>

#include "core/error.h"

namespace banyan {

GenerateResult generate(Engine& engine, SeqId seq, const std::vector<int32_t>& history,
                        const std::vector<int32_t>& new_tokens, const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token) {
  BANYAN_CHECK(!new_tokens.empty(), "generate: the prompt is empty");
  const SamplingParams params = with_seed(options.sampling);
  validate_sampling_params(params);
  Sampler sampler;
  GenerateResult r;
  std::vector<int32_t> prompt = history;
  prompt.insert(prompt.end(), new_tokens.begin(), new_tokens.end());
  BatchItem item{seq, new_tokens, LogitsRequest::last(), nullptr, nullptr};
  ForwardOutput out;
  SampleResult pick;
  engine.forward(std::span<BatchItem>(&item, 1), out);
  item.tokens.resize(1);
  for (int i = 0; i < options.max_tokens; ++i) {
    sampler.sample(params, out.row(0, 0), prompt, r.tokens, pick);
    if (std::find(options.eos_ids.begin(), options.eos_ids.end(), int64_t(pick.token)) != options.eos_ids.end()) {
      r.stopped_by_eos = true;
      // Keep the EOS in the cache so a next chat turn follows it, as the template expects.
      item.tokens[0] = pick.token;
      engine.forward(std::span<BatchItem>(&item, 1), out);
      break;
    }
    r.tokens.push_back(pick.token);
    r.stopped_by_callback = on_token && !on_token(pick.token);
    const bool stop = r.stopped_by_callback || i + 1 == options.max_tokens;
    // Feed the token even when stopping, so the sequence ends with everything generated (chat continues it).
    item.tokens[0] = pick.token;
    item.logits = stop ? LogitsRequest::none() : LogitsRequest::last();
    engine.forward(std::span<BatchItem>(&item, 1), out);
    if (stop) break;
  }
  return r;
}

}  // namespace banyan
