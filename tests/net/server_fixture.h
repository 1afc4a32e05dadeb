// server_fixture.h — a test fixture that starts a server (per test, with
// the options the test wants) on a shared GitLab-shaped index, plus helpers
// to check that the server is still healthy after abuse.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "net_test_util.h"

namespace canopy::net::testing {

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { world_ = new TestWorld(TestWorld::Make()); }
  static void TearDownTestSuite() {
    delete world_;
    world_ = nullptr;
  }

  void StartServer(ServerOptions options) {
    options.log = [this](const LogRecord& record) {
      std::string line = LogLevelName(record.level);
      line += ": ";
      line += record.message;
      for (const LogField& field : record.fields) {
        line += " ";
        line += field.key;
        line += "=";
        line += field.value;
      }
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(std::move(line));
    };
    auto server = Server::Start(std::move(options), Server::Borrow(index()));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void StartServer() { StartServer(TestServerOptions()); }

  HierarchyIndex& index() { return *world_->index; }
  ClientOptions ClientOpts() const { return TcpClientOptions(server_->tcp_port()); }

  // A fresh client can still connect and get a right answer.
  void ExpectServerHealthy() {
    Client client(ClientOpts());
    const int64_t id = world_->forest.named.gitlab_org_id;
    Result<QueryAnswer> a = client.Query({.kind = QueryKind::kSelfAndDescendants, .id = id});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->answer.ids,
              index().Query({.kind = QueryKind::kSelfAndDescendants, .id = id}).answer.ids);
  }

  RawConnection Raw() {
    std::optional<RawConnection> c = RawConnection::Tcp(server_->tcp_port());
    EXPECT_TRUE(c.has_value());
    return std::move(*c);
  }

  // True if a server log line contains `text`.
  bool Logged(std::string_view text) {
    std::lock_guard<std::mutex> lock(log_mu_);
    for (const std::string& line : log_) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

  static inline TestWorld* world_ = nullptr;
  std::mutex log_mu_;
  std::vector<std::string> log_;
  std::unique_ptr<Server> server_;  // last: stopped before the log goes away
};

inline Request Ping(uint64_t id) {
  Request r;
  r.request_id = id;
  r.body = PingRequest{id};
  return r;
}

}  // namespace canopy::net::testing
