// `banyan pack --format gguf|both`: one GGUF per node of a plan, OUT/<node>.gguf, that stock llama.cpp serves.
// Each node's bundle is written first (streaming, pack/bundle_writer.h) and converted to GGUF (streaming,
// gguf_export.h), so a node's GGUF is byte-identical to `banyan export gguf --model OUT/<node>`; with
// keep_bundles false the bundle is deleted once its GGUF is complete. Nodes go one after the other, so at most one
// extra bundle is on disk at a time and peak RSS stays that of one conversion chunk.
#pragma once
#include <filesystem>
#include <vector>

#include "pack/bundle_writer.h"
#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

struct GgufPackOptions {
  TensorType type = TensorType::F16;
  bool keep_bundles = false;
};

struct PackedGguf {
  PackedNode bundle;  // bundle.dir no longer exists when keep_bundles is false
  std::filesystem::path gguf;
  uint64_t gguf_bytes = 0;
};

std::vector<PackedGguf> pack_gguf(const std::filesystem::path& model_dir, const Plan& plan,
                                  const std::filesystem::path& out_dir, const PackOptions& options,
                                  const GgufPackOptions& gguf_options);

}  // namespace banyan::gguf
