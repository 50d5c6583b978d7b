#include "node/openai_format.h"

#include <cmath>
#include <random>

namespace banyan::node {

using nlohmann::json;

std::string new_response_id(Endpoint endpoint) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

ResponseFormatter::ResponseFormatter(const Tokenizer& tokenizer, ResponseInfo info)
    : tokenizer_(tokenizer), info_(std::move(info)) {
  if (info_.logprobs) {
    if (info_.endpoint == Endpoint::Chat)
      logprobs_ = {{"content", json::array()}};
    else
      logprobs_ = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                   {"text_offset", json::array()}};
  }
  text_ = info_.echo_text;
}

std::string ResponseFormatter::token_text(int32_t id) const {
  const TokenId one[] = {id};
  return tokenizer_.decode(one);
}

json ResponseFormatter::usage(const StreamEvent& done) {
  return {{"prompt_tokens", done.prompt_tokens},
          {"completion_tokens", done.completion_tokens},
          {"total_tokens", done.prompt_tokens + done.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", done.cached_tokens}}}};
}

json ResponseFormatter::chat_logprob(const TokenInfo& t) const {
  const auto entry = [&](int32_t id, float lp) {
    const std::string text = token_text(id);
    return json{{"token", text}, {"logprob", lp}, {"bytes", std::vector<int>(text.begin(), text.end())}};
  };
  json e = entry(t.token, t.logprob);
  for (auto& b : e["bytes"]) b = int(uint8_t(b.get<int>()));
  json top = json::array();
  for (const auto& alt : t.top) {
    json a = entry(alt.token, alt.logprob);
    for (auto& b : a["bytes"]) b = int(uint8_t(b.get<int>()));
    top.push_back(std::move(a));
  }
  e["top_logprobs"] = std::move(top);
  return e;
}

void ResponseFormatter::add_completion_logprobs(json& lp, const std::vector<TokenInfo>& tokens, bool first_is_null) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    const TokenInfo& t = tokens[i];
    const std::string text = token_text(t.token);
    const bool null_entry = first_is_null && i == 0;
    lp["tokens"].push_back(text);
    lp["token_logprobs"].push_back(null_entry || std::isnan(t.logprob) ? json() : json(t.logprob));
    if (null_entry) {
      lp["top_logprobs"].push_back(nullptr);
    } else {
      json top = json::object();
      for (const auto& alt : t.top) top[token_text(alt.token)] = alt.logprob;
      lp["top_logprobs"].push_back(std::move(top));
    }
    lp["text_offset"].push_back(text_offset_);
    text_offset_ += int64_t(text.size());
  }
}

json ResponseFormatter::chunk(json choice) const {
  json c{{"id", info_.id},
         {"object", info_.endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
         {"created", info_.created},
         {"model", info_.model},
         {"choices", json::array({std::move(choice)})}};
  if (info_.include_usage) c["usage"] = nullptr;
  return c;
}

std::vector<json> ResponseFormatter::chunks(const StreamEvent& ev) {
  std::vector<json> out;
  const bool chat = info_.endpoint == Endpoint::Chat;
  if (!opened_) {
    opened_ = true;
    if (chat) {
      out.push_back(chunk({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                           {"finish_reason", nullptr}}));
    } else if (!info_.echo_text.empty() && ev.kind != StreamEvent::Kind::PromptLogprobs) {
      out.push_back(chunk({{"index", 0}, {"text", info_.echo_text}, {"logprobs", nullptr}, {"finish_reason", nullptr}}));
    }
  }
  switch (ev.kind) {
    case StreamEvent::Kind::PromptLogprobs: {
      if (chat) break;
      json lp{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
      add_completion_logprobs(lp, ev.tokens, true);
      out.push_back(chunk({{"index", 0}, {"text", info_.echo_text}, {"logprobs", std::move(lp)}, {"finish_reason", nullptr}}));
      break;
    }
    case StreamEvent::Kind::Tokens: {
      json lp = nullptr;
      if (info_.logprobs) {
        if (chat) {
          lp = {{"content", json::array()}};
          for (const auto& t : ev.tokens) lp["content"].push_back(chat_logprob(t));
        } else {
          lp = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                {"text_offset", json::array()}};
          add_completion_logprobs(lp, ev.tokens, false);
        }
      }
      if (ev.text.empty() && lp.is_null()) break;  // text held back (stop-string prefix, split character)
      if (chat)
        out.push_back(chunk({{"index", 0}, {"delta", {{"content", ev.text}}}, {"logprobs", std::move(lp)},
                             {"finish_reason", nullptr}}));
      else
        out.push_back(chunk({{"index", 0}, {"text", ev.text}, {"logprobs", std::move(lp)}, {"finish_reason", nullptr}}));
      break;
    }
    case StreamEvent::Kind::Done: {
      json delta = chat ? json{{"content", ev.text}} : json::object();
      if (chat && ev.text.empty()) delta = json::object();
      if (chat)
        out.push_back(chunk({{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                             {"finish_reason", ev.finish_reason}}));
      else
        out.push_back(chunk({{"index", 0}, {"text", ev.text}, {"logprobs", nullptr}, {"finish_reason", ev.finish_reason}}));
      if (info_.include_usage) {
        json u = chunk(json::object());
        u["choices"] = json::array();
        u["usage"] = usage(ev);
        out.push_back(std::move(u));
      }
      break;
    }
    case StreamEvent::Kind::Error:
      break;  // the server writes the error object itself
  }
  return out;
}

void ResponseFormatter::add(const StreamEvent& ev) {
  const bool chat = info_.endpoint == Endpoint::Chat;
  switch (ev.kind) {
    case StreamEvent::Kind::PromptLogprobs:
      if (!chat && info_.logprobs) add_completion_logprobs(logprobs_, ev.tokens, true);
      break;
    case StreamEvent::Kind::Tokens:
      text_ += ev.text;
      if (info_.logprobs) {
        if (chat)
          for (const auto& t : ev.tokens) logprobs_["content"].push_back(chat_logprob(t));
        else
          add_completion_logprobs(logprobs_, ev.tokens, false);
      }
      break;
    case StreamEvent::Kind::Done:
      text_ += ev.text;
      finish_reason_ = ev.finish_reason;
      usage_ = usage(ev);
      break;
    case StreamEvent::Kind::Error:
      break;
  }
}

json ResponseFormatter::final_response() const {
  const bool chat = info_.endpoint == Endpoint::Chat;
  json choice{{"index", 0}, {"logprobs", info_.logprobs ? logprobs_ : json()}, {"finish_reason", finish_reason_}};
  if (chat)
    choice["message"] = {{"role", "assistant"}, {"content", text_}};
  else
    choice["text"] = text_;
  return {{"id", info_.id},
          {"object", chat ? "chat.completion" : "text_completion"},
          {"created", info_.created},
          {"model", info_.model},
          {"choices", json::array({std::move(choice)})},
          {"usage", usage_}};
}

}  // namespace banyan::node
