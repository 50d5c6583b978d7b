#include "eval/bench_tokenizer.h"

#include <nlohmann/json.hpp>

#include <time.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/error.h"
#include "format/jsonl_reader.h"

namespace banyan {

namespace {
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

TokenizerBenchResult bench_tokenizer(const Tokenizer& tokenizer, const std::filesystem::path& corpus,
                                     uint64_t max_bytes) {
  std::vector<std::string> texts;
  TokenizerBenchResult r;
  JsonlReader reader(corpus);
  std::string line;
  while (reader.next(line) && (max_bytes == 0 || r.bytes < max_bytes)) {
    auto row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.contains("text") || !row["text"].is_string())
      fail("{}:{}: expected {{\"text\": \"...\"}}", reader.path(), reader.line_number());
    texts.push_back(row["text"].get<std::string>());
    r.bytes += texts.back().size();
  }
  r.documents = texts.size();
  auto start = std::chrono::steady_clock::now();
  double cpu_start = thread_cpu_seconds();
  for (const auto& text : texts) r.tokens += tokenizer.encode(text, false).size();
  r.cpu_seconds = thread_cpu_seconds() - cpu_start;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.mb_per_s = r.seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.seconds : 0;
  r.cpu_mb_per_s = r.cpu_seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.cpu_seconds : 0;
  return r;
}

}  // namespace banyan
