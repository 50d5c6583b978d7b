// `banyan chat-template --model DIR --messages FILE.json [--add-generation-prompt] [--kwargs JSON]`: prints the
// rendered prompt exactly (no trailing newline added).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "core/error.h"
#include "format/jinja/chat_template.h"

namespace banyan::cli {
namespace {

using ojson = nlohmann::ordered_json;

ojson parse_json(const std::string& text, const std::string& what) {
  try {
    return ojson::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", what, e.what());
  }
}

struct Options {
  std::string model;
  std::string messages;
  bool add_generation_prompt = false;
  std::string kwargs;
  std::string template_name;
};

RegisterCommand reg{{"chat-template", "Render a conversation with the model's chat template", [](CLI::App& sub) {
                       auto opt = std::make_shared<Options>();
                       sub.add_option("--model", opt->model, "Model directory (holds tokenizer_config.json)")
                           ->required();
                       sub.add_option("--messages", opt->messages,
                                      "JSON file: a list of messages, or {\"messages\": [...], \"tools\": [...]}")
                           ->required();
                       sub.add_flag("--add-generation-prompt", opt->add_generation_prompt,
                                    "End with the assistant turn's opening");
                       sub.add_option("--kwargs", opt->kwargs, "JSON object of extra template variables");
                       sub.add_option("--template-name", opt->template_name, "Pick a named chat template");
                       return [opt] {
                         const ChatTemplate tpl = ChatTemplate::load(opt->model);
                         std::ifstream in(opt->messages, std::ios::binary);
                         if (!in) fail("cannot open {}", opt->messages);
                         std::ostringstream ss;
                         ss << in.rdbuf();
                         const ojson doc = parse_json(ss.str(), opt->messages);
                         ojson messages = doc, tools = nullptr;
                         if (doc.is_object()) {
                           if (!doc.contains("messages")) fail("{}: object without \"messages\"", opt->messages);
                           messages = doc["messages"];
                           if (doc.contains("tools")) tools = doc["tools"];
                         }
                         const ojson kwargs = opt->kwargs.empty() ? ojson(nullptr) : parse_json(opt->kwargs, "--kwargs");
                         const std::string out =
                             tpl.render(messages, opt->add_generation_prompt, tools, kwargs, opt->template_name);
                         std::fwrite(out.data(), 1, out.size(), stdout);
                         return 0;
                       };
                     }}};

}  // namespace
}  // namespace banyan::cli
