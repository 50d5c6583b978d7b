// `banyan inspect DIR [--json]`: family, layers, experts, sizes by role, active parameters, bytes per node.
#include <cstdio>

#include "cli/command.h"
#include "format/safetensors.h"
#include "model/model_summary.h"

namespace banyan::cli {
namespace {
RegisterCommand reg{{"inspect", "Describe a Hugging Face MoE checkpoint: sizes, experts, bytes per node",
                     [](CLI::App& sub) {
                       auto dir = std::make_shared<std::string>();
                       auto json = std::make_shared<bool>(false);
                       sub.add_option("dir", *dir, "model directory (config.json + safetensors)")->required();
                       sub.add_flag("--json", *json, "print JSON instead of text");
                       return [dir, json] {
                         ModelSpec spec = load_model_spec(*dir);
                         Checkpoint ckpt(*dir);
                         ModelSummary s = summarize_model(spec, ckpt);
                         if (*json)
                           std::printf("%s\n", summary_to_json(s).dump(2).c_str());
                         else
                           std::printf("%s", summary_to_text(s).c_str());
                         return 0;
                       };
                     }}};
}  // namespace
}  // namespace banyan::cli
