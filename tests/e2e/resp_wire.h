// resp_wire.h — for the RESP end-to-end test: answers in one canonical form
// (compact JSON, what the client scripts and redis-cli --json print), and a
// raw RESP connection for hostile peers and protocol details.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/testing/resp_wire.h"
#include "e2e_util.h"

namespace canopy::e2e {

using Command = std::vector<std::string>;

// ---- canonical answers ----
//
// Every answer is compared as compact JSON, the form the client scripts and
// `redis-cli --json` print: [1,2,3], "a/b", null, ["namespace",5]; an error
// reply is {"err":"<line>"}, compared by its first word ("!NOTFOUND").

inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

inline std::string JsonIds(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    // Appended, not "," + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
    if (i) out += ',';
    out += Id(ids[i]);
  }
  return out + "]";
}

inline std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

inline std::string CommandJson(const Command& command) {
  std::vector<std::string> items;
  for (const std::string& arg : command) items.push_back(JsonString(arg));
  return JsonList(items);
}

inline std::string Err(const std::string& prefix) { return "!" + prefix; }
inline const std::string kNotFound = Err("NOTFOUND");

// An answer line as compared: an error reply becomes "!" + its first word.
inline std::string Canonical(const std::string& line) {
  if (line.rfind("{\"err\":", 0) == 0) {
    const std::string message = JsonField(line, "err").value_or("?");
    return "!" + message.substr(0, message.find(' '));
  }
  return line;
}

inline std::string IdsOr(const std::optional<std::vector<int64_t>>& ids,
                         const std::string& missing = kNotFound) {
  return ids ? JsonIds(*ids) : missing;
}

// GitlabSql's counts text ("descendant_groups 3\n...") as RESP2's flat array
// or RESP3's map.
inline std::string CountsJson(const std::optional<std::string>& text, bool map,
                              const std::string& missing = kNotFound) {
  if (!text) return missing;
  std::istringstream in(*text);
  std::string name, value, out;
  while (in >> name >> value) {
    // Appended, not "," + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
    if (!out.empty()) out += ',';
    out.append(JsonString(name)).append(map ? ":" : ",").append(value);
  }
  return map ? "{" + out + "}" : "[" + out + "]";
}

// GitlabSql's resolve text ("namespace 5\n") as RESOLVE's [type, id].
inline std::string ResolveJson(const std::optional<std::string>& text,
                               const std::string& missing = kNotFound) {
  if (!text) return missing;
  std::istringstream in(*text);
  std::string type, id;
  in >> type >> id;
  return "[" + JsonString(type) + "," + id + "]";
}

inline std::string PathJson(const std::optional<std::string>& path,
                            const std::string& missing = kNotFound) {
  return path ? JsonString(*path) : missing;
}

// Python's / Ruby's printed form of an id list: [1, 2, 3].
inline std::string PrintedIds(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + Id(ids[i]);
  return out + "]";
}

inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// ---- raw RESP on a socket (for hostile peers and protocol details) ----

// Parses one RESP2/RESP3 value of `buf` at *pos into compact JSON (see
// above). A RESP3 attribute in front of the value goes, as a JSON object, to
// *attribute (if given; nested ones are dropped). Returns 1 (complete: *pos
// moves past it), 0 (incomplete) or -1 (not RESP).
inline int ParseResp(const std::string& buf, size_t* pos, std::string* out,
                     std::string* attribute = nullptr, int depth = 0) {
  if (depth > 32) return -1;
  if (*pos >= buf.size()) return 0;
  const size_t eol = buf.find("\r\n", *pos);
  if (eol == std::string::npos) return 0;
  const char type = buf[*pos];
  const std::string line = buf.substr(*pos + 1, eol - *pos - 1);
  size_t at = eol + 2;
  auto number = [&](long long* n) {
    char* end = nullptr;
    errno = 0;
    *n = std::strtoll(line.c_str(), &end, 10);
    return !line.empty() && end != nullptr && *end == 0 && errno == 0;
  };
  long long n = 0;
  std::string value;
  switch (type) {
    case '+':
      value = JsonString(line);
      break;
    case '-':
      value = "{\"err\":" + JsonString(line) + "}";
      break;
    case ':':
    case '(':
    case ',':
      if (!number(&n) && type == ':') return -1;
      value = line;
      break;
    case '_':
      value = "null";
      break;
    case '#':
      value = line == "t" ? "true" : "false";
      break;
    case '$':
    case '=':
    case '!': {
      if (!number(&n) || n < -1) return -1;
      if (n == -1) {
        value = "null";
        break;
      }
      if (buf.size() < at + static_cast<size_t>(n) + 2) return 0;
      std::string bytes = buf.substr(at, static_cast<size_t>(n));
      if (buf.compare(at + static_cast<size_t>(n), 2, "\r\n") != 0) return -1;
      at += static_cast<size_t>(n) + 2;
      if (type == '=') bytes = bytes.size() >= 4 ? bytes.substr(4) : "";
      value = type == '!' ? "{\"err\":" + JsonString(bytes) + "}" : JsonString(bytes);
      break;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      if (!number(&n) || n < -1 || n > 10'000'000) return -1;
      if (n == -1) {
        value = "null";
        break;
      }
      const bool pairs = type == '%' || type == '|';
      std::vector<std::string> items;
      for (long long i = 0; i < n * (pairs ? 2 : 1); ++i) {
        std::string item;
        const int r = ParseResp(buf, &at, &item, nullptr, depth + 1);
        if (r != 1) return r;
        items.push_back(item);
      }
      if (pairs) {
        value = "{";
        for (size_t i = 0; i + 1 < items.size(); i += 2) {
          value += (i ? "," : "") + items[i] + ":" + items[i + 1];
        }
        value += "}";
      } else {
        value = JsonList(items);
      }
      if (type == '|') {
        if (attribute != nullptr) *attribute = value;
        const int r = ParseResp(buf, &at, &value, nullptr, depth + 1);
        if (r != 1) return r;
      }
      break;
    }
    default:
      return -1;
  }
  *pos = at;
  *out = value;
  return 1;
}

// A RESP connection that reads with deadlines.
class RawConn {
 public:
  RawConn() = default;
  ~RawConn() { Close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool ConnectTcp(int port) {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  bool ConnectUnix(const std::string& path) {
    Close();
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
    closed_ = false;
  }

  // Sends everything (bounded by `timeout`); false if the peer is gone or it
  // does not take the bytes in time.
  bool Send(std::string_view bytes, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!bytes.empty()) {
      pollfd p{fd_, POLLOUT, 0};
      const int left = static_cast<int>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                   std::chrono::steady_clock::now())
                 .count()));
      if (::poll(&p, 1, left) <= 0) return false;
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  enum class Got { kValue, kClosed, kTimeout, kNotResp };
  // Reads one complete reply (compact JSON into *value; its RESP3
  // attribute, if any, into *attribute).
  Got Read(std::string* value, std::chrono::milliseconds timeout = std::chrono::seconds(10),
           std::string* attribute = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t pos = 0;
      if (attribute != nullptr) attribute->clear();
      const int r = ParseResp(buf_, &pos, value, attribute);
      if (r == 1) {
        buf_.erase(0, pos);
        return Got::kValue;
      }
      if (r < 0) return Got::kNotResp;
      if (closed_) return Got::kClosed;
      if (!Fill(deadline))
        return closed_ ? (buf_.empty() ? Got::kClosed : Got::kNotResp) : Got::kTimeout;
    }
  }
  // Reads replies (kept in *replies) until the peer closes; false if it does
  // not close within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout, std::vector<std::string>* replies = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::string value;
      size_t pos = 0;
      while (ParseResp(buf_, &pos, &value) == 1) {
        if (replies != nullptr) replies->push_back(value);
        buf_.erase(0, pos);
        pos = 0;
      }
      if (closed_) return true;
      if (!Fill(deadline)) return closed_;
    }
  }
  // One command as a RESP array of bulk strings.
  static std::string Encode(const Command& command) {
    return canopy::testing::RespCommand(command);
  }
  // Sends `command` and reads its reply ("" on any failure, with *got set).
  std::string Call(const Command& command, Got* got = nullptr, std::string* attribute = nullptr) {
    std::string value;
    Got g = Got::kClosed;
    if (Send(Encode(command))) g = Read(&value, std::chrono::seconds(10), attribute);
    if (got != nullptr) *got = g;
    return g == Got::kValue ? value : "";
  }

 private:
  // Reads what is there (waiting until `deadline`); false on timeout or EOF.
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {  // EOF, or a reset: closed either way
      closed_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
  bool closed_ = false;
};

}  // namespace canopy::e2e
