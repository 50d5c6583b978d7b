#include "format/tokenizer/post_processor.h"

namespace banyan::tok {
namespace {

class TemplateProcessor final : public PostProcessor {
 public:
  // `prefix` + sequence + `suffix`, flattened from the "single" template.
  TemplateProcessor(std::vector<TokenId> prefix, std::vector<TokenId> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<TokenId>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<TokenId> prefix_, suffix_;
};

class NoChange final : public PostProcessor {
 public:
  void process(std::vector<TokenId>&) const override {}
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<TokenId>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

TokenId token_pair_id(const json& j, const char* key, const std::string& where) {
  const json& v = require_field(j, key, where);
  if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer())
    fail("tokenizer.json: {}.{}: expected [token, id]", where, key);
  return v[1].get<TokenId>();
}

std::unique_ptr<PostProcessor> make_template(const json& j, const std::string& where) {
  const json& single = array_field(j, "single", where);
  const json& specials = require_field(j, "special_tokens", where);
  std::vector<TokenId> prefix, suffix;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const json& item = single[i];
    const std::string item_where = fmt::format("{}.single[{}]", where, i);
    if (item.contains("Sequence")) {
      if (seen_sequence) fail("tokenizer.json: {}: the single template names the sequence twice", item_where);
      seen_sequence = true;
      continue;
    }
    if (!item.contains("SpecialToken")) fail("tokenizer.json: {}: expected SpecialToken or Sequence", item_where);
    std::string name = string_field(item["SpecialToken"], "id", item_where + ".SpecialToken");
    auto it = specials.find(name);
    if (it == specials.end()) fail("tokenizer.json: {}: special token '{}' missing from special_tokens", item_where, name);
    const json& ids = array_field(*it, "ids", fmt::format("{}.special_tokens[{}]", where, name));
    for (const auto& id : ids) {
      if (!id.is_number_integer()) fail("tokenizer.json: {}.special_tokens[{}]: ids must be integers", where, name);
      (seen_sequence ? suffix : prefix).push_back(id.get<TokenId>());
    }
  }
  if (!seen_sequence) fail("tokenizer.json: {}: the single template has no $A sequence", where);
  return std::make_unique<TemplateProcessor>(std::move(prefix), std::move(suffix));
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "TemplateProcessing") return make_template(j, where);
  if (type == "ByteLevel") return std::make_unique<NoChange>();
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    // Both wrap a single sequence as cls ... sep.
    std::vector<TokenId> cls{token_pair_id(j, "cls", where)}, sep{token_pair_id(j, "sep", where)};
    return std::make_unique<TemplateProcessor>(std::move(cls), std::move(sep));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    const json& list = array_field(j, "processors", where);
    for (size_t i = 0; i < list.size(); ++i) {
      auto part = make_post_processor(list[i], fmt::format("{}.processors[{}]", where, i));
      if (part) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  fail("tokenizer.json: {}: unsupported post-processor type '{}'", where, type);
}

}  // namespace banyan::tok
