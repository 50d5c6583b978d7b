// Probe scores of one token under each definition, computed by hand.
#include <gtest/gtest.h>

#include "eval/quality_measure.h"

namespace banyan {
namespace {

TEST(ProbeScores, EveryDefinitionByHand) {
  // 6 experts; the full model's top-2 are experts 0 (0.4) and 1 (0.3). The node holds {1, 2, 3}.
  std::vector<float> probs = {0.4f, 0.3f, 0.1f, 0.15f, 0.05f, 0.0f};
  std::vector<int32_t> ids = {0, 1};
  std::vector<uint8_t> node = {0, 1, 1, 1, 0, 0};
  std::vector<float> scratch;
  auto s = probe_token_scores(probs, ids, node, 3, scratch);
  EXPECT_NEAR(s[0], 0.3, 1e-7);         // topk_mass: only expert 1 of the full top-2 is local
  EXPECT_NEAR(s[1], 0.3 / 0.7, 1e-7);   // topk_share
  EXPECT_NEAR(s[2], 0.3 + 0.15, 1e-7);  // local_topk: the node's own 2 largest
  EXPECT_NEAR(s[3], 0.55, 1e-7);        // router_mass: all local probability
  EXPECT_EQ(probe_definition_name(kAllProbeDefinitions[2]), "local_topk");
  EXPECT_EQ(parse_probe_definition("topk_share"), ProbeDefinition::TopkShare);
  EXPECT_FALSE(parse_probe_definition("nearest"));
  // A node with a single expert keeps k = 1.
  std::vector<uint8_t> one = {0, 0, 0, 0, 1, 0};
  s = probe_token_scores(probs, ids, one, 1, scratch);
  EXPECT_NEAR(s[2], 0.05, 1e-7);
  EXPECT_NEAR(s[0], 0.0, 1e-12);
}

}  // namespace
}  // namespace banyan
