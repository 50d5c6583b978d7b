#include "plan/calibrate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include <map>

#include "core/error.h"
#include "format/safetensors.h"
#include "plan/corpus_walk.h"
#include "test_paths.h"

using namespace banyan;
namespace fs = std::filesystem;

// Profiles of the transformers golden inputs equal the means / counts of transformers' own router outputs.
TEST(Calibrate, MatchesTransformersRouterGoldens) {
  for (const char* fam : {"qwen3_moe", "qwen2_moe", "mixtral", "olmoe"}) {
    SCOPED_TRACE(fam);
    fs::path model = banyan::test::fixtures_dir() / "models" / fam;
    SafetensorsFile golden(banyan::test::fixtures_dir() / "golden" / (std::string(fam) + ".safetensors"));
    TensorView ids = golden.view("input_ids");
    const int64_t B = ids.dim(0), T = ids.dim(1);
    std::vector<Document> docs(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      docs[b].domain = fmt::format("d{}", b);
      for (int64_t t = 0; t < T; ++t) docs[b].tokens.push_back(int32_t(ids.as<int64_t>()[b * T + t]));
    }
    auto engine = Engine::load(model);
    CalibrateOptions o;
    o.batch = 1;  // one document per forward, then both in one batch: same profiles
    Profiles p = calibrate_documents(*engine, docs, o);
    o.batch = 2;
    Profiles q = calibrate_documents(*engine, docs, o);
    const int64_t E = p.experts;
    for (int64_t l = 0; l < p.layers; ++l) {
      int layer = p.moe_layers[l];
      std::vector<float> probs = golden.view(fmt::format("router.{}.probs", layer)).to_f32();
      TensorView topk = golden.view(fmt::format("router.{}.topk_ids", layer));
      const int64_t k = topk.dim(2);
      for (int64_t b = 0; b < B; ++b) {
        std::vector<double> mean(size_t(E), 0.0), counts(size_t(E), 0.0);
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t e = 0; e < E; ++e) mean[e] += probs[size_t((b * T + t) * E + e)] / double(T);
          for (int64_t j = 0; j < k; ++j) counts[size_t(topk.as<int64_t>()[(b * T + t) * k + j])] += 1;
        }
        double mass_sum = 0;
        for (int64_t e = 0; e < E; ++e) {
          EXPECT_NEAR(p.probs_at(b, l)[e], mean[e], 2e-5) << "layer " << layer << " doc " << b << " expert " << e;
          EXPECT_EQ(p.counts_at(b, l)[e], counts[e]) << "layer " << layer << " doc " << b << " expert " << e;
          EXPECT_NEAR(q.probs_at(b, l)[e], p.probs_at(b, l)[e], 1e-6);
          EXPECT_EQ(q.counts_at(b, l)[e], p.counts_at(b, l)[e]);
          float m = p.topk_mass[p.offset(b, l) + size_t(e)];
          EXPECT_LE(m, p.probs_at(b, l)[e] + 1e-6);
          EXPECT_GE(p.out_norm[p.offset(b, l) + size_t(e)], 0.0f);
          if (counts[e] == 0) {
            EXPECT_EQ(m, 0.0f);
            EXPECT_EQ(p.out_norm[p.offset(b, l) + size_t(e)], 0.0f);
          }
          mass_sum += m;
        }
        EXPECT_GT(mass_sum, 0.0);
        EXPECT_LE(mass_sum, 1.0 + 1e-5);
      }
    }
  }
}

TEST(CorpusWalk, Utf8PrefixCountsCodePoints) {
  EXPECT_EQ(utf8_prefix("abc", 2), "ab");
  EXPECT_EQ(utf8_prefix("abc", 5), "abc");
  EXPECT_EQ(utf8_prefix("h\xc3\xa9llo", 2), "h\xc3\xa9");          // é is one code point
  EXPECT_EQ(utf8_prefix("\xe6\x97\xa5\xe6\x9c\xac", 1), "\xe6\x97\xa5");  // 日本 → 日
  EXPECT_EQ(utf8_prefix("\xf0\x9f\x98\x80x", 1), "\xf0\x9f\x98\x80");   // an emoji is one code point (Python)
  EXPECT_EQ(utf8_prefix("", 3), "");
}

TEST(CorpusWalk, SelectsByDomainInFileOrder) {
  fs::path dir = banyan::test::make_temp_dir("walk");
  {
    std::ofstream f(dir / "c.jsonl");
    f << R"({"domain":"zz","text":"one two three four five six seven eight"})" << "\n";
    f << R"({"domain":"aa","text":"short"})" << "\n";
    f << R"({"domain":"aa","text":"alpha beta gamma delta epsilon zeta eta theta"})" << "\n";
    f << R"({"domain":"zz","text":"nine ten eleven twelve thirteen fourteen fifteen"})" << "\n";
    f << R"({"domain":"zz","text":"sixteen seventeen eighteen nineteen twenty more words"})" << "\n";
    f << R"({"domain":"aa","text":"iota kappa lambda mu nu xi omicron pi rho"})" << "\n";
  }
  Tokenizer tok = Tokenizer::load(banyan::test::fixtures_dir() / "models" / "qwen3_moe");
  auto docs = select_documents(dir / "c.jsonl", tok, 2, 4);
  ASSERT_EQ(docs.size(), 4u);
  // aa first (sorted), "short" skipped for having too few tokens; zz capped at 2.
  EXPECT_EQ(docs[0].domain, "aa");
  EXPECT_EQ(docs[0].line, 3u);
  EXPECT_EQ(docs[1].line, 6u);
  EXPECT_EQ(docs[2].domain, "zz");
  EXPECT_EQ(docs[2].line, 1u);
  EXPECT_EQ(docs[3].line, 4u);
  for (const auto& d : docs) EXPECT_EQ(d.tokens.size(), 4u);
  auto all = tok.encode("alpha beta gamma delta epsilon zeta eta theta");
  EXPECT_EQ(docs[0].tokens, std::vector<TokenId>(all.begin(), all.begin() + 4));
  {
    std::ofstream f(dir / "bad.jsonl");
    f << R"({"domain":"aa"})" << "\n";
  }
  EXPECT_THROW(select_documents(dir / "bad.jsonl", tok, 2, 4), Error);
  fs::remove_all(dir);
}

TEST(CorpusWalk, SelectedIndices) {
  using V = std::vector<size_t>;
  // spread: floor((i + 0.5) * n / k)
  EXPECT_EQ(selected_indices(10, 4, DocumentSelection::kSpread), (V{1, 3, 6, 8}));
  EXPECT_EQ(selected_indices(10, 4, DocumentSelection::kFirst), (V{0, 1, 2, 3}));
  EXPECT_EQ(selected_indices(7, 3, DocumentSelection::kSpread), (V{1, 3, 5}));
  EXPECT_EQ(selected_indices(100, 50, DocumentSelection::kSpread).back(), 99u);
  EXPECT_EQ(selected_indices(100, 50, DocumentSelection::kSpread).front(), 1u);
  EXPECT_EQ(selected_indices(3, 5, DocumentSelection::kSpread), (V{0, 1, 2}));  // fewer than asked: all
  EXPECT_EQ(selected_indices(0, 5, DocumentSelection::kSpread), V{});
  // Distinct and increasing for every n >= k.
  for (size_t n = 1; n < 200; ++n)
    for (int64_t k = 1; k <= 60; ++k) {
      V idx = selected_indices(n, k, DocumentSelection::kSpread);
      ASSERT_EQ(idx.size(), std::min(n, size_t(k)));
      for (size_t i = 0; i < idx.size(); ++i) {
        ASSERT_LT(idx[i], n);
        if (i > 0) {
          ASSERT_LT(idx[i - 1], idx[i]);
        }
      }
    }
  EXPECT_EQ(parse_selection("spread"), DocumentSelection::kSpread);
  EXPECT_EQ(parse_selection("first"), DocumentSelection::kFirst);
  EXPECT_EQ(selection_name(DocumentSelection::kSpread), "spread");
  EXPECT_THROW(parse_selection("last"), Error);
}

// Both selections on a small corpus: domain aa has 7 qualifying documents (and short ones between them), zz 2.
TEST(CorpusWalk, SpreadSelectionOverTheWholeDomain) {
  fs::path dir = banyan::test::make_temp_dir("walk_spread");
  {
    std::ofstream f(dir / "c.jsonl");
    const char* words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"};
    for (int i = 0; i < 7; ++i) {
      f << fmt::format(R"({{"domain":"aa","text":"{} one two three four five six"}})", words[i]) << "\n";
      f << R"({"domain":"aa","text":"short"})" << "\n";  // never qualifies
      if (i == 3) f << R"({"domain":"zz","text":"nine ten eleven twelve thirteen fourteen"})" << "\n";
    }
    f << R"({"domain":"zz","text":"sixteen seventeen eighteen nineteen twenty more words"})" << "\n";
  }
  // aa's qualifying documents are on lines 1, 3, 5, 7, 10, 12, 14 (line 9 is zz's first); zz's on 9 and 16.
  Tokenizer tok = Tokenizer::load(banyan::test::fixtures_dir() / "models" / "qwen3_moe");
  auto lines = [](const std::vector<Document>& docs) {
    std::vector<std::pair<std::string, size_t>> out;
    for (const auto& d : docs) out.emplace_back(d.domain, d.line);
    return out;
  };
  using L = std::vector<std::pair<std::string, size_t>>;
  auto first = select_documents(dir / "c.jsonl", tok, 3, 4, DocumentSelection::kFirst);
  EXPECT_EQ(lines(first), (L{{"aa", 1}, {"aa", 3}, {"aa", 5}, {"zz", 9}, {"zz", 16}}));
  auto spread = select_documents(dir / "c.jsonl", tok, 3, 4, DocumentSelection::kSpread);
  // indices 1, 3, 5 of aa's 7 qualifying documents; zz has fewer than 3: both.
  EXPECT_EQ(lines(spread), (L{{"aa", 3}, {"aa", 7}, {"aa", 12}, {"zz", 9}, {"zz", 16}}));
  for (const auto& d : spread) EXPECT_EQ(d.tokens.size(), 4u);
  auto beta = tok.encode("beta one two three four five six");
  EXPECT_EQ(spread[0].tokens, std::vector<TokenId>(beta.begin(), beta.begin() + 4));
  // The default is the protocol's first-N walk.
  EXPECT_EQ(lines(select_documents(dir / "c.jsonl", tok, 3, 4)), lines(first));
  fs::remove_all(dir);
}

// Protocol banyan-quality-v1 step 1 on heldout-dev: the counts QUALITY.md publishes.
TEST(CorpusWalk, HeldoutDevGivesTheProtocolsSequences) {
  BANYAN_REQUIRE_SHARED(shared);
  Tokenizer tok = Tokenizer::load(shared / "models" / "tiny-qwen3moe");
  auto docs = select_documents(shared / "data" / "heldout-dev.jsonl.xz", tok, 40, 256);
  std::map<std::string, int> n;
  for (const auto& d : docs) ++n[d.domain];
  EXPECT_EQ(docs.size(), 143u);
  std::map<std::string, int> want = {{"c_code", 40},   {"de_prose", 28}, {"en_prose", 17}, {"es_prose", 12},
                                     {"fr_prose", 23}, {"it_prose", 3},  {"ja_prose", 6},  {"python_code", 14}};
  EXPECT_EQ(n, want);
}

// `calibrate --device`: cpu, cuda and cuda:<index> pass (whether the build has CUDA is Engine::load's concern);
// anything else is an error naming the string.
TEST(CalibrateDevice, AcceptsCpuCudaAndIndexedCuda) {
  for (const char* d : {"cpu", "cuda", "cuda:0", "cuda:1", "cuda:15", "cuda:127"})
    EXPECT_NO_THROW(check_calibrate_device(d)) << d;
}

TEST(CalibrateDevice, RejectsBadDeviceStrings) {
  for (const char* d : {"", "gpu", "CPU", "Cuda", "cuda:", "cuda:x", "cuda:-1", "cuda:1a", "cuda:1 ", " cpu", "cuda0",
                        "cuda:0:1", "cuda:99999999999", "cpu:0"}) {
    SCOPED_TRACE(std::string("device '") + d + "'");
    try {
      check_calibrate_device(d);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("unknown device '") + d + "'"), std::string::npos) << e.what();
    }
  }
}

// The CLI: a bad --device fails before anything is written, with one line naming it; --device cpu writes the same
// profiles as the default (the CPU engine) and as calibrate_documents on the same documents.
TEST(CalibrateCli, DeviceFlag) {
  if (!fs::exists(banyan::test::banyan_binary())) GTEST_SKIP() << "build the banyan target first";
  const fs::path model = banyan::test::fixtures_dir() / "models" / "qwen3_moe";
  const fs::path dir = banyan::test::make_temp_dir("calibrate_device");
  {
    std::ofstream f(dir / "c.jsonl");
    f << R"({"domain":"aa","text":"alpha beta gamma delta epsilon zeta eta theta"})" << "\n";
    f << R"({"domain":"zz","text":"one two three four five six seven eight nine"})" << "\n";
  }
  const std::string base = banyan::test::banyan_binary().string() + " calibrate --threads 2 --model " +
                           model.string() + " --corpus " + (dir / "c.jsonl").string() + " --per-domain 1 --tokens 6";
  for (const char* bad : {"gpu", "cuda:x", "cpu:0"}) {
    std::string out;
    const fs::path p = dir / (std::string("bad-") + bad + ".safetensors");
    EXPECT_EQ(banyan::test::run_command(base + " --device " + bad + " --out " + p.string() + " 2>&1", &out), 1)
        << out;
    EXPECT_NE(out.find(std::string("unknown device '") + bad + "'"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(p));
  }
  std::string out;
  ASSERT_EQ(banyan::test::run_command(base + " --device cpu --out " + (dir / "cpu.safetensors").string() + " 2>&1",
                                      &out),
            0)
      << out;
  ASSERT_EQ(banyan::test::run_command(base + " --out " + (dir / "default.safetensors").string() + " 2>&1", &out), 0)
      << out;
  const Profiles cpu = read_profiles(dir / "cpu.safetensors"), def = read_profiles(dir / "default.safetensors");
  ASSERT_EQ(cpu.docs, 2);
  EXPECT_EQ(cpu.counts, def.counts);
  EXPECT_EQ(cpu.probs, def.probs);
  EXPECT_EQ(cpu.out_norm, def.out_norm);
  Tokenizer tok = Tokenizer::load(model);
  auto docs = select_documents(dir / "c.jsonl", tok, 1, 6, DocumentSelection::kSpread);
  auto engine = Engine::load(model);
  const Profiles ref = calibrate_documents(*engine, docs, CalibrateOptions{});
  EXPECT_EQ(cpu.counts, ref.counts);
  ASSERT_EQ(cpu.out_norm.size(), ref.out_norm.size());
  for (size_t i = 0; i < ref.out_norm.size(); ++i) EXPECT_NEAR(cpu.out_norm[i], ref.out_norm[i], 1e-5f) << i;
  fs::remove_all(dir);
}
