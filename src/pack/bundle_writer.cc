#include "pack/bundle_writer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "format/safetensors.h"
#include "model/model_spec.h"
#include "pack/bundle_config.h"
#include "pack/node_tensors.h"
#include "pack/shards.h"
#include "plan/json_pretty.h"
#include "plan/progress.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kChunk = 32ull << 20;

// Tells the kernel this process no longer needs the mapped pages in [p, p+n): they stay in the page cache but
// leave our resident set, which is what keeps pack's RSS bounded on checkpoints larger than RAM.
void release_pages(const uint8_t* p, uint64_t n) {
  static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  uintptr_t begin = (uintptr_t(p) + page - 1) & ~(page - 1);
  uintptr_t end = (uintptr_t(p) + n) & ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Streams every range of `t` into the writer's current tensor.
void copy_tensor(const Checkpoint& ckpt, const NodeTensor& t, SafetensorsWriter& w, Progress* progress) {
  for (const SourceRange& r : t.ranges) {
    TensorView v = ckpt.view(r.tensor);
    BANYAN_CHECK(r.offset + r.nbytes <= v.nbytes, "range [{}, {}) outside tensor '{}' ({} bytes)", r.offset,
                 r.offset + r.nbytes, r.tensor, v.nbytes);
    for (uint64_t done = 0; done < r.nbytes;) {
      uint64_t take = std::min(kChunk, r.nbytes - done);
      const uint8_t* p = v.data + r.offset + done;
      w.append(p, take);
      release_pages(p, take);
      done += take;
      if (progress) progress->advance(take);
    }
  }
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  BANYAN_CHECK(in, "cannot read {}", p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Files of the model directory that are not weights or banyan's own outputs: tokenizer, generation config,
// chat template, ... copied as they are.
bool is_small_copied_file(const fs::directory_entry& e) {
  if (!e.is_regular_file()) return false;
  const std::string name = e.path().filename().string();
  const std::string ext = e.path().extension().string();
  if (name == "config.json" || name == "model.safetensors.index.json" || name == "banyan-node.json") return false;
  for (const char* weights : {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack"})
    if (ext == weights) return false;
  return true;
}

void write_router_full(const Checkpoint& ckpt, const NodeLayout& layout, const fs::path& path) {
  std::vector<TensorSpec> specs;
  for (const auto& name : layout.router_tensors) {
    const TensorInfo& info = ckpt.info(name);
    specs.push_back({name, info.dtype, info.shape});
  }
  SafetensorsWriter w(path, specs, {{"format", "pt"}});
  for (const auto& name : layout.router_tensors) {
    TensorView v = ckpt.view(name);
    w.write(name, v.data, v.nbytes);
  }
  w.finish();
}

PackedNode pack_node(const Checkpoint& ckpt, const ModelSpec& spec, const nlohmann::ordered_json& source_config,
                     const Plan& plan, int index, const fs::path& out_dir, const PackOptions& options) {
  const PlanNode& node = plan.nodes[size_t(index)];
  NodeLayout layout = layout_node(ckpt, spec, plan, index);
  const fs::path dir = out_dir / node.name;
  const fs::path tmp = out_dir / (node.name + ".partial");
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  std::vector<uint64_t> sizes;
  for (const auto& t : layout.tensors) sizes.push_back(t.nbytes());
  auto shards = split_into_shards(sizes, options.max_shard_bytes);
  Progress progress(fmt::format("pack {}", node.name), layout.total_bytes(), "bytes");
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shard_file_name(s, shards.size());
    std::vector<TensorSpec> specs;
    for (size_t i : shards[s]) {
      const NodeTensor& t = layout.tensors[i];
      specs.push_back({t.name, t.dtype, t.shape});
      weight_map[t.name] = file;
    }
    SafetensorsWriter w(tmp / file, specs, {{"format", "pt"}});
    for (size_t i : shards[s]) copy_tensor(ckpt, layout.tensors[i], w, &progress);
    w.finish();
  }
  progress.finish();
  if (shards.size() > 1) write_shard_index(tmp, layout.total_bytes(), weight_map);

  const int64_t local = plan.experts_per_node;
  // The plan may widen the node's top-k (plan.node_top_k); the bundle routes every token to that many experts.
  const int64_t node_top_k = plan.node_top_k > 0 ? plan.node_top_k : spec.top_k;
  write_text_file(tmp / "config.json", bundle_config(source_config, spec, local, node_top_k).dump(2) + "\n");
  for (const auto& e : fs::directory_iterator(ckpt.dir()))
    if (is_small_copied_file(e)) {
      fs::copy_file(e.path(), tmp / e.path().filename());
      // Read-only sources (shared model stores) would make the bundle's copies read-only too.
      fs::permissions(tmp / e.path().filename(), fs::perms::owner_write, fs::perm_options::add);
    }
  write_router_full(ckpt, layout, tmp / "router-full.safetensors");

  nlohmann::ordered_json manifest = {
      {"format", "banyan-node/1"},
      {"source", {{"path", fs::absolute(ckpt.dir()).string()}, {"sha256", ckpt.source_hash()}}},
      {"plan", plan.id},
      {"scheme", plan.scheme},
      {"node", {{"index", node.index}, {"name", node.name}, {"cluster", node.cluster}}},
      {"moe_layers", plan.moe_layers},
      {"num_experts", plan.num_experts},
      {"top_k", spec.top_k},
      {"local_experts", local},
      {"num_experts_per_tok", std::min(node_top_k, local)},
      {"group_limit_dropped", spec.n_group > 1},
      {"local_to_global", node.experts},
      {"replicated", node.replicated},
      {"dropped_tensors", layout.dropped},
      {"tensor_bytes", layout.total_bytes()},
  };
  write_text_file(tmp / "banyan-node.json", pretty_json(manifest));

  // Only a complete bundle gets the node's name: a crash leaves "<name>.partial", never a half bundle.
  fs::remove_all(dir);
  fs::rename(tmp, dir);
  spdlog::info("{}: {} experts per MoE layer, {:.1f} MB of tensors in {} file(s) -> {}", node.name, local,
               double(layout.total_bytes()) / double(1 << 20), shards.size(), dir.string());
  return {index, dir, local, layout.total_bytes(), int(shards.size())};
}

}  // namespace

std::vector<PackedNode> pack_bundles(const fs::path& model_dir, const Plan& plan, const fs::path& out_dir,
                                     const PackOptions& options) {
  BANYAN_CHECK(options.max_shard_bytes > 0, "pack: --max-shard-bytes must be positive");
  Checkpoint ckpt(model_dir);
  const std::string hash = ckpt.source_hash();
  BANYAN_CHECK(hash == plan.source_sha256,
               "plan {} was made for another model: its source hash {} (from {}) differs from {}'s {}", plan.id,
               plan.source_sha256, plan.source_path, model_dir.string(), hash);
  ModelSpec spec = load_model_spec(model_dir);
  BANYAN_CHECK(std::string(family_name(spec.family)) == plan.family, "plan is for family {}, the model is {}",
               plan.family, family_name(spec.family));
  nlohmann::ordered_json source_config;
  try {
    source_config = nlohmann::ordered_json::parse(read_text(model_dir / "config.json"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: config.json is not valid JSON: {}", model_dir.string(), e.what());
  }
  fs::create_directories(out_dir);
  std::vector<int> nodes = options.nodes;
  if (nodes.empty())
    for (size_t i = 0; i < plan.nodes.size(); ++i) nodes.push_back(int(i));
  std::vector<PackedNode> packed;
  for (int n : nodes) {
    BANYAN_CHECK(n >= 0 && size_t(n) < plan.nodes.size(), "pack: plan has no node {}", n);
    packed.push_back(pack_node(ckpt, spec, source_config, plan, n, out_dir, options));
  }
  return packed;
}

}  // namespace banyan
