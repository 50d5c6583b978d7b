#include "pack/gguf/tokenizer_metadata.h"

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace banyan::gguf {
namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  BANYAN_CHECK(in.good(), "cannot open {}", p.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", p.string(), e.what());
  }
}

// The Split regex of a Sequence/Split pre-tokenizer, or "" for plain ByteLevel (GPT-2's built-in regex).
std::string split_regex(const nlohmann::json& pre, const std::string& label) {
  BANYAN_CHECK(pre.is_object(), "{}: tokenizer without a pre_tokenizer is not byte-level BPE", label);
  const std::string type = pre.value("type", "");
  if (type == "Split") return pre.at("pattern").value("Regex", pre.at("pattern").value("String", ""));
  // ByteLevel splits with GPT-2's regex only when use_regex is on; without it there is no llama.cpp equivalent.
  if (type == "ByteLevel") return pre.value("use_regex", true) ? "" : "(ByteLevel without a regex)";
  if (type == "Sequence") {
    std::string found;
    for (const auto& p : pre.at("pretokenizers"))
      if (p.value("type", "") == "Split") found = split_regex(p, label);
    return found;
  }
  fail("{}: pre_tokenizer type {} is not supported for GGUF export", label, type);
}

// An id named by tokenizer_config.json's `key` (a string or {"content": ...}), looked up in `ids`.
std::optional<int32_t> special_id(const nlohmann::json& cfg, const char* key,
                                  const std::map<std::string, int32_t>& ids) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const auto& v = cfg[key];
  const std::string text = v.is_string() ? v.get<std::string>() : v.value("content", "");
  auto it = ids.find(text);
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

}  // namespace

std::string pretokenizer_name(const std::string& regex) {
  // Qwen2's split regex (single digits, case-insensitive contractions).
  static const std::string kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (regex == kQwen2) return "qwen2";
  if (regex.empty()) return "gpt2";
  return "";
}

std::vector<KeyValue> tokenizer_metadata(const std::filesystem::path& dir, const ModelSpec& spec) {
  const auto tok_path = dir / "tokenizer.json";
  const auto tok = read_json(tok_path);
  const auto& model = tok.at("model");
  BANYAN_CHECK(model.value("type", "") == "BPE" && !model.value("byte_fallback", false),
               "{}: only byte-level BPE tokenizers export to GGUF (model type {}, byte_fallback {})",
               tok_path.string(), model.value("type", "?"), model.value("byte_fallback", false));
  const std::string regex = split_regex(tok.at("pre_tokenizer"), tok_path.string());
  const std::string pre = pretokenizer_name(regex);
  BANYAN_CHECK(!pre.empty(), "{}: pre-tokenizer regex not known to llama.cpp: {}", tok_path.string(), regex);

  std::map<std::string, int32_t> ids;
  int64_t n = spec.vocab_size;
  for (const auto& [text, id] : model.at("vocab").items()) {
    ids[text] = id.get<int32_t>();
    n = std::max<int64_t>(n, id.get<int64_t>() + 1);
  }
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<int32_t> types(size_t(n), kUnused);
  std::vector<bool> set(size_t(n), false);
  for (const auto& [text, id] : ids) {
    tokens[size_t(id)] = text;
    types[size_t(id)] = kNormal;
    set[size_t(id)] = true;
  }
  for (const auto& a : tok.value("added_tokens", nlohmann::json::array())) {
    const auto id = a.at("id").get<int64_t>();
    BANYAN_CHECK(id >= 0 && id < n, "{}: added token id {} outside the vocabulary of {}", tok_path.string(), id, n);
    const std::string text = a.at("content");
    tokens[size_t(id)] = text;
    types[size_t(id)] = a.value("special", false) ? kControl : kUserDefined;
    set[size_t(id)] = true;
    ids[text] = int32_t(id);
  }
  for (int64_t i = 0; i < n; ++i)
    if (!set[size_t(i)]) tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";  // rows the model has, no token

  std::vector<std::string> merges;
  for (const auto& m : model.at("merges")) {
    if (m.is_string()) merges.push_back(m.get<std::string>());
    else merges.push_back(m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
  }

  std::vector<KeyValue> kv{
      {"tokenizer.ggml.model", std::string("gpt2")},
      {"tokenizer.ggml.pre", pre},
      {"tokenizer.ggml.tokens", std::move(tokens)},
      {"tokenizer.ggml.token_type", std::move(types)},
      {"tokenizer.ggml.merges", std::move(merges)},
  };
  nlohmann::json cfg = nlohmann::json::object();
  if (std::filesystem::exists(dir / "tokenizer_config.json")) cfg = read_json(dir / "tokenizer_config.json");
  auto eos = special_id(cfg, "eos_token", ids);
  if (!eos && !spec.eos_token_ids.empty()) eos = int32_t(spec.eos_token_ids.front());
  auto bos = special_id(cfg, "bos_token", ids);
  if (!bos && spec.bos_token_id) bos = int32_t(*spec.bos_token_id);
  const auto pad = special_id(cfg, "pad_token", ids);
  if (bos) kv.push_back({"tokenizer.ggml.bos_token_id", uint32_t(*bos)});
  if (eos) kv.push_back({"tokenizer.ggml.eos_token_id", uint32_t(*eos)});
  if (pad) kv.push_back({"tokenizer.ggml.padding_token_id", uint32_t(*pad)});
  kv.push_back({"tokenizer.ggml.add_bos_token", cfg.value("add_bos_token", false)});
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
