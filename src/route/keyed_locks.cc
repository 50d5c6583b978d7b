#include "route/keyed_locks.h"

namespace banyan::route {

KeyedLocks::Guard KeyedLocks::lock(const std::string& key) {
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mu_);
    auto& s = slots_[key];
    if (!s) s = std::make_shared<Slot>();
    ++s->users;
    slot = s;
  }
  const bool waited = !slot->mu.try_lock();
  if (waited) slot->mu.lock();
  return Guard(this, key, std::move(slot), waited);
}

KeyedLocks::Guard::~Guard() {
  if (owner_) owner_->release(key_, slot_);
}

void KeyedLocks::release(const std::string& key, const std::shared_ptr<Slot>& slot) {
  slot->mu.unlock();
  std::lock_guard lock(mu_);
  if (--slot->users == 0) slots_.erase(key);
}

size_t KeyedLocks::size() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

}  // namespace banyan::route
