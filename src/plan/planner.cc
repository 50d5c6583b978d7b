#include "plan/planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "plan/kmeans.h"
#include "plan/predicted_quality.h"
#include "plan/refine.h"
#include "plan/set_search.h"

namespace banyan {
namespace {

using LayerScores = std::vector<std::vector<double>>;  // [moe layer][expert]

const std::vector<float>& criterion_tensor(const Profiles& p, Criterion c) {
  switch (c) {
    case Criterion::Probs: return p.probs;
    case Criterion::Counts: return p.counts;
    case Criterion::TopkMass:
      BANYAN_CHECK(!p.topk_mass.empty(), "criterion topk_mass: the profiles carry no topk_mass tensor");
      return p.topk_mass;
    case Criterion::OutNorm:
      BANYAN_CHECK(!p.out_norm.empty(), "criterion out_norm: the profiles carry no out_norm tensor");
      return p.out_norm;
  }
  fail("unknown criterion");
}

// Mean over `docs` of the criterion, each (doc, layer) row normalised to sum 1.
LayerScores mean_scores(const Profiles& p, const std::vector<float>& t, const std::vector<int64_t>& docs) {
  LayerScores s(size_t(p.layers), std::vector<double>(size_t(p.experts), 0.0));
  for (int64_t d : docs)
    for (int64_t l = 0; l < p.layers; ++l) {
      const float* row = t.data() + p.offset(d, l);
      double sum = 0;
      for (int64_t e = 0; e < p.experts; ++e) sum += row[e];
      if (sum <= 0) continue;
      for (int64_t e = 0; e < p.experts; ++e) s[l][e] += row[e] / sum;
    }
  if (!docs.empty())
    for (auto& layer : s)
      for (auto& v : layer) v /= double(docs.size());
  return s;
}

// Experts ordered by descending score, ties by ascending id (deterministic).
std::vector<int> ranked(const std::vector<double>& score) {
  std::vector<int> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[a] > score[b]; });
  return order;
}

// Greedy balanced disjoint split of one layer: pairs (cluster, expert) by descending preference ratio.
std::vector<std::vector<int>> split_by_preference(const std::vector<std::vector<double>>& cluster_mean,
                                                  const std::vector<double>& overall, int64_t capacity) {
  const size_t k = cluster_mean.size(), e_count = overall.size();
  struct Pair {
    double ratio;
    int cluster, expert;
  };
  std::vector<Pair> pairs;
  pairs.reserve(k * e_count);
  for (size_t c = 0; c < k; ++c)
    for (size_t e = 0; e < e_count; ++e) {
      // Experts nobody uses get ratio 1 (no preference) rather than 0/0.
      double ratio = overall[e] > 0 ? cluster_mean[c][e] / overall[e] : 1.0;
      pairs.push_back({ratio, int(c), int(e)});
    }
  std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.ratio > b.ratio; });
  std::vector<std::vector<int>> groups(k);
  std::vector<char> taken(e_count, 0);
  for (const Pair& p : pairs) {
    if (taken[p.expert] || int64_t(groups[p.cluster].size()) >= capacity) continue;
    taken[p.expert] = 1;
    groups[p.cluster].push_back(p.expert);
  }
  return groups;
}

// Appends experts from `order` that `set` lacks until it holds `target`.
void add_in_order(std::vector<int>& set, const std::vector<int>& order, size_t target, int64_t num_experts) {
  std::vector<char> has(static_cast<size_t>(num_experts), 0);
  for (int e : set) has[e] = 1;
  for (int e : order) {
    if (set.size() >= target) break;
    if (!has[e]) set.push_back(e), has[e] = 1;
  }
}

}  // namespace

std::optional<Scheme> parse_scheme(std::string_view n) {
  if (n == "contiguous") return Scheme::Contiguous;
  if (n == "clustered") return Scheme::Clustered;
  if (n == "budget") return Scheme::Budget;
  if (n == "auto") return Scheme::Auto;
  return std::nullopt;
}

std::string_view scheme_name(Scheme s) {
  switch (s) {
    case Scheme::Contiguous: return "contiguous";
    case Scheme::Clustered: return "clustered";
    case Scheme::Budget: return "budget";
    case Scheme::Auto: return "auto";
  }
  return "?";
}

std::optional<Criterion> parse_criterion(std::string_view n) {
  if (n == "probs") return Criterion::Probs;
  if (n == "counts") return Criterion::Counts;
  if (n == "topk_mass") return Criterion::TopkMass;
  if (n == "out_norm") return Criterion::OutNorm;
  return std::nullopt;
}

std::string_view criterion_name(Criterion c) {
  switch (c) {
    case Criterion::Probs: return "probs";
    case Criterion::Counts: return "counts";
    case Criterion::TopkMass: return "topk_mass";
    case Criterion::OutNorm: return "out_norm";
  }
  return "?";
}

int64_t auto_node_top_k(int64_t top_k, int64_t local, int64_t num_experts) {
  BANYAN_CHECK(top_k >= 1 && local >= 1 && local <= num_experts, "auto_node_top_k: top_k {}, {} of {} experts",
               top_k, local, num_experts);
  if (local >= num_experts) return top_k;
  // round(0.75 k E / local), kept within [k, local].
  const int64_t widened = (3 * top_k * num_experts + 2 * local) / (4 * local);
  return std::min(local, std::max(top_k, widened));
}

PlanOptions resolve_auto(const PlanOptions& options, const Profiles* profiles) {
  if (options.scheme != Scheme::Auto) return options;
  BANYAN_CHECK(profiles, "plan: scheme auto needs --profiles (calibration)");
  BANYAN_CHECK(options.nodes >= 1, "plan: --nodes must be at least 1, got {}", options.nodes);
  PlanOptions o = options;
  // Any budget K: each cluster keeps its own top K (overlap allowed). Even at K = E/N this beat the disjoint
  // split by preference (2 nodes x 64 of 128: 10.67 vs 13.18), so disjoint is only chosen without a budget.
  if (o.experts_per_node > 0) {
    o.scheme = Scheme::Budget;
  } else {
    o.scheme = Scheme::Clustered;
  }
  // Saliency (router weight x output norm) ranks experts by what they contribute, not only by how often they
  // are picked; it won at every overlapping budget measured (see the header).
  if (!profiles->out_norm.empty())
    o.criterion = Criterion::OutNorm;
  else if (!profiles->topk_mass.empty())
    o.criterion = Criterion::TopkMass;
  else
    o.criterion = Criterion::Probs;
  o.balance = true;
  // Refinement for every disjoint split and where every node keeps at least half the experts (see
  // kAutoRefineRounds); budget plans of fewer experts per node were never measured.
  const int64_t local = o.experts_per_node > 0 ? o.experts_per_node : profiles->experts / o.nodes;
  if (o.refine == 0 && (o.scheme == Scheme::Clustered || 2 * local >= profiles->experts))
    o.refine = kAutoRefineRounds;
  // Soft responsibilities for the final sets at 4+ nodes holding at most half the experts (kAutoSoftSetsBeta).
  if (o.soft_sets_beta == 0 && o.replicate == 0 && o.nodes >= kAutoSoftSetsMinNodes && 2 * local <= profiles->experts)
    o.soft_sets_beta = kAutoSoftSetsBeta;
  return o;
}

Plan make_plan(const PlanModel& model, const PlanOptions& requested, const Profiles* profiles,
               const std::string& profiles_path) {
  const PlanOptions o = resolve_auto(requested, profiles);
  const int64_t E = model.num_experts, N = o.nodes, L = int64_t(model.moe_layers.size());
  BANYAN_CHECK(N >= 1, "plan: --nodes must be at least 1, got {}", N);
  BANYAN_CHECK(E >= 1 && L >= 1, "plan: model has no routed experts ({} experts, {} MoE layers)", E, L);
  BANYAN_CHECK(o.refine >= 0, "plan: --refine {} must be >= 0", o.refine);
  BANYAN_CHECK(o.soft_sets_beta >= 0 && o.soft_sets_rounds >= 1, "plan: --soft-sets {} must be >= 0 and "
               "--soft-sets-rounds {} >= 1", o.soft_sets_beta, o.soft_sets_rounds);
  BANYAN_CHECK(o.replicate >= 0 && o.replicate <= E, "plan: --replicate {} out of range [0, {}]", o.replicate, E);
  const bool disjoint = o.scheme != Scheme::Budget;
  if (disjoint) {
    BANYAN_CHECK(E % N == 0, "plan: {} scheme needs the expert count ({}) divisible by --nodes ({})",
                 scheme_name(o.scheme), E, N);
    BANYAN_CHECK(o.experts_per_node == 0,
                 "plan: --experts-per-node applies to the budget scheme only ({} holds E/N + fill per node)",
                 scheme_name(o.scheme));
  } else {
    BANYAN_CHECK(o.experts_per_node >= 1 && o.experts_per_node <= E,
                 "plan: budget scheme needs --experts-per-node in [1, {}], got {}", E, o.experts_per_node);
    BANYAN_CHECK(o.replicate <= o.experts_per_node, "plan: --replicate {} exceeds --experts-per-node {} (budget)",
                 o.replicate, o.experts_per_node);
  }
  const bool needs_profiles = o.scheme != Scheme::Contiguous || o.replicate > 0;
  BANYAN_CHECK(profiles || !needs_profiles, "plan: scheme {}{} needs --profiles (calibration)", scheme_name(o.scheme),
               o.replicate > 0 ? " with --replicate" : "");
  if (profiles) {
    const Profiles& p = *profiles;
    BANYAN_CHECK(p.source_hash == model.source_sha256,
                 "plan: profiles {} were calibrated on another checkpoint (source hash {} != model's {})",
                 profiles_path, p.source_hash, model.source_sha256);
    BANYAN_CHECK(p.experts == E && p.moe_layers == model.moe_layers,
                 "plan: profiles {} have {} experts over MoE layers [{}], the model {} over [{}]", profiles_path,
                 p.experts, fmt::join(p.moe_layers, ","), E, fmt::join(model.moe_layers, ","));
    BANYAN_CHECK(p.docs >= N || o.scheme == Scheme::Contiguous,
                 "plan: {} calibration documents cannot form {} clusters", p.docs, N);
  }

  Plan plan;
  plan.source_path = model.source_path;
  plan.source_sha256 = model.source_sha256;
  plan.family = model.family;
  plan.num_layers = model.num_layers;
  plan.moe_layers = model.moe_layers;
  plan.num_experts = E;
  plan.top_k = model.top_k;
  plan.scheme = std::string(scheme_name(o.scheme));
  plan.replicate = o.replicate;
  plan.seed = o.seed;
  plan.balanced_clusters = o.balance && o.scheme != Scheme::Contiguous;
  plan.criterion = std::string(criterion_name(o.criterion));
  plan.refine = o.scheme != Scheme::Contiguous ? o.refine : 0;
  if (o.scheme != Scheme::Contiguous) {
    plan.refine_unbalanced = o.refine > 0 && o.refine_unbalanced;
    plan.soft_sets_beta = o.soft_sets_beta;
    plan.soft_sets_rounds = o.soft_sets_beta > 0 ? o.soft_sets_rounds : 0;
    plan.set_search = o.set_search;
  }
  plan.nodes.resize(size_t(N));
  for (int g = 0; g < N; ++g) {
    plan.nodes[g].index = g;
    plan.nodes[g].name = fmt::format("node-{}", g);
    plan.nodes[g].experts.assign(size_t(L), {});
    plan.nodes[g].replicated.assign(size_t(L), {});
  }

  // Clusters and per-cluster preferences.
  std::vector<int> doc_cluster;
  std::vector<std::vector<int64_t>> cluster_docs;
  std::vector<LayerScores> cluster_mean;
  LayerScores overall;
  std::vector<int64_t> all_docs;
  if (profiles) {
    const Profiles& p = *profiles;
    all_docs.resize(size_t(p.docs));
    std::iota(all_docs.begin(), all_docs.end(), 0);
    overall = mean_scores(p, criterion_tensor(p, o.criterion), all_docs);
  }
  RefineOptions refine_options;
  std::vector<std::vector<std::vector<int>>> refined_sets;  // [cluster][layer], when refined
  if (o.scheme != Scheme::Contiguous) {
    const Profiles& p = *profiles;
    KMeansOptions ko;
    ko.clusters = int(N);
    ko.seed = o.seed;
    ko.restarts = o.restarts;
    ko.balanced = o.balance;
    KMeansResult km = cosine_kmeans(p.probs, p.docs, p.layers * p.experts, ko);
    doc_cluster = km.assignment;
    if (o.refine > 0) {
      refine_options.per_node = o.scheme == Scheme::Clustered ? E / N : o.experts_per_node;
      refine_options.disjoint = o.scheme == Scheme::Clustered;
      refine_options.balanced = o.balance && !o.refine_unbalanced;
      refine_options.rounds = o.refine;
      refine_clusters(p, criterion_tensor(p, o.criterion), int(N), doc_cluster, refine_options);
      refined_sets = best_sets(cluster_mass(p, criterion_tensor(p, o.criterion), doc_cluster, int(N)),
                               refine_options);
    }
    // Opt-in set choices (plan/set_search.h), applied to the refined sets or, unrefined, the clusters' best sets.
    if (o.soft_sets_beta > 0 || o.set_search) {
      BANYAN_CHECK(o.replicate == 0, "plan: --soft-sets and --set-search do not take --replicate");
      const bool dj = o.scheme == Scheme::Clustered;
      const int64_t per_node = dj ? E / N : o.experts_per_node;
      const std::vector<float>& crit = criterion_tensor(p, o.criterion);
      if (refined_sets.empty()) {
        RefineOptions so;
        so.per_node = per_node;
        so.disjoint = dj;
        refined_sets = best_sets(cluster_mass(p, crit, doc_cluster, int(N)), so);
      }
      const std::vector<double> w = normalised_rows(p, crit);
      if (o.soft_sets_beta > 0)
        soft_responsibility_sets(p, w, refined_sets, per_node, dj, o.soft_sets_beta, o.soft_sets_rounds);
      if (o.set_search) {
        SetSearchOptions sso;
        sso.disjoint = dj;
        log_coverage_search(p, w, doc_cluster, refined_sets, sso);
      }
    }
    cluster_docs.assign(size_t(N), {});
    for (int64_t d = 0; d < p.docs; ++d) cluster_docs[doc_cluster[d]].push_back(d);
    for (int g = 0; g < N; ++g) {
      cluster_mean.push_back(mean_scores(p, criterion_tensor(p, o.criterion), cluster_docs[g]));
      plan.nodes[g].cluster = g;
    }
  }

  // Base sets.
  for (int64_t l = 0; l < L; ++l) {
    if (o.scheme == Scheme::Contiguous) {
      for (int g = 0; g < N; ++g)
        for (int64_t e = g * E / N; e < (g + 1) * E / N; ++e) plan.nodes[g].experts[l].push_back(int(e));
    } else if ((o.scheme == Scheme::Clustered || o.set_search || o.soft_sets_beta > 0) && !refined_sets.empty()) {
      for (int g = 0; g < N; ++g) plan.nodes[g].experts[l] = refined_sets[g][l];
    } else if (o.scheme == Scheme::Clustered) {
      std::vector<std::vector<double>> means;
      for (int g = 0; g < N; ++g) means.push_back(cluster_mean[g][l]);
      auto groups = split_by_preference(means, overall[l], E / N);
      for (int g = 0; g < N; ++g) plan.nodes[g].experts[l] = groups[g];
    }
  }

  // Replicas, then equalise counts (disjoint schemes) or fill the budget.
  for (int64_t l = 0; l < L; ++l) {
    std::vector<int> hot;
    if (o.replicate > 0) {
      auto order = ranked(overall[l]);
      hot.assign(order.begin(), order.begin() + o.replicate);
    }
    for (int g = 0; g < N; ++g) {
      auto& set = plan.nodes[g].experts[l];
      add_in_order(set, hot, set.size() + hot.size(), E);
      plan.nodes[g].replicated[l] = hot;
    }
    if (o.scheme == Scheme::Budget) {
      for (int g = 0; g < N; ++g)
        add_in_order(plan.nodes[g].experts[l], ranked(cluster_mean[g][l]), size_t(o.experts_per_node), E);
    } else if (o.replicate > 0) {
      size_t target = 0;
      for (int g = 0; g < N; ++g) target = std::max(target, plan.nodes[g].experts[l].size());
      for (int g = 0; g < N; ++g) {
        const auto& pref = o.scheme == Scheme::Clustered ? cluster_mean[g][l] : overall[l];
        add_in_order(plan.nodes[g].experts[l], ranked(pref), target, E);
      }
    }
    for (int g = 0; g < N; ++g) {
      std::sort(plan.nodes[g].experts[l].begin(), plan.nodes[g].experts[l].end());
      std::sort(plan.nodes[g].replicated[l].begin(), plan.nodes[g].replicated[l].end());
    }
  }
  // Every layer has the same per-node count by construction; layers may differ only if replicas overlap the
  // groups differently per layer, which HF configs cannot express: even them out over layers too.
  size_t per_node = 0;
  for (const auto& node : plan.nodes)
    for (const auto& layer : node.experts) per_node = std::max(per_node, layer.size());
  for (int64_t l = 0; l < L; ++l)
    for (int g = 0; g < N; ++g) {
      auto& set = plan.nodes[g].experts[l];
      if (set.size() == per_node) continue;
      const auto& pref = o.scheme == Scheme::Clustered ? cluster_mean[g][l] : overall[l];
      add_in_order(set, ranked(pref), per_node, E);
      std::sort(set.begin(), set.end());
    }
  plan.experts_per_node = int64_t(per_node);
  BANYAN_CHECK(o.node_top_k >= 0 && o.node_top_k <= E, "plan: --node-top-k {} out of range [1, {}]", o.node_top_k, E);
  if (o.node_top_k > 0)
    plan.node_top_k = o.node_top_k;
  else if (requested.scheme == Scheme::Auto)
    plan.node_top_k = auto_node_top_k(model.top_k, plan.experts_per_node, E);
  else
    plan.node_top_k = model.top_k;

  if (profiles) {
    const Profiles& p = *profiles;
    if (o.scheme == Scheme::Contiguous) {
      // No session clusters: credit each document to the node that captures most of it.
      std::vector<std::vector<std::vector<char>>> node_masks(static_cast<size_t>(N));
      for (int g = 0; g < N; ++g)
        for (int64_t l = 0; l < L; ++l) {
          std::vector<char> m(size_t(E), 0);
          for (int e : plan.nodes[g].experts[l]) m[e] = 1;
          node_masks[g].push_back(std::move(m));
        }
      doc_cluster.assign(size_t(p.docs), 0);
      cluster_docs.assign(size_t(N), {});
      for (int64_t d = 0; d < p.docs; ++d) {
        double best = -1;
        for (int g = 0; g < N; ++g) {
          double s = 0;
          for (int64_t l = 0; l < L; ++l) s += captured_share(p, d, l, node_masks[g][l]);
          if (s > best) best = s, doc_cluster[d] = g;
        }
        cluster_docs[doc_cluster[d]].push_back(d);
      }
    } else {
      for (int g = 0; g < N; ++g) {
        PlanCluster c;
        c.index = g;
        c.documents = int64_t(cluster_docs[g].size());
        c.traffic_share = p.docs > 0 ? double(c.documents) / double(p.docs) : 0.0;
        for (int64_t d : cluster_docs[g]) ++c.domains[p.domains[d]];
        LayerScores probs_mean = mean_scores(p, p.probs, cluster_docs[g]);
        for (auto& layer : probs_mean) c.centroid.emplace_back(layer.begin(), layer.end());
        plan.clusters.push_back(std::move(c));
      }
    }
    for (int g = 0; g < N; ++g) plan.nodes[g].quality = predict_node_quality(p, plan.nodes[g].experts, cluster_docs[g]);
    PlanCalibration cal;
    cal.profiles = profiles_path;
    cal.corpus = p.corpus;
    cal.documents = p.docs;
    cal.tokens = p.total_tokens();
    cal.per_domain = p.per_domain;
    cal.seq_tokens = p.seq_tokens;
    cal.selection = p.selection;
    for (const auto& d : p.domains) ++cal.domains[d];
    cal.doc_cluster = doc_cluster;
    plan.calibration = cal;
  }
  plan.id = compute_plan_id(plan);
  validate_plan(plan, "plan");
  return plan;
}

}  // namespace banyan
