#include "sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace canopyd {

SdNotifier SdNotifier::FromEnvironment() {
  const char* name = std::getenv("NOTIFY_SOCKET");
  return SdNotifier(name != nullptr ? name : "");
}

canopy::Status SdNotifier::Send(std::string_view state) const {
  if (!enabled()) return canopy::Status();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const bool abstract = socket_name_[0] == '@';
  if (!abstract && socket_name_[0] != '/') {
    return canopy::Status::InvalidArgument("NOTIFY_SOCKET '" + socket_name_ +
                                           "' is neither a path nor an abstract name (@...)");
  }
  if (socket_name_.size() > sizeof(addr.sun_path) - (abstract ? 0 : 1)) {
    return canopy::Status::InvalidArgument("NOTIFY_SOCKET '" + socket_name_ + "' is too long");
  }
  std::memcpy(addr.sun_path, socket_name_.data(), socket_name_.size());
  if (abstract) addr.sun_path[0] = '\0';
  // An abstract name is exactly its bytes (no terminating NUL); a path's
  // length may include the NUL.
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                               socket_name_.size() + (abstract ? 0 : 1));

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return canopy::Status::Unavailable(std::string("NOTIFY_SOCKET: socket: ") +
                                       std::strerror(errno));
  }
  ssize_t sent = -1;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), len);
  } while (sent < 0 && errno == EINTR);
  const int error = errno;
  ::close(fd);
  if (sent < 0) {
    return canopy::Status::Unavailable("NOTIFY_SOCKET " + socket_name_ +
                                       ": sendto: " + std::strerror(error));
  }
  if (static_cast<size_t>(sent) != state.size()) {
    return canopy::Status::Unavailable("NOTIFY_SOCKET " + socket_name_ + ": short datagram");
  }
  return canopy::Status();
}

}  // namespace canopyd
