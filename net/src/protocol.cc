#include "canopy/net/protocol.h"

#include <string>

namespace canopy::net {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kMalformedFrame:
      return "malformed_frame";
    case ErrorCode::kFailedVerification:
      return "failed_verification";
    case ErrorCode::kUnknownRequest:
      return "unknown_request";
    case ErrorCode::kUnknownId:
      return "unknown_id";
    case ErrorCode::kTooLarge:
      return "too_large";
    case ErrorCode::kStale:
      return "stale";
    case ErrorCode::kShuttingDown:
      return "shutting_down";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kUnsupportedVersion:
      return "unsupported_version";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kOverloaded:
      return "overloaded";
    case ErrorCode::kNotReady:
      return "not_ready";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kOutOfRange:
      return "out_of_range";
  }
  return "unknown";
}

StatusCode ToStatusCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return StatusCode::kOk;
    case ErrorCode::kMalformedFrame:
    case ErrorCode::kFailedVerification:
      return StatusCode::kDataLoss;
    case ErrorCode::kUnknownRequest:
    case ErrorCode::kInvalidArgument:
      return StatusCode::kInvalidArgument;
    case ErrorCode::kUnknownId:
      return StatusCode::kNotFound;
    case ErrorCode::kTooLarge:
      return StatusCode::kResourceExhausted;
    case ErrorCode::kStale:
      return StatusCode::kTimeout;
    case ErrorCode::kShuttingDown:
    case ErrorCode::kOverloaded:
    case ErrorCode::kNotReady:
      return StatusCode::kUnavailable;
    case ErrorCode::kUnauthorized:
    case ErrorCode::kUnsupportedVersion:
      return StatusCode::kFailedPrecondition;
    case ErrorCode::kInternal:
      return StatusCode::kInternal;
    case ErrorCode::kOutOfRange:
      return StatusCode::kOutOfRange;
  }
  return StatusCode::kInternal;
}

Status ToStatus(ErrorCode code, std::string_view message) {
  if (code == ErrorCode::kOk) return Status::Ok();
  std::string text = ErrorCodeName(code);
  if (!message.empty()) {
    text += ": ";
    text += message;
  }
  return Status(ToStatusCode(code), std::move(text));
}

const char* ServingStateName(ServingState state) {
  switch (state) {
    case ServingState::kUnknown:
      return "unknown";
    case ServingState::kLoading:
      return "loading";
    case ServingState::kStreaming:
      return "streaming";
    case ServingState::kStale:
      return "stale";
    case ServingState::kFailed:
      return "failed";
  }
  return "unknown";
}

}  // namespace canopy::net
