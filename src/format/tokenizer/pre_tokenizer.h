// Pre-tokenizers: split normalized text into pieces the model encodes independently (Split, ByteLevel,
// Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit, Sequence),
// with the split semantics of Hugging Face `tokenizers`.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/tokenizer/json_fields.h"

namespace banyan::tok {

struct Piece {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the original input (Metaspace prepend_scheme "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Splits `piece` around `matches` (sorted, non-overlapping byte ranges) with `behavior`, appending the
// non-empty results to `out`. invert=true treats the gaps between matches as the delimiters.
void split_piece(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
                 bool invert, std::vector<Piece>& out);

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where);

}  // namespace banyan::tok
