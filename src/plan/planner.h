// Expert plans: which routed experts each node holds in each MoE layer.
//
// Schemes (E experts per layer, N nodes, R = --replicate, K = --experts-per-node):
//  contiguous  node g holds [g·E/N, (g+1)·E/N). E must be divisible by N. Needs no profiles unless R > 0.
//  clustered   calibration documents are clustered (cosine k-means, k-means++ seeding, restarts) on their router
//              profiles (mean probabilities of every MoE layer, concatenated) into N session clusters; node g
//              serves cluster g. Per layer, experts are split disjointly into N groups of E/N: every
//              (cluster, expert) pair is scored by the cluster's preference ratio m_c[e] / m[e] (cluster mean over
//              the overall mean of the selection criterion), and pairs are taken greedily, best ratio first,
//              while the cluster has room and the expert is free.
//  budget      node g keeps its cluster's K experts with the highest m_c[e] (overlap between nodes allowed).
// Replicas (R > 0, needs profiles): the R experts of each layer with the highest mean criterion over all
// documents ("hot"). contiguous/clustered: ADDED on top of the disjoint group; since a hot expert may already be
// in a node's group, every node is then filled up to the largest node's count with the experts it prefers most
// among those it lacks (clustered: highest m_c; contiguous: highest overall mean), so all nodes hold the same
// count. budget: hot experts count WITHIN K (R ≤ K), the rest is the cluster's top by m_c.
// --balance caps every cluster at ceil(documents / N) (capacity-constrained k-means), so traffic shares stay
// near 1/N instead of one node taking most sessions (QUALITY.md: 44 % on one node at 8 nodes).
// The selection criterion is the profiles' mean router probability by default (each (doc, layer) row
// normalised to sum 1, so every document weighs the same); counts / topk_mass / out_norm may be chosen instead.
// auto        resolves to a concrete scheme (resolve_auto): budget when K is given, else clustered (disjoint
//              E/N); criterion out_norm (router weight x expert output norm, REAP-like) when
//              the profiles carry it, else topk_mass, else probs; balanced clusters. Measured on tiny-qwen3moe
//              heldout-dev (plans from corpus-train, likelihood placement): 4 nodes x 64 experts 8.66 -> 7.41
//              (oracle 7.51 -> 6.79); 4 disjoint quarters 35.4 -> 33.8. The user's criterion/balance are ignored,
//              --replicate is kept. The written plan records the resolved scheme, criterion and balance, and
//              node_top_k = auto_node_top_k(...) unless --node-top-k is given; refinement (kAutoRefineRounds)
//              for disjoint splits and when every node keeps at least half the experts; soft-responsibility
//              sets (kAutoSoftSetsBeta) at 4+ nodes holding at most half the experts each.
// Expert lists are sorted ascending: that is the plan order in which pack renumbers experts 0..n-1.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "plan/plan_file.h"
#include "plan/profiles.h"

namespace banyan {

enum class Scheme { Contiguous, Clustered, Budget, Auto };
std::optional<Scheme> parse_scheme(std::string_view name);
std::string_view scheme_name(Scheme s);

enum class Criterion { Probs, Counts, TopkMass, OutNorm };
std::optional<Criterion> parse_criterion(std::string_view name);
std::string_view criterion_name(Criterion c);

struct PlanOptions {
  int nodes = 2;
  Scheme scheme = Scheme::Contiguous;
  int64_t experts_per_node = 0;  // budget only (K)
  int64_t replicate = 0;         // R
  uint64_t seed = 0;             // k-means seeding
  int restarts = 10;             // k-means restarts
  Criterion criterion = Criterion::Probs;
  bool balance = false;          // balanced clusters: each takes at most ceil(docs / nodes) documents
  // Experts per token on every node (the bundles' num_experts_per_tok). 0: the model's top_k, or under
  // scheme auto the widening rule auto_node_top_k.
  int64_t node_top_k = 0;
  // Rounds of alternating refinement of clusters and expert sets (plan/refine.h; clustered and budget). With
  // rounds > 0 the clustered split maximises captured mass instead of the preference ratio.
  int refine = 0;
  // Log-coverage swap search over the final expert sets (plan/set_search.h; clustered and budget, no replicas).
  bool set_search = false;
  // > 0: re-choose the final sets for soft document responsibilities (plan/set_search.h), this sharpness.
  double soft_sets_beta = 0;
  int soft_sets_rounds = 3;
  // Refinement without the balance cap even when the k-means clusters were balanced.
  bool refine_unbalanced = false;
};

// What the plan needs to know about the model (from ModelSpec + Checkpoint, filled by the caller).
struct PlanModel {
  std::string source_path;
  std::string source_sha256;
  std::string family;
  int64_t num_layers = 0;
  std::vector<int> moe_layers;
  int64_t num_experts = 0;
  int64_t top_k = 0;
};

// What the planner needs to know of the checkpoint (or bundle) in `dir`: its spec and source hash.
PlanModel load_plan_model(const std::filesystem::path& dir);

// The top-k `auto` gives nodes holding `local` of `num_experts` experts: round(0.75 k E / local) kept within
// [k, local] when a node lacks experts (1.5 k at half the experts, 3 k at a quarter), else k. Why: a restricted
// node has lost part of every token's top-k mass, and routing each token to more of the experts it still has
// recovers some of it; the fewer it holds, the more widening pays. Chosen on corpus-train (documents after the
// calibration ones, 25 per domain; `auto` placement): 2 disjoint halves top-12 / 16 / 24 = 9.09 / 9.17 / 9.78,
// 4 disjoint quarters 24.45 / 23.78 / 23.07 (QUALITY_EXPERIMENTS.md, session 3). Cost: node_top_k experts read
// and run per token and layer instead of k (12 = 1.5x at half the experts, 24 = 3x at a quarter).
int64_t auto_node_top_k(int64_t top_k, int64_t local, int64_t num_experts);

// Rounds of refinement (refine.h) `auto` runs for every disjoint split and for budgets of K ≥ E/2, unless
// --refine gives other rounds. Chosen on corpus-train: refinement lowered 2 disjoint halves 9.09 -> 8.97 and
// 4 x 64 of 128 6.10 -> 5.99 (sessions 2-3, first-50 calibration). 4 disjoint quarters went 24.45 -> 27.10 then,
// and still 23.04 -> 25.29 with first-50 calibration on session 5's interleaved split, but 22.37 -> 19.35 with the
// spread calibration (calibrate's default since session 5): disjoint splits now refine too. Budgets of K < E/2
// were never measured and stay unrefined.
inline constexpr int kAutoRefineRounds = 10;

// `auto` re-chooses the final sets for soft document responsibilities (set_search.h, soft_responsibility_sets,
// 3 rounds) with this beta when the plan has at least kAutoSoftSetsMinNodes nodes, each holding at most half the
// experts, and no replicas. Chosen on corpus-train (session 6; src/plan/QUALITY_EXPERIMENTS.md "Session 6, plans"):
// on the interleaved split 4 x 64 of 128 5.796 -> 5.526, 4 disjoint quarters 19.352 -> 18.680, 4 x 48 8.121 ->
// 7.664, confirmed on a second, disjoint split (-4.1 / -3.3 / -2.6 %); it hurt 2 disjoint halves (+7.2 / +9.1 %),
// 2 x 64 (+1.8 / -0.7 %) and 4 x 96 (+4.7 %), which therefore keep the hard sets. beta 50 was weaker (-3.1 % at
// 4 x 64). Why it can help: `auto` placement sends a sequence to any node within a margin of its best prompt NLL,
// so documents near a tie between nodes land on either; soft responsibilities let both nodes' sets serve them.
inline constexpr double kAutoSoftSetsBeta = 20.0;
inline constexpr int kAutoSoftSetsMinNodes = 4;

// The concrete options `auto` stands for, given the profiles (required).
// Options whose scheme is not Auto are returned unchanged.
PlanOptions resolve_auto(const PlanOptions& options, const Profiles* profiles);

// Builds a validated plan (Auto is resolved first). `profiles` may be null for contiguous without replicas; when given it must come from
// the same model (source hash) and shape. `profiles_path` is recorded in the plan's calibration summary.
// With profiles, every node gets a predicted quality; contiguous nodes are credited with the documents they
// capture best (argmax of the metric), clustered/budget nodes with their cluster's documents.
Plan make_plan(const PlanModel& model, const PlanOptions& options, const Profiles* profiles,
               const std::string& profiles_path = "");

}  // namespace banyan
