#include <gtest/gtest.h>

#include "route/status_page.h"

namespace banyan::route {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

Plan two_node_plan() {
  Plan p;
  p.id = "abc123";
  p.scheme = "budget";
  p.moe_layers = {0, 1, 3};
  p.num_experts = 8;
  p.top_k = 2;
  p.experts_per_node = 5;
  for (int i = 0; i < 2; ++i) {
    PlanNode n;
    n.index = i;
    n.name = "node-" + std::to_string(i);
    n.cluster = i;
    for (int l = 0; l < 3; ++l) n.experts.push_back(i == 0 ? std::vector<int>{0, 1, 2, 3, 4} : std::vector<int>{3, 4, 5, 6, 7});
    n.replicated = {{3}, {}, {4}};
    if (i == 1) n.replicated = {{}, {}, {}};
    p.nodes.push_back(n);
  }
  PlanCluster c;
  c.index = 0;
  c.domains = {{"de_man", 30}, {"ja_man", 40}};
  p.clusters.push_back(c);
  return p;
}

TEST(StatusPage, ShowsEveryNodeAndOneHeatMapCellPerNodeLayerExpert) {
  const Plan plan = two_node_plan();
  StatusInputs in;
  in.policy = "auto";
  NodeView a, b;
  a.address = {"node-0", "http://127.0.0.1:1", ""};
  a.healthy = true;
  a.status = "ok";
  b.address = {"node-<1>", "http://127.0.0.1:2", ""};  // names are escaped
  b.status = "down";
  in.nodes = {a, b};
  in.sessions_by_node = {{"node-0", 3}};
  in.plan = &plan;
  const std::string html = status_html(in);
  EXPECT_NE(html.find("data-node=\"node-0\""), std::string::npos);
  EXPECT_NE(html.find("node-&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(html.find("node-<1>"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"hm-cell "), 2u * 3 * 8);
  EXPECT_EQ(count(html, "class=\"hm-cell hm-on\""), 2u * 3 * 5 - 2);  // two replicas drawn as such
  EXPECT_EQ(count(html, "class=\"hm-cell hm-rep\""), 2u);
  EXPECT_EQ(count(html, "class=\"cov-cell\""), 3u * 8);
  EXPECT_NE(html.find("layer 3 expert 7: 1 node(s)"), std::string::npos);
  EXPECT_NE(html.find("layer 0 expert 3: 2 node(s)"), std::string::npos);
  EXPECT_NE(html.find("ja_man 40, de_man 30"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, no scripts
  EXPECT_EQ(html.find("http-equiv=\"refresh\""), html.find("http-equiv"));
}

TEST(StatusPage, JsonCarriesNodesSessionsAndPlanSummary) {
  const Plan plan = two_node_plan();
  StatusInputs in;
  in.policy = "probe";
  NodeView a;
  a.address = {"node-0", "http://127.0.0.1:1", ""};
  a.healthy = true;
  a.bytes_sent = 10;
  in.nodes = {a};
  in.sessions_by_node = {{"node-0", 2}};
  in.sessions = 2;
  in.plan = &plan;
  auto j = status_json(in);
  EXPECT_EQ(j["router"]["policy"], "probe");
  EXPECT_EQ(j["nodes"][0]["sessions"], 2);
  EXPECT_EQ(j["nodes"][0]["bytes_sent"], 10);
  EXPECT_EQ(j["plan"]["id"], "abc123");
  EXPECT_EQ(j["plan"]["nodes"][1]["experts"][2], nlohmann::json({3, 4, 5, 6, 7}));
  in.plan = nullptr;
  EXPECT_TRUE(status_json(in)["plan"].is_null());
  EXPECT_NE(status_html(in).find("no plan given"), std::string::npos);
}

}  // namespace
}  // namespace banyan::route
