// cluster.json: node kinds ("openai" | "banyan" | "auto"), relative plan paths, and errors that name the file and entry.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "route/node_registry.h"
#include "test_paths.h"

namespace banyan::route {
namespace {

std::string write_cluster(const std::string& text) {
  const auto dir = test::make_temp_dir("cluster-config");
  const auto path = (dir / "cluster.json").string();
  std::ofstream(path) << text;
  return path;
}

TEST(ClusterConfig, ReadsKindsAndResolvesThePlanBesideTheFile) {
  const std::string path = write_cluster(R"({"nodes": [
      {"name": "a", "url": "http://127.0.0.1:9001"},
      {"name": "b", "url": "http://127.0.0.1:9002", "kind": "openai"},
      {"name": "c", "url": "http://127.0.0.1:9003", "kind": "banyan"},
      {"name": "d", "url": "http://127.0.0.1:9004", "kind": "auto", "api_key": "k"}],
    "plan": "plan.json"})");
  const ClusterConfig c = read_cluster_config(path);
  ASSERT_EQ(c.nodes.size(), 4u);
  EXPECT_EQ(c.nodes[0].declared_kind, NodeKind::Unknown);
  EXPECT_EQ(c.nodes[1].declared_kind, NodeKind::Plain);
  EXPECT_EQ(c.nodes[2].declared_kind, NodeKind::Banyan);
  EXPECT_EQ(c.nodes[3].declared_kind, NodeKind::Unknown);
  EXPECT_EQ(c.nodes[3].api_key, "k");
  EXPECT_EQ(c.plan, (std::filesystem::path(path).parent_path() / "plan.json").string());

  // A declared plain backend is plain before any health check, with the declaration as its reason.
  NodeRegistry r(c.nodes);
  const auto b = r.find("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->kind, NodeKind::Plain);
  EXPECT_EQ(b->kind_reason, "declared \"kind\": \"openai\"");
  EXPECT_EQ(r.find("a")->kind, NodeKind::Unknown);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(ClusterConfig, UnknownKindIsAnErrorNamingTheFileAndEntry) {
  const std::string path =
      write_cluster(R"({"nodes": [{"name": "a", "url": "http://127.0.0.1:9001", "kind": "llama"}]})");
  try {
    read_cluster_config(path);
    FAIL() << "accepted kind 'llama'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("nodes[0].kind"), std::string::npos) << msg;
  }
  const std::string numeric = write_cluster(R"({"nodes": [{"url": "http://x:1", "kind": 3}]})");
  EXPECT_THROW(read_cluster_config(numeric), Error);
  for (const auto& p : {path, numeric}) std::filesystem::remove_all(std::filesystem::path(p).parent_path());
}

}  // namespace
}  // namespace banyan::route
