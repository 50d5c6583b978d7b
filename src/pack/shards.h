// Sharded safetensors output as Hugging Face lays it out: model.safetensors, or
// model-0000i-of-0000n.safetensors + model.safetensors.index.json {"metadata": {"total_size"}, "weight_map"}.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace banyan {

// Greedy in order: a new shard starts when the next tensor would push the current one past `max_bytes`
// (a tensor larger than that gets a shard of its own). Returns tensor indices per shard (at least one shard).
std::vector<std::vector<size_t>> split_into_shards(const std::vector<uint64_t>& sizes, uint64_t max_bytes);
std::string shard_file_name(size_t shard, size_t num_shards);
// Writes model.safetensors.index.json; `weight_map` maps tensor name → shard file name.
void write_shard_index(const std::filesystem::path& dir, uint64_t total_size,
                       const nlohmann::ordered_json& weight_map);
void write_text_file(const std::filesystem::path& path, const std::string& text);

}  // namespace banyan
