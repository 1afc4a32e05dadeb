// canopy/status.h — error values for canopy's public APIs.
//
// canopy never lets an exception cross a public function. Operations that can
// fail return a `Status` (no value) or a `Result<T>` (a value or a Status).
//
//   canopy::Result<std::vector<int64_t>> r = ...;
//   if (!r.ok()) { log(r.status().ToString()); return; }
//   use(r.value());
//
// Contracts are enforced, not assumed: a Result made from an OK Status holds
// an internal error instead, and value() of a Result that holds an error
// prints the error and aborts (a bug in the caller; never an exception).
// CANOPY_RETURN_IF_ERROR(expr) returns a non-OK Status from the enclosing
// function (which returns Status or a Result).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace canopy {

enum class StatusCode : int {
  kOk = 0,
  kNotFound = 1,         // an id or path that the index does not hold
  kInvalidArgument = 2,  // a malformed request (bad order, negative limit, ...)
  kOutOfRange = 3,       // e.g. an LSN that goes backwards
  kFailedPrecondition = 4,
  kResourceExhausted = 5,  // an answer or request larger than allowed
  kUnavailable = 6,        // a connection that is down, a server shutting down
  kDataLoss = 7,           // data that cannot be trusted (decoder, protocol)
  kInternal = 8,
  kTimeout = 9,
  kCancelled = 10,  // stopped because the caller asked (a Stop(), a shutdown), not an error
};

// Returns a stable lowercase name for `code` ("ok", "not_found", ...).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code name>: <message>".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace internal {
// Prints "value() of a Result holding <status>" and aborts.
[[noreturn]] void DieOnResultValueOfError(const Status& status);
// The error a Result made from an OK Status holds instead.
Status OkStatusGivenToResult();
}  // namespace internal

// A value of type T or a non-OK Status. (GCC 12 has no std::expected in C++20.)
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  // REQUIRES: !status.ok() (else the Result holds an internal error).
  Result(Status status)  // NOLINT: implicit by design
      : v_(status.ok() ? internal::OkStatusGivenToResult() : std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: ok() (else prints the error and aborts).
  const T& value() const& {
    CheckOk();
    return *std::get_if<T>(&v_);
  }
  T& value() & {
    CheckOk();
    return *std::get_if<T>(&v_);
  }
  T&& value() && {
    CheckOk();
    return std::move(*std::get_if<T>(&v_));
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  // OK when ok(), else the error.
  Status status() const { return ok() ? Status() : *std::get_if<Status>(&v_); }

 private:
  void CheckOk() const {
    if (!ok()) internal::DieOnResultValueOfError(*std::get_if<Status>(&v_));
  }

  std::variant<T, Status> v_;
};

#define CANOPY_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::canopy::Status canopy_status_ = (expr);        \
    if (!canopy_status_.ok()) return canopy_status_; \
  } while (0)

}  // namespace canopy
