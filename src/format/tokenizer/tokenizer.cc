#include "format/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "format/tokenizer/added_vocabulary.h"
#include "format/tokenizer/bpe.h"
#include "format/tokenizer/decoder.h"
#include "format/tokenizer/normalizer.h"
#include "format/tokenizer/post_processor.h"
#include "format/tokenizer/pre_tokenizer.h"
#include "format/tokenizer/unicode.h"

namespace banyan {

using tok::json;

struct Tokenizer::Impl {
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::BpeModel> model;
  std::unique_ptr<tok::Decoder> decoder;
  std::unique_ptr<tok::PostProcessor> post_processor;
  tok::AddedVocabulary added;
  SpecialTokenInfo specials;
  size_t vocab_size = 0;

  void encode_plain(const tok::Segment& segment, std::vector<TokenId>& out) const;
  std::vector<TokenId> encode(tok::Segment input, bool add_special_tokens, bool parse_special) const;
  std::vector<tok::ByteRange> normalized_ranges(const std::string& raw, const std::vector<tok::ByteRange>& ranges,
                                                const std::string& normalized) const;
};

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// tokenizer_config.json spells a special token as a string or as an AddedToken object {"content": ...}.
std::string config_token(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  fail("tokenizer_config.json: {}: expected a string or an object with \"content\"", key);
}

}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& dir) {
  auto tokenizer_path = dir / "tokenizer.json";
  if (!std::filesystem::exists(tokenizer_path)) fail("{}: no tokenizer.json in this directory", dir.string());
  std::string config;
  if (auto config_path = dir / "tokenizer_config.json"; std::filesystem::exists(config_path))
    config = read_file(config_path);
  try {
    return from_json(read_file(tokenizer_path), config, tokenizer_path.string());
  } catch (const Error& e) {
    fail("{}: {}", tokenizer_path.string(), e.what());
  }
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json, std::string_view origin) {
  json j = json::parse(tokenizer_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", origin);
  auto impl = std::make_shared<Impl>();

  const json& model = tok::require_field(j, "model", "(top level)");
  std::string model_type = tok::optional_string(model, "type", model.contains("merges") ? "BPE" : "", "model");
  if (model_type != "BPE") fail("tokenizer.json: model: unsupported model type '{}' (banyan reads BPE)", model_type);
  if (auto t = j.find("truncation"); t != j.end() && !t->is_null())
    fail("tokenizer.json: truncation is set; banyan does not truncate silently, remove it from the file");
  impl->model = std::make_unique<tok::BpeModel>(model);
  auto field = [&](const char* key) -> const json& {
    static const json null_json;
    auto it = j.find(key);
    return it == j.end() ? null_json : *it;
  };
  impl->normalizer = tok::make_normalizer(field("normalizer"), "normalizer");
  impl->pre_tokenizer = tok::make_pre_tokenizer(field("pre_tokenizer"), "pre_tokenizer");
  impl->decoder = tok::make_decoder(field("decoder"), "decoder");
  impl->post_processor = tok::make_post_processor(field("post_processor"), "post_processor");
  impl->added = tok::AddedVocabulary(field("added_tokens"), impl->normalizer.get());

  impl->vocab_size = impl->model->id_limit();
  for (const auto& t : impl->added.tokens())
    impl->vocab_size = std::max(impl->vocab_size, static_cast<size_t>(t.id) + 1);

  Tokenizer result(impl);
  if (!config_json.empty()) {
    json config = json::parse(config_json, nullptr, false);
    if (config.is_discarded() || !config.is_object()) fail("tokenizer_config.json: not a JSON object");
    auto& s = impl->specials;
    s.bos_token = config_token(config, "bos_token");
    s.eos_token = config_token(config, "eos_token");
    s.pad_token = config_token(config, "pad_token");
    s.unk_token = config_token(config, "unk_token");
    auto id_of = [&](const std::string& t, const char* key) -> std::optional<TokenId> {
      if (t.empty()) return std::nullopt;
      auto id = result.token_to_id(t);
      if (!id) fail("tokenizer_config.json: {} '{}' is not a token of tokenizer.json", key, t);
      return id;
    };
    s.bos_id = id_of(s.bos_token, "bos_token");
    s.eos_id = id_of(s.eos_token, "eos_token");
    s.pad_id = id_of(s.pad_token, "pad_token");
    s.unk_id = id_of(s.unk_token, "unk_token");
    s.add_bos_token = tok::bool_field(config, "add_bos_token", false, "tokenizer_config");
    s.add_eos_token = tok::bool_field(config, "add_eos_token", false, "tokenizer_config");
  }
  return result;
}

void Tokenizer::Impl::encode_plain(const tok::Segment& segment, std::vector<TokenId>& out) const {
  std::vector<tok::Piece> pieces;
  pieces.push_back({segment.text, segment.at_start});
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces);
  for (const auto& p : pieces) model->encode_word(p.text, out);
}

std::vector<TokenId> Tokenizer::Impl::encode(tok::Segment input, bool add_special_tokens, bool parse_special) const {
  std::vector<TokenId> ids;
  ids.reserve(input.text.size() / 3 + 4);
  // Pass 1: added tokens that match the raw text; pass 2 (per remaining segment, after normalization):
  // added tokens that match normalized text. Segments are normalized one by one, like `tokenizers`.
  std::vector<tok::Segment> raw_segments, segments;
  added.split(input, false, parse_special, raw_segments);
  for (auto& seg : raw_segments) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    if (normalizer) {
      if (!seg.plain_special.empty() && added.has_normalized_special()) {
        std::string raw = seg.text;
        normalizer->normalize(seg.text);
        seg.plain_special = normalized_ranges(raw, seg.plain_special, seg.text);
      } else {
        normalizer->normalize(seg.text);
      }
    }
    segments.clear();
    added.split(seg, true, parse_special, segments);
    for (const auto& s : segments) {
      if (s.id >= 0)
        ids.push_back(s.id);
      else if (!s.text.empty())
        encode_plain(s, ids);
    }
  }
  if (add_special_tokens && post_processor) post_processor->process(ids);
  return ids;
}

// Where the ranges of `raw` lie in normalize(raw) = `normalized`, for matching normalized special tokens. A boundary
// at raw offset b maps to the length of normalize(raw[0, b)) when that is a prefix of `normalized` (true unless
// normalization rewrites text across the boundary, e.g. a combining mark composing with the character before it);
// otherwise every byte is treated as content, which can only keep a special token plain, never create one. A range
// end is extended over following whitespace because Strip drops a prefix's trailing whitespace.
std::vector<tok::ByteRange> Tokenizer::Impl::normalized_ranges(const std::string& raw,
                                                               const std::vector<tok::ByteRange>& ranges,
                                                               const std::string& normalized) const {
  auto offset_of = [&](size_t raw_offset) -> std::optional<size_t> {
    std::string prefix = raw.substr(0, raw_offset);
    normalizer->normalize(prefix);
    if (normalized.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    return prefix.size();
  };
  std::vector<tok::ByteRange> out;
  for (const tok::ByteRange& r : ranges) {
    auto begin = offset_of(r.begin), end = offset_of(r.end);
    if (!begin || !end) return {{0, normalized.size()}};
    size_t e = *end;
    while (e < normalized.size()) {
      size_t k = e;
      if (!tok::is_whitespace(tok::next_code_point(normalized, k))) break;
      e = k;
    }
    if (!out.empty() && *begin <= out.back().end)
      out.back().end = std::max(out.back().end, e);
    else if (*begin < e)
      out.push_back({*begin, e});
  }
  return out;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special_tokens, bool parse_special) const {
  if (!tok::is_valid_utf8(text)) fail("encode: input text is not valid UTF-8");
  return impl_->encode({std::string(text), -1, true, {}}, add_special_tokens, parse_special);
}

std::vector<TokenId> Tokenizer::encode_spans(std::string_view text,
                                             std::span<const std::pair<size_t, size_t>> plain_spans,
                                             bool add_special_tokens) const {
  if (!tok::is_valid_utf8(text)) fail("encode: input text is not valid UTF-8");
  tok::Segment input{std::string(text), -1, true, {}};
  size_t previous_end = 0;
  for (size_t i = 0; i < plain_spans.size(); ++i) {
    const auto [begin, end] = plain_spans[i];
    if (begin > end || end > text.size() || (i > 0 && begin < previous_end))
      fail("encode_spans: span {} [{}, {}) is not a sorted, disjoint range within the {}-byte text", i, begin, end,
           text.size());
    auto inside_character = [&](size_t at) {
      return at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80;
    };
    if (inside_character(begin) || inside_character(end))
      fail("encode_spans: span {} [{}, {}) cuts a UTF-8 character", i, begin, end);
    previous_end = end;
    if (begin < end) input.plain_special.push_back({begin, end});
  }
  return impl_->encode(std::move(input), add_special_tokens, /*parse_special=*/true);
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  const Impl& im = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (TokenId id : ids) {
    if (const auto* added = im.added.find(id)) {
      if (skip_special_tokens && added->special) continue;
      tokens.push_back(added->content);
    } else if (const std::string* t = im.model->id_to_token(id)) {
      if (skip_special_tokens) {
        // A model-vocab token whose text is a special added token counts as special too.
        const auto* same = im.added.find(*t);
        if (same && same->special) continue;
      }
      tokens.push_back(*t);
    }
  }
  if (!im.decoder) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) joined += ' ';
      joined += tokens[i];
    }
    return joined;
  }
  im.decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto* added = impl_->added.find(token)) return added->id;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(TokenId id) const {
  if (const auto* added = impl_->added.find(id)) return added->content;
  if (const std::string* t = impl_->model->id_to_token(id)) return *t;
  return std::nullopt;
}

size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

bool Tokenizer::is_special(TokenId id) const {
  const auto* added = impl_->added.find(id);
  return added && added->special;
}

const SpecialTokenInfo& Tokenizer::special_tokens() const { return impl_->specials; }

}  // namespace banyan
