// net/src/lsn_wait_list.h — requests parked until the index applies an LSN.
//
// A session that receives a request whose min_lsn is ahead of the index adds
// a Waiter here and arms its own timeout; nothing blocks. Whoever learns that
// the applied LSN advanced (Server::NotifyApplied, the poller, SetIndex) calls
// TakeReady() and posts each ready waiter back to its session's strand. A
// session that times out a request calls Remove(); if Remove() finds nothing,
// TakeReady() already claimed the waiter and a wake-up is on its way (the
// session ignores wake-ups for requests it no longer holds).
//
// Race rule for Add(): the caller re-checks the applied LSN *after* Add(); if
// it is now reached and Remove() succeeds, the caller answers at once. So a
// notification between the caller's first check and Add() is never lost.
//
// THREAD SAFETY: every method is thread-safe (one mutex; size() is lock-free).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "canopy/lsn.h"

namespace canopy::net::internal {

class Session;

struct Waiter {
  std::weak_ptr<Session> session;
  uint64_t wait_id = 0;
};

class LsnWaitList {
 public:
  explicit LsnWaitList(size_t capacity) : capacity_(capacity) {}

  // False (nothing added) when `capacity` waiters are already registered.
  // O(log n).
  bool Add(Lsn min_lsn, uint64_t wait_id, std::weak_ptr<Session> session);
  // True if the waiter was still registered (and is now removed).
  // O(log n + waiters on the same LSN).
  bool Remove(Lsn min_lsn, uint64_t wait_id);
  // Moves every waiter whose min_lsn <= applied to *out. O(log n + ready).
  void TakeReady(Lsn applied, std::vector<Waiter>* out);

  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::multimap<uint64_t, Waiter> by_lsn_;  // guarded by mu_
  std::atomic<size_t> size_{0};
};

}  // namespace canopy::net::internal
