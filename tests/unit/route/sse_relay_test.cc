#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "route/sse_relay.h"

namespace banyan::route {
namespace {

const std::string kStream =
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\n"
    ": keep-alive\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\\n\"}}]}\r\n\r\n"
    "data: [DONE]\n\n";

TEST(SseSplitter, WholeStreamGivesWholeEventsUnchanged) {
  SseSplitter s;
  auto ev = s.feed(kStream);
  ASSERT_EQ(ev.size(), 4u);
  std::string joined;
  for (auto& e : ev) joined += e;
  EXPECT_EQ(joined, kStream);
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.pending(), 0u);
  EXPECT_EQ(sse_data(ev[0]), R"({"choices":[{"delta":{"content":"Hal"}}]})");
  EXPECT_EQ(sse_data(ev[1]), "");
  EXPECT_EQ(sse_data(ev[3]), "[DONE]");
}

TEST(SseSplitter, EverySplitPointGivesTheSameEvents) {
  SseSplitter whole;
  const auto expected = whole.feed(kStream);
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    for (size_t cut2 = cut; cut2 <= kStream.size(); cut2 += 7) {
      SseSplitter s;
      std::vector<std::string> got;
      for (auto part : {kStream.substr(0, cut), kStream.substr(cut, cut2 - cut), kStream.substr(cut2)})
        for (auto& e : s.feed(part)) got.push_back(e);
      ASSERT_EQ(got, expected) << "cuts at " << cut << ", " << cut2;
      EXPECT_TRUE(s.done());
    }
  }
}

TEST(SseSplitter, IncompleteEventIsHeldBackAndNotDone) {
  SseSplitter s;
  auto ev = s.feed("data: {\"a\":1}\n\ndata: {\"b\"");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_GT(s.pending(), 0u);
  EXPECT_FALSE(s.done());
  EXPECT_FALSE(s.saw_error());
}

TEST(SseSplitter, NodeErrorEventsAreRecognised) {
  SseSplitter s;
  s.feed("data: {\"error\":{\"message\":\"boom\"}}\n\n");
  EXPECT_TRUE(s.saw_error());
  SseSplitter t;
  t.feed("data: {\"choices\":[{\"delta\":{\"content\":\"\\\"error\\\"\"}}]}\n\n");  // the word in text is no error
  EXPECT_FALSE(t.saw_error());
}

TEST(SseSplitter, MultiLineDataJoinsWithNewline) {
  EXPECT_EQ(sse_data("data: a\ndata: b\n\n"), "a\nb");
  EXPECT_EQ(sse_data("data:x\n\n"), "x");
}

TEST(SseErrorTail, IsAnErrorEventThenDone) {
  SseSplitter s;
  auto ev = s.feed(sse_error_tail("node n1 failed", "node_failed"));
  ASSERT_EQ(ev.size(), 2u);
  auto j = nlohmann::json::parse(sse_data(ev[0]));
  EXPECT_EQ(j["error"]["message"], "node n1 failed");
  EXPECT_EQ(j["error"]["code"], "node_failed");
  EXPECT_TRUE(s.saw_error());
  EXPECT_TRUE(s.done());
}

}  // namespace
}  // namespace banyan::route
