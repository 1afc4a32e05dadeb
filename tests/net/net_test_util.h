// net_test_util.h — shared pieces of the protocol tests: a GitLab-shaped test
// index, a server fixture, and a raw socket that speaks bytes (for frames a
// well-behaved client would never send).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "canopy/hierarchy_index.h"
#include "canopy/net/client.h"
#include "canopy/net/server.h"
#include "canopy/testing/gitlab_forest.h"
#include "codec.h"
#include "frame.h"

namespace canopy::net::testing {

// An answer over the network equals the engine's own (`what` names it).
inline void ExpectSameAnswer(const IdAnswer& got, const IdAnswer& want, const std::string& what) {
  EXPECT_EQ(got.status.code(), want.status.code()) << what << ": " << got.status.ToString();
  EXPECT_EQ(got.ids, want.ids) << what;
  EXPECT_EQ(got.total, want.total) << what;
  EXPECT_EQ(got.more, want.more) << what;
}

// Counts for `ids` over the network equal the engine's (unknown ids: kNotFound).
inline void ExpectSameCounts(const std::vector<Result<SubtreeCounts>>& got,
                             const std::vector<int64_t>& ids, const ReadView& view) {
  ASSERT_EQ(got.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    Result<SubtreeCounts> want = view.Counts(ids[i]);
    ASSERT_EQ(got[i].ok(), want.ok()) << ids[i];
    if (!want.ok()) {
      EXPECT_EQ(got[i].status().code(), StatusCode::kNotFound);
      continue;
    }
    EXPECT_EQ(got[i]->descendant_groups, want->descendant_groups);
    EXPECT_EQ(got[i]->descendant_project_namespaces, want->descendant_project_namespaces);
    EXPECT_EQ(got[i]->projects, want->projects);
    EXPECT_EQ(got[i]->unarchived_projects, want->unarchived_projects);
  }
}

// Every query kind for `id` in both orders, with and without project namespaces.
inline std::vector<IdQuery> AllQueryShapes(int64_t id, int64_t top) {
  std::vector<IdQuery> out;
  for (int k = 0; k < kQueryKindCount; ++k) {
    const auto kind = static_cast<QueryKind>(k);
    for (auto order : {HierarchyOrder::kRootFirst, HierarchyOrder::kSelfFirst}) {
      for (bool pn : {false, true}) {
        out.push_back(IdQuery{
            .kind = kind, .id = id, .top = top, .order = order, .include_project_namespaces = pn});
      }
    }
  }
  return out;
}

// A transaction adding group `id` under `parent`.
inline Transaction AddGroup(Lsn lsn, int64_t id, int64_t parent) {
  Transaction txn;
  txn.commit_lsn = lsn;
  txn.changes.push_back(UpsertNamespace{{.id = id,
                                         .parent_id = parent,
                                         .type = NamespaceType::kGroup,
                                         .name = "g" + std::to_string(id),
                                         .path = "g" + std::to_string(id)}});
  return txn;
}

// A small GitLab-shaped forest (with gitlab-org, the huge group, the 21-level
// chain, ...) loaded into an index at LSN 1000.
struct TestWorld {
  canopy::testing::GitlabForest forest;
  std::unique_ptr<HierarchyIndex> index;

  static TestWorld Make(uint64_t seed = 7) {
    TestWorld w;
    canopy::testing::GitlabForestOptions options;
    options.seed = seed;
    options.namespaces = 4'000;
    options.projects = 12'000;
    w.forest = canopy::testing::GenerateGitlabForest(options);
    w.index = std::make_unique<HierarchyIndex>();
    Status s = w.index->Apply(canopy::testing::LoadTransaction(w.forest, Lsn(1000)));
    if (!s.ok()) std::abort();
    return w;
  }

  // Interesting namespace ids: named structures, a spread of others, unknowns.
  std::vector<int64_t> SampleNamespaceIds(size_t spread = 60) const {
    const auto& n = forest.named;
    std::vector<int64_t> ids = {n.gitlab_org_id,
                                n.huge_group_id,
                                n.small_group_id,
                                n.chain_21_leaf_id,
                                n.deep_chain_leaf_id,
                                n.user_namespace_id,
                                n.transfer_target_a_id,
                                0,
                                -5,
                                99'999'999};
    const size_t total = forest.namespaces.size();
    for (size_t i = 0; i < spread && total > 0; ++i)
      ids.push_back(static_cast<int64_t>(1 + (i * 7919) % total));
    return ids;
  }
  std::vector<int64_t> SampleProjectIds(size_t spread = 40) const {
    const auto& n = forest.named;
    std::vector<int64_t> ids = {n.user_project_id, n.gitlab_org_project_id,
                                n.chain_21_leaf_project_id, 0, 99'999'999};
    const size_t total = forest.projects.size();
    for (size_t i = 0; i < spread && total > 0; ++i)
      ids.push_back(static_cast<int64_t>(1 + (i * 104729) % total));
    return ids;
  }
};

// Raises the soft open-file limit to the hard limit; returns the soft limit now in force.
inline size_t RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return static_cast<size_t>(rl.rlim_cur);
}

inline std::string TempSocketPath(const std::string& tag) {
  return (std::filesystem::temp_directory_path() /
          ("canopy-net-" + tag + "-" + std::to_string(::getpid()) + ".sock"))
      .string();
}

// Polls `condition` until it holds or `timeout` passes (no timing assertion:
// the timeout only bounds a test that would otherwise hang).
template <typename Condition>
bool Eventually(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Encodes a Request as one frame.
inline std::vector<uint8_t> EncodeFrame(const Request& request) {
  flatbuffers::FlatBufferBuilder b;
  internal::EncodeRequest(request, &b);
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

inline std::vector<uint8_t> LengthPrefix(uint32_t n) {
  return {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n >> 16),
          static_cast<uint8_t>(n >> 24)};
}

// A blocking POSIX socket with poll() timeouts, speaking raw bytes.
class RawConnection {
 public:
  static std::optional<RawConnection> Tcp(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return std::nullopt;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return std::nullopt;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return RawConnection(fd);
  }

  RawConnection(RawConnection&& o) noexcept : fd_(o.fd_), reader_(std::move(o.reader_)) {
    o.fd_ = -1;
  }
  RawConnection& operator=(RawConnection&&) = delete;
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool Send(const std::vector<uint8_t>& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  bool Send(const Request& request) { return Send(EncodeFrame(request)); }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  int fd() const { return fd_; }
  // Makes the kernel buffers small so a test fills them quickly.
  void ShrinkReceiveBuffer() {
    int size = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }

  enum class Outcome { kFrame, kClosed, kTimeout, kBadFrame };
  struct Read {
    Outcome outcome = Outcome::kTimeout;
    Response response;
  };

  // The next response frame, or what happened instead.
  Read ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      internal::FrameReader::Next next = reader_.NextFrame();
      if (next.state == internal::FrameReader::State::kFrame) {
        Result<Response> r = internal::DecodeResponse(next.frame);
        if (!r.ok()) return {Outcome::kBadFrame, {}};
        return {Outcome::kFrame, *r};
      }
      if (next.state != internal::FrameReader::State::kNeedMore) return {Outcome::kBadFrame, {}};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {Outcome::kTimeout, {}};
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      std::span<uint8_t> space = reader_.PrepareWrite(64 * 1024);
      ssize_t n = ::recv(fd_, space.data(), space.size(), 0);
      if (n <= 0) return {Outcome::kClosed, {}};
      reader_.CommitWrite(static_cast<size_t>(n));
    }
  }

  // True once the peer closed (EOF or reset), skipping any frames before it.
  bool WaitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    for (;;) {
      Read r = ReadResponse(timeout);
      if (r.outcome == Outcome::kClosed) return true;
      if (r.outcome == Outcome::kTimeout) return false;
    }
  }

 private:
  explicit RawConnection(int fd) : fd_(fd), reader_(256u << 20) {}
  int fd_;
  internal::FrameReader reader_;
};

inline ServerOptions TestServerOptions() {
  ServerOptions o;
  o.tcp_listen = "127.0.0.1:0";
  o.threads = 2;
  o.shutdown_grace = std::chrono::seconds(5);
  return o;
}

inline ClientOptions TcpClientOptions(uint16_t port) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.io_timeout = std::chrono::seconds(30);
  return o;
}

inline ClientOptions UnixClientOptions(const std::string& path) {
  ClientOptions o;
  o.unix_path = path;
  o.io_timeout = std::chrono::seconds(30);
  return o;
}

}  // namespace canopy::net::testing
