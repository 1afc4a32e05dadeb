// resp_wire.cc — see resp_wire.h.
#include "canopy/testing/resp_wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace canopy::testing {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxDepth = 8;

// Parses the integer of a header line at bytes[at..] ending in CRLF.
// Returns the position after the CRLF, 0 when incomplete, or npos when bad.
size_t ParseLineInt(std::string_view bytes, size_t at, int64_t* value) {
  const size_t crlf = bytes.find("\r\n", at);
  if (crlf == std::string_view::npos) return 0;
  const char* begin = bytes.data() + at;
  const char* end = bytes.data() + crlf;
  auto [p, ec] = std::from_chars(begin, end, *value);
  if (ec != std::errc() || p != end) return std::string_view::npos;
  return crlf + 2;
}

// Length of the value at `at`, 0 if incomplete, npos if malformed.
size_t ValueEnd(std::string_view bytes, size_t at, int depth) {
  if (at >= bytes.size()) return 0;
  if (depth > kMaxDepth) return std::string_view::npos;
  const char type = bytes[at];
  switch (type) {
    case '+':
    case '-': {
      const size_t crlf = bytes.find("\r\n", at);
      return crlf == std::string_view::npos ? 0 : crlf + 2;
    }
    case ':': {
      int64_t v = 0;
      return ParseLineInt(bytes, at + 1, &v);
    }
    case '$': {
      int64_t len = 0;
      const size_t body = ParseLineInt(bytes, at + 1, &len);
      if (body == 0 || body == std::string_view::npos) return body;
      if (len == -1) return body;
      if (len < 0) return std::string_view::npos;
      const size_t end = body + static_cast<size_t>(len) + 2;
      if (end > bytes.size()) return 0;
      if (bytes.substr(end - 2, 2) != "\r\n") return std::string_view::npos;
      return end;
    }
    case '*': {
      int64_t n = 0;
      size_t next = ParseLineInt(bytes, at + 1, &n);
      if (next == 0 || next == std::string_view::npos) return next;
      if (n == -1) return next;
      if (n < 0) return std::string_view::npos;
      for (int64_t i = 0; i < n; ++i) {
        next = ValueEnd(bytes, next, depth + 1);
        if (next == 0 || next == std::string_view::npos) return next;
      }
      return next;
    }
    default:
      return std::string_view::npos;
  }
}

void AppendBulk(std::string* out, std::string_view s) {
  *out += '$';
  *out += std::to_string(s.size());
  *out += "\r\n";
  out->append(s);
  *out += "\r\n";
}

// Appends the integers found in the array element at `at` to `out` and
// returns the end of that element (bytes are known complete and valid).
size_t CollectInts(std::string_view bytes, size_t at, std::vector<int64_t>* out) {
  const char type = bytes[at];
  if (type == ':') {
    int64_t v = 0;
    const size_t end = ParseLineInt(bytes, at + 1, &v);
    out->push_back(v);
    return end;
  }
  return ValueEnd(bytes, at, 0);
}

// A send that blocks longer than `timeout` (at least 1 s) fails.
void SetSendTimeout(int fd, std::chrono::milliseconds timeout) {
  const timeval send_limit{static_cast<time_t>(std::max<int64_t>(1, timeout.count() / 1000)), 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit);
}

}  // namespace

Result<std::unique_ptr<RespConnection>> RespConnection::Connect(const std::string& unix_path,
                                                                std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (unix_path.size() >= sizeof addr.sun_path) return Status::InvalidArgument("path too long");
  std::memcpy(addr.sun_path, unix_path.c_str(), unix_path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable("socket failed");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    return Status::Unavailable("cannot connect to " + unix_path + ": " + error);
  }
  SetSendTimeout(fd, timeout);
  return std::unique_ptr<RespConnection>(new RespConnection(fd, timeout));
}

Result<std::unique_ptr<RespConnection>> RespConnection::ConnectTcp(
    int port, std::chrono::milliseconds timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable("socket failed");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    return Status::Unavailable("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " +
                               error);
  }
  SetSendTimeout(fd, timeout);
  return std::unique_ptr<RespConnection>(new RespConnection(fd, timeout));
}

RespConnection::~RespConnection() { close(fd_); }

Status RespConnection::Send(std::string_view bytes) {
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Unavailable(std::string("send: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<std::string> RespConnection::ReadReply() {
  const Clock::time_point deadline = Clock::now() + timeout_;
  for (;;) {
    Result<size_t> len = RespValueLength(buffer_);
    if (!len.ok()) return len.status();
    if (len.value() > 0) {
      std::string reply = buffer_.substr(0, len.value());
      buffer_.erase(0, len.value());
      return reply;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Status::Timeout("no complete RESP reply in time");
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[64 * 1024];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Unavailable("connection closed");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

Result<std::string> RespConnection::Call(const std::vector<std::string>& args) {
  const Status sent = Send(RespCommand(args));
  if (!sent.ok()) return sent;
  return ReadReply();
}

std::string RespCommand(const std::vector<std::string>& args) {
  std::string out(1, '*');
  out += std::to_string(args.size());
  out += "\r\n";
  for (const std::string& a : args) AppendBulk(&out, a);
  return out;
}

std::string RespIdArray(const std::vector<int64_t>& ids) {
  std::string out(1, '*');
  out += std::to_string(ids.size());
  out += "\r\n";
  for (int64_t id : ids) {
    out += ':';
    out += std::to_string(id);
    out += "\r\n";
  }
  return out;
}

std::string RespBatch(const std::vector<std::vector<int64_t>>& lists) {
  std::string out(1, '*');
  out += std::to_string(lists.size());
  out += "\r\n";
  for (const auto& ids : lists) out += RespIdArray(ids);
  return out;
}

std::string RespCounts(const std::vector<int64_t>& four_counts) {
  static const char* const kNames[] = {"descendant_groups", "descendant_project_namespaces",
                                       "projects", "unarchived_projects"};
  std::string out = "*8\r\n";
  for (size_t i = 0; i < 4 && i < four_counts.size(); ++i) {
    AppendBulk(&out, kNames[i]);
    out += ':';
    out += std::to_string(four_counts[i]);
    out += "\r\n";
  }
  return out;
}

Result<size_t> RespValueLength(std::string_view bytes) {
  const size_t end = ValueEnd(bytes, 0, 0);
  if (end == std::string_view::npos) return Status::DataLoss("not a RESP2 value");
  return end;
}

Result<std::vector<std::vector<int64_t>>> RespIdLists(std::string_view reply) {
  Result<size_t> len = RespValueLength(reply);
  if (!len.ok()) return len.status();
  if (len.value() == 0 || len.value() != reply.size()) {
    return Status::DataLoss("not one complete RESP value");
  }
  if (reply[0] == '-') {
    return Status::Internal("error reply: " + std::string(reply.substr(1, reply.size() - 3)));
  }
  if (reply[0] != '*') return Status::DataLoss("reply is not an array");
  int64_t n = 0;
  size_t at = ParseLineInt(reply, 1, &n);
  std::vector<std::vector<int64_t>> lists;
  if (n <= 0) {
    lists.emplace_back();
    return lists;
  }
  const bool nested = reply[at] == '*' || (reply[at] == '$' && reply.substr(at, 3) == "$-1");
  if (!nested) {
    lists.emplace_back();
    for (int64_t i = 0; i < n; ++i) at = CollectInts(reply, at, &lists.back());
    return lists;
  }
  for (int64_t i = 0; i < n; ++i) {
    lists.emplace_back();
    if (reply[at] == '*') {
      int64_t m = 0;
      at = ParseLineInt(reply, at + 1, &m);
      for (int64_t j = 0; j < m; ++j) at = CollectInts(reply, at, &lists.back());
    } else {
      at = ValueEnd(reply, at, 0);  // nil
    }
  }
  return lists;
}

}  // namespace canopy::testing
