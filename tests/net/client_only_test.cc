// client_only_test.cc — canopy::client on its own: this executable links
// canopy::client (every object of its archive) and nothing else of canopy's,
// so it stops linking the day the client needs a symbol of the index
// (canopy::engine). Also exercises what a client uses without a server: the
// query vocabulary (canopy/query.h), the protocol values and their error
// mapping (canopy/net/protocol.h), and both clients' answer when nothing
// listens (kUnavailable, never an exception).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/net/async_client.h"
#include "canopy/net/client.h"
#include "canopy/net/protocol.h"
#include "canopy/query.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy::net {
namespace {

// ---- the vocabulary ----

TEST(QueryVocabularyTest, EveryKindHasItsOwnSnakeCaseName) {
  std::map<std::string, QueryKind> by_name;
  for (int k = 0; k < kQueryKindCount; ++k) {
    const auto kind = static_cast<QueryKind>(k);
    const std::string name = QueryKindName(kind);
    EXPECT_NE(name, "unknown") << "kind " << k;
    EXPECT_FALSE(name.empty()) << "kind " << k;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << name;
    EXPECT_TRUE(by_name.emplace(name, kind).second) << "two kinds named " << name;
  }
  // Name -> kind -> name.
  for (const auto& [name, kind] : by_name) EXPECT_EQ(QueryKindName(kind), name);
  EXPECT_EQ(by_name.at("self_and_ancestors"), QueryKind::kSelfAndAncestors);
  EXPECT_EQ(by_name.at("runners_of_parent_groups_of_project"),
            QueryKind::kRunnersOfParentGroupsOfProject);
  EXPECT_STREQ(QueryKindName(static_cast<QueryKind>(kQueryKindCount)), "unknown");
}

TEST(QueryVocabularyTest, AscendingKindsAreTheDescendantProjectAndRunnerKinds) {
  const std::set<QueryKind> ascending = {
      QueryKind::kSelfAndDescendants,         QueryKind::kDescendants,
      QueryKind::kSelfAndHierarchy,           QueryKind::kAllProjectIds,
      QueryKind::kAllUnarchivedProjectIds,    QueryKind::kRunnersOfGroup,
      QueryKind::kRunnersOfGroupAndAncestors, QueryKind::kRunnersOfParentGroupsOfProject,
  };
  for (int k = 0; k < kQueryKindCount; ++k) {
    const auto kind = static_cast<QueryKind>(k);
    EXPECT_EQ(IsAscendingKind(kind), ascending.count(kind) == 1) << QueryKindName(kind);
  }
}

TEST(QueryVocabularyTest, AnIdQueryIsAPlainValue) {
  IdQuery defaults;
  EXPECT_EQ(defaults.kind, QueryKind::kSelfAndAncestors);
  EXPECT_EQ(defaults.order, HierarchyOrder::kRootFirst);
  EXPECT_EQ(defaults.id_order, IdOrder::kAscending);
  EXPECT_EQ(defaults.limit, 0u);
  EXPECT_FALSE(defaults.after_id.has_value());

  IdQuery page{.kind = QueryKind::kDescendants,
               .id = 9970,
               .include_project_namespaces = true,
               .limit = 100,
               .after_id = 12345};
  Request request{.min_lsn = Lsn(0x16B374D848), .body = page};
  ASSERT_TRUE(std::holds_alternative<IdQuery>(request.body));
  const IdQuery& carried = std::get<IdQuery>(request.body);
  EXPECT_EQ(carried.kind, QueryKind::kDescendants);
  EXPECT_EQ(carried.id, 9970);
  EXPECT_TRUE(carried.include_project_namespaces);
  EXPECT_EQ(carried.limit, 100u);
  EXPECT_EQ(carried.after_id, 12345);
  EXPECT_EQ(request.min_lsn.ToString(), "16/B374D848");
  EXPECT_EQ(Lsn::Parse("16/b374d848"), request.min_lsn);

  IdAnswer answer{.status = Status::NotFound("unknown id 9970")};
  EXPECT_EQ(answer.status.code(), StatusCode::kNotFound);
  ResolvedPath resolved;
  EXPECT_EQ(resolved.table, Table::kNamespaces);
}

TEST(QueryVocabularyTest, WireErrorsMapToStatusCodes) {
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kUnknownId), "unknown_id");
  EXPECT_EQ(ToStatusCode(ErrorCode::kOk), StatusCode::kOk);
  EXPECT_EQ(ToStatusCode(ErrorCode::kUnknownId), StatusCode::kNotFound);
  EXPECT_EQ(ToStatusCode(ErrorCode::kStale), StatusCode::kTimeout);
  EXPECT_EQ(ToStatusCode(ErrorCode::kShuttingDown), StatusCode::kUnavailable);
  EXPECT_TRUE(ToStatus(ErrorCode::kOk, "").ok());
  Status stale = ToStatus(ErrorCode::kStale, "lsn not applied yet");
  EXPECT_EQ(stale.code(), StatusCode::kTimeout);
  EXPECT_NE(stale.message().find("lsn not applied yet"), std::string::npos) << stale.ToString();
}

// ---- the clients, with nothing listening ----

// A TCP port on 127.0.0.1 that refuses connections while this object lives:
// bound (so nothing else takes it) but not listening.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

ClientOptions OptionsFor(const RefusingPort& refusing) {
  ClientOptions options;
  options.host = "127.0.0.1";
  options.port = refusing.port();
  options.connect_timeout = std::chrono::milliseconds(5'000);
  options.io_timeout = std::chrono::milliseconds(5'000);
  return options;
}

TEST(ClientWithoutServerTest, ConnectToARefusingPortIsUnavailable) {
  RefusingPort refusing;
  ASSERT_NE(refusing.port(), 0) << "could not bind a port on 127.0.0.1";
  Client client(OptionsFor(refusing));
  Status s = client.Connect();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_FALSE(client.connected());

  // A typed call connects first, and reports the same.
  Result<QueryAnswer> answer = client.Query({.kind = QueryKind::kSelfAndAncestors, .id = 42});
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), StatusCode::kUnavailable) << answer.status().ToString();
}

TEST(ClientWithoutServerTest, ConnectToAMissingUnixSocketIsUnavailable) {
  ClientOptions options;
  options.unix_path = ::testing::TempDir() + "canopy-client-only-no-such.sock";
  ::unlink(options.unix_path.c_str());
  Client client(options);
  Status s = client.Connect();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

TEST(ClientWithoutServerTest, AsyncCallsToARefusingPortCompleteUnavailable) {
  RefusingPort refusing;
  ASSERT_NE(refusing.port(), 0) << "could not bind a port on 127.0.0.1";
  AsyncClient client(OptionsFor(refusing));
  std::future<Result<QueryAnswer>> answer =
      client.Query({.kind = QueryKind::kDescendants, .id = 9970});
  std::future<Result<Lsn>> ping = client.Ping(7);
  // Bounded only so that a hang fails instead of blocking the suite.
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  ASSERT_EQ(ping.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  Result<QueryAnswer> a = answer.get();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable) << a.status().ToString();
  Result<Lsn> p = ping.get();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnavailable) << p.status().ToString();
}

}  // namespace
}  // namespace canopy::net
