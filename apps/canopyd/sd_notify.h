// apps/canopyd/sd_notify.h — systemd's readiness protocol (sd_notify(3))
// without libsystemd: one datagram per state to the Unix socket named by
// $NOTIFY_SOCKET.
//
//   canopyd::SdNotifier notify = canopyd::SdNotifier::FromEnvironment();
//   if (notify.enabled()) { canopy::Status s = notify.Send("READY=1"); ... }
//
// $NOTIFY_SOCKET is a filesystem path ("/run/systemd/notify") or, starting
// with '@', a name in the abstract namespace ('@' stands for the leading NUL
// byte). Unset or empty: enabled() is false and Send() does nothing. Any
// other form (e.g. "vsock:...") is reported by Send() as kInvalidArgument.
//
// canopyd sends "READY=1" once the first snapshot is applied and the replica
// streams (without --pg: once listening), and "STOPPING=1" when a stop signal
// arrives (docs/operations.md).
//
// THREAD SAFETY: Send() may be called from any thread; each call opens and
// closes its own socket.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "canopy/status.h"

namespace canopyd {

class SdNotifier {
 public:
  // Reads $NOTIFY_SOCKET.
  static SdNotifier FromEnvironment();
  explicit SdNotifier(std::string socket_name) : socket_name_(std::move(socket_name)) {}

  bool enabled() const { return !socket_name_.empty(); }
  const std::string& socket_name() const { return socket_name_; }

  // Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", newline-separated
  // assignments) as one datagram. OK when not enabled. Errors:
  // kInvalidArgument (unusable socket name), kUnavailable (socket/sendto
  // failed, e.g. nobody listens).
  canopy::Status Send(std::string_view state) const;

 private:
  std::string socket_name_;
};

}  // namespace canopyd
