// `banyan calibrate`: router profiles of the full model over a corpus (protocol banyan-quality-v1, step 4).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "format/safetensors.h"
#include "format/tokenizer/tokenizer.h"
#include "plan/calibrate.h"
#include "plan/corpus_walk.h"
#include "plan/profiles.h"
#include "plan/progress.h"
#include "runtime/engine.h"

namespace banyan::cli {
namespace {

struct CalibrateArgs {
  std::string model, corpus, out;
  int64_t per_domain = 50, tokens = 256;
  std::string select = "spread";
  int batch = 8, threads = 0;
  std::string device = "cpu";
  bool no_output_norms = false;
};

int run_calibrate(const CalibrateArgs& a) {
  namespace fs = std::filesystem;
  check_calibrate_device(a.device);
  Tokenizer tokenizer = Tokenizer::load(a.model);
  const DocumentSelection selection = parse_selection(a.select);
  std::vector<Document> docs = select_documents(a.corpus, tokenizer, a.per_domain, a.tokens, selection);
  BANYAN_CHECK(!docs.empty(), "{}: no document has {} tokens", a.corpus, a.tokens);
  std::map<std::string, int> per_domain;
  for (const auto& d : docs) ++per_domain[d.domain];
  std::string summary;
  for (const auto& [dom, n] : per_domain) summary += fmt::format(" {} {}", dom, n);
  spdlog::info("calibrate: {} documents of {} tokens ({} per domain):{}", docs.size(), a.tokens,
               selection_name(selection), summary);

  EngineOptions eo;
  eo.threads = a.threads;
  eo.device = a.device;
  auto engine = Engine::load(a.model, eo);
  CalibrateOptions co;
  co.batch = a.batch;
  co.output_norms = !a.no_output_norms;
  Progress progress("calibrate", docs.size(), "docs");
  Profiles p = calibrate_documents(*engine, docs, co, [&](int64_t done) { progress.update(uint64_t(done)); });
  progress.finish();
  p.source_hash = Checkpoint(a.model).source_hash();
  p.model_path = fs::absolute(a.model).string();
  p.corpus = fs::absolute(a.corpus).string();
  p.per_domain = a.per_domain;
  p.seq_tokens = a.tokens;
  p.selection = std::string(selection_name(selection));
  p.lines.clear();
  for (const auto& d : docs) p.lines.push_back(int64_t(d.line));
  write_profiles(a.out, p);
  fmt::print("{}\t{} documents\t{} tokens\n", a.out, p.docs, p.total_tokens());
  return 0;
}

RegisterCommand reg{{"calibrate", "Profile the router on a corpus (per-document expert usage)", [](CLI::App& sub) {
                       auto a = std::make_shared<CalibrateArgs>();
                       sub.add_option("--model", a->model, "Model directory")->required();
                       sub.add_option("--corpus", a->corpus, "Corpus .jsonl or .jsonl.xz (domain, text)")
                           ->required();
                       sub.add_option("--out", a->out, "Output profiles (.safetensors)")->required();
                       sub.add_option("--per-domain", a->per_domain, "Documents per domain (default 50)");
                       sub.add_option("--tokens", a->tokens, "Tokens per document (default 256)");
                       sub.add_option("--select", a->select,
                                      "Which qualifying documents of a domain: spread (evenly spaced over the whole "
                                      "domain, default) or first (the first in file order, before session 5)")
                           ->check(CLI::IsMember({"first", "spread"}));
                       sub.add_option("--batch", a->batch, "Documents per forward pass (default 8)");
                       sub.add_option("--threads", a->threads, "CPU threads (default: all)");
                       sub.add_option("--device", a->device,
                                      "Engine device: cpu (default), cuda or cuda:i (the CUDA engine's profiles "
                                      "should match the CPU's to floating-point tolerance; not yet run on a GPU)");
                       sub.add_flag("--no-output-norms", a->no_output_norms,
                                    "Skip the router-weight x expert-output-norm profile");
                       return [a] { return run_calibrate(*a); };
                     }}};

}  // namespace
}  // namespace banyan::cli
