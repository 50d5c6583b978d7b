// Quality report and placement table built from synthetic measurements: keys, sums and confusion counts.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/placement_report.h"
#include "eval/quality_report.h"

namespace banyan {
namespace {

// Four sequences in two domains, two nodes; seq s prefers node s % 2 for the continuation.
struct Synthetic {
  std::vector<Document> seqs;
  QualityMeasurements m;
};

Synthetic synthetic() {
  Synthetic x;
  const char* domains[] = {"b_dom", "b_dom", "a_dom", "a_dom"};
  for (int s = 0; s < 4; ++s) {
    Document e;
    e.domain = domains[s];
    e.line = size_t(s + 1);
    e.tokens.assign(8, 1);
    x.seqs.push_back(e);
    x.m.full.push_back({0.5, 0.1 * (s + 1)});
  }
  auto& in = x.m.restricted;
  in.prompt_tokens = 4;
  in.prompt_nll = NodeMatrix(4, 2);
  in.continuation_nll = NodeMatrix(4, 2);
  in.probe_mass = NodeMatrix(4, 2);
  for (int s = 0; s < 4; ++s)
    for (int n = 0; n < 2; ++n) {
      const bool good = n == s % 2;
      in.continuation_nll.at(s, n) = good ? 1.0 : 2.0;
      in.prompt_nll.at(s, n) = n == 0 ? 1.0 : 1.5;  // likelihood always picks node 0
      in.probe_mass.at(s, n) = good ? 0.8 : 0.2;    // the probe is always right
    }
  x.m.probe_top_k = 8;
  x.m.forward_seconds = 2.0;
  x.m.tokens = 64;
  return x;
}

TEST(QualityReport, NumbersKeysAndLoads) {
  auto x = synthetic();
  auto r = build_quality_report(x.seqs, x.m, {Policy::Random, Policy::Probe, Policy::Likelihood},
                                RandomDefinition::MeanNll);
  EXPECT_EQ(r.num_sequences, 4);
  EXPECT_NEAR(r.full_ppl, std::exp(0.25), 1e-12);
  EXPECT_NEAR(r.full_ppl_by_domain.at("a_dom"), std::exp(0.35), 1e-12);
  EXPECT_NEAR(r.full_ppl_by_domain.at("b_dom"), std::exp(0.15), 1e-12);
  ASSERT_EQ(r.placements.size(), 4u);  // oracle added
  EXPECT_EQ(r.placements.back().policy, Policy::Oracle);
  for (const auto& p : r.placements) {
    double sum = 0;
    for (double l : p.node_load) sum += l;
    EXPECT_DOUBLE_EQ(sum, 4.0) << policy_name(p.policy);
  }
  EXPECT_DOUBLE_EQ(r.placements[1].agree_with_oracle, 1.0);  // probe
  EXPECT_DOUBLE_EQ(r.placements[2].agree_with_oracle, 0.5);  // likelihood
  EXPECT_NEAR(r.placements[2].ppl, std::exp(1.5), 1e-12);
  EXPECT_NEAR(r.placements[0].ppl, std::exp(1.5), 1e-12);    // random: mean of all NLLs
  EXPECT_NEAR(r.captured_mass[0], 0.5, 1e-12);
  EXPECT_NEAR(r.ppl_if_all_sent_here[1], std::exp(1.5), 1e-12);

  auto j = quality_report_to_json(r);
  for (const char* key : {"full_ppl", "full_ppl_by_domain", "num_sequences", "placements", "nodes", "plan_id",
                          "scheme", "timing", "random_definitions", "sequences"})
    EXPECT_TRUE(j.contains(key)) << key;
  for (const char* p : {"random", "probe", "likelihood", "oracle"})
    for (const char* key : {"ppl", "ppl_ratio", "agree_with_oracle", "node_load"})
      EXPECT_TRUE(j["placements"][p].contains(key)) << p << "." << key;
  EXPECT_TRUE(j["nodes"][1].contains("ppl_if_all_sent_here"));
  EXPECT_TRUE(j["nodes"][1].contains("captured_mass"));
  EXPECT_EQ(j["sequences"].size(), 4u);
  EXPECT_FALSE(format_quality_table(r).empty());
}

TEST(PlacementTable, ConfusionPerDomain) {
  auto x = synthetic();
  auto t = build_placement_table(x.seqs, x.m.restricted, {Policy::Random, Policy::Probe, Policy::Likelihood});
  ASSERT_EQ(t.policies, (std::vector<Policy>{Policy::Probe, Policy::Likelihood}));
  EXPECT_EQ(t.oracle, (std::vector<int>{0, 1, 0, 1}));
  // Per policy: "all" then a_dom, b_dom.
  ASSERT_EQ(t.confusion.size(), 6u);
  const auto& lik_all = t.confusion[3];
  EXPECT_EQ(lik_all.policy, Policy::Likelihood);
  EXPECT_EQ(lik_all.domain, "all");
  EXPECT_EQ(lik_all.counts, (std::vector<std::vector<int64_t>>{{2, 2}, {0, 0}}));
  EXPECT_EQ(lik_all.agree, 2);
  const auto& lik_a = t.confusion[4];
  EXPECT_EQ(lik_a.domain, "a_dom");
  EXPECT_EQ(lik_a.sequences, 2);
  EXPECT_EQ(lik_a.counts, (std::vector<std::vector<int64_t>>{{1, 1}, {0, 0}}));
  const auto& probe_all = t.confusion[0];
  EXPECT_EQ(probe_all.agree, 4);
  auto j = placement_table_to_json(t);
  EXPECT_EQ(j["sequences"][1]["oracle"], 1);
  EXPECT_EQ(j["sequences"][1]["likelihood"], 0);
  EXPECT_FALSE(format_placement_table(t).empty());
}

}  // namespace
}  // namespace banyan
