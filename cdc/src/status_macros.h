// status_macros.h — early return on a non-OK Status (cdc internals only).
#pragma once

#include "canopy/status.h"

#define CANOPY_RETURN_IF_ERROR(expr) \
  do {                               \
    ::canopy::Status s_ = (expr);    \
    if (!s_.ok()) return s_;         \
  } while (0)
