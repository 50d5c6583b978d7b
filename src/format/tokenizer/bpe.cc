#include "format/tokenizer/bpe.h"

#include <fmt/format.h>

#include <queue>

#include "format/tokenizer/unicode.h"

namespace banyan::tok {

BpeModel::BpeModel(const json& j) {
  const std::string where = "model";
  const json& vocab = require_field(j, "vocab", where);
  if (!vocab.is_object()) fail("tokenizer.json: model.vocab: expected an object of token -> id");
  vocab_.reserve(vocab.size());
  // Ids index a dense table; a bound relative to the vocab size keeps a hostile file from asking for gigabytes.
  const int64_t id_bound = 4 * static_cast<int64_t>(vocab.size()) + 1024;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= id_bound)
      fail("tokenizer.json: model.vocab[{}]: id must be an integer in [0, {})", json(it.key()).dump(), id_bound);
    auto id = static_cast<TokenId>(it.value().get<int64_t>());
    vocab_[it.key()] = id;
    if (static_cast<size_t>(id) >= id_to_token_.size()) {
      id_to_token_.resize(id + 1);
      id_present_.resize(id + 1, false);
    }
    id_to_token_[id] = it.key();
    id_present_[id] = true;
  }

  if (auto d = j.find("dropout"); d != j.end() && !d->is_null()) {
    // Dropout makes encoding random; serving needs the deterministic path, so refuse rather than ignore it.
    if (!d->is_number() || d->get<double>() != 0.0)
      fail("tokenizer.json: model.dropout {} is not supported (encoding must be deterministic)", d->dump());
  }
  continuing_subword_prefix_ = optional_string(j, "continuing_subword_prefix", "", where);
  end_of_word_suffix_ = optional_string(j, "end_of_word_suffix", "", where);
  fuse_unk_ = bool_field(j, "fuse_unk", false, where);
  byte_fallback_ = bool_field(j, "byte_fallback", false, where);
  ignore_merges_ = bool_field(j, "ignore_merges", false, where);
  std::string unk = optional_string(j, "unk_token", "", where);
  if (!unk.empty()) {
    auto it = vocab_.find(unk);
    if (it == vocab_.end()) fail("tokenizer.json: model.unk_token '{}' is not in the vocab", unk);
    unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_tokens_[b] = it == vocab_.end() ? -1 : it->second;
  }

  // Merges: "a b" strings or ["a", "b"] pairs; the list order is the rank; a later duplicate wins.
  const json& merges = array_field(j, "merges", where);
  merges_.reserve(merges.size() * 2);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    std::string left, right;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail("tokenizer.json: model.merges[{}] = {}: expected two tokens separated by one space", rank, m.dump());
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      fail("tokenizer.json: model.merges[{}] = {}: expected \"a b\" or [\"a\", \"b\"]", rank, m.dump());
    }
    auto a = vocab_.find(left), b = vocab_.find(right);
    if (a == vocab_.end() || b == vocab_.end())
      fail("tokenizer.json: model.merges[{}]: token '{}' is not in the vocab", rank,
           a == vocab_.end() ? left : right);
    // With a continuing-subword prefix, the right part loses its prefix when merged.
    std::string merged = left;
    if (!continuing_subword_prefix_.empty() && right.starts_with(continuing_subword_prefix_))
      merged += right.substr(continuing_subword_prefix_.size());
    else
      merged += right;
    auto r = vocab_.find(merged);
    if (r == vocab_.end())
      fail("tokenizer.json: model.merges[{}]: merged token '{}' is not in the vocab", rank, merged);
    merges_[pair_key(a->second, b->second)] = Merge{static_cast<uint32_t>(rank), r->second};
  }
}

std::optional<TokenId> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !id_present_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(std::string(word), std::vector<TokenId>(out.begin() + first, out.end()));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<TokenId>& out) const {
  // Initial symbols: one per character (plus prefix/suffix decorations), unknown ones handled like tokenizers.
  std::vector<TokenId> symbols;
  symbols.reserve(word.size());
  TokenId pending_unk = -1;  // an unk waiting to be pushed (fuse_unk extends it)
  std::string decorated;
  for (size_t i = 0; i < word.size();) {
    size_t start = i;
    next_code_point(word, i);
    std::string_view ch = word.substr(start, i - start);
    std::string_view key = ch;
    if ((start > 0 && !continuing_subword_prefix_.empty()) || (i == word.size() && !end_of_word_suffix_.empty())) {
      decorated.clear();
      if (start > 0) decorated += continuing_subword_prefix_;
      decorated += ch;
      if (i == word.size()) decorated += end_of_word_suffix_;
      key = decorated;
    }
    if (auto it = vocab_.find(key); it != vocab_.end()) {
      if (pending_unk >= 0) symbols.push_back(pending_unk);
      pending_unk = -1;
      symbols.push_back(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char b : key) all &= byte_tokens_[static_cast<unsigned char>(b)] >= 0;
      if (all) {
        // tokenizers leaves a pending unk where it is here, so it lands after these bytes.
        for (char b : key) symbols.push_back(byte_tokens_[static_cast<unsigned char>(b)]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk >= 0 && !fuse_unk_) symbols.push_back(pending_unk);
      pending_unk = *unk_id_;
    }
    // Without an unk token, an unknown character is dropped, as tokenizers does.
  }
  if (pending_unk >= 0) symbols.push_back(pending_unk);
  apply_merges(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void BpeModel::apply_merges(std::vector<TokenId>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  // Doubly linked list over symbol slots; a min-heap of candidate merges by (rank, position).
  std::vector<int32_t> prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Candidate {
    uint32_t rank;
    int32_t pos;
    TokenId result;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto consider = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merges_.find(pair_key(symbols[pos], symbols[next[pos]]));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.result});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(static_cast<int32_t>(i));
  std::vector<bool> alive(n, true);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    int32_t right = next[c.pos];
    // Stale entry: the pair at this position changed since it was queued.
    auto it = merges_.find(pair_key(symbols[c.pos], symbols[right]));
    if (it == merges_.end() || it->second.result != c.result) continue;
    symbols[c.pos] = c.result;
    alive[right] = false;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  size_t w = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) symbols[w++] = symbols[i];
  symbols.resize(w);
}

}  // namespace banyan::tok
