// testing_resp_wire_test.cc — canopy::testing's RESP2 wire helpers
// (canopy/testing/resp_wire.h), under canopy_serving_bench and the RESP
// tests: command encoding, value lengths, id lists, canopyd's replies built
// from answers, and the blocking connection against a scripted peer on a Unix
// socket and on loopback TCP.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "canopy/testing/resp_wire.h"

namespace canopy::testing {
namespace {

TEST(RespWire, CommandEncoding) {
  EXPECT_EQ(RespCommand({"GET", "k"}), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_EQ(RespCommand({""}), "*1\r\n$0\r\n\r\n");
}

TEST(RespWire, ValueLength) {
  EXPECT_EQ(RespValueLength("+OK\r\nrest").value(), 5u);
  EXPECT_EQ(RespValueLength(":12\r\n").value(), 5u);
  EXPECT_EQ(RespValueLength("$3\r\nabc\r\n").value(), 9u);
  EXPECT_EQ(RespValueLength("$-1\r\n").value(), 5u);
  EXPECT_EQ(RespValueLength("*2\r\n:1\r\n:2\r\n").value(), 12u);
  EXPECT_EQ(RespValueLength("*2\r\n:1\r\n").value(), 0u);  // incomplete
  EXPECT_EQ(RespValueLength("$3\r\nab").value(), 0u);
  EXPECT_EQ(RespValueLength("").value(), 0u);
  EXPECT_FALSE(RespValueLength("?x\r\n").ok());
  EXPECT_FALSE(RespValueLength(":1x\r\n").ok());
  EXPECT_FALSE(RespValueLength("$3\r\nabcd\r\n").ok());
}

TEST(RespWire, IdLists) {
  using Lists = std::vector<std::vector<int64_t>>;
  EXPECT_EQ(RespIdLists("*2\r\n:1\r\n:2\r\n").value(), Lists({{1, 2}}));
  EXPECT_EQ(RespIdLists("*0\r\n").value(), Lists({{}}));
  EXPECT_EQ(RespIdLists("*2\r\n*1\r\n:7\r\n$-1\r\n").value(), Lists({{7}, {}}));
  EXPECT_EQ(RespIdLists("*4\r\n$1\r\na\r\n:3\r\n$1\r\nb\r\n:4\r\n").value(), Lists({{3, 4}}));
  EXPECT_EQ(RespIdLists("-NOTFOUND x\r\n").status().code(), StatusCode::kInternal);
  EXPECT_EQ(RespIdLists("*2\r\n:1\r\n").status().code(), StatusCode::kDataLoss);
}

// A peer that reads one command and answers `reply` in two pieces, then
// closes.
void ServeOnce(int listener, std::string reply) {
  const int fd = ::accept(listener, nullptr, nullptr);
  if (fd < 0) return;
  char buf[256];
  (void)::recv(fd, buf, sizeof buf, 0);
  const size_t half = reply.size() / 2;
  (void)::send(fd, reply.data(), half, MSG_NOSIGNAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (void)::send(fd, reply.data() + half, reply.size() - half, MSG_NOSIGNAL);
  ::close(fd);
}

// The replies canopyd sends (docs/resp.md), built from answers, read back by
// RespIdLists as the same answers.
TEST(RespWire, CanopydRepliesRoundTrip) {
  EXPECT_EQ(RespIdArray({}), "*0\r\n");
  EXPECT_EQ(RespIdArray({-3, 9223372036854775807}), "*2\r\n:-3\r\n:9223372036854775807\r\n");
  const std::vector<std::vector<int64_t>> batch = {{1, 2}, {}, {7}};
  EXPECT_EQ(RespBatch(batch), "*3\r\n*2\r\n:1\r\n:2\r\n*0\r\n*1\r\n:7\r\n");
  EXPECT_EQ(RespIdLists(RespBatch(batch)).value(), batch);
  EXPECT_EQ(RespIdLists(RespIdArray({5, 4})).value(), (std::vector<std::vector<int64_t>>{{5, 4}}));
  const std::string counts = RespCounts({10, 20, 30, 25});
  EXPECT_EQ(counts.substr(0, 28), "*8\r\n$17\r\ndescendant_groups\r\n");
  EXPECT_EQ(RespValueLength(counts).value(), counts.size());
  EXPECT_EQ(RespIdLists(counts).value(), (std::vector<std::vector<int64_t>>{{10, 20, 30, 25}}));
}

TEST(RespWire, ConnectionOverUnixSocketAndTcp) {
  const std::string reply = "*2\r\n:1\r\n:2\r\n";
  char dir[] = "/tmp/canopy-resp-wire.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/s";
  const int unix_listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un ua{};
  ua.sun_family = AF_UNIX;
  std::memcpy(ua.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(unix_listener, reinterpret_cast<sockaddr*>(&ua), sizeof ua), 0);
  ASSERT_EQ(::listen(unix_listener, 1), 0);
  std::thread unix_peer(ServeOnce, unix_listener, reply);
  {
    Result<std::unique_ptr<RespConnection>> c = RespConnection::Connect(path);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    Result<std::string> got = (*c)->Call({"ANCESTORS", "2"});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, reply);
    EXPECT_EQ((*c)->ReadReply().status().code(), StatusCode::kUnavailable);  // closed
  }
  unix_peer.join();
  ::close(unix_listener);
  ::unlink(path.c_str());
  ::rmdir(dir);

  const int tcp_listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in ta{};
  ta.sin_family = AF_INET;
  ta.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof ta;
  ASSERT_EQ(::bind(tcp_listener, reinterpret_cast<sockaddr*>(&ta), sizeof ta), 0);
  ASSERT_EQ(::getsockname(tcp_listener, reinterpret_cast<sockaddr*>(&ta), &len), 0);
  ASSERT_EQ(::listen(tcp_listener, 1), 0);
  std::thread tcp_peer(ServeOnce, tcp_listener, reply);
  {
    Result<std::unique_ptr<RespConnection>> c = RespConnection::ConnectTcp(ntohs(ta.sin_port));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    Result<std::string> got = (*c)->Call({"PING"});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, reply);
  }
  tcp_peer.join();
  ::close(tcp_listener);
  EXPECT_FALSE(RespConnection::Connect(std::string(200, 'x')).ok());
}

}  // namespace
}  // namespace canopy::testing
