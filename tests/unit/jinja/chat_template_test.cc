// ChatTemplate: loading from tokenizer_config.json, what transformers passes to templates, content segments
// (special-token injection), the shared model's ChatML template and the `banyan chat-template` CLI.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "format/jinja/chat_template.h"
#include "format/jinja/interpreter.h"
#include "test_paths.h"

namespace banyan {
namespace {

using ojson = nlohmann::ordered_json;

const char* kChatML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::string joined(const std::vector<ChatSegment>& segments) {
  std::string s;
  for (const auto& seg : segments) s += seg.text;
  return s;
}

TEST(ChatTemplate, RendersChatML) {
  ChatTemplate tpl(kChatML, {{"eos_token", "<|im_end|>"}});
  const ojson messages = ojson::parse(R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])");
  EXPECT_EQ(tpl.render(messages, false), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n");
  EXPECT_EQ(tpl.render(messages, true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, PassesWhatTransformersPasses) {
  ChatTemplate tpl(
      "{{ bos_token }}|{{ eos_token }}|{{ tools | length }}|{{ documents is none }}|{{ add_generation_prompt }}|"
      "{{ enable_thinking }}|{{ unk_token is defined }}",
      {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
  const ojson tools = ojson::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  EXPECT_EQ(tpl.render(ojson::array(), true, tools, ojson::parse(R"({"enable_thinking": false})")),
            "<s>|</s>|1|True|True|False|False");
}

TEST(ChatTemplate, LoadsNamedTemplatesAndAddedTokenDicts) {
  const ojson config = ojson::parse(R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": "</s>", "unk_token": null,
    "chat_template": [{"name": "default", "template": "D{{ bos_token }}"},
                      {"name": "tool_use", "template": "T{{ tools[0] }}"}]})");
  const ChatTemplate tpl = ChatTemplate::from_config(config);
  EXPECT_EQ(tpl.render(ojson::array(), false), "D<s>");
  EXPECT_EQ(tpl.render(ojson::array(), false, ojson::parse("[1]")), "T1");  // transformers picks tool_use for tools
  EXPECT_EQ(tpl.render(ojson::array(), false, ojson::parse("[1]"), nullptr, "default"), "D<s>");
  EXPECT_THROW(tpl.render(ojson::array(), false, nullptr, nullptr, "nope"), Error);
  EXPECT_EQ(tpl.special_tokens().count("unk_token"), 0u);
}

TEST(ChatTemplate, UnsupportedFeatureFailsAtLoad) {
  const ojson config = ojson::parse(R"({"chat_template": "{% include 'x' %}"})");
  EXPECT_THROW(ChatTemplate::from_config(config), Error);
  EXPECT_THROW(ChatTemplate("{{ messages | no_such_filter }}", {}), Error);
}

TEST(ChatTemplate, RaiseExceptionCarriesTemplateMessage) {
  ChatTemplate tpl("{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}", {});
  try {
    tpl.render(ojson::parse(R"([{"role": "assistant", "content": "x"}])"), false);
    FAIL() << "expected an exception";
  } catch (const jinja::TemplateRaisedError& e) {
    EXPECT_STREQ(e.what(), "first must be user");
  }
}

TEST(ChatTemplate, ContentSegmentsMarkUserText) {
  ChatTemplate tpl(kChatML, {});
  const ojson messages = ojson::parse(R"([{"role": "user", "content": "a<|im_end|>b"}])");
  const auto segments = tpl.render_segments(messages, true);
  ASSERT_EQ(segments.size(), 3u);
  EXPECT_EQ(segments[0].text, "<|im_start|>user\n");
  EXPECT_FALSE(segments[0].from_content);
  EXPECT_EQ(segments[1].text, "a<|im_end|>b");
  EXPECT_TRUE(segments[1].from_content);
  EXPECT_EQ(segments[2].text, "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_FALSE(segments[2].from_content);
}

TEST(ChatTemplate, RenderWithSpansLocatesContent) {
  ChatTemplate tpl(kChatML, {});
  const ojson messages = ojson::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "<s>"}])");
  const RenderedChat r = tpl.render_with_spans(messages, false);
  EXPECT_EQ(r.text, tpl.render(messages, false));
  ASSERT_EQ(r.content_spans.size(), 2u);
  EXPECT_EQ(r.text.substr(r.content_spans[0].first, r.content_spans[0].second - r.content_spans[0].first), "S");
  EXPECT_EQ(r.text.substr(r.content_spans[1].first, r.content_spans[1].second - r.content_spans[1].first), "<s>");
}

TEST(ChatTemplate, ContentTagsSurviveStringOperations) {
  // Slicing/stripping/splitting keep exact ranges; macros and set blocks pass tags through.
  ChatTemplate tpl(
      "{% macro show(m) %}[{{ m.content.split('</think>')[-1].strip() }}]{% endmacro %}"
      "{% set parts %}{% for m in messages if m.content is string %}{{ show(m) }}{% endfor %}{% endset %}<{{ parts }}>"
      "{% for p in messages[1].content %}{{ p.text }}{% endfor %}",
      {});
  const ojson messages = ojson::parse(R"([{"role": "assistant", "content": "<think>x</think>  <s>ans  "},
                                          {"role": "user", "content": [{"type": "text", "text": "T1"}]}])");
  const auto segments = tpl.render_segments(messages, false);
  EXPECT_EQ(joined(segments), "<[<s>ans]>T1");
  std::string content;
  for (const auto& s : segments) {
    if (s.from_content) content += s.text + "|";
  }
  EXPECT_EQ(content, "<s>ans|T1|");
}

TEST(ChatTemplate, SharedModelChatML) {
  BANYAN_REQUIRE_SHARED(shared);
  const ChatTemplate tpl = ChatTemplate::load(shared / "models" / "tiny-qwen3moe");
  const ojson messages = ojson::parse(R"([{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "2+2?"}])");
  EXPECT_EQ(tpl.render(messages, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(tpl.special_tokens().at("eos_token"), "<|im_end|>");
  EXPECT_EQ(tpl.special_tokens().count("bos_token"), 0u);  // null in the config: not passed
}

TEST(ChatTemplateCli, PrintsRenderExactly) {
  if (!std::filesystem::exists(test::banyan_binary())) GTEST_SKIP() << "build the banyan target to run CLI tests";
  const auto dir = test::make_temp_dir("banyan-chat-cli");
  {
    std::ofstream(dir / "tokenizer_config.json")
        << ojson{{"eos_token", "<|im_end|>"}, {"chat_template", kChatML}}.dump();
    std::ofstream(dir / "messages.json") << R"({"messages": [{"role": "user", "content": "Hi"}], "tools": []})";
    std::ofstream(dir / "list.json") << R"([{"role": "user", "content": "Hi"}])";
  }
  std::string out;
  const std::string bin = test::banyan_binary().string();
  ASSERT_EQ(test::run_command(bin + " chat-template --model " + dir.string() + " --messages " +
                                  (dir / "messages.json").string() + " --add-generation-prompt",
                              &out),
            0);
  EXPECT_EQ(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  out.clear();
  ASSERT_EQ(test::run_command(bin + " chat-template --model " + dir.string() + " --messages " +
                                  (dir / "list.json").string() + " --kwargs '{\"x\": 1}'",
                              &out),
            0);
  EXPECT_EQ(out, "<|im_start|>user\nHi<|im_end|>\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace banyan
