#include "node/request.h"

#include <cmath>
#include <limits>

#include "node/api_error.h"

namespace banyan::node {
namespace {

using nlohmann::json;

// Fields that are accepted and ignored because they do not change what this server computes.
bool is_ignored_field(const std::string& key) {
  static const char* const kIgnored[] = {"user", "metadata", "store", "service_tier", "parallel_tool_calls",
                                         "suffix", "best_of", "logit_bias", "response_format", "tools",
                                         "tool_choice", "functions", "function_call", "modalities",
                                         "reasoning_effort", "prediction", "audio", "web_search_options",
                                         "chat_template_kwargs", "prompt_cache_key", "safety_identifier",
                                         "verbosity"};
  for (const char* k : kIgnored)
    if (key == k) return true;
  return false;
}

double number_field(const json& v, const std::string& name) {
  if (!v.is_number()) bad_param(name, name + " must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) bad_param(name, name + " must be finite");
  return d;
}

double ranged(const json& v, const std::string& name, double lo, double hi) {
  const double d = number_field(v, name);
  if (d < lo || d > hi) bad_param(name, fmt::format("{} must be in [{}, {}], got {}", name, lo, hi, d));
  return d;
}

int64_t integer_field(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) bad_param(name, name + " must be an integer");
    if (d < double(lo) || d > double(hi)) bad_param(name, fmt::format("{} must be in [{}, {}]", name, lo, hi));
    return int64_t(d);
  }
  if (!v.is_number_integer()) bad_param(name, name + " must be an integer");
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(hi) || (lo > 0 && u < uint64_t(lo))) bad_param(name, fmt::format("{} must be in [{}, {}], got {}", name, lo, hi, u));
    return int64_t(u);
  }
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) bad_param(name, fmt::format("{} must be in [{}, {}], got {}", name, lo, hi, i));
  return i;
}

bool bool_field(const json& v, const std::string& name) {
  if (!v.is_boolean()) bad_param(name, name + " must be a boolean");
  return v.get<bool>();
}

std::string string_field(const json& v, const std::string& name) {
  if (!v.is_string()) bad_param(name, name + " must be a string");
  return v.get<std::string>();
}

// content: a string, null (assistant with tool calls), or a list of parts of which only text is supported.
std::string message_content(const json& content, const std::string& where) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_param(where, where + " must be a string or a list of content parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string pw = fmt::format("{}[{}]", where, i);
    if (!part.is_object()) bad_param(pw, pw + " must be an object");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) bad_param(pw + ".type", pw + ".type must be a string");
    if (*type != "text")
      bad_param(pw + ".type", fmt::format("{}.type '{}' is not supported (only text)", pw, type->get<std::string>()));
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) bad_param(pw + ".text", pw + ".text must be a string");
    text += t->get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& v) {
  if (!v.is_array()) bad_param("messages", "messages must be a list");
  if (v.empty()) bad_param("messages", "messages must not be empty");
  if (v.size() > kMaxMessages) bad_param("messages", fmt::format("at most {} messages", kMaxMessages));
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& m = v[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) bad_param(where, where + " must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad_param(where + ".role", where + ".role must be a string");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer")
      bad_param(where + ".role", fmt::format("{}.role '{}' is not one of system, user, assistant, tool, developer",
                                             where, r));
    auto content = m.find("content");
    if (content == m.end() && r != "assistant") bad_param(where + ".content", where + ".content is required");
    ChatMessage msg;
    msg.role = r == "developer" ? "system" : r;
    if (content != m.end()) msg.content = message_content(*content, where + ".content");
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<int32_t> token_list(const json& v, const std::string& name) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const json& t : v) ids.push_back(int32_t(integer_field(t, name, 0, std::numeric_limits<int32_t>::max())));
  return ids;
}

void parse_prompt(const json& v, GenerationRequest& r) {
  const auto too_many = [] {
    bad_param("prompt", "only one prompt per request is supported (send one request per prompt)");
  };
  if (v.is_string()) {
    r.prompt_text = v.get<std::string>();
  } else if (v.is_array()) {
    if (v.empty()) bad_param("prompt", "prompt must not be empty");
    if (v[0].is_string()) {
      if (v.size() > 1) too_many();
      r.prompt_text = v[0].get<std::string>();
    } else if (v[0].is_array()) {
      if (v.size() > 1) too_many();
      if (v[0].empty()) bad_param("prompt", "prompt must not be empty");
      r.prompt_tokens = token_list(v[0], "prompt");
    } else if (v[0].is_number()) {
      r.prompt_tokens = token_list(v, "prompt");
    } else {
      bad_param("prompt", "prompt must be a string, a list of token ids, or a list of one of those");
    }
  } else {
    bad_param("prompt", "prompt must be a string, a list of token ids, or a list of one of those");
  }
  if (r.prompt_text && r.prompt_text->empty()) bad_param("prompt", "prompt must not be empty");
}

std::vector<std::string> parse_stop(const json& v) {
  std::vector<std::string> stops;
  if (v.is_null()) return stops;
  if (v.is_string()) {
    stops.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > kMaxStopStrings) bad_param("stop", fmt::format("at most {} stop strings", kMaxStopStrings));
    for (const json& s : v) stops.push_back(string_field(s, "stop"));
  } else {
    bad_param("stop", "stop must be a string or a list of strings");
  }
  for (const auto& s : stops)
    if (s.empty()) bad_param("stop", "stop strings must not be empty");
  return stops;
}

}  // namespace

json parse_json_body(std::string_view text) {
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers beyond double
    throw ApiError(400, fmt::format("invalid JSON body: {}", e.what()));
  }
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return body;
}

GenerationRequest parse_generation_request(const json& body, Endpoint endpoint) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  GenerationRequest r;
  r.endpoint = endpoint;
  const bool chat = endpoint == Endpoint::Chat;
  bool logprobs_flag = false;
  int64_t top_logprobs = 0;
  bool have_prompt = false, have_messages = false;
  for (const auto& [key, v] : body.items()) {
    if (key == "model") {
      r.model = string_field(v, "model");
    } else if (chat && key == "messages") {
      r.messages = parse_messages(v);
      have_messages = true;
    } else if (!chat && key == "prompt") {
      parse_prompt(v, r);
      have_prompt = true;
    } else if (key == "stream") {
      if (!v.is_null()) r.stream = bool_field(v, "stream");
    } else if (key == "stream_options") {
      if (v.is_null()) continue;
      if (!v.is_object()) bad_param("stream_options", "stream_options must be an object");
      for (const auto& [k2, v2] : v.items()) {
        if (k2 == "include_usage") r.include_usage = bool_field(v2, "stream_options.include_usage");
        else if (k2 != "continuous_usage_stats" && k2 != "include_obfuscation")
          bad_param("stream_options." + k2, "unknown field stream_options." + k2);
      }
    } else if (key == "max_tokens" || (chat && key == "max_completion_tokens")) {
      if (!v.is_null()) r.max_tokens = integer_field(v, key, 1, std::numeric_limits<int32_t>::max());
    } else if (key == "temperature") {
      if (!v.is_null()) r.sampling.temperature = float(ranged(v, key, 0.0, 2.0));
    } else if (key == "top_p") {
      if (!v.is_null()) {
        const double p = number_field(v, key);
        if (!(p > 0.0 && p <= 1.0)) bad_param(key, fmt::format("top_p must be in (0, 1], got {}", p));
        r.sampling.top_p = float(p);
      }
    } else if (key == "top_k") {
      if (!v.is_null()) r.sampling.top_k = int32_t(integer_field(v, key, -1, std::numeric_limits<int32_t>::max()));
    } else if (key == "min_p") {
      if (!v.is_null()) r.sampling.min_p = float(ranged(v, key, 0.0, 1.0));
    } else if (key == "seed") {
      if (!v.is_null()) {
        const int64_t s = integer_field(v, key, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
        r.sampling.seed = uint64_t(s);
      }
    } else if (key == "stop") {
      r.stop = parse_stop(v);
    } else if (key == "presence_penalty") {
      if (!v.is_null()) r.sampling.presence_penalty = float(ranged(v, key, -2.0, 2.0));
    } else if (key == "frequency_penalty") {
      if (!v.is_null()) r.sampling.frequency_penalty = float(ranged(v, key, -2.0, 2.0));
    } else if (key == "repetition_penalty") {
      if (!v.is_null()) {
        const double p = number_field(v, key);
        if (!(p > 0.0 && p <= 10.0)) bad_param(key, fmt::format("repetition_penalty must be in (0, 10], got {}", p));
        r.sampling.repetition_penalty = float(p);
      }
    } else if (key == "logprobs") {
      if (v.is_null()) continue;
      if (chat) {
        logprobs_flag = bool_field(v, key);
      } else {
        // Completions: an integer count of alternatives (0 = only the chosen token's logprob).
        top_logprobs = integer_field(v, key, 0, kMaxCompletionTopLogprobs);
        logprobs_flag = true;
      }
    } else if (chat && key == "top_logprobs") {
      if (!v.is_null()) top_logprobs = integer_field(v, key, 0, 20);
    } else if (key == "n") {
      if (!v.is_null() && integer_field(v, key, 1, 128) != 1)
        bad_param("n", "n > 1 is not supported: send n separate requests");
    } else if (!chat && key == "echo") {
      if (!v.is_null()) r.echo = bool_field(v, key);
    } else if (key == "user") {
      if (!v.is_null()) r.user = string_field(v, key);
    } else if (key == "ignore_eos") {
      if (!v.is_null()) r.ignore_eos = bool_field(v, key);
    } else if (chat && key == "add_generation_prompt") {
      r.add_generation_prompt = bool_field(v, key);
    } else if (is_ignored_field(key)) {
      continue;
    } else {
      bad_param(key, fmt::format("unknown field '{}'", key));
    }
  }
  if (chat && !have_messages) bad_param("messages", "messages is required");
  if (!chat && !have_prompt) bad_param("prompt", "prompt is required");
  if (chat && top_logprobs > 0 && !logprobs_flag)
    bad_param("top_logprobs", "top_logprobs needs logprobs: true");
  r.sampling.logprobs = logprobs_flag;
  r.sampling.top_logprobs = int32_t(top_logprobs);
  try {
    validate_sampling_params(r.sampling);
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  return r;
}

}  // namespace banyan::node
