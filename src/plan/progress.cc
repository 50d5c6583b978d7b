#include "plan/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace banyan {

Progress::Progress(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(STDERR_FILENO) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

std::string Progress::format_amount(uint64_t v) const {
  if (unit_ != "bytes") return fmt::format("{} {}", v, unit_);
  if (v >= (1ull << 30)) return fmt::format("{:.2f} GB", double(v) / double(1ull << 30));
  return fmt::format("{:.1f} MB", double(v) / double(1ull << 20));
}

void Progress::update(uint64_t done) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    // Redraw at most 10 times a second: a terminal is slow, and the bar only needs to look alive.
    if (now - last_draw_ >= std::chrono::milliseconds(100)) draw(false), last_draw_ = now;
  } else {
    int decile = total_ ? int(done_ * 10 / total_) : 10;
    if (decile != last_decile_ && decile < 10) last_decile_ = decile, draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  done_ = std::max(done_, total_);
  draw(true);
}

void Progress::draw(bool final) {
  double frac = total_ ? double(done_) / double(total_) : 1.0;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string amounts = fmt::format("{} / {}", format_amount(done_), format_amount(total_));
  if (tty_) {
    constexpr int kWidth = 30;
    int fill = int(frac * kWidth);
    std::string bar = std::string(size_t(fill), '#') + std::string(size_t(kWidth - fill), '.');
    std::fprintf(stderr, "\r%s [%s] %3d%% %s %.1fs%s", label_.c_str(), bar.c_str(), int(frac * 100),
                 amounts.c_str(), secs, final ? "\n" : "");
    std::fflush(stderr);
  } else {
    spdlog::info("{}: {:3d}% {} ({:.1f}s)", label_, int(frac * 100), amounts, secs);
  }
}

}  // namespace banyan
