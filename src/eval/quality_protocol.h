// Constants of the quality protocol banyan-quality-v1 (../shared/eval/QUALITY.md), in one place so the harness,
// the CLI defaults and the tests cannot drift apart.
#pragma once
#include <string_view>

namespace banyan::quality {

inline constexpr std::string_view kProtocolName = "banyan-quality-v1";
inline constexpr int kSequenceTokens = 256;     // tokens per evaluated sequence (the first 256 of a document)
inline constexpr int kPromptTokens = 64;        // prompt = [0, 64), continuation = [64, 256)
inline constexpr int kHeldoutPerDomain = 40;    // at most this many heldout documents per domain
inline constexpr int kCalibrationPerDomain = 50;
inline constexpr int kTextCodePoints = 20000;   // documents are tokenized as text[:20000] (Python code points)
// The `auto` placement uses the probe for prompts shorter than this and prompt likelihood otherwise: the lab
// found the probe better at 16-token prompts and likelihood within 2 % of the oracle at 64+ tokens.
inline constexpr int kAutoProbeBelowTokens = 32;
// Near-tie margins of the `auto` placement: a node whose prompt NLL is within kAutoNllMargin nats/token of the
// best (or probe mass within kAutoProbeMargin) counts as a tie, and the least loaded tie wins. Chosen on
// corpus-train (documents after the calibration ones), never on heldout-dev: see src/plan/QUALITY_EXPERIMENTS.md.
inline constexpr double kAutoNllMargin = 0.075;
// The `auto` placement's prompt NLL leaves out the first kAutoSkipPromptTokens prompt targets (their NLL says more
// about the missing context than about the node; all targets count when the prompt has no more). Chosen on
// corpus-train with tools/eval/placement_study.py (src/plan/QUALITY_EXPERIMENTS.md, session 4). The protocol's
// `likelihood` policy keeps the mean over every prompt target.
inline constexpr int kAutoSkipPromptTokens = 8;
inline constexpr double kAutoProbeMargin = 0.01;
// Node share cap of the `auto` placement and the router: by default no node takes more than kAutoMaxLoadFactor
// (L) times its fair share of the sequences, i.e. F = min(1, L / nodes) (share_cap.h node_share_cap): 0.4 at 4
// nodes (issue 10's target), 0.8 at 2, 0.2 at 8. `--max-node-share F` overrides it (1 = off), `--max-load-factor L`
// changes L. Chosen on corpus-train (interleaved tuning split, uniform and skewed shuffled mixes, 2 / 4 / 8 node
// plans; src/plan/QUALITY_EXPERIMENTS.md, session 6 round 2): the largest L that keeps every node <= 40 % at 4
// nodes, since the cost only grows as L shrinks. The cap applies once kAutoShareWarmupPerNode x nodes sequences
// have been placed.
inline constexpr double kAutoMaxLoadFactor = 1.6;
inline constexpr int kAutoShareWarmupPerNode = 4;
// `eval quality` places its sequences in a seeded shuffled arrival order by default (a router sees interleaved
// sessions, not the protocol's file order, which groups domains and makes any running cap split a domain while it
// arrives); the per-sequence results stay in protocol order. `--arrival-order file` restores the file order.
inline constexpr unsigned long long kArrivalSeed = 1;

}  // namespace banyan::quality
