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
// Node share cap of the `auto` placement (`--max-node-share`): 1 = off. A cap costs quality on every measured set
// (src/plan/QUALITY_EXPERIMENTS.md, session 4 round 2: prompt scores do not tell which sequences are cheap to move),
// so it is opt-in. The cap applies once kAutoShareWarmupPerNode x nodes sequences have been placed.
inline constexpr double kAutoMaxNodeShare = 1.0;
inline constexpr int kAutoShareWarmupPerNode = 4;

}  // namespace banyan::quality
