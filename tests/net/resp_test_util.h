// resp_test_util.h — for tests of canopyd's Redis-protocol listener: a raw
// RESP connection with its own small reply reader (so tests can check exact
// framing, attributes and closes), and a fixture that starts a server with a
// RESP listener on the shared GitLab-shaped index.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/testing/resp_wire.h"
#include "server_fixture.h"

namespace canopy::net::testing {

// A decoded RESP reply.
struct Reply {
  char type = 0;  // + - : $ * % _ (nil) | (attribute, then `attributed`)
  std::string text;
  int64_t integer = 0;
  bool nil = false;
  std::vector<Reply> elements;  // arrays; maps as key, value, key, value...
  std::vector<Reply> attribute;
  std::vector<int64_t> Ints() const {
    std::vector<int64_t> out;
    for (const Reply& e : elements) out.push_back(e.integer);
    return out;
  }
};

// A raw RESP connection with a reply reader.
class RespConnection {
 public:
  explicit RespConnection(uint16_t port) {
    std::optional<testing::RawConnection> raw = testing::RawConnection::Tcp(port);
    EXPECT_TRUE(raw.has_value());
    raw_ = std::make_unique<testing::RawConnection>(std::move(*raw));
  }
  bool Send(std::string_view bytes) {
    return raw_->Send(std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }
  // One command as an array of bulk strings.
  bool Command(const std::vector<std::string>& args) { return Send(Encode(args)); }
  static std::string Encode(const std::vector<std::string>& args) {
    return canopy::testing::RespCommand(args);
  }
  // The next reply; nullopt if the connection closed or nothing came in time.
  std::optional<Reply> Read(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    Reply r;
    if (!ReadReply(&r)) return std::nullopt;
    return r;
  }
  std::optional<Reply> Call(const std::vector<std::string>& args) {
    if (!Command(args)) return std::nullopt;
    return Read();
  }
  // True once the server closed the connection (skipping replies before it).
  bool WaitClosed() {
    for (;;) {
      deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      char c;
      if (!Byte(&c)) return !timed_out_;
    }
  }

 private:
  bool Byte(char* c) {
    while (pos_ >= buffer_.size()) {
      buffer_.clear();
      pos_ = 0;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline_ - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out_ = true;
        return false;
      }
      pollfd p{raw_->fd(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::recv(raw_->fd(), chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buffer_.assign(chunk, static_cast<size_t>(n));
    }
    *c = buffer_[pos_++];
    return true;
  }
  bool Line(std::string* out) {
    out->clear();
    char c;
    while (Byte(&c)) {
      if (c == '\r') {
        return Byte(&c) && c == '\n';
      }
      out->push_back(c);
    }
    return false;
  }
  bool ReadReply(Reply* r) {
    char type;
    if (!Byte(&type)) return false;
    std::string line;
    if (!Line(&line)) return false;
    r->type = type;
    switch (type) {
      case '+':
      case '-':
        r->text = line;
        return true;
      case ':':
        r->integer = std::stoll(line);
        return true;
      case '_':
        r->nil = true;
        return true;
      case '$': {
        const long n = std::stol(line);
        if (n < 0) {
          r->nil = true;
          return true;
        }
        for (long i = 0; i < n; ++i) {
          char c;
          if (!Byte(&c)) return false;
          r->text.push_back(c);
        }
        std::string rest;
        return Line(&rest) && rest.empty();
      }
      case '*':
      case '%':
      case '|': {
        const long n = std::stol(line);
        if (n < 0) {
          r->nil = true;
          return true;
        }
        const long count = type == '*' ? n : 2 * n;
        std::vector<Reply> elements(static_cast<size_t>(count));
        for (Reply& e : elements) {
          if (!ReadReply(&e)) return false;
        }
        if (type != '|') {
          r->elements = std::move(elements);
          return true;
        }
        // An attribute, then the reply it annotates.
        if (!ReadReply(r)) return false;
        r->attribute = std::move(elements);
        return true;
      }
      default:
        ADD_FAILURE() << "unexpected reply type '" << type << "'";
        return false;
    }
  }

  std::unique_ptr<testing::RawConnection> raw_;
  std::string buffer_;
  size_t pos_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  bool timed_out_ = false;
};

class RespServerTest : public ServerTest {
 protected:
  void StartResp(ServerOptions options = testing::TestServerOptions()) {
    options.resp_tcp_listen = "127.0.0.1:0";
    StartServer(std::move(options));
  }
  RespConnection Connect() { return RespConnection(server_->resp_tcp_port()); }
  const canopy::testing::GitlabForest& forest() { return world_->forest; }
  std::vector<int64_t> Engine(IdQuery q) { return index().Query(q).answer.ids; }
};

}  // namespace canopy::net::testing
