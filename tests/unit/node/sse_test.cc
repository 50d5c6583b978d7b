// SSE framing: one-line JSON events, [DONE], invalid UTF-8 replaced; the event splitter handles partial input.
#include <gtest/gtest.h>

#include "node/sse.h"

namespace banyan::node {
namespace {

TEST(Sse, EventIsOneDataLineEndedByABlankLine) {
  const std::string e = sse_event({{"text", "a\nb"}, {"n", 1}});
  EXPECT_EQ(e, "data: {\"n\":1,\"text\":\"a\\nb\"}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(Sse, InvalidUtf8IsReplacedNotThrown) {
  const std::string e = sse_event({{"text", std::string("ok\xff")}});
  EXPECT_EQ(e, "data: {\"text\":\"ok\xEF\xBF\xBD\"}\n\n");
}

TEST(Sse, SplitterReassemblesEventsAcrossReads) {
  const std::string stream = sse_event({{"i", 1}}) + sse_keepalive() + sse_event({{"i", 2}}) + sse_done();
  // Feed in every possible two-piece split: the events must come out the same.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    std::string buffer = stream.substr(0, cut);
    auto events = sse_take_events(buffer);
    buffer += stream.substr(cut);
    auto rest = sse_take_events(buffer);
    events.insert(events.end(), rest.begin(), rest.end());
    ASSERT_EQ(events.size(), 3u) << cut;
    EXPECT_EQ(events[0], "{\"i\":1}");
    EXPECT_EQ(events[1], "{\"i\":2}");
    EXPECT_EQ(events[2], "[DONE]");
    EXPECT_TRUE(buffer.empty());
  }
}

TEST(Sse, SplitterAcceptsCrlfAndMultiLineData) {
  std::string buffer = "data: a\r\ndata: b\r\n\r\nevent: x\n\n";
  auto events = sse_take_events(buffer);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "a\nb");
}

}  // namespace
}  // namespace banyan::node
