// Response bodies built from scheduler events: chunk sequence, usage, finish_reason, logprob formats.
#include <gtest/gtest.h>

#include <cmath>

#include "node/bench_client.h"
#include "node/openai_format.h"
#include "test_paths.h"

namespace banyan::node {
namespace {

using nlohmann::json;

const Tokenizer& tokenizer() {
  static const Tokenizer t = Tokenizer::load(test::fixtures_dir() / "models" / "qwen3_moe");
  return t;
}

StreamEvent tokens_event(std::string text, int32_t id, float lp, std::vector<TokenLogprob> top = {}) {
  StreamEvent e = StreamEvent::of(StreamEvent::Kind::Tokens);
  e.text = std::move(text);
  e.tokens.push_back({id, lp, std::move(top)});
  return e;
}

StreamEvent done_event(std::string text, std::string reason) {
  StreamEvent e = StreamEvent::of(StreamEvent::Kind::Done);
  e.text = std::move(text);
  e.finish_reason = std::move(reason);
  e.prompt_tokens = 5;
  e.completion_tokens = 2;
  e.cached_tokens = 3;
  return e;
}

TEST(OpenAIFormat, ChatStreamChunks) {
  ResponseFormatter f(tokenizer(), {Endpoint::Chat, "chatcmpl-x", 100, "m", false, 0, true, ""});
  auto c1 = f.chunks(tokens_event("Hel", 10, NAN));
  ASSERT_EQ(c1.size(), 2u);  // the role chunk, then the text
  EXPECT_EQ(c1[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(c1[1]["choices"][0]["delta"]["content"], "Hel");
  EXPECT_TRUE(c1[1]["usage"].is_null());  // include_usage: every chunk has usage: null
  EXPECT_TRUE(f.chunks(tokens_event("", 11, NAN)).empty());  // held-back text makes no chunk
  auto c3 = f.chunks(done_event("lo", "length"));
  ASSERT_EQ(c3.size(), 2u);
  EXPECT_EQ(c3[0]["choices"][0]["delta"]["content"], "lo");
  EXPECT_EQ(c3[0]["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(c3[1]["choices"].empty());
  EXPECT_EQ(c3[1]["usage"]["total_tokens"], 7);
  EXPECT_EQ(c3[1]["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
  for (const auto& c : c3) EXPECT_EQ(c["object"], "chat.completion.chunk");
}

TEST(OpenAIFormat, ChatFinalWithLogprobs) {
  ResponseFormatter f(tokenizer(), {Endpoint::Chat, "chatcmpl-y", 100, "m", true, 1, false, ""});
  f.add(tokens_event("a", 10, -0.5f, {{10, -0.5f}}));
  f.add(tokens_event("b", 11, -1.5f, {{12, -0.25f}}));
  f.add(done_event("", "stop"));
  const json r = f.final_response();
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "ab");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  const json& lp = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(lp.size(), 2u);
  const std::string t10 = tokenizer().decode(std::vector<TokenId>{10});
  EXPECT_EQ(lp[0]["token"], t10);
  EXPECT_FLOAT_EQ(lp[0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(lp[0]["bytes"].size(), t10.size());
  EXPECT_EQ(lp[1]["top_logprobs"][0]["logprob"], -0.25);
  EXPECT_EQ(r["usage"]["completion_tokens"], 2);
}

TEST(OpenAIFormat, CompletionEchoLogprobsStartWithNullAndTrackOffsets) {
  ResponseFormatter f(tokenizer(), {Endpoint::Completions, "cmpl-z", 100, "m", true, 0, false, "PROMPT"});
  StreamEvent p = StreamEvent::of(StreamEvent::Kind::PromptLogprobs);
  p.tokens = {{20, NAN, {}}, {21, -2.0f, {}}};
  f.add(p);
  f.add(tokens_event("x", 22, -0.1f));
  f.add(done_event("", "length"));
  const json r = f.final_response();
  EXPECT_EQ(r["choices"][0]["text"], "PROMPTx");
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 3u);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_EQ(lp["token_logprobs"][1], -2.0);
  const auto len = [](int32_t id) { return int64_t(tokenizer().decode(std::vector<TokenId>{id}).size()); };
  EXPECT_EQ(lp["text_offset"][0], 0);
  EXPECT_EQ(lp["text_offset"][1], len(20));
  EXPECT_EQ(lp["text_offset"][2], len(20) + len(21));
}

TEST(OpenAIFormat, IdsHaveTheEndpointPrefix) {
  EXPECT_TRUE(new_response_id(Endpoint::Chat).starts_with("chatcmpl-"));
  EXPECT_TRUE(new_response_id(Endpoint::Completions).starts_with("cmpl-"));
  EXPECT_NE(new_response_id(Endpoint::Chat), new_response_id(Endpoint::Chat));
}

TEST(BenchQuantile, InterpolatesOrderStatistics) {
  EXPECT_DOUBLE_EQ(quantile({3, 1, 2}, 0.5), 2.0);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4}, 1.0), 4.0);
  EXPECT_TRUE(std::isnan(quantile({}, 0.5)));
}

}  // namespace
}  // namespace banyan::node
