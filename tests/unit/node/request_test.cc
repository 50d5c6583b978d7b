// Request parsing and validation: valid bodies map to the right fields; invalid ones are ApiError 400 naming the
// field. The malformed corpus (tests/fixtures/requests) and a seeded mutation loop check that nothing else escapes.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "node/api_error.h"
#include "node/request.h"
#include "test_paths.h"

namespace banyan::node {
namespace {

using nlohmann::json;

GenerationRequest parse(const std::string& text, Endpoint e) { return parse_generation_request(parse_json_body(text), e); }

int status_of(const std::string& text, Endpoint e) {
  try {
    parse(text, e);
    return 200;
  } catch (const ApiError& err) {
    return err.status();
  }
}

TEST(Request, ChatFieldsMapToSamplingParams) {
  auto r = parse(R"({"model":"m","messages":[{"role":"system","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
      "temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,"seed":7,"stop":"END","presence_penalty":0.5,
      "frequency_penalty":-0.5,"repetition_penalty":1.1,"logprobs":true,"top_logprobs":3,
      "max_completion_tokens":12,"stream":true,"stream_options":{"include_usage":true},"user":"u1","n":1})",
                 Endpoint::Chat);
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_EQ(r.sampling.seed, 7u);
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_TRUE(r.sampling.logprobs);
  EXPECT_EQ(r.sampling.top_logprobs, 3);
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u1");
}

TEST(Request, DefaultsAreOpenAIs) {
  auto r = parse(R"({"messages":[{"role":"user","content":"hi"}]})", Endpoint::Chat);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.sampling.logprobs);
  EXPECT_FALSE(r.sampling.seed.has_value());
}

TEST(Request, CompletionPromptForms) {
  EXPECT_EQ(*parse(R"({"prompt":"hello"})", Endpoint::Completions).prompt_text, "hello");
  EXPECT_EQ(*parse(R"({"prompt":["hello"]})", Endpoint::Completions).prompt_text, "hello");
  EXPECT_EQ(parse(R"({"prompt":[1,2,3]})", Endpoint::Completions).prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse(R"({"prompt":[[4,5]]})", Endpoint::Completions).prompt_tokens, (std::vector<int32_t>{4, 5}));
  auto r = parse(R"({"prompt":"x","logprobs":2,"echo":true})", Endpoint::Completions);
  EXPECT_TRUE(r.sampling.logprobs);
  EXPECT_EQ(r.sampling.top_logprobs, 2);
  EXPECT_TRUE(r.echo);
  // logprobs: 0 asks for the chosen token's logprob only.
  auto r0 = parse(R"({"prompt":"x","logprobs":0})", Endpoint::Completions);
  EXPECT_TRUE(r0.sampling.logprobs);
  EXPECT_EQ(r0.sampling.top_logprobs, 0);
}

TEST(Request, ErrorsNameTheField) {
  try {
    parse(R"({"messages":[{"role":"user","content":"hi"}],"top_p":7})", Endpoint::Chat);
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), "top_p");
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
  }
  try {
    parse(R"({"messages":[{"role":"user","content":"hi"}],"n":3})", Endpoint::Chat);
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param(), "n");
    EXPECT_NE(std::string(e.what()).find("n > 1"), std::string::npos);
  }
  const json body = error_body(ApiError(400, "bad", "invalid_request_error", "x"));
  EXPECT_EQ(body["error"]["message"], "bad");
  EXPECT_EQ(body["error"]["param"], "x");
  EXPECT_TRUE(body["error"]["code"].is_null());
}

TEST(Request, MalformedCorpusIsAll400) {
  const auto dir = test::fixtures_dir() / "requests";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const Endpoint e = name.starts_with("chat_") ? Endpoint::Chat : Endpoint::Completions;
    EXPECT_EQ(status_of(ss.str(), e), 400) << name;
    ++files;
  }
  EXPECT_GE(files, 40);
}

// Seeded mutations of valid bodies: every outcome is success or an ApiError with a 4xx status, never another
// exception (which would become a 500) and never a crash.
TEST(Request, MutatedBodiesNeverEscape) {
  const std::vector<std::pair<std::string, Endpoint>> seeds = {
      {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"max_tokens":5,"stop":["x"],"logprobs":true,"top_logprobs":2,"stream":true,"stream_options":{"include_usage":true}})", Endpoint::Chat},
      {R"({"prompt":[1,2,3],"max_tokens":3,"logprobs":1,"echo":true,"seed":9,"top_k":5,"min_p":0.1})", Endpoint::Completions},
      {R"({"prompt":"hello","n":1,"presence_penalty":1,"frequency_penalty":1,"repetition_penalty":1.2})", Endpoint::Completions},
  };
  const std::vector<std::string> splices = {"null", "-1", "1e309", "\"\"", "[]", "{}", "true", "0.5", "[[1]]",
                                            "\"\\ud800\"", "99999999999999999999999", ","};
  std::mt19937 rng(1234);
  int ok = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const auto& [seed, endpoint] = seeds[size_t(iter) % seeds.size()];
    std::string body = seed;
    const int edits = 1 + int(rng() % 3);
    for (int k = 0; k < edits && !body.empty(); ++k) {
      const size_t pos = rng() % body.size();
      switch (rng() % 4) {
        case 0: body[pos] = char(rng() % 256); break;
        case 1: body.erase(pos, 1 + rng() % 8); break;
        case 2: body.insert(pos, splices[rng() % splices.size()]); break;
        case 3: body.resize(pos); break;
      }
    }
    try {
      parse(body, endpoint);
      ++ok;
    } catch (const ApiError& e) {
      ASSERT_GE(e.status(), 400) << body;
      ASSERT_LT(e.status(), 500) << body;
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "escaped as " << e.what() << " for body: " << body;
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(ok, 10);  // some mutations stay valid (e.g. inside a string value)
}

}  // namespace
}  // namespace banyan::node
