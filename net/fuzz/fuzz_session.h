// fuzz_session.h — a SessionContext without a socket, for driving a
// WireProtocol from a fuzzer: answers go to a byte vector, Park() answers at
// once from the fuzz index (or fails STALE when the index is behind), and
// CloseAfterOutput() is remembered.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_index.h"
#include "request_handler.h"
#include "wire_protocol.h"

namespace canopy::net::fuzz {

class FuzzSession final : public internal::SessionContext {
 public:
  explicit FuzzSession(const ServerOptions& options) : options_(options) {}

  void set_protocol(internal::WireProtocol* protocol) { protocol_ = protocol; }

  std::vector<uint8_t>& output() override { return out_; }
  void AnswerAdded() override { ++answers_; }
  const HierarchyIndex* index() override { return &FuzzIndex(); }
  const ServerOptions& options() const override { return options_; }
  const internal::StatusSource* status_source() const override { return nullptr; }
  uint64_t connection_id() const override { return 1; }
  void Park(std::span<const uint8_t> saved, Lsn min_lsn, uint32_t /*timeout_ms*/,
            uint64_t request_id, bool /*nudge_source*/) override {
    ++parked_;
    // As the session does: the saved bytes are kept aside, then answered.
    kept_.assign(saved.begin(), saved.end());
    const HierarchyIndex& index = FuzzIndex();
    if (index.applied_lsn() >= min_lsn) {
      protocol_->AnswerParked(kept_, request_id, index, *this);
    } else {
      protocol_->FailParked(kept_, request_id, ErrorCode::kStale, "stale", index.applied_lsn(),
                            *this);
    }
  }
  void CloseAfterOutput(std::string_view /*why*/) override { closing_ = true; }
  void Log(LogLevel, std::string_view) const override {}

  bool closing() const { return closing_; }
  size_t answers() const { return answers_; }
  size_t parked() const { return parked_; }
  void ClearOutput() { out_.clear(); }

 private:
  const ServerOptions& options_;
  internal::WireProtocol* protocol_ = nullptr;
  std::vector<uint8_t> out_;
  std::vector<uint8_t> kept_;
  size_t answers_ = 0;
  size_t parked_ = 0;
  bool closing_ = false;
};

}  // namespace canopy::net::fuzz
