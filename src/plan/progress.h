// Progress of a long job (calibrate, pack): a redrawn bar on a terminal (stderr), plain log lines otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace banyan {

class Progress {
 public:
  // `unit` "bytes" prints sizes in MB/GB; anything else prints counts followed by the unit.
  Progress(std::string label, uint64_t total, std::string unit);
  ~Progress();
  void advance(uint64_t n) { update(done_ + n); }
  void update(uint64_t done);
  void finish();  // final line (idempotent)

 private:
  std::string format_amount(uint64_t v) const;
  void draw(bool final);
  std::string label_, unit_;
  uint64_t total_, done_ = 0;
  bool tty_;
  bool finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace banyan
