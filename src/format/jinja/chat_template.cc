#include "format/jinja/chat_template.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "format/jinja/json_value.h"
#include "format/jinja/template.h"

namespace banyan {

namespace {

using ojson = nlohmann::ordered_json;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<jinja::Template> compile(const std::string& source, const std::string& name) {
  try {
    return std::make_unique<jinja::Template>(source);
  } catch (const Error& e) {
    fail("chat template '{}': {}", name, e.what());
  }
}

// A special token in tokenizer_config.json is a string or an AddedToken dict {"content": ...}.
std::optional<std::string> token_text(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

// Message values with their content strings tagged as content (see chat_template.h).
jinja::Value message_value(const ojson& message) {
  jinja::Value v = jinja::value_from_json(message);
  if (!v.is_dict()) return v;
  jinja::DictData& d = v.dict_data();
  auto tag = [](const jinja::Value& s) { return jinja::Value::string(s.str(), true); };
  for (const char* key : {"content", "reasoning_content"}) {
    jinja::Value* field = d.find(jinja::Value::string(key));
    if (!field) continue;
    if (field->is_string()) {
      *field = tag(*field);
    } else if (field->is_list()) {
      for (jinja::Value& part : field->list_data().items) {
        if (!part.is_dict()) continue;
        if (jinja::Value* text = part.dict_data().find(jinja::Value::string("text")); text && text->is_string()) {
          *text = tag(*text);
        }
      }
    }
  }
  return v;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, std::map<std::string, std::string> special_tokens)
    : special_tokens_(std::move(special_tokens)) {
  templates_["default"] = compile(source, "default");
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

ChatTemplate ChatTemplate::from_config(const ojson& config) {
  if (!config.is_object()) fail("tokenizer config is not a JSON object");
  ChatTemplate ct;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    if (!config.contains(key)) continue;
    if (auto text = token_text(config[key])) ct.special_tokens_[key] = *text;
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    for (const auto& t : config["additional_special_tokens"]) {
      if (auto text = token_text(t)) ct.additional_special_tokens_.push_back(*text);
    }
  }
  if (!config.contains("chat_template") || config["chat_template"].is_null()) return ct;
  const ojson& tpl = config["chat_template"];
  if (tpl.is_string()) {
    ct.templates_["default"] = compile(tpl.get<std::string>(), "default");
  } else if (tpl.is_array()) {
    for (const auto& entry : tpl) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
          !entry["template"].is_string()) {
        fail("chat_template list entries must be {{\"name\": str, \"template\": str}}");
      }
      const std::string name = entry["name"].get<std::string>();
      ct.templates_[name] = compile(entry["template"].get<std::string>(), name);
    }
  } else {
    fail("chat_template must be a string or a list of named templates");
  }
  return ct;
}

ChatTemplate ChatTemplate::load(const std::filesystem::path& path) {
  const bool is_dir = std::filesystem::is_directory(path);
  const std::filesystem::path config_path = is_dir ? path / "tokenizer_config.json" : path;
  const std::filesystem::path dir = is_dir ? path : path.parent_path();
  ojson config = ojson::object();
  if (std::filesystem::exists(config_path)) {
    try {
      config = ojson::parse(read_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: invalid JSON: {}", config_path.string(), e.what());
    }
  } else if (!is_dir) {
    fail("{} does not exist", config_path.string());
  }
  ChatTemplate ct;
  try {
    ct = from_config(config);
  } catch (const Error& e) {
    fail("{}: {}", config_path.string(), e.what());
  }
  if (ct.templates_.empty()) {
    if (std::filesystem::exists(dir / "chat_template.jinja")) {
      ct.templates_["default"] = compile(read_file(dir / "chat_template.jinja"), "default");
    }
    const std::filesystem::path extra = dir / "additional_chat_templates";
    if (std::filesystem::is_directory(extra)) {
      for (const auto& entry : std::filesystem::directory_iterator(extra)) {
        if (entry.path().extension() == ".jinja") {
          ct.templates_[entry.path().stem().string()] = compile(read_file(entry.path()), entry.path().stem().string());
        }
      }
    }
  }
  if (ct.templates_.empty()) fail("{} has no chat_template (and {} has no chat_template.jinja)", config_path.string(),
                                  dir.string());
  return ct;
}

std::vector<std::string> ChatTemplate::template_names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : templates_) names.push_back(name);
  return names;
}

const jinja::Template& ChatTemplate::pick(std::string_view name, bool has_tools) const {
  if (!name.empty()) {
    auto it = templates_.find(std::string(name));
    if (it == templates_.end()) fail("no chat template named '{}'", name);
    return *it->second;
  }
  if (has_tools) {
    if (auto it = templates_.find("tool_use"); it != templates_.end()) return *it->second;
  }
  if (auto it = templates_.find("default"); it != templates_.end()) return *it->second;
  if (templates_.empty()) fail("no chat template loaded");
  fail("this model has several chat templates and none is named 'default'; pick one by name");
}

RenderedChat ChatTemplate::render_with_spans(const ojson& messages, bool add_generation_prompt,
                                                       const ojson& tools, const ojson& extra_kwargs,
                                                       std::string_view template_name) const {
  if (!messages.is_array()) fail("chat messages must be a JSON list");
  if (!tools.is_null() && !tools.is_array()) fail("chat tools must be a JSON list or null");
  if (!extra_kwargs.is_null() && !extra_kwargs.is_object()) fail("chat template kwargs must be a JSON object");
  const jinja::Template& tpl = pick(template_name, !tools.is_null());

  // What transformers passes: messages, tools, documents, add_generation_prompt, the special tokens, then kwargs.
  jinja::Variables vars;
  std::vector<jinja::Value> message_values;
  for (const auto& m : messages) message_values.push_back(message_value(m));
  vars["messages"] = jinja::Value::list(std::move(message_values));
  vars["tools"] = tools.is_null() ? jinja::Value::none() : jinja::value_from_json(tools);
  vars["documents"] = jinja::Value::none();
  vars["add_generation_prompt"] = jinja::Value::boolean(add_generation_prompt);
  for (const auto& [key, text] : special_tokens_) vars[key] = jinja::Value::string(text);
  if (!additional_special_tokens_.empty()) {
    std::vector<jinja::Value> extra;
    for (const std::string& t : additional_special_tokens_) extra.push_back(jinja::Value::string(t));
    vars["additional_special_tokens"] = jinja::Value::list(std::move(extra));
  }
  if (!extra_kwargs.is_null()) {
    for (const auto& [key, v] : extra_kwargs.items()) vars[key] = jinja::value_from_json(v);
  }

  const jinja::TaggedString rendered = tpl.render_tagged(vars);
  RenderedChat out;
  out.text = rendered.text();
  for (const jinja::ByteSpan& span : rendered.content_spans()) out.content_spans.emplace_back(span.begin, span.end);
  return out;
}

std::vector<ChatSegment> ChatTemplate::render_segments(const ojson& messages, bool add_generation_prompt,
                                                       const ojson& tools, const ojson& extra_kwargs,
                                                       std::string_view template_name) const {
  const RenderedChat rendered = render_with_spans(messages, add_generation_prompt, tools, extra_kwargs, template_name);
  std::vector<ChatSegment> segments;
  const std::string& text = rendered.text;
  size_t pos = 0;
  for (const auto& [begin, end] : rendered.content_spans) {
    if (begin > pos) segments.push_back({text.substr(pos, begin - pos), false});
    segments.push_back({text.substr(begin, end - begin), true});
    pos = end;
  }
  if (pos < text.size()) segments.push_back({text.substr(pos), false});
  return segments;
}

std::string ChatTemplate::render(const ojson& messages, bool add_generation_prompt, const ojson& tools,
                                 const ojson& extra_kwargs, std::string_view template_name) const {
  return render_with_spans(messages, add_generation_prompt, tools, extra_kwargs, template_name).text;
}

}  // namespace banyan
