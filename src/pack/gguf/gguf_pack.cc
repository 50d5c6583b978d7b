#include "pack/gguf/gguf_pack.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "pack/gguf/gguf_export.h"

namespace banyan::gguf {

std::vector<PackedGguf> pack_gguf(const std::filesystem::path& model_dir, const Plan& plan,
                                  const std::filesystem::path& out_dir, const PackOptions& options,
                                  const GgufPackOptions& gguf_options) {
  std::vector<int> nodes = options.nodes;
  if (nodes.empty())
    for (size_t i = 0; i < plan.nodes.size(); ++i) nodes.push_back(int(i));
  std::vector<PackedGguf> packed;
  for (int n : nodes) {
    PackOptions one = options;
    one.nodes = {n};
    PackedGguf p;
    p.bundle = pack_bundles(model_dir, plan, out_dir, one).at(0);
    p.gguf = out_dir / (p.bundle.dir.filename().string() + ".gguf");
    p.gguf_bytes = export_gguf(p.bundle.dir, p.gguf, gguf_options.type).bytes;
    if (!gguf_options.keep_bundles) std::filesystem::remove_all(p.bundle.dir);
    spdlog::info("{}: {} bytes of GGUF ({})", p.gguf.string(), p.gguf_bytes, tensor_type_name(gguf_options.type));
    packed.push_back(std::move(p));
  }
  return packed;
}

}  // namespace banyan::gguf
