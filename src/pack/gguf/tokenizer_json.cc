#include "pack/gguf/tokenizer_json.h"

#include <fstream>

#include "core/error.h"
#include "pack/gguf/tokenizer_metadata.h"

namespace banyan::gguf {

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  BANYAN_CHECK(in.good(), "cannot open {}", p.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", p.string(), e.what());
  }
}

TokenTable read_token_table(const nlohmann::json& tok, const ModelSpec& spec, const std::string& label) {
  const auto& model = tok.at("model");
  TokenTable t;
  int64_t n = spec.vocab_size;
  for (const auto& [text, id] : model.at("vocab").items()) {
    BANYAN_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0, "{}: vocab entry '{}' has id {}", label, text,
                 id.dump());
    t.ids[text] = id.get<int32_t>();
    n = std::max<int64_t>(n, id.get<int64_t>() + 1);
  }
  t.tokens.resize(size_t(n));
  t.types.assign(size_t(n), kUnused);
  std::vector<bool> set(size_t(n), false);
  for (const auto& [text, id] : t.ids) {
    t.tokens[size_t(id)] = text;
    t.types[size_t(id)] = kNormal;
    set[size_t(id)] = true;
  }
  for (const auto& a : tok.value("added_tokens", nlohmann::json::array())) {
    const auto id = a.at("id").get<int64_t>();
    BANYAN_CHECK(id >= 0 && id < n, "{}: added token id {} outside the vocabulary of {}", label, id, n);
    const std::string text = a.at("content");
    t.tokens[size_t(id)] = text;
    t.types[size_t(id)] = a.value("special", false) ? kControl : kUserDefined;
    set[size_t(id)] = true;
    t.ids[text] = int32_t(id);
  }
  for (int64_t i = 0; i < n; ++i)
    if (!set[size_t(i)]) t.tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";  // rows the model has, no token
  return t;
}

std::vector<std::pair<std::string, std::string>> read_merges(const nlohmann::json& model, const std::string& label) {
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& m : model.value("merges", nlohmann::json::array())) {
    if (m.is_string()) {
      const std::string s = m;
      const auto sp = s.find(' ');
      BANYAN_CHECK(sp != std::string::npos, "{}: merge \"{}\" is not \"a b\"", label, s);
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      BANYAN_CHECK(m.is_array() && m.size() == 2, "{}: merge {} is not a pair", label, m.dump());
      merges.emplace_back(m.at(0).get<std::string>(), m.at(1).get<std::string>());
    }
  }
  return merges;
}

std::optional<int32_t> special_id(const nlohmann::json& cfg, const char* key,
                                  const std::map<std::string, int32_t>& ids) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const auto& v = cfg[key];
  const std::string text = v.is_string() ? v.get<std::string>() : v.value("content", "");
  auto it = ids.find(text);
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

AddedSpecials added_specials(const nlohmann::json& tok, const nlohmann::json& cfg, std::optional<int32_t> bos,
                             std::optional<int32_t> eos, const std::map<std::string, int32_t>& ids) {
  AddedSpecials a{cfg.value("add_bos_token", false), cfg.value("add_eos_token", false)};
  // The TemplateProcessing post-processor, alone or inside a Sequence.
  const nlohmann::json* tp = nullptr;
  static const nlohmann::json kNone;
  const nlohmann::json& post = tok.contains("post_processor") ? tok["post_processor"] : kNone;
  if (post.is_object() && post.value("type", "") == "TemplateProcessing") tp = &post;
  if (post.is_object() && post.value("type", "") == "Sequence")
    for (const auto& p : post.at("processors"))
      if (p.value("type", "") == "TemplateProcessing") tp = &p;
  if (!tp) return a;
  const auto& single = tp->at("single");
  // The template's special pieces name tokens; their ids come from the template's special_tokens table or the vocab.
  auto piece_id = [&](const nlohmann::json& piece) -> std::optional<int32_t> {
    if (!piece.contains("SpecialToken")) return std::nullopt;
    const std::string name = piece["SpecialToken"].at("id");
    const auto table = tp->value("special_tokens", nlohmann::json::object());
    if (table.contains(name) && !table[name].value("ids", nlohmann::json::array()).empty())
      return table[name]["ids"][0].get<int32_t>();
    auto it = ids.find(name);
    return it == ids.end() ? std::nullopt : std::optional<int32_t>(it->second);
  };
  a.bos = !single.empty() && bos && piece_id(single.front()) == bos;
  a.eos = !single.empty() && eos && piece_id(single.back()) == eos;
  return a;
}

}  // namespace banyan::gguf
