#include "eval/quality_report.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace banyan {

QualityReport build_quality_report(const std::vector<Document>& sequences, const QualityMeasurements& m,
                                   const std::vector<Policy>& policies, RandomDefinition random_definition,
                                   ProbeDefinition probe_definition, const AutoPlacement& auto_placement) {
  const int64_t S = int64_t(sequences.size());
  BANYAN_CHECK(S == int64_t(m.full.size()) && S == m.restricted.continuation_nll.sequences,
               "report: {} sequences but {} full and {} restricted measurements", S, m.full.size(),
               m.restricted.continuation_nll.sequences);
  QualityReport r;
  r.num_sequences = S;
  r.nodes = m.restricted.continuation_nll.nodes;
  r.prompt_tokens = m.restricted.prompt_tokens;
  r.top_k = m.probe_top_k;
  r.node_top_k = m.node_top_k;
  r.domain_counts = count_by_domain(sequences);

  std::vector<double> full_nll(static_cast<size_t>(S));
  std::map<std::string, std::vector<double>> by_domain;
  for (int64_t s = 0; s < S; ++s) {
    full_nll[size_t(s)] = m.full[size_t(s)].continuation;
    by_domain[sequences[size_t(s)].domain].push_back(full_nll[size_t(s)]);
    r.seq_domain.push_back(sequences[size_t(s)].domain);
    r.seq_line.push_back(sequences[size_t(s)].line);
  }
  r.full_ppl = perplexity(full_nll);
  for (const auto& [d, v] : by_domain) r.full_ppl_by_domain[d] = perplexity(v);
  r.seq_full = m.full;
  r.seq_full_prompt_token_nll = m.full_prompt_token_nll;
  r.seq_prompt_token_nll = m.prompt_token_nll;
  r.seq_continuation_token_nll = m.continuation_token_nll;
  r.restricted = m.restricted;

  r.random = score_random(m.restricted.continuation_nll);
  r.random_definition = random_definition;
  std::vector<Policy> todo = policies;
  if (std::find(todo.begin(), todo.end(), Policy::Oracle) == todo.end()) todo.push_back(Policy::Oracle);
  r.auto_placement = auto_placement;
  r.auto_skip_prompt_tokens = m.auto_skip_prompt_tokens;
  for (Policy p : todo)
    r.placements.push_back(score_placement(p, m.restricted, r.full_ppl, random_definition, auto_placement));

  r.probe_definition = std::string(probe_definition_name(probe_definition));
  for (size_t d = 0; d < m.probe_variants.size(); ++d) {
    PlacementInputs in = m.restricted;
    in.probe_mass = m.probe_variants[d];
    const std::string name(probe_definition_name(kAllProbeDefinitions[d]));
    r.probe_variants[name] = score_placement(Policy::Probe, in, r.full_ppl, random_definition);
    r.seq_probe_variants[name] = m.probe_variants[d];
  }
  r.ppl_if_all_sent_here = ppl_if_all_sent_here(m.restricted.continuation_nll);
  r.captured_mass.assign(size_t(r.nodes), 0.0);
  for (int64_t n = 0; n < r.nodes; ++n) {
    for (int64_t s = 0; s < S; ++s) r.captured_mass[size_t(n)] += m.restricted.probe_mass.at(s, n);
    r.captured_mass[size_t(n)] /= double(S);
  }
  r.timing["forward_s"] = m.forward_seconds;
  r.timing["scoring_s"] = m.scoring_seconds;
  r.timing["tokens"] = double(m.tokens);
  r.timing["forwards"] = double(m.forwards);
  if (m.forward_seconds > 0) r.timing["tokens_per_s"] = double(m.tokens) / m.forward_seconds;
  return r;
}

nlohmann::json quality_report_to_json(const QualityReport& r) {
  using nlohmann::json;
  json j;
  j["protocol"] = r.protocol;
  j["model"] = r.model;
  j["heldout"] = r.heldout;
  j["plan"] = {{"id", r.plan_id}, {"scheme", r.scheme}, {"nodes", r.nodes},
               {"experts_per_node", r.experts_per_node}, {"replicate", r.replicate}};
  j["plan_id"] = r.plan_id;
  j["scheme"] = r.scheme;
  j["top_k"] = r.top_k;
  j["node_top_k"] = r.node_top_k;
  j["prompt_tokens"] = r.prompt_tokens;
  j["per_domain"] = r.per_domain;
  j["expert_dtype"] = r.expert_dtype;
  j["num_sequences"] = r.num_sequences;
  j["domain_counts"] = r.domain_counts;
  j["full_ppl"] = r.full_ppl;
  j["full_ppl_by_domain"] = r.full_ppl_by_domain;
  j["random_definitions"] = {{"exp_mean_nll", r.random.ppl_mean_nll},
                             {"mean_node_ppl", r.random.ppl_mean_node},
                             {"reported", random_definition_name(r.random_definition)}};
  json placements = json::object();
  for (const auto& p : r.placements) {
    json pj = {{"ppl", p.ppl}, {"ppl_ratio", p.ppl_ratio}, {"agree_with_oracle", p.agree_with_oracle},
               {"node_load", p.node_load}};
    if (p.policy == Policy::Random) pj["expected"] = true;  // load and agreement of a uniform choice
    placements[std::string(policy_name(p.policy))] = pj;
  }
  j["placements"] = placements;
  j["auto_placement"] = {{"nll_margin", r.auto_placement.nll_margin},
                         {"probe_margin", r.auto_placement.probe_margin},
                         {"skip_prompt_tokens", r.auto_skip_prompt_tokens},
                         {"max_node_share", r.auto_placement.node_share(r.nodes)},
                         {"max_node_share_source", r.auto_placement.max_node_share ? "--max-node-share"
                                                                                   : "min(1, max_load_factor / nodes)"},
                         {"max_load_factor", r.auto_placement.max_load_factor},
                         {"share_warmup_per_node", r.auto_placement.share_warmup_per_node},
                         {"arrival_order", arrival_order_name(r.auto_placement.arrival_order)},
                         {"arrival_seed", r.auto_placement.arrival_seed},
                         {"order", r.auto_placement.arrival_order == ArrivalOrder::File
                                       ? "sequences in file order, least loaded among near-ties"
                                       : "sequences in a seeded shuffled arrival order (arrival_seed), least loaded "
                                         "among near-ties; per-sequence results in protocol order"}};
  j["probe_definition"] = r.probe_definition;
  nlohmann::json variants = nlohmann::json::object();
  for (const auto& [name, p] : r.probe_variants)
    variants[name] = {{"ppl", p.ppl}, {"agree_with_oracle", p.agree_with_oracle}, {"node_load", p.node_load}};
  j["probe_variants"] = variants;
  json nodes = json::array();
  for (int64_t n = 0; n < r.nodes; ++n)
    nodes.push_back({{"index", n},
                     {"ppl_if_all_sent_here", r.ppl_if_all_sent_here[size_t(n)]},
                     {"captured_mass", r.captured_mass[size_t(n)]}});
  j["nodes"] = nodes;
  json seqs = json::array();
  for (int64_t s = 0; s < r.num_sequences; ++s) {
    json sj = {{"domain", r.seq_domain[size_t(s)]},
               {"line", r.seq_line[size_t(s)]},
               {"full_prompt_nll", r.seq_full[size_t(s)].prompt},
               {"full_continuation_nll", r.seq_full[size_t(s)].continuation}};
    std::vector<double> pn, cn, pm;
    for (int64_t n = 0; n < r.nodes; ++n) {
      pn.push_back(r.restricted.prompt_nll.at(s, n));
      cn.push_back(r.restricted.continuation_nll.at(s, n));
      pm.push_back(r.restricted.probe_mass.at(s, n));
    }
    sj["prompt_nll"] = pn;
    if (r.restricted.auto_nll.sequences > 0) {
      std::vector<double> an;
      for (int64_t n = 0; n < r.nodes; ++n) an.push_back(r.restricted.auto_nll.at(s, n));
      sj["auto_nll"] = an;
    }
    sj["continuation_nll"] = cn;
    sj["probe_mass"] = pm;
    for (const auto& [name, mat] : r.seq_probe_variants) {
      std::vector<double> v;
      for (int64_t n = 0; n < r.nodes; ++n) v.push_back(mat.at(s, n));
      sj["probe_" + name] = v;
    }
    if (!r.seq_prompt_token_nll.empty()) {
      sj["full_prompt_token_nll"] = r.seq_full_prompt_token_nll[size_t(s)];
      json per_node = json::array();
      for (int64_t n = 0; n < r.nodes; ++n) per_node.push_back(r.seq_prompt_token_nll[size_t(s * r.nodes + n)]);
      sj["prompt_token_nll"] = per_node;
    }
    if (!r.seq_continuation_token_nll.empty()) {
      json per_node = json::array();
      for (int64_t n = 0; n < r.nodes; ++n)
        per_node.push_back(r.seq_continuation_token_nll[size_t(s * r.nodes + n)]);
      sj["continuation_token_nll"] = per_node;
    }
    seqs.push_back(sj);
  }
  j["sequences"] = seqs;
  j["timing"] = r.timing;
  return j;
}

std::string format_quality_table(const QualityReport& r) {
  std::string s;
  s += fmt::format("{} on {} ({} sequences:", r.protocol, r.heldout, r.num_sequences);
  for (const auto& [d, c] : r.domain_counts) s += fmt::format(" {} {}", d, c);
  s += ")\n";
  s += fmt::format("plan {} scheme {} nodes {} experts/node {} replicate {} top-k {} (nodes {}) experts {}\n",
                   r.plan_id, r.scheme, r.nodes, r.experts_per_node, r.replicate, r.top_k, r.node_top_k,
                   r.expert_dtype);
  s += fmt::format("full model ppl {:.3f} (", r.full_ppl);
  bool first = true;
  for (const auto& [d, p] : r.full_ppl_by_domain) {
    s += fmt::format("{}{} {:.3f}", first ? "" : ", ", d, p);
    first = false;
  }
  s += ")\n\n";
  s += fmt::format("{:<11} {:>9} {:>7} {:>7}  {}\n", "placement", "ppl", "ratio", "oracle", "sequences per node");
  for (const auto& p : r.placements) {
    std::string load;
    for (double l : p.node_load)
      load += p.policy == Policy::Random ? fmt::format(" {:.1f}", l) : fmt::format(" {:.0f}", l);
    s += fmt::format("{:<11} {:>9.3f} {:>7.3f} {:>6.1f}% {}\n", policy_name(p.policy), p.ppl, p.ppl_ratio,
                     100.0 * p.agree_with_oracle, load);
  }
  s += fmt::format("(random = {}; exp(mean NLL) {:.3f}, mean of node ppl {:.3f})\n",
                   random_definition_name(r.random_definition), r.random.ppl_mean_nll, r.random.ppl_mean_node);
  const double share = r.auto_placement.node_share(r.nodes);
  s += fmt::format("(auto = online in {} order{}, least loaded among nodes within {} nats/token of the best prompt "
                   "NLL without the first {} prompt tokens, or {} probe mass for short prompts{})\n\n",
                   arrival_order_name(r.auto_placement.arrival_order),
                   r.auto_placement.arrival_order == ArrivalOrder::File
                       ? std::string()
                       : fmt::format(" (seed {})", r.auto_placement.arrival_seed),
                   r.auto_placement.nll_margin, r.auto_skip_prompt_tokens, r.auto_placement.probe_margin,
                   share < 1 ? fmt::format("; no node above {:g} of the sequences so far after {} per node ({})", share,
                                           r.auto_placement.share_warmup_per_node,
                                           r.auto_placement.max_node_share
                                               ? std::string("--max-node-share")
                                               : fmt::format("{:g} x the fair share {:g}",
                                                             r.auto_placement.max_load_factor, 1.0 / double(r.nodes)))
                             : std::string("; no node share cap"));
  if (!r.probe_variants.empty()) {
    s += fmt::format("probe ({}); other probe definitions:", r.probe_definition);
    for (const auto& [name, p] : r.probe_variants) s += fmt::format(" {} {:.3f}", name, p.ppl);
    s += "\n\n";
  }
  s += fmt::format("{:<6} {:>22} {:>14}\n", "node", "ppl_if_all_sent_here", "captured_mass");
  for (int64_t n = 0; n < r.nodes; ++n)
    s += fmt::format("{:<6} {:>22.3f} {:>14.4f}\n", n, r.ppl_if_all_sent_here[size_t(n)], r.captured_mass[size_t(n)]);
  return s;
}

}  // namespace banyan
