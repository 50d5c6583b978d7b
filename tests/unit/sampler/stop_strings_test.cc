#include "runtime/stop_strings.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

using namespace banyan;

namespace {

struct Expected {
  std::string text;
  std::optional<size_t> stop;  // index of the stop string, or none
};

// Brute-force reference for the documented rule: the stop string that ends first in the text wins; on a tie the
// one that starts earlier (the longer one). Written independently of the matcher (scans end positions).
Expected reference(const std::string& text, const std::vector<std::string>& stops) {
  for (size_t end = 1; end <= text.size(); ++end) {
    std::optional<size_t> best;
    for (size_t i = 0; i < stops.size(); ++i) {
      const auto& s = stops[i];
      if (s.size() <= end && text.compare(end - s.size(), s.size(), s) == 0 &&
          (!best || s.size() > stops[*best].size()))
        best = i;
    }
    if (best) return {text.substr(0, end - stops[*best].size()), best};
  }
  return {text, std::nullopt};
}

struct Streamed {
  Expected result;
  std::vector<std::string> chunks;  // what each feed released
};

// For ASCII text: the longest suffix of `text` that is a proper prefix of a stop string — exactly what may be held.
size_t expected_hold(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops)
    for (size_t k = 1; k < s.size() && k <= text.size(); ++k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) hold = std::max(hold, k);
  return hold;
}

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

Streamed stream(const std::vector<std::string>& pieces, const std::vector<std::string>& stops) {
  StopStringMatcher matcher(stops);
  Streamed out;
  std::string fed;
  for (const auto& piece : pieces) {
    fed += piece;
    auto o = matcher.feed(piece);
    if (!o.stopped && is_ascii(fed)) {
      EXPECT_EQ(matcher.pending_size(), expected_hold(fed, stops)) << "after '" << fed << "'";
    }
    out.result.text += o.text;
    out.chunks.push_back(o.text);
    if (o.stopped) {
      EXPECT_TRUE(matcher.stopped());
      out.result.stop = o.stop_index;
      return out;
    }
  }
  out.result.text += matcher.finish();
  return out;
}

void expect_same(const Expected& got, const Expected& want, const std::string& context) {
  EXPECT_EQ(got.text, want.text) << context;
  EXPECT_EQ(got.stop, want.stop) << context;
}

// Every split of `text` into up to three pieces, and byte by byte, gives the reference result.
void check_all_splits(const std::string& text, const std::vector<std::string>& stops) {
  const auto want = reference(text, stops);
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      const auto got = stream({text.substr(0, a), text.substr(a, b - a), text.substr(b)}, stops);
      expect_same(got.result, want, "text '" + text + "' split at " + std::to_string(a) + "," + std::to_string(b));
    }
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  expect_same(stream(bytes, stops).result, want, "text '" + text + "' byte by byte");
}

bool is_char_boundary_chunk(const std::string& s) {
  // A chunk of valid UTF-8 text cut on character boundaries neither starts with a continuation byte nor ends
  // inside a multibyte sequence.
  if (s.empty()) return true;
  if ((static_cast<unsigned char>(s[0]) & 0xC0) == 0x80) return false;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    if (i + len > s.size()) return false;
    i += len;
  }
  return true;
}

}  // namespace

TEST(StopStrings, HoldsBackAPossibleStartAndStopsBeforeTheStopString) {
  StopStringMatcher matcher({"world"});
  auto o = matcher.feed("Hello, wor");
  EXPECT_EQ(o.text, "Hello, ");
  EXPECT_FALSE(o.stopped);
  EXPECT_EQ(matcher.pending_size(), 3u);
  o = matcher.feed("ld!");
  EXPECT_EQ(o.text, "");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.stop_index, 0u);
  EXPECT_THROW(matcher.feed("more"), Error);
}

TEST(StopStrings, ReleasesHeldTextWhenTheStopFailsToMaterialise) {
  StopStringMatcher matcher({"world"});
  EXPECT_EQ(matcher.feed("a wo").text, "a ");
  EXPECT_EQ(matcher.feed("rm").text, "worm");
  EXPECT_EQ(matcher.feed(" wor").text, " ");
  EXPECT_EQ(matcher.finish(), "wor");  // end of generation: the held text is output
}

TEST(StopStrings, EverySplitGivesTheSameResult) {
  check_all_splits("The answer is 42.\n\nUser: next", {"\n\nUser:", "<|im_end|>"});
  check_all_splits("no stop here at all", {"STOP", "halt"});
  check_all_splits("abcabcabd tail", {"abcabd"});     // self-overlapping: a partial match restarts inside itself
  check_all_splits("aaaab", {"aab", "aaaa"});          // both occur; "aaaa" ends first
  check_all_splits("xabcdy", {"abcd", "bc"});          // "bc" completes first though "abcd" starts earlier
  check_all_splits("xabcy", {"bc", "abc"});            // same end: the longer (earlier start) wins
  check_all_splits("stop", {"stop"});                  // the whole text is the stop string
  check_all_splits("ststop!", {"stop", "top!"});
  check_all_splits("<|im_end|>", {"<|im_end|>", "<|endoftext|>"});
  check_all_splits("", {"x"});
}

TEST(StopStrings, Utf8MultibyteTextAndStopStrings) {
  const std::string text = "héllo wörld ✓ 😀 café — ende";
  check_all_splits(text, {"😀 c"});
  check_all_splits(text, {"ö"});
  check_all_splits(text, {"—"});
  check_all_splits(text, {"nope"});
  // Split at every byte: released chunks always end on character boundaries.
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      const auto got = stream({text.substr(0, a), text.substr(a, b - a), text.substr(b)}, {"wörld ✗"});
      for (const auto& chunk : got.chunks) EXPECT_TRUE(is_char_boundary_chunk(chunk)) << a << "," << b;
      EXPECT_EQ(got.result.text, text);
    }
  }
  // With no stop strings at all the matcher still withholds a split character.
  StopStringMatcher matcher({});
  EXPECT_EQ(matcher.feed("a\xF0\x9F").text, "a");
  EXPECT_EQ(matcher.feed("\x98").text, "");
  EXPECT_EQ(matcher.feed("\x80!").text, "\xF0\x9F\x98\x80!");
}

TEST(StopStrings, RandomTextsOverASmallAlphabetMatchTheReference) {
  // A three-letter alphabet makes partial matches, overlaps and near-misses frequent. Fixed seed: deterministic.
  std::mt19937 rng(2024);
  auto random_string = [&](size_t min_len, size_t max_len) {
    std::string s(std::uniform_int_distribution<size_t>(min_len, max_len)(rng), 'a');
    for (auto& c : s) c = static_cast<char>('a' + std::uniform_int_distribution<int>(0, 2)(rng));
    return s;
  };
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::string> stops;
    const int n_stops = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int i = 0; i < n_stops; ++i) stops.push_back(random_string(1, 5));
    const std::string text = random_string(0, 14);
    check_all_splits(text, stops);
  }
}

TEST(StopStrings, RejectsEmptyStopStrings) {
  EXPECT_THROW(StopStringMatcher({"ok", ""}), Error);
}
