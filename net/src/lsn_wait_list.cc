#include "lsn_wait_list.h"

#include <utility>

namespace canopy::net::internal {

bool LsnWaitList::Add(Lsn min_lsn, uint64_t wait_id, std::weak_ptr<Session> session) {
  std::lock_guard<std::mutex> lock(mu_);
  if (by_lsn_.size() >= capacity_) return false;
  by_lsn_.emplace(min_lsn.value, Waiter{std::move(session), wait_id});
  size_.store(by_lsn_.size(), std::memory_order_relaxed);
  return true;
}

bool LsnWaitList::Remove(Lsn min_lsn, uint64_t wait_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [first, last] = by_lsn_.equal_range(min_lsn.value);
  for (auto it = first; it != last; ++it) {
    if (it->second.wait_id == wait_id) {
      by_lsn_.erase(it);
      size_.store(by_lsn_.size(), std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

void LsnWaitList::TakeReady(Lsn applied, std::vector<Waiter>* out) {
  if (size() == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto end = by_lsn_.upper_bound(applied.value);
  for (auto it = by_lsn_.begin(); it != end; ++it) out->push_back(std::move(it->second));
  by_lsn_.erase(by_lsn_.begin(), end);
  size_.store(by_lsn_.size(), std::memory_order_relaxed);
}

}  // namespace canopy::net::internal
