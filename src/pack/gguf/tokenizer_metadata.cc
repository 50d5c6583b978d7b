#include "pack/gguf/tokenizer_metadata.h"

#include <fstream>

#include "core/error.h"
#include "pack/gguf/tokenizer_json.h"

namespace banyan::gguf {

std::vector<KeyValue> tokenizer_metadata(const std::filesystem::path& dir, const ModelSpec& spec) {
  const auto tok_path = dir / "tokenizer.json";
  const std::string label = tok_path.string();
  const auto tok = read_json(tok_path);
  const auto& model = tok.at("model");
  BANYAN_CHECK(model.value("type", "") == "BPE", "{}: only BPE tokenizers export to GGUF (model type {})", label,
               model.value("type", "?"));
  TokenTable table = read_token_table(tok, spec, label);
  const bool sentencepiece = model.value("byte_fallback", false);
  std::vector<KeyValue> kv = sentencepiece ? llama_vocab_metadata(tok, spec, table, label)
                                           : gpt2_vocab_metadata(tok, table, label);

  nlohmann::json cfg = nlohmann::json::object();
  if (std::filesystem::exists(dir / "tokenizer_config.json")) cfg = read_json(dir / "tokenizer_config.json");
  auto eos = special_id(cfg, "eos_token", table.ids);
  if (!eos && !spec.eos_token_ids.empty()) eos = int32_t(spec.eos_token_ids.front());
  auto bos = special_id(cfg, "bos_token", table.ids);
  if (!bos && spec.bos_token_id) bos = int32_t(*spec.bos_token_id);
  auto unk = special_id(cfg, "unk_token", table.ids);
  if (!unk && model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto it = table.ids.find(model["unk_token"].get<std::string>());
    if (it != table.ids.end()) unk = it->second;
  }
  const auto pad = special_id(cfg, "pad_token", table.ids);
  if (bos) kv.push_back({"tokenizer.ggml.bos_token_id", uint32_t(*bos)});
  if (eos) kv.push_back({"tokenizer.ggml.eos_token_id", uint32_t(*eos)});
  if (unk) kv.push_back({"tokenizer.ggml.unknown_token_id", uint32_t(*unk)});
  if (pad) kv.push_back({"tokenizer.ggml.padding_token_id", uint32_t(*pad)});
  const AddedSpecials added = added_specials(tok, cfg, bos, eos, table.ids);
  kv.push_back({"tokenizer.ggml.add_bos_token", added.bos});
  kv.push_back({"tokenizer.ggml.add_eos_token", added.eos});
  std::string tmpl;
  if (cfg.contains("chat_template") && cfg["chat_template"].is_string()) tmpl = cfg["chat_template"];
  else if (std::filesystem::exists(dir / "chat_template.jinja")) {
    std::ifstream in(dir / "chat_template.jinja");
    tmpl.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (!tmpl.empty()) kv.push_back({"tokenizer.chat_template", tmpl});
  return kv;
}

}  // namespace banyan::gguf
