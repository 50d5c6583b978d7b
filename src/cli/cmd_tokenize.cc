// `banyan tokenize --model DIR --jsonl IN [--decode]`: {"text": ...} lines -> {"ids": [...]} lines (no special
// tokens added), or with --decode {"ids": [...]} -> {"text": ...}. IN may be "-" for stdin.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "format/jsonl_reader.h"
#include "format/tokenizer/tokenizer.h"

namespace banyan::cli {
namespace {

struct TokenizeOptions {
  std::string model, input;
  bool decode = false, skip_special = false, add_special = false;
};

int run_tokenize(const TokenizeOptions& o) {
  Tokenizer tokenizer = Tokenizer::load(o.model);
  JsonlReader reader(o.input);
  std::string line, out;
  while (reader.next(line)) {
    auto where = [&] { return fmt::format("{}:{}", reader.path(), reader.line_number()); };
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object()) fail("{}: not a JSON object", where());
    out.clear();
    if (o.decode) {
      auto it = row.find("ids");
      if (it == row.end() || !it->is_array()) fail("{}: expected {{\"ids\": [...]}}", where());
      std::vector<TokenId> ids;
      ids.reserve(it->size());
      for (const auto& v : *it) {
        if (!v.is_number_integer()) fail("{}: ids must be integers", where());
        ids.push_back(v.get<TokenId>());
      }
      nlohmann::json result = {{"text", tokenizer.decode(ids, o.skip_special)}};
      out = result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      auto it = row.find("text");
      if (it == row.end() || !it->is_string()) fail("{}: expected {{\"text\": \"...\"}}", where());
      auto ids = tokenizer.encode(it->get_ref<const std::string&>(), o.add_special);
      out = "{\"ids\": [";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(ids[i]);
      }
      out += "]}";
    }
    out += '\n';
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) fail("tokenize: cannot write to stdout");
  }
  if (std::fflush(stdout) != 0) fail("tokenize: cannot write to stdout");
  return 0;
}

RegisterCommand reg{{"tokenize", "Encode {\"text\"} JSONL lines to {\"ids\"} (or --decode the reverse) with tokenizer.json",
                     [](CLI::App& sub) {
                       auto o = std::make_shared<TokenizeOptions>();
                       sub.add_option("--model", o->model, "Directory holding tokenizer.json")->required();
                       sub.add_option("--jsonl", o->input, "Input JSONL file (.jsonl or .jsonl.xz), - for stdin")
                           ->required();
                       sub.add_flag("--decode", o->decode, "Read {\"ids\"} lines and write {\"text\"} lines");
                       sub.add_flag("--skip-special-tokens", o->skip_special, "With --decode: drop special tokens");
                       sub.add_flag("--add-special-tokens", o->add_special,
                                    "When encoding: apply the post-processor (e.g. add BOS)");
                       return [o] { return run_tokenize(*o); };
                     }}};

}  // namespace
}  // namespace banyan::cli
