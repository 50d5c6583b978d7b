// Talking to banyan nodes about placement: fan /v1/banyan/score out to candidate nodes in parallel (each with a
// deadline), and release prefills kept for sessions that went elsewhere.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "route/node_registry.h"
#include "route/placement.h"

namespace banyan::route {

// The score request for a chat/completions body: {"messages"|"prompt", "session", "keep"}; nullopt when the body
// has nothing a node can score (e.g. a prompt of token ids).
std::optional<nlohmann::json> score_request(const nlohmann::json& body, const std::string& session, bool keep);

// One candidate per node, in order; `scored` is false for nodes that are not banyan nodes, timed out or failed;
// `cannot_score` says why when the node answered 404/405 (an OpenAI backend without banyan's endpoints).
std::vector<Candidate> fetch_scores(const std::vector<NodeView>& nodes, const nlohmann::json& score_body,
                                    std::chrono::milliseconds timeout);

// POST /v1/banyan/release {session} to each node, in the background (best effort: a node that is gone has
// nothing to release).
void release_sessions_async(const std::vector<NodeView>& nodes, const std::string& session);

}  // namespace banyan::route
