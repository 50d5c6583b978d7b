// Parity with transformers: every case of tools/fixtures/chat_cases.json rendered by banyan must equal the golden
// that transformers' apply_chat_template(tokenize=False) produced (tests/fixtures/chat/golden.jsonl, written by
// tools/fixtures/make_fixtures.py on the GPU machine).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "format/jinja/chat_template.h"
#include "format/jinja/interpreter.h"
#include "test_paths.h"

namespace banyan {
namespace {

using ojson = nlohmann::ordered_json;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::filesystem::path golden_path() {
  // BANYAN_CHAT_GOLDEN lets a developer compare against another golden file (e.g. a local jinja2 render).
  if (const char* env = std::getenv("BANYAN_CHAT_GOLDEN"); env && *env) return env;
  return test::fixtures_dir() / "chat" / "golden.jsonl";
}

// The template as transformers saw it: tests/fixtures/chat/<name>/tokenizer_config.json when the fixture script
// wrote it, else the template file and special-token table it was made from.
std::optional<ChatTemplate> load_template(const std::string& name) {
  const auto fixture = test::fixtures_dir() / "chat" / name / "tokenizer_config.json";
  if (std::filesystem::exists(fixture)) return ChatTemplate::load(fixture);
  if (name == "tiny-qwen3moe") {
    auto shared = test::shared_dir();
    if (!shared) return std::nullopt;
    return ChatTemplate::load(*shared / "models" / "tiny-qwen3moe");
  }
  const auto templates = test::source_dir() / "tools" / "fixtures" / "templates";
  const ojson table = ojson::parse(slurp(templates / "special_tokens.json"));
  std::map<std::string, std::string> tokens;
  if (table.contains(name)) {
    for (const auto& [k, v] : table[name].items()) tokens[k] = v.get<std::string>();
  }
  return ChatTemplate(slurp(templates / (name + ".jinja")), tokens);
}

TEST(ChatParity, MatchesTransformersGoldens) {
  const auto golden = golden_path();
  if (!std::filesystem::exists(golden)) {
    GTEST_SKIP() << golden << " not found: run tools/fixtures/make_fixtures.py --only chat on the GPU machine";
  }
  const ojson cases = ojson::parse(slurp(test::source_dir() / "tools" / "fixtures" / "chat_cases.json"));
  std::map<std::string, std::optional<ChatTemplate>> templates;
  std::ifstream in(golden);
  std::string line;
  int checked = 0, skipped = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const ojson g = ojson::parse(line);
    const std::string name = g["template"].get<std::string>();
    const size_t index = g["case"].get<size_t>();
    ASSERT_LT(index, cases.size()) << line;
    const ojson& c = cases[index];
    ASSERT_EQ(c["template"].get<std::string>(), name) << "case " << index;
    if (!templates.count(name)) templates.emplace(name, load_template(name));
    if (!templates[name]) {
      ++skipped;
      continue;
    }
    const ChatTemplate& tpl = *templates[name];
    const ojson kwargs = c.contains("kwargs") ? c["kwargs"] : ojson(nullptr);
    const std::string label = name + " case " + std::to_string(index) + " (" + c.value("note", "") + ")";
    if (g.contains("render")) {
      try {
        EXPECT_EQ(tpl.render(c["messages"], c["add_generation_prompt"].get<bool>(), c["tools"], kwargs),
                  g["render"].get<std::string>())
            << label;
      } catch (const std::exception& e) {
        ADD_FAILURE() << label << ": banyan failed where transformers rendered: " << e.what();
      }
    } else {
      // transformers raised: banyan must raise too; raise_exception() messages must match exactly.
      try {
        const std::string out = tpl.render(c["messages"], c["add_generation_prompt"].get<bool>(), c["tools"], kwargs);
        ADD_FAILURE() << label << ": transformers raised '" << g["error"].get<std::string>()
                      << "' but banyan rendered:\n" << out;
      } catch (const jinja::TemplateRaisedError& e) {
        EXPECT_EQ(std::string(e.what()), g["error"].get<std::string>()) << label;
      } catch (const Error&) {
        // any other template failure: the wording is Python's, not ours
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
  std::cout << "chat parity: " << checked << " cases checked, " << skipped << " skipped (no ../shared)\n";
}

}  // namespace
}  // namespace banyan
