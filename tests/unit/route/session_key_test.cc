#include <gtest/gtest.h>

#include "node/api_error.h"
#include "route/session_key.h"

namespace banyan::route {
namespace {

using nlohmann::json;

json chat(std::vector<std::pair<std::string, json>> msgs) {
  json m = json::array();
  for (auto& [role, content] : msgs) m.push_back({{"role", role}, {"content", content}});
  return {{"model", "x"}, {"messages", m}};
}

TEST(SessionKey, UserFieldWinsOverHeaderAndHash) {
  json b = chat({{"user", "hi"}});
  b["user"] = "alice";
  auto k = session_key(b, "hdr-1");
  EXPECT_EQ(k.key, "alice");
  EXPECT_EQ(k.source, "user");
}

TEST(SessionKey, HeaderWhenNoUser) {
  auto k = session_key(chat({{"user", "hi"}}), "hdr-1");
  EXPECT_EQ(k.key, "hdr-1");
  EXPECT_EQ(k.source, "header");
  json b = chat({{"user", "hi"}});
  b["user"] = "";  // empty user is no user
  EXPECT_EQ(session_key(b, "hdr-1").key, "hdr-1");
}

TEST(SessionKey, LaterTurnsOfOneConversationShareTheKey) {
  auto first = session_key(chat({{"system", "be brief"}, {"user", "Wie geht es?"}}), "");
  auto third = session_key(chat({{"system", "be brief"}, {"user", "Wie geht es?"}, {"assistant", "Gut."},
                                 {"user", "Und dir?"}}),
                           "");
  EXPECT_EQ(first.source, "hash");
  EXPECT_EQ(first.key, third.key);
  EXPECT_TRUE(first.key.starts_with("h-"));
  EXPECT_EQ(first.key.size(), 18u);
}

TEST(SessionKey, DifferentSystemOrFirstUserGiveDifferentKeys) {
  auto a = session_key(chat({{"system", "be brief"}, {"user", "hello"}}), "");
  auto b = session_key(chat({{"system", "be verbose"}, {"user", "hello"}}), "");
  auto c = session_key(chat({{"system", "be brief"}, {"user", "hello!"}}), "");
  auto d = session_key(chat({{"user", "hello"}}), "");
  EXPECT_NE(a.key, b.key);
  EXPECT_NE(a.key, c.key);
  EXPECT_NE(a.key, d.key);
  // Field boundaries are part of the hash: moving text between system and user changes the key.
  auto e = session_key(chat({{"system", "ab"}, {"user", "c"}}), "");
  auto f = session_key(chat({{"system", "a"}, {"user", "bc"}}), "");
  EXPECT_NE(e.key, f.key);
}

TEST(SessionKey, ContentPartsHashLikeTheirText) {
  json parts = json::array({{{"type", "text"}, {"text", "hel"}}, {{"type", "text"}, {"text", "lo"}}});
  EXPECT_EQ(session_key(chat({{"user", parts}}), "").key, session_key(chat({{"user", "hello"}}), "").key);
}

TEST(SessionKey, CompletionsUseThePromptPrefix) {
  std::string base(kCompletionKeyChars, 'x');
  auto a = session_key(json{{"prompt", base + " first continuation"}}, "");
  auto b = session_key(json{{"prompt", base + " a longer, later continuation"}}, "");
  auto c = session_key(json{{"prompt", "y" + base}}, "");
  EXPECT_EQ(a.key, b.key);
  EXPECT_NE(a.key, c.key);
  // A prompt list keys on its first prompt; token ids on their spelling.
  EXPECT_EQ(session_key(json{{"prompt", json::array({"abc", "def"})}}, "").key,
            session_key(json{{"prompt", "abc"}}, "").key);
  EXPECT_NE(session_key(json{{"prompt", json::array({1, 2, 3})}}, "").key,
            session_key(json{{"prompt", json::array({1, 2, 4})}}, "").key);
}

TEST(SessionKey, RequestsWithNothingToHashAreRejected) {
  EXPECT_THROW(session_key(json{{"model", "x"}}, ""), node::ApiError);
  EXPECT_THROW(session_key(json{{"messages", json::array({{{"role", "assistant"}, {"content", "x"}}})}}, ""),
               node::ApiError);
  try {
    session_key(json{{"model", "x"}}, "");
  } catch (const node::ApiError& e) {
    EXPECT_EQ(e.status(), 400);
  }
}

}  // namespace
}  // namespace banyan::route
