#include "route/session_key.h"

#include "format/sha256.h"
#include "node/api_error.h"

namespace banyan::route {

using nlohmann::json;

std::string message_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string())
        out += part["text"].get<std::string>();
    }
  }
  return out;
}

namespace {

// Length-prefixed fields so ("ab","c") and ("a","bc") hash differently.
void add_field(Sha256& h, std::string_view tag, std::string_view text) {
  h.update(tag);
  h.update(std::to_string(text.size()));
  h.update(":");
  h.update(text);
}

std::string short_hash(Sha256& h) { return "h-" + h.hex_digest().substr(0, 16); }

}  // namespace

SessionKey session_key(const json& body, const std::string& header) {
  if (auto u = body.find("user"); u != body.end() && u->is_string() && !u->get<std::string>().empty())
    return {u->get<std::string>(), "user"};
  if (!header.empty()) return {header, "header"};

  Sha256 h;
  if (auto m = body.find("messages"); m != body.end() && m->is_array()) {
    const json* system = nullptr;
    const json* first_user = nullptr;
    for (const auto& msg : *m) {
      if (!msg.is_object()) continue;
      const std::string role = msg.value("role", "");
      if (!system && (role == "system" || role == "developer") && !first_user) system = &msg;
      if (!first_user && role == "user") first_user = &msg;
    }
    if (!first_user && !system)
      throw node::ApiError(400, "messages must contain a system or user message", "invalid_request_error",
                           "messages");
    add_field(h, "system", system ? message_text(system->value("content", json())) : "");
    add_field(h, "user", first_user ? message_text(first_user->value("content", json())) : "");
    return {short_hash(h), "hash"};
  }
  if (auto p = body.find("prompt"); p != body.end()) {
    std::string text;
    if (p->is_string()) {
      text = p->get<std::string>();
    } else if (p->is_array() && !p->empty() && (*p)[0].is_string()) {
      text = (*p)[0].get<std::string>();
    } else if (p->is_array()) {
      text = p->dump();  // token ids: their JSON spelling identifies them
    }
    if (text.size() > kCompletionKeyChars) text.resize(kCompletionKeyChars);
    add_field(h, "prompt", text);
    return {short_hash(h), "hash"};
  }
  throw node::ApiError(400, "the request has neither messages nor prompt", "invalid_request_error", "messages");
}

}  // namespace banyan::route
