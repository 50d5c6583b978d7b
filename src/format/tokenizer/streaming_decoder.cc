#include "format/tokenizer/tokenizer.h"

namespace banyan {

namespace {
// decode() spells an incomplete trailing character as U+FFFD; such text is not final yet.
bool ends_incomplete(const std::string& s) { return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0; }
}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}

// The window ids_[prefix_start_, ...) starts with already-emitted ids so decoders that depend on position
// (Metaspace's leading space, Strip) see each new token in context, not as the first token of a text.
std::string StreamingDecoder::push(TokenId id) {
  if (skip_special_ && tokenizer_->is_special(id)) return "";
  ids_.push_back(id);
  std::span<const TokenId> window(ids_.data() + prefix_start_, ids_.size() - prefix_start_);
  std::string text = tokenizer_->decode(window, false);
  if (text.size() <= prefix_text_.size() || ends_incomplete(text) || text.compare(0, prefix_text_.size(), prefix_text_) != 0)
    return "";
  std::string fresh = text.substr(prefix_text_.size());
  // Keep only the ids since the last emission as context for the next window.
  size_t keep_from = read_start_;
  prefix_text_ = tokenizer_->decode(std::span<const TokenId>(ids_.data() + keep_from, ids_.size() - keep_from), false);
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(keep_from));
  prefix_start_ = 0;
  read_start_ = ids_.size();
  return fresh;
}

std::string StreamingDecoder::finish() {
  std::span<const TokenId> window(ids_.data() + prefix_start_, ids_.size() - prefix_start_);
  std::string text = tokenizer_->decode(window, false);
  std::string rest = text.size() > prefix_text_.size() ? text.substr(prefix_text_.size()) : "";
  ids_.clear();
  prefix_start_ = read_start_ = 0;
  prefix_text_.clear();
  return rest;
}

}  // namespace banyan
