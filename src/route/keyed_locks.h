// One mutex per key, created on demand and dropped when nobody holds or awaits it. The router takes the lock of a
// session key around its placement decision, so two simultaneous FIRST requests of the same session place it once:
// the second waits for the first to pin it, then follows the pin (instead of scoring the nodes again and possibly
// pinning the session somewhere else while the first request is already being served).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace banyan::route {

class KeyedLocks {
  struct Slot {
    std::mutex mu;
    int users = 0;  // holders + waiters; the slot is erased when it drops to 0
  };

 public:
  class Guard {
   public:
    Guard(Guard&& other) noexcept : owner_(other.owner_), key_(std::move(other.key_)), slot_(std::move(other.slot_)) {
      other.owner_ = nullptr;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard();
    // Whether lock() had to wait for another holder of the same key.
    bool waited() const { return waited_; }

   private:
    friend class KeyedLocks;
    Guard(KeyedLocks* owner, std::string key, std::shared_ptr<Slot> slot, bool waited)
        : owner_(owner), key_(std::move(key)), slot_(std::move(slot)), waited_(waited) {}
    KeyedLocks* owner_;
    std::string key_;
    std::shared_ptr<Slot> slot_;
    bool waited_ = false;
  };

  // Blocks until no one else holds `key`'s lock, then holds it until the Guard is destroyed.
  Guard lock(const std::string& key);
  // Keys currently held or awaited.
  size_t size() const;

 private:
  void release(const std::string& key, const std::shared_ptr<Slot>& slot);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots_;
};

}  // namespace banyan::route
