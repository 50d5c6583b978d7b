// `banyan chat DIR [--max-tokens N] [--temperature T] [--seed S] [--system TEXT]`: an interactive REPL with the
// model's chat template, streaming tokens. Each turn re-renders the whole conversation, keeps the longest prefix
// the KV cache already holds (trim_sequence) and prefills only the rest, so templates that rewrite earlier turns
// stay exact while the usual case costs only the new message.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "core/error.h"
#include "format/jinja/chat_template.h"
#include "format/tokenizer/tokenizer.h"
#include "runtime/generate.h"

namespace banyan::cli {
namespace {

struct ChatArgs {
  std::string model, system;
  int max_tokens = 512;
  float temperature = 0.7f;
  float top_p = 0.95f;
  std::optional<uint64_t> seed;
  int threads = 0;
};

std::vector<int32_t> render_ids(const ChatTemplate& tmpl, const Tokenizer& tok, const nlohmann::ordered_json& msgs) {
  // Whole prompt tokenized at once (as transformers does); special-token text inside message content stays text.
  const RenderedChat r = tmpl.render_with_spans(msgs, true);
  return tok.encode_spans(r.text, r.content_spans, /*add_special_tokens=*/false);
}

int run_chat(const ChatArgs& a) {
  EngineOptions eo;
  eo.threads = a.threads;
  auto engine = Engine::load(a.model, eo);
  const Tokenizer tok = Tokenizer::load(a.model);
  const ChatTemplate tmpl = ChatTemplate::load(a.model);
  GenerateOptions go;
  go.max_tokens = a.max_tokens;
  go.eos_ids = engine->spec().eos_token_ids;
  go.sampling.temperature = a.temperature;
  go.sampling.top_p = a.top_p;
  go.sampling.seed = a.seed;
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  const SeqId seq = engine->create_sequence();
  std::vector<int32_t> cached;  // tokens the sequence holds
  std::fprintf(stderr, "banyan chat: %s (Ctrl-D to quit)\n", a.model.c_str());
  for (std::string line;;) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const auto ids = render_ids(tmpl, tok, messages);
    size_t keep = 0;
    while (keep < cached.size() && keep < ids.size() && cached[keep] == ids[keep]) ++keep;
    if (keep == ids.size()) --keep;  // at least one new token must be fed to get logits
    engine->trim_sequence(seq, int64_t(keep));
    cached.resize(keep);
    const std::vector<int32_t> fresh(ids.begin() + long(keep), ids.end());
    StreamingDecoder dec(tok, true);
    std::string reply;
    auto r = generate(*engine, seq, cached, fresh, go, [&](int32_t id) {
      const std::string piece = dec.push(id);
      reply += piece;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    reply += dec.finish();
    std::printf("\n");
    cached.insert(cached.end(), fresh.begin(), fresh.end());
    cached.insert(cached.end(), r.tokens.begin(), r.tokens.end());
    if (r.stopped_by_eos) cached.push_back(-1);  // the EOS id is in the cache; never matches a re-render's token
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

RegisterCommand reg{{"chat", "Interactive chat with a model (chat template, streaming)", [](CLI::App& sub) {
                       auto a = std::make_shared<ChatArgs>();
                       sub.add_option("model", a->model, "Model directory (HF checkpoint or bundle)")->required();
                       sub.add_option("--system", a->system, "System message");
                       sub.add_option("--max-tokens", a->max_tokens, "Tokens per reply at most");
                       sub.add_option("--temperature", a->temperature, "0 = greedy");
                       sub.add_option("--top-p", a->top_p, "Nucleus sampling mass");
                       sub.add_option("--seed", a->seed, "Sampling seed (reproducible)");
                       sub.add_option("--threads", a->threads, "Threads (default: all cores)");
                       return [a] { return run_chat(*a); };
                     }}};

}  // namespace
}  // namespace banyan::cli
