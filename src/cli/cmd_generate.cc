// `banyan generate --model DIR (--prompt TEXT [--chat] | --prompt-ids 1,2,3) [--max-tokens N] [--temperature T]
//  [--top-p P] [--top-k K] [--seed S]`: streams the generated text to stdout (with --prompt-ids: the ids, one line).
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "core/error.h"
#include "format/jinja/chat_template.h"
#include "format/tokenizer/tokenizer.h"
#include "runtime/generate.h"

namespace banyan::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt;
  std::vector<int32_t> prompt_ids;
  bool chat = false;
  int max_tokens = 128;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  std::optional<uint64_t> seed;
  int threads = 0;
  std::string device = "cpu";
};

// The chat template's rendering of one user message, tokenized whole (as transformers does) with special tokens
// recognised only outside the message content (content is untrusted text).
std::vector<int32_t> chat_prompt_ids(const std::string& model, const Tokenizer& tok, const std::string& text) {
  const ChatTemplate tmpl = ChatTemplate::load(model);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  messages.push_back({{"role", "user"}, {"content", text}});
  const RenderedChat r = tmpl.render_with_spans(messages, true);
  return tok.encode_spans(r.text, r.content_spans, /*add_special_tokens=*/false);
}

int run_generate(const GenerateArgs& a) {
  BANYAN_CHECK(a.prompt.empty() != a.prompt_ids.empty(), "give exactly one of --prompt and --prompt-ids");
  EngineOptions eo;
  eo.threads = a.threads;
  eo.device = a.device;
  auto engine = Engine::load(a.model, eo);
  GenerateOptions go;
  go.sampling.temperature = a.temperature;
  go.sampling.top_p = a.top_p;
  go.sampling.top_k = a.top_k;
  go.sampling.seed = a.seed;
  go.max_tokens = a.max_tokens;
  go.eos_ids = engine->spec().eos_token_ids;
  const SeqId seq = engine->create_sequence();

  if (!a.prompt_ids.empty()) {  // ids in, ids out: needs no tokenizer
    BANYAN_CHECK(!a.chat, "--chat needs --prompt (text)");
    auto r = generate(*engine, seq, {}, a.prompt_ids, go, nullptr);
    std::string line;
    for (size_t i = 0; i < r.tokens.size(); ++i) line += (i ? "," : "") + std::to_string(r.tokens[i]);
    std::printf("%s\n", line.c_str());
    return 0;
  }
  const Tokenizer tok = Tokenizer::load(a.model);
  std::vector<int32_t> ids = a.chat ? chat_prompt_ids(a.model, tok, a.prompt) : tok.encode(a.prompt, true);
  BANYAN_CHECK(!ids.empty(), "the prompt encodes to no tokens");
  StreamingDecoder dec(tok, true);
  generate(*engine, seq, {}, ids, go, [&](int32_t id) {
    const std::string piece = dec.push(id);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  const std::string rest = dec.finish();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::printf("\n");
  return 0;
}

RegisterCommand reg{{"generate", "Generate text from a prompt with the CPU engine", [](CLI::App& sub) {
                       auto a = std::make_shared<GenerateArgs>();
                       sub.add_option("--model", a->model, "Model directory (HF checkpoint or bundle)")->required();
                       sub.add_option("--prompt", a->prompt, "Prompt text");
                       sub.add_option("--prompt-ids", a->prompt_ids, "Prompt token ids (comma separated)")
                           ->delimiter(',');
                       sub.add_flag("--chat", a->chat, "Wrap the prompt as a user message with the chat template");
                       sub.add_option("--max-tokens", a->max_tokens, "Tokens to generate at most")
                           ->check(CLI::NonNegativeNumber);
                       sub.add_option("--temperature", a->temperature, "0 = greedy");
                       sub.add_option("--top-p", a->top_p, "Nucleus sampling mass");
                       sub.add_option("--top-k", a->top_k, "Keep the k most likely tokens (0 = off)");
                       sub.add_option("--seed", a->seed, "Sampling seed (reproducible)");
                       sub.add_option("--threads", a->threads, "Threads (default: all cores)");
                       sub.add_option("--device", a->device, "Engine device: cpu (default), cuda or cuda:i");
                       return [a] { return run_generate(*a); };
                     }}};

}  // namespace
}  // namespace banyan::cli
