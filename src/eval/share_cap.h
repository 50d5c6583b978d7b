// The node share cap of score-based placement, one rule for `eval quality`'s `auto` (src/eval/placement.cc) and
// the router (src/route/placement.cc), so the two cannot drift apart: the choice of the near-tie rule stands
// unless that node is over the cap; then the best-scoring candidate that is not over it takes the sequence, and
// when every candidate is over it (as when the cap is below 1 / nodes), the one with the fewest sequences, ties by
// score. Candidates are visited in order and only a strictly better one replaces the current pick.
//
// The cap's default scales with the node count (node_share_cap): no node above `load_factor` times its fair share,
// F = min(1, load_factor / nodes); an explicit share (--max-node-share) overrides it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>

namespace banyan {

// over(i): node i would exceed the cap with this sequence; better(i, j): i scores strictly better than j;
// count(i): sequences node i holds. `candidates` must be non-empty.
template <class Index, class Candidates, class Over, class Better, class Count>
Index share_capped_choice(Index chosen, const Candidates& candidates, Over over, Better better, Count count) {
  if (!over(chosen)) return chosen;
  std::optional<Index> alt;
  for (Index i : candidates)
    if (!over(i) && (!alt || better(i, *alt))) alt = i;
  if (alt) return *alt;
  for (Index i : candidates)
    if (!alt || count(i) < count(*alt) || (count(i) == count(*alt) && better(i, *alt))) alt = i;
  return *alt;
}

// The share cap for `nodes` nodes: `explicit_share` when given (in (0, 1]), else min(1, load_factor / nodes).
inline double node_share_cap(std::optional<double> explicit_share, double load_factor, int64_t nodes) {
  if (explicit_share) return *explicit_share;
  return nodes <= 0 ? 1.0 : std::min(1.0, load_factor / double(nodes));
}

}  // namespace banyan
