#include "eval/quality_measure.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <memory>

#include "core/error.h"
#include "core/thread_pool.h"

namespace banyan {

double captured_topk_mass(std::span<const float> probs, std::span<const int32_t> ids,
                          std::span<const uint8_t> in_node) {
  double mass = 0;
  for (int32_t e : ids) {
    BANYAN_CHECK(e >= 0 && size_t(e) < probs.size() && size_t(e) < in_node.size(),
                 "router tap names expert {} outside [0, {})", e, probs.size());
    if (in_node[size_t(e)]) mass += double(probs[size_t(e)]);
  }
  return mass;
}

std::string_view probe_definition_name(ProbeDefinition d) {
  switch (d) {
    case ProbeDefinition::TopkMass: return "topk_mass";
    case ProbeDefinition::TopkShare: return "topk_share";
    case ProbeDefinition::LocalTopk: return "local_topk";
    case ProbeDefinition::RouterMass: return "router_mass";
  }
  return "?";
}

std::optional<ProbeDefinition> parse_probe_definition(std::string_view name) {
  for (ProbeDefinition d : kAllProbeDefinitions)
    if (probe_definition_name(d) == name) return d;
  return std::nullopt;
}

std::array<double, 4> probe_token_scores(std::span<const float> probs, std::span<const int32_t> ids,
                                   std::span<const uint8_t> in_node, int local_count, std::vector<float>& scratch) {
  std::array<double, 4> r{};
  double topk_total = 0;
  for (int32_t e : ids) topk_total += double(probs[size_t(e)]);
  r[0] = captured_topk_mass(probs, ids, in_node);
  r[1] = topk_total > 0 ? r[0] / topk_total : 0.0;
  scratch.clear();
  for (size_t e = 0; e < probs.size(); ++e)
    if (in_node[e]) {
      scratch.push_back(probs[e]);
      r[3] += double(probs[e]);
    }
  const size_t k = std::min(size_t(ids.size()), size_t(local_count));
  std::partial_sort(scratch.begin(), scratch.begin() + ptrdiff_t(k), scratch.end(), std::greater<float>());
  for (size_t j = 0; j < k; ++j) r[2] += double(scratch[j]);
  return r;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Job {
  int64_t sequence = 0;
  int node = -1;  // -1: the full model
};

}  // namespace

QualityMeasurements measure_quality(Engine& engine, std::span<const Document> sequences,
                                    const std::vector<std::vector<std::vector<int32_t>>>& node_experts,
                                    const QualityMeasureOptions& options) {
  const ModelSpec& spec = engine.spec();
  const int64_t S = int64_t(sequences.size());
  const int64_t N = int64_t(node_experts.size());
  BANYAN_CHECK(S >= 1, "quality evaluation: no sequences");
  BANYAN_CHECK(N >= 1, "quality evaluation: no nodes");
  BANYAN_CHECK(options.batch_items >= 1, "batch_items must be ≥ 1, got {}", options.batch_items);
  for (int64_t s = 0; s < S; ++s)
    BANYAN_CHECK(int64_t(sequences[size_t(s)].tokens.size()) > options.prompt_tokens,
                 "sequence {} ({} line {}) has {} tokens, not more than the prompt's {}", s,
                 sequences[size_t(s)].domain, sequences[size_t(s)].line, sequences[size_t(s)].tokens.size(),
                 options.prompt_tokens);
  const std::vector<int> moe_layers = spec.moe_layers();
  BANYAN_CHECK(!moe_layers.empty(), "quality evaluation needs an MoE model; {} has no MoE layer",
               family_name(spec.family));

  // One restriction per node (they outlive every forward that points at them).
  const ExpertRestriction full = ExpertRestriction::all(spec, options.top_k);
  const std::optional<int> node_top_k = options.node_top_k ? options.node_top_k : options.top_k;
  std::vector<std::unique_ptr<ExpertRestriction>> restrictions;
  std::vector<std::vector<uint8_t>> layer0_sets;  // probe: node's experts in the first MoE layer
  for (int64_t n = 0; n < N; ++n) {
    std::vector<std::vector<int32_t>> lists = node_experts[size_t(n)];
    BANYAN_CHECK(int64_t(lists.size()) == int64_t(moe_layers.size()),
                 "node {}: expert lists for {} MoE layers, the model has {}", n, lists.size(), moe_layers.size());
    try {
      restrictions.push_back(std::make_unique<ExpertRestriction>(spec, lists, node_top_k));
    } catch (const Error& e) {
      fail("node {}: {}", n, e.what());
    }
    std::vector<uint8_t> set(size_t(spec.num_experts), 0);
    for (int32_t e : lists[0]) set[size_t(e)] = 1;
    layer0_sets.push_back(std::move(set));
  }

  QualityMeasurements m;
  m.full.resize(size_t(S));
  m.restricted.prompt_tokens = options.prompt_tokens;
  m.restricted.prompt_nll = NodeMatrix(S, N);
  m.restricted.auto_nll = NodeMatrix(S, N);
  m.auto_skip_prompt_tokens = options.auto_skip_prompt_tokens;
  m.restricted.continuation_nll = NodeMatrix(S, N);
  m.restricted.probe_mass = NodeMatrix(S, N);
  m.probe_layer = moe_layers[0];
  m.node_top_k = node_top_k ? *node_top_k : int(spec.top_k);
  m.probe_variants.assign(std::size(kAllProbeDefinitions), NodeMatrix(S, N));
  std::vector<int> local_counts;
  for (const auto& set : layer0_sets) local_counts.push_back(int(std::count(set.begin(), set.end(), uint8_t(1))));
  std::vector<float> scratch;
  if (options.keep_prompt_token_nll) {
    m.full_prompt_token_nll.resize(size_t(S));
    m.prompt_token_nll.resize(size_t(S * N));
    m.continuation_token_nll.resize(size_t(S * N));
  }

  std::vector<Job> jobs;
  for (int64_t s = 0; s < S; ++s)
    for (int n = -1; n < int(N); ++n) jobs.push_back({s, n});

  ThreadPool pool(options.threads);
  ForwardOutput out;
  std::vector<BatchItem> batch;
  std::vector<RouterTapRequest> taps;
  std::vector<std::vector<double>> item_nll;
  const int64_t total = int64_t(jobs.size());
  for (int64_t j0 = 0; j0 < total; j0 += options.batch_items) {
    const int64_t j1 = std::min(total, j0 + options.batch_items);
    const size_t count = size_t(j1 - j0);
    batch.assign(count, BatchItem{});
    taps.assign(count, RouterTapRequest{});
    for (size_t i = 0; i < count; ++i) {
      const Job& job = jobs[size_t(j0) + i];
      const auto& tokens = sequences[size_t(job.sequence)].tokens;
      BatchItem& item = batch[i];
      item.seq = engine.create_sequence();
      item.tokens = tokens;
      // Row j predicts token j+1, so the last position needs no logits.
      std::vector<int32_t> rows(tokens.size() - 1);
      for (size_t r = 0; r < rows.size(); ++r) rows[r] = int32_t(r);
      item.logits = LogitsRequest::at(std::move(rows));
      item.restriction = job.node < 0 ? &full : restrictions[size_t(job.node)].get();
      if (job.node < 0) {
        taps[i].layers = {m.probe_layer};
        item.taps = &taps[i];
      }
    }
    const auto t0 = Clock::now();
    try {
      engine.forward(batch, out);
    } catch (...) {
      for (auto& item : batch) engine.free_sequence(item.seq);
      throw;
    }
    for (auto& item : batch) engine.free_sequence(item.seq);
    m.forward_seconds += seconds_since(t0);
    m.forwards += int64_t(count);
    for (auto& item : batch) m.tokens += int64_t(item.tokens.size());

    const auto t1 = Clock::now();
    item_nll.assign(count, {});
    pool.parallel_for(int64_t(count), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const auto& tokens = batch[size_t(i)].tokens;
        const int64_t rows = out.num_rows(size_t(i));
        BANYAN_CHECK(rows == int64_t(tokens.size()) - 1, "engine returned {} logits rows for {} tokens", rows,
                     tokens.size());
        std::span<const float> logits(out.logits.data() + out.item_rows[size_t(i)] * out.vocab_size,
                                      size_t(rows * out.vocab_size));
        item_nll[size_t(i)] = next_token_nll(logits, out.vocab_size, tokens);
      }
    });
    for (size_t i = 0; i < count; ++i) {
      const Job& job = jobs[size_t(j0) + i];
      const SequenceNll nll = split_sequence_nll(item_nll[i], options.prompt_tokens, options.auto_skip_prompt_tokens);
      if (options.keep_prompt_token_nll) {
        // item_nll[i][t - 1] is the NLL of target t; the prompt's targets are t = 1..prompt_tokens-1.
        std::vector<float> kept(item_nll[i].begin(), item_nll[i].begin() + (options.prompt_tokens - 1));
        (job.node >= 0 ? m.prompt_token_nll[size_t(job.sequence * N + job.node)]
                       : m.full_prompt_token_nll[size_t(job.sequence)]) = std::move(kept);
        if (job.node >= 0)
          m.continuation_token_nll[size_t(job.sequence * N + job.node)].assign(
              item_nll[i].begin() + (options.prompt_tokens - 1), item_nll[i].end());
      }
      if (job.node >= 0) {
        m.restricted.prompt_nll.at(job.sequence, job.node) = nll.prompt;
        m.restricted.auto_nll.at(job.sequence, job.node) = nll.prompt_tail;
        m.restricted.continuation_nll.at(job.sequence, job.node) = nll.continuation;
        continue;
      }
      m.full[size_t(job.sequence)] = nll;
      BANYAN_CHECK(taps[i].taps.size() == 1, "engine returned {} router taps, expected 1", taps[i].taps.size());
      const RouterTap& tap = taps[i].taps[0];
      const size_t E = size_t(spec.num_experts), k = size_t(tap.k);
      m.probe_top_k = tap.k;
      for (int64_t n = 0; n < N; ++n) {
        std::array<double, 4> sum{};
        for (int t = 0; t < options.prompt_tokens; ++t) {
          auto v = probe_token_scores({tap.probs.data() + size_t(t) * E, E}, {tap.ids.data() + size_t(t) * k, k},
                                layer0_sets[size_t(n)], local_counts[size_t(n)], scratch);
          for (size_t d = 0; d < sum.size(); ++d) sum[d] += v[d];
        }
        for (size_t d = 0; d < sum.size(); ++d)
          m.probe_variants[d].at(job.sequence, n) = sum[d] / double(options.prompt_tokens);
        m.restricted.probe_mass.at(job.sequence, n) =
            m.probe_variants[size_t(options.probe)].at(job.sequence, n);
      }
    }
    m.scoring_seconds += seconds_since(t1);
    if (options.progress) options.progress(j1, total);
  }
  return m;
}

}  // namespace banyan
