// Writes node bundles (DESIGN.md "Bundle format"): OUT/node-<i>/ is a valid, smaller checkpoint of the same
// family holding the trunk and the node's planned experts, plus router-full.safetensors and banyan-node.json.
//
// Streaming: tensor bytes are copied from the source mmap straight into the writer in chunks, and the pages
// just copied are released from this process (madvise DONTNEED) so peak RSS stays near one chunk, not the model.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plan/plan_file.h"

namespace banyan {

struct PackOptions {
  uint64_t max_shard_bytes = 4ull << 30;  // a bundle's tensor data is split into shards no larger than this
  std::vector<int> nodes;                 // nodes to write; empty = all
};

struct PackedNode {
  int index = 0;
  std::filesystem::path dir;
  int64_t local_experts = 0;
  uint64_t tensor_bytes = 0;  // tensor data in model*.safetensors
  int shards = 0;
};

// Refuses a plan whose source hash differs from the checkpoint's. Creates OUT if needed; an existing node
// directory is replaced.
std::vector<PackedNode> pack_bundles(const std::filesystem::path& model_dir, const Plan& plan,
                                     const std::filesystem::path& out_dir, const PackOptions& options = {});

}  // namespace banyan
