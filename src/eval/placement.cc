#include "eval/placement.h"

#include <algorithm>
#include <cmath>
#include <ranges>

#include "core/error.h"
#include "eval/quality_protocol.h"
#include "eval/share_cap.h"

namespace banyan {

void PlacementInputs::validate() const {
  const NodeMatrix* ms[] = {&prompt_nll, &continuation_nll, &probe_mass, &auto_nll};
  const char* names[] = {"prompt_nll", "continuation_nll", "probe_mass", "auto_nll"};
  BANYAN_CHECK(continuation_nll.sequences >= 1 && continuation_nll.nodes >= 1,
               "placement needs at least one sequence and one node (got {} × {})", continuation_nll.sequences,
               continuation_nll.nodes);
  const bool has_auto_nll = auto_nll.sequences != 0 || auto_nll.nodes != 0 || !auto_nll.values.empty();
  for (int i = 0; i < (has_auto_nll ? 4 : 3); ++i) {
    BANYAN_CHECK(ms[i]->sequences == continuation_nll.sequences && ms[i]->nodes == continuation_nll.nodes &&
                     ms[i]->values.size() == size_t(ms[i]->sequences * ms[i]->nodes),
                 "placement input {} is {} × {}, expected {} × {}", names[i], ms[i]->sequences, ms[i]->nodes,
                 continuation_nll.sequences, continuation_nll.nodes);
    for (size_t k = 0; k < ms[i]->values.size(); ++k)
      BANYAN_CHECK(std::isfinite(ms[i]->values[k]), "placement input {} has a non-finite value at sequence {} node {}",
                   names[i], int64_t(k) / ms[i]->nodes, int64_t(k) % ms[i]->nodes);
  }
}

std::optional<Policy> parse_policy(std::string_view name) {
  if (name == "random") return Policy::Random;
  if (name == "probe") return Policy::Probe;
  if (name == "likelihood" || name == "prompt_likelihood") return Policy::Likelihood;
  if (name == "oracle") return Policy::Oracle;
  if (name == "auto") return Policy::Auto;
  return std::nullopt;
}

std::string_view policy_name(Policy p) {
  switch (p) {
    case Policy::Random: return "random";
    case Policy::Probe: return "probe";
    case Policy::Likelihood: return "likelihood";
    case Policy::Oracle: return "oracle";
    case Policy::Auto: return "auto";
  }
  return "?";
}

std::vector<Policy> parse_policy_list(std::string_view csv) {
  std::vector<Policy> out;
  size_t pos = 0;
  while (pos <= csv.size()) {
    size_t comma = csv.find(',', pos);
    if (comma == std::string_view::npos) comma = csv.size();
    std::string_view name = csv.substr(pos, comma - pos);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) {
      auto p = parse_policy(name);
      BANYAN_CHECK(p, "unknown placement '{}' (random, probe, likelihood, oracle, auto)", name);
      if (std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
    }
    pos = comma + 1;
  }
  BANYAN_CHECK(!out.empty(), "no placement named in '{}'", csv);
  return out;
}

namespace {

// Index of the best value of row s; `better(a, b)` is strict, so ties keep the lowest index.
template <class Better>
int best_node(const NodeMatrix& m, int64_t s, Better better) {
  int best = 0;
  for (int64_t n = 1; n < m.nodes; ++n)
    if (better(m.at(s, n), m.at(s, best))) best = int(n);
  return best;
}

}  // namespace

AutoPlacement::AutoPlacement()
    : nll_margin(quality::kAutoNllMargin),
      probe_margin(quality::kAutoProbeMargin),
      max_load_factor(quality::kAutoMaxLoadFactor),
      share_warmup_per_node(quality::kAutoShareWarmupPerNode),
      arrival_seed(quality::kArrivalSeed) {}

double AutoPlacement::node_share(int64_t nodes) const {
  return node_share_cap(max_node_share, max_load_factor, nodes);
}

std::optional<ArrivalOrder> parse_arrival_order(std::string_view name) {
  if (name == "shuffled") return ArrivalOrder::Shuffled;
  if (name == "file") return ArrivalOrder::File;
  return std::nullopt;
}

std::string_view arrival_order_name(ArrivalOrder o) { return o == ArrivalOrder::File ? "file" : "shuffled"; }

std::vector<int64_t> arrival_permutation(int64_t sequences, ArrivalOrder order, uint64_t seed) {
  BANYAN_CHECK(sequences >= 0, "arrival order of {} sequences", sequences);
  std::vector<int64_t> p(static_cast<size_t>(sequences));
  for (int64_t i = 0; i < sequences; ++i) p[size_t(i)] = i;
  if (order == ArrivalOrder::File) return p;
  uint64_t state = seed;
  auto next = [&state] {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int64_t i = sequences - 1; i > 0; --i) {
    const uint64_t j = next() % uint64_t(i + 1);  // bias < 2^-50 for any realistic count
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

namespace {

// `auto`: least loaded (sequences so far) among the near-ties of the metric, sequences in order.
std::vector<int> choose_auto(const PlacementInputs& in, const AutoPlacement& o) {
  BANYAN_CHECK(o.nll_margin >= 0 && o.probe_margin >= 0, "auto placement margins must be >= 0 (got {} and {})",
               o.nll_margin, o.probe_margin);
  BANYAN_CHECK(!o.max_node_share || (*o.max_node_share > 0 && *o.max_node_share <= 1),
               "max node share must be in (0, 1] (got {})", o.max_node_share.value_or(0));
  BANYAN_CHECK(o.max_load_factor > 0, "max load factor must be > 0 (got {})", o.max_load_factor);
  BANYAN_CHECK(o.share_warmup_per_node >= 0, "share warm-up must be >= 0 (got {})", o.share_warmup_per_node);
  const bool probe = in.prompt_tokens < quality::kAutoProbeBelowTokens;
  const NodeMatrix& m = probe ? in.probe_mass : in.auto_nll.sequences > 0 ? in.auto_nll : in.prompt_nll;
  // Lower is better: probe mass is negated.
  auto value = [&](int64_t s, int64_t n) { return probe ? -m.at(s, n) : m.at(s, n); };
  const double margin = probe ? o.probe_margin : o.nll_margin;
  const int64_t S = m.sequences, N = m.nodes;
  const double share = o.node_share(N);
  const std::vector<int64_t> arrivals = arrival_permutation(S, o.arrival_order, o.arrival_seed);
  std::vector<int> out(size_t(S), 0);
  std::vector<int64_t> load(size_t(N), 0);
  for (int64_t k = 0; k < S; ++k) {  // k sequences placed so far; s arrives now
    const int64_t s = arrivals[size_t(k)];
    double best = value(s, 0);
    for (int64_t n = 1; n < N; ++n) best = std::min(best, value(s, n));
    int pick = -1;
    for (int64_t n = 0; n < N; ++n) {
      if (value(s, n) > best + margin) continue;
      if (pick < 0 || load[size_t(n)] < load[size_t(pick)] ||
          (load[size_t(n)] == load[size_t(pick)] && value(s, n) < value(s, pick)))
        pick = int(n);
    }
    // Share cap: node n may take the (k+1)-th arrival while (load + 1) / (k + 1) <= F.
    auto over = [&](int64_t n) { return double(load[size_t(n)] + 1) > share * double(k + 1); };
    if (share < 1 && k >= int64_t(o.share_warmup_per_node) * N)
      pick = int(share_capped_choice(
          int64_t(pick), std::views::iota(int64_t(0), N), over,
          [&](int64_t a, int64_t b) { return value(s, a) < value(s, b); },
          [&](int64_t n) { return load[size_t(n)]; }));
    out[size_t(s)] = pick;
    ++load[size_t(pick)];
  }
  return out;
}

}  // namespace

std::vector<int> choose_nodes(Policy policy, const PlacementInputs& in, const AutoPlacement& auto_options) {
  in.validate();
  if (policy == Policy::Auto) return choose_auto(in, auto_options);
  BANYAN_CHECK(policy != Policy::Random, "random placement has no single node per sequence");
  const int64_t S = in.continuation_nll.sequences;
  std::vector<int> out(size_t(S), 0);
  auto less = [](double a, double b) { return a < b; };
  auto greater = [](double a, double b) { return a > b; };
  for (int64_t s = 0; s < S; ++s) {
    switch (policy) {
      case Policy::Probe: out[size_t(s)] = best_node(in.probe_mass, s, greater); break;
      case Policy::Likelihood: out[size_t(s)] = best_node(in.prompt_nll, s, less); break;
      case Policy::Oracle: out[size_t(s)] = best_node(in.continuation_nll, s, less); break;
      default: break;
    }
  }
  return out;
}

double perplexity(const std::vector<double>& nll) {
  BANYAN_CHECK(!nll.empty(), "perplexity of no sequences");
  double sum = 0;
  for (double v : nll) sum += v;
  return std::exp(sum / double(nll.size()));
}

std::vector<double> ppl_if_all_sent_here(const NodeMatrix& m) {
  std::vector<double> out(size_t(m.nodes));
  for (int64_t n = 0; n < m.nodes; ++n) {
    std::vector<double> col(static_cast<size_t>(m.sequences));
    for (int64_t s = 0; s < m.sequences; ++s) col[size_t(s)] = m.at(s, n);
    out[size_t(n)] = perplexity(col);
  }
  return out;
}

RandomScores score_random(const NodeMatrix& m) {
  RandomScores r;
  double sum = 0;
  for (double v : m.values) sum += v;
  r.ppl_mean_nll = std::exp(sum / double(m.values.size()));
  auto per_node = ppl_if_all_sent_here(m);
  for (double p : per_node) r.ppl_mean_node += p;
  r.ppl_mean_node /= double(per_node.size());
  return r;
}

std::string_view random_definition_name(RandomDefinition d) {
  return d == RandomDefinition::MeanNll ? "exp_mean_nll" : "mean_node_ppl";
}

PlacementScore score_placement(Policy policy, const PlacementInputs& in, double full_ppl,
                               RandomDefinition random_definition, const AutoPlacement& auto_options) {
  in.validate();
  BANYAN_CHECK(full_ppl > 0, "full-model perplexity must be positive, got {}", full_ppl);
  const int64_t S = in.continuation_nll.sequences, N = in.continuation_nll.nodes;
  PlacementScore r;
  r.policy = policy;
  r.node_load.assign(size_t(N), 0.0);
  if (policy == Policy::Random) {
    RandomScores rs = score_random(in.continuation_nll);
    r.ppl = random_definition == RandomDefinition::MeanNll ? rs.ppl_mean_nll : rs.ppl_mean_node;
    // Oracle agreement and load of a uniform random choice, in expectation.
    r.agree_with_oracle = 1.0 / double(N);
    std::fill(r.node_load.begin(), r.node_load.end(), double(S) / double(N));
  } else {
    r.choices = choose_nodes(policy, in, auto_options);
    const std::vector<int> oracle = choose_nodes(Policy::Oracle, in);
    std::vector<double> nll(static_cast<size_t>(S));
    int64_t agree = 0;
    for (int64_t s = 0; s < S; ++s) {
      const int n = r.choices[size_t(s)];
      nll[size_t(s)] = in.continuation_nll.at(s, n);
      r.node_load[size_t(n)] += 1;
      agree += n == oracle[size_t(s)];
    }
    r.ppl = perplexity(nll);
    r.agree_with_oracle = double(agree) / double(S);
  }
  r.ppl_ratio = r.ppl / full_ppl;
  return r;
}

}  // namespace banyan
