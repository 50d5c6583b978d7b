#include "pack/shards.h"

#include <fmt/format.h>

#include <fstream>

#include "core/error.h"

namespace banyan {

std::vector<std::vector<size_t>> split_into_shards(const std::vector<uint64_t>& sizes, uint64_t max_bytes) {
  BANYAN_CHECK(max_bytes > 0, "shard size limit must be positive");
  std::vector<std::vector<size_t>> shards(1);
  uint64_t in_shard = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (!shards.back().empty() && in_shard + sizes[i] > max_bytes) shards.emplace_back(), in_shard = 0;
    shards.back().push_back(i);
    in_shard += sizes[i];
  }
  return shards;
}

std::string shard_file_name(size_t shard, size_t num_shards) {
  if (num_shards == 1) return "model.safetensors";
  return fmt::format("model-{:05d}-of-{:05d}.safetensors", shard + 1, num_shards);
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  BANYAN_CHECK(out, "cannot write {}", path.string());
  out << text;
  out.close();
  BANYAN_CHECK(out, "error writing {}", path.string());
}

void write_shard_index(const std::filesystem::path& dir, uint64_t total_size,
                       const nlohmann::ordered_json& weight_map) {
  nlohmann::ordered_json j = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  write_text_file(dir / "model.safetensors.index.json", j.dump(2) + "\n");
}

}  // namespace banyan
