// `banyan export gguf --model DIR --out FILE [--type f32|f16|bf16|q8_0]`: writes a GGUF file llama.cpp loads.
#include <cstdio>

#include "cli/command.h"
#include "pack/gguf/gguf_export.h"

namespace banyan::cli {
namespace {

struct ExportArgs {
  std::string model, out, type = "f16";
};

RegisterCommand reg{{"export", "export a model or node bundle to another format (gguf)", [](CLI::App& sub) {
  sub.require_subcommand(1);
  auto a = std::make_shared<ExportArgs>();
  auto* gguf = sub.add_subcommand("gguf", "write a GGUF file for llama.cpp");
  gguf->add_option("--model", a->model, "model or bundle directory (Hugging Face layout)")->required();
  gguf->add_option("--out", a->out, "output .gguf file")->required();
  gguf->add_option("--type", a->type, "type of the weight matrices: f32, f16, bf16, q8_0 (norms/routers stay f32)")
      ->capture_default_str();
  return std::function<int()>([a] {
    const auto st = gguf::export_gguf(a->model, a->out, gguf::parse_export_type(a->type));
    std::printf("wrote %s: %zu tensors, %llu bytes (%s)\n", a->out.c_str(), st.tensors,
                static_cast<unsigned long long>(st.bytes), a->type.c_str());
    return 0;
  });
}}};

}  // namespace
}  // namespace banyan::cli
