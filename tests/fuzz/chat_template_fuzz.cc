// libFuzzer target for the chat-template interpreter: any input is a template source that must either fail to
// parse with banyan::Error or render a fixed conversation, succeeding or failing with banyan::Error — never
// crashing, hanging past the render limits, or throwing anything else. Rendering twice must give the same text,
// and the content segments must tile the rendered text.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "format/jinja/json_value.h"
#include "format/jinja/template.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const banyan::jinja::Variables& variables() {
  static const banyan::jinja::Variables vars = [] {
    const auto messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi <|im_end|> there"},
      {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"x": 1.5, "y": [true, null]}}}]},
      {"role": "tool", "content": "{\"ok\": 1}"},
      {"role": "user", "content": [{"type": "text", "text": "part"}]}])");
    banyan::jinja::Variables v;
    std::vector<banyan::jinja::Value> list;
    for (const auto& m : messages) list.push_back(banyan::jinja::value_from_json(m));
    v["messages"] = banyan::jinja::Value::list(std::move(list));
    v["tools"] = banyan::jinja::value_from_json(nlohmann::ordered_json::parse(R"([{"type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}}}])"));
    v["add_generation_prompt"] = banyan::jinja::Value::boolean(true);
    v["bos_token"] = banyan::jinja::Value::string("<s>");
    v["eos_token"] = banyan::jinja::Value::string("</s>", true);
    return v;
  }();
  return vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  banyan::jinja::TemplateOptions options;
  options.max_steps = 200'000;
  options.max_output_bytes = 1 << 20;
  std::optional<banyan::jinja::Template> tpl;
  try {
    tpl.emplace(source, options);
  } catch (const banyan::Error&) {
    return 0;
  }
  std::string first;
  try {
    const banyan::jinja::TaggedString out = tpl->render_tagged(variables());
    size_t last_end = 0;
    for (const auto& span : out.content_spans()) {
      check(span.begin >= last_end && span.begin < span.end && span.end <= out.text().size());
      last_end = span.end;
    }
    first = out.text();
  } catch (const banyan::Error&) {
    return 0;
  }
  try {
    check(tpl->render(variables()) == first);  // strftime_now could differ across a second boundary; rare enough
  } catch (const banyan::Error&) {
    check(false);
  }
  return 0;
}
