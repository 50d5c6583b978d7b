// Hugging Face chat templates: load `chat_template` from tokenizer_config.json and render conversations exactly as
// transformers' apply_chat_template(..., tokenize=False) does.
//
// Special-token injection: render_segments() returns the prompt split into segments flagged `from_content` when
// their text came from message content (a message's "content" string, the "text" of its content parts, and its
// "reasoning_content"). The interpreter tags those input strings and carries the tags through concatenation,
// slicing, strip/split, macros and filters (see tagged_string.h), so the server can tokenize flagged segments with
// special-token matching off: a user typing "<|im_end|>" gets the plain-text tokens, never the control token.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace banyan::jinja {
class Template;
}

namespace banyan {

struct ChatSegment {
  std::string text;
  bool from_content = false;  // came from message content: tokenize without special-token matching
};

// The rendered prompt with the byte ranges [begin, end) that came from message content. Tokenizing `text` as one
// string while matching special tokens only outside these ranges reproduces transformers' ids exactly whenever the
// content holds no special-token text (tokenizing segments separately can change merges at segment boundaries).
struct RenderedChat {
  std::string text;
  std::vector<std::pair<size_t, size_t>> content_spans;  // sorted, disjoint
};

class ChatTemplate {
 public:
  // Reads DIR/tokenizer_config.json (or the given file). `chat_template` may be a string or a list of
  // {"name", "template"}; when the config has none, DIR/chat_template.jinja (and
  // DIR/additional_chat_templates/*.jinja) are used, as newer transformers save them.
  static ChatTemplate load(const std::filesystem::path& model_dir_or_config);
  static ChatTemplate from_config(const nlohmann::ordered_json& tokenizer_config);
  // One template with explicit special tokens (name -> text, e.g. {"eos_token", "<|im_end|>"}).
  ChatTemplate(const std::string& source, std::map<std::string, std::string> special_tokens);

  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // `messages`: list of {"role", "content", ...}; `tools`: list or null; `extra_kwargs`: object or null (e.g.
  // {"enable_thinking": false}). `template_name` picks a named template; empty means transformers' choice
  // ("tool_use" when tools are given and it exists, else "default"). Throws banyan::Error on failure;
  // raise_exception() in the template throws jinja::TemplateRaisedError carrying the template's message.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& tools = nullptr, const nlohmann::ordered_json& extra_kwargs = nullptr,
                     std::string_view template_name = {}) const;
  std::vector<ChatSegment> render_segments(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                           const nlohmann::ordered_json& tools = nullptr,
                                           const nlohmann::ordered_json& extra_kwargs = nullptr,
                                           std::string_view template_name = {}) const;

  RenderedChat render_with_spans(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& tools = nullptr,
                                 const nlohmann::ordered_json& extra_kwargs = nullptr,
                                 std::string_view template_name = {}) const;

  std::vector<std::string> template_names() const;
  const std::map<std::string, std::string>& special_tokens() const { return special_tokens_; }

 private:
  ChatTemplate() = default;
  const jinja::Template& pick(std::string_view name, bool has_tools) const;

  std::map<std::string, std::unique_ptr<jinja::Template>> templates_;  // by name; a lone template is "default"
  std::map<std::string, std::string> special_tokens_;
  std::vector<std::string> additional_special_tokens_;
};

}  // namespace banyan
