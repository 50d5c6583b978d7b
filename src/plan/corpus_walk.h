// The document walk of protocol banyan-quality-v1 (shared/eval/QUALITY.md, steps 1 and 4): used by calibrate
// (corpus-train, 50 per domain) and the eval harness (heldout-dev, 40 per domain).
//
// For each domain in sorted order, the file is walked in order; a document's text is cut to its first 20000
// Unicode code points (Python's text[:20000]) and tokenized without special tokens; it is kept when that gives at
// least `tokens` tokens, and then holds its first `tokens` tokens; at most `per_domain` documents per domain.
// (Done in one pass over the file — equivalent, since domains do not interact.)
//
// Which qualifying documents a domain keeps (`DocumentSelection`): the protocol's walk keeps the first `per_domain`
// in file order (`kFirst`; the eval harness always uses it). `kSpread` (banyan calibrate's default) first counts a
// domain's n qualifying documents and keeps `per_domain` of them evenly spaced over the whole domain: indices
// floor((i + 0.5) · n / per_domain), i = 0 .. per_domain - 1 (all n when n <= per_domain). Corpora sorted by source
// path put one sub-genre at the start of each domain, which a first-N selection alone would see.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "format/tokenizer/tokenizer.h"

namespace banyan {

struct Document {
  std::string domain;
  std::string source;  // the record's "source" field (may be empty)
  size_t line = 0;     // 1-based line in the corpus file
  std::vector<TokenId> tokens;
};

inline constexpr size_t kProtocolMaxChars = 20000;

// The first `max_code_points` code points of UTF-8 `text` (all of it when shorter).
std::string_view utf8_prefix(std::string_view text, size_t max_code_points);

enum class DocumentSelection { kFirst, kSpread };

// "first" / "spread".
std::string_view selection_name(DocumentSelection selection);
// Inverse of selection_name; throws banyan::Error for any other name.
DocumentSelection parse_selection(std::string_view name);

// The (ascending, 0-based) indices among a domain's `qualifying` documents that `selection` keeps with at most
// `per_domain` per domain.
std::vector<size_t> selected_indices(size_t qualifying, int64_t per_domain, DocumentSelection selection);

// Records are JSON objects with string fields "domain" and "text" ("source" optional); errors name file and line.
std::vector<Document> select_documents(const std::filesystem::path& corpus, const Tokenizer& tokenizer,
                                       int64_t per_domain, int64_t tokens,
                                       DocumentSelection selection = DocumentSelection::kFirst);

}  // namespace banyan
