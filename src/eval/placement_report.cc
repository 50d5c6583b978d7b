#include "eval/placement_report.h"

#include <fmt/format.h>

#include <set>

#include "core/error.h"

namespace banyan {

PlacementTable build_placement_table(const std::vector<Document>& sequences, const PlacementInputs& inputs,
                                     const std::vector<Policy>& policies, const AutoPlacement& auto_placement) {
  inputs.validate();
  const int64_t S = inputs.continuation_nll.sequences, N = inputs.continuation_nll.nodes;
  BANYAN_CHECK(int64_t(sequences.size()) == S, "placement table: {} sequences but {} measured", sequences.size(), S);
  PlacementTable t;
  t.nodes = N;
  for (Policy p : policies)
    if (p != Policy::Random && p != Policy::Oracle) t.policies.push_back(p);
  for (const auto& s : sequences) {
    t.domain.push_back(s.domain);
    t.line.push_back(s.line);
  }
  t.oracle = choose_nodes(Policy::Oracle, inputs);
  const std::set<std::string> domains(t.domain.begin(), t.domain.end());
  for (Policy p : t.policies) {
    t.choice.push_back(choose_nodes(p, inputs, auto_placement));
    const auto& ch = t.choice.back();
    auto add = [&](const std::string& domain) {
      PlacementConfusion c;
      c.domain = domain;
      c.policy = p;
      c.counts.assign(size_t(N), std::vector<int64_t>(size_t(N), 0));
      for (int64_t s = 0; s < S; ++s) {
        if (domain != "all" && t.domain[size_t(s)] != domain) continue;
        ++c.counts[size_t(ch[size_t(s)])][size_t(t.oracle[size_t(s)])];
        ++c.sequences;
        c.agree += ch[size_t(s)] == t.oracle[size_t(s)];
      }
      t.confusion.push_back(std::move(c));
    };
    add("all");
    for (const auto& d : domains) add(d);
  }
  return t;
}

nlohmann::json placement_table_to_json(const PlacementTable& t) {
  using nlohmann::json;
  json j;
  j["nodes"] = t.nodes;
  json policies = json::array();
  for (Policy p : t.policies) policies.push_back(policy_name(p));
  j["policies"] = policies;
  json seqs = json::array();
  for (size_t s = 0; s < t.domain.size(); ++s) {
    json sj = {{"domain", t.domain[s]}, {"line", t.line[s]}, {"oracle", t.oracle[s]}};
    for (size_t p = 0; p < t.policies.size(); ++p) sj[std::string(policy_name(t.policies[p]))] = t.choice[p][s];
    seqs.push_back(sj);
  }
  j["sequences"] = seqs;
  json conf = json::array();
  for (const auto& c : t.confusion)
    conf.push_back({{"policy", policy_name(c.policy)},
                    {"domain", c.domain},
                    {"sequences", c.sequences},
                    {"agree", c.agree},
                    {"agree_with_oracle", c.sequences ? double(c.agree) / double(c.sequences) : 0.0},
                    {"counts_chosen_by_oracle", c.counts}});
  j["confusion"] = conf;
  return j;
}

std::string format_placement_table(const PlacementTable& t) {
  std::string s;
  // Per sequence: one column per policy, then the oracle; a '*' marks a disagreement with the oracle.
  s += fmt::format("{:<14} {:>6}", "domain", "line");
  for (Policy p : t.policies) s += fmt::format(" {:>11}", policy_name(p));
  s += fmt::format(" {:>7}\n", "oracle");
  for (size_t q = 0; q < t.domain.size(); ++q) {
    s += fmt::format("{:<14} {:>6}", t.domain[q], t.line[q]);
    for (size_t p = 0; p < t.policies.size(); ++p)
      s += fmt::format(" {:>10}{}", t.choice[p][q], t.choice[p][q] == t.oracle[q] ? ' ' : '*');
    s += fmt::format(" {:>7}\n", t.oracle[q]);
  }
  s += "\nConfusion against the oracle (rows: node chosen by the policy, columns: oracle's node)\n";
  for (const auto& c : t.confusion) {
    s += fmt::format("\n{} / {}: {} of {} agree ({:.1f}%)\n", policy_name(c.policy), c.domain, c.agree, c.sequences,
                     c.sequences ? 100.0 * double(c.agree) / double(c.sequences) : 0.0);
    s += fmt::format("{:>10}", "");
    for (int64_t o = 0; o < t.nodes; ++o) s += fmt::format(" {:>6}", fmt::format("o{}", o));
    s += "\n";
    for (int64_t n = 0; n < t.nodes; ++n) {
      s += fmt::format("{:>10}", fmt::format("node {}", n));
      for (int64_t o = 0; o < t.nodes; ++o) s += fmt::format(" {:>6}", c.counts[size_t(n)][size_t(o)]);
      s += "\n";
    }
  }
  return s;
}

}  // namespace banyan
