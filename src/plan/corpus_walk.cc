#include "plan/corpus_walk.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/jsonl_reader.h"

namespace banyan {

std::string_view utf8_prefix(std::string_view text, size_t max_code_points) {
  size_t count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    // A code point starts at every byte that is not a continuation byte (10xxxxxx).
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (count == max_code_points) return text.substr(0, i);
      ++count;
    }
  }
  return text;
}

std::string_view selection_name(DocumentSelection selection) {
  return selection == DocumentSelection::kSpread ? "spread" : "first";
}

DocumentSelection parse_selection(std::string_view name) {
  if (name == "first") return DocumentSelection::kFirst;
  if (name == "spread") return DocumentSelection::kSpread;
  fail("document selection '{}': expected first or spread", name);
}

std::vector<size_t> selected_indices(size_t qualifying, int64_t per_domain, DocumentSelection selection) {
  BANYAN_CHECK(per_domain >= 1, "document selection: per-domain ({}) must be positive", per_domain);
  const size_t k = std::min(qualifying, size_t(per_domain));
  std::vector<size_t> out(k);
  for (size_t i = 0; i < k; ++i) {
    // floor((i + 0.5) * n / k) in integers; steps of n / k >= 1 keep the indices distinct and increasing.
    out[i] = selection == DocumentSelection::kFirst || k == qualifying ? i : (2 * i + 1) * qualifying / (2 * k);
  }
  return out;
}

std::vector<Document> select_documents(const std::filesystem::path& corpus, const Tokenizer& tokenizer,
                                       int64_t per_domain, int64_t tokens, DocumentSelection selection) {
  BANYAN_CHECK(per_domain >= 1 && tokens >= 1, "document walk: per-domain ({}) and tokens ({}) must be positive",
               per_domain, tokens);
  std::map<std::string, std::vector<Document>> by_domain;  // sorted by domain
  JsonlReader reader(corpus);
  std::string line;
  while (reader.next(line)) {
    nlohmann::json rec;
    try {
      rec = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: not a JSON record: {}", corpus.string(), reader.line_number(), e.what());
    }
    auto domain = rec.find("domain");
    auto text = rec.find("text");
    BANYAN_CHECK(rec.is_object() && domain != rec.end() && domain->is_string() && text != rec.end() &&
                     text->is_string(),
                 "{}:{}: record needs string fields \"domain\" and \"text\"", corpus.string(), reader.line_number());
    auto& kept = by_domain[domain->get<std::string>()];
    // kFirst stops tokenizing a domain once it is full; kSpread keeps every qualifying document, picks below.
    if (selection == DocumentSelection::kFirst && int64_t(kept.size()) >= per_domain) continue;
    const std::string& full = text->get_ref<const std::string&>();
    std::vector<TokenId> ids;
    try {
      ids = tokenizer.encode(utf8_prefix(full, kProtocolMaxChars), /*add_special_tokens=*/false);
    } catch (const Error& e) {
      fail("{}:{}: {}", corpus.string(), reader.line_number(), e.what());
    }
    if (int64_t(ids.size()) < tokens) continue;
    ids.resize(size_t(tokens));
    Document d;
    d.domain = domain->get<std::string>();
    if (auto s = rec.find("source"); s != rec.end() && s->is_string()) d.source = s->get<std::string>();
    d.line = reader.line_number();
    d.tokens = std::move(ids);
    kept.push_back(std::move(d));
  }
  std::vector<Document> out;
  for (auto& [domain, docs] : by_domain)
    for (size_t i : selected_indices(docs.size(), per_domain, selection)) out.push_back(std::move(docs[i]));
  return out;
}

}  // namespace banyan
