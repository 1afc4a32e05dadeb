#include "canopy/status.h"

#include <cstdio>
#include <cstdlib>

namespace canopy {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kOutOfRange:
      return "out_of_range";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDataLoss:
      return "data_loss";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kTimeout:
      return "timeout";
    case StatusCode::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

namespace internal {

void DieOnResultValueOfError(const Status& status) {
  std::fprintf(stderr, "canopy: value() of a Result holding %s\n", status.ToString().c_str());
  std::abort();
}

Status OkStatusGivenToResult() {
  return Status::Internal("a Result was made from an OK Status (it needs a value or an error)");
}

}  // namespace internal

}  // namespace canopy
