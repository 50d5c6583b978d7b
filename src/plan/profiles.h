// Router profiles from calibration: per document and MoE layer, how the full model's router treats each expert.
// Stored as safetensors (binary-safe, mmap-able) with a JSON metadata entry "banyan-profiles".
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace banyan {

struct Profiles {
  // Dimensions: docs × moe_layers × experts, row-major (doc slowest).
  int64_t docs = 0;
  int64_t layers = 0;  // MoE layers only; moe_layers maps them to decoder layer indices
  int64_t experts = 0;

  // Mean over the document's positions of the unmasked router probabilities (softmax, or the family's scores).
  std::vector<float> probs;
  // Number of positions at which the expert was among the full model's top-k selections.
  std::vector<float> counts;
  // Optional (empty when absent): mean over positions of prob × [selected], i.e. the top-k router mass each
  // expert receives. Sums to the mean top-k mass per (doc, layer).
  std::vector<float> topk_mass;
  // Optional (empty when absent): sum over positions of router weight × ‖expert output‖ (REAP-style saliency).
  std::vector<float> out_norm;

  // Provenance.
  std::string source_hash;  // Checkpoint::source_hash() of the calibrated model
  std::string model_path;
  std::string corpus;
  int64_t per_domain = 0;   // cap on documents per domain
  int64_t seq_tokens = 0;   // tokens per document
  std::string selection;    // corpus walk's document selection ("first" / "spread"; empty: not recorded)
  int64_t top_k = 0;
  std::vector<int> moe_layers;       // decoder layer index of each profile layer
  std::vector<std::string> domains;  // per doc
  std::vector<int64_t> tokens;       // per doc
  std::vector<int64_t> lines;        // per doc: 1-based corpus line (optional: empty when not recorded)

  size_t offset(int64_t doc, int64_t layer) const { return size_t((doc * layers + layer) * experts); }
  const float* probs_at(int64_t doc, int64_t layer) const { return probs.data() + offset(doc, layer); }
  const float* counts_at(int64_t doc, int64_t layer) const { return counts.data() + offset(doc, layer); }
  int64_t total_tokens() const;
  // Allocates every present tensor for the given sizes (probs and counts always; the optional ones if asked).
  void resize(int64_t docs, int64_t layers, int64_t experts, bool with_topk_mass, bool with_out_norm);
  // Throws banyan::Error (prefixed by `label`) when sizes or per-doc metadata disagree.
  void validate(const std::string& label) const;
};

void write_profiles(const std::filesystem::path& path, const Profiles& profiles);
Profiles read_profiles(const std::filesystem::path& path);

}  // namespace banyan
