// The server: listeners (one per endpoint, Beast's "listener"), the LSN
// poller, the I/O threads and the graceful stop. Sessions are in session.cc.
#include "canopy/net/server.h"

#include <grp.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "fb_protocol.h"
#include "http_protocol.h"
#include "resp_protocol.h"
#include "server_core.h"
#include "session.h"

namespace canopy::net {
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using local_stream = asio::local::stream_protocol;

namespace internal {
namespace {

// Splits "host:port" / "[v6]:port". Errors: kInvalidArgument.
Result<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("bad address '" + std::string(text) + "' (want [v6]:PORT)");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument("bad address '" + std::string(text) + "' (want HOST:PORT)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535 || host.empty()) {
    return Status::InvalidArgument("bad address '" + std::string(text) + "' (want HOST:PORT)");
  }
  return std::make_pair(std::string(host), static_cast<uint16_t>(value));
}

// Which wire protocol a listener speaks.
enum class Wire : uint8_t { kFlatBuffers, kResp, kHttp };

// The counters' name for a listener of `wire` over TCP or a Unix socket.
ListenerKind KindOf(Wire wire, bool tcp) {
  switch (wire) {
    case Wire::kFlatBuffers:
      return tcp ? ListenerKind::kFbTcp : ListenerKind::kFbUnix;
    case Wire::kResp:
      return tcp ? ListenerKind::kRespTcp : ListenerKind::kRespUnix;
    case Wire::kHttp:
      break;
  }
  return ListenerKind::kHttp;
}

std::unique_ptr<WireProtocol> MakeProtocol(ServerCore& core, Wire wire) {
  if (wire == Wire::kResp) {
    return std::make_unique<RespProtocol>(core.options(), core.handler_limits(), &core);
  }
  if (wire == Wire::kHttp) return std::make_unique<HttpProtocol>(core.options(), &core, &core);
  return std::make_unique<FlatBuffersProtocol>(core.options(), core.decoder_limits(),
                                               core.handler_limits(), &core);
}

// Hands an accepted connection (already on `loop`) to a new session, or turns it away.
void Admit(ServerCore& core, IoLoop& loop, Socket socket, Wire wire, ListenerKind listener) {
  if (core.stopping()) {
    error_code ec;
    socket.close(ec);
    return;
  }
  const uint64_t id = core.NextSessionId();
  auto session = std::make_shared<Session>(core, loop, std::move(socket), id, listener,
                                           MakeProtocol(core, wire));
  if (!core.Register(id, session)) {
    core.Log(LogLevel::kWarning, "connection limit reached; refusing a connection");
    session->Reject(ErrorCode::kOverloaded, "too many connections");
    return;
  }
  session->Start();
}

// Accepts connections on one endpoint (Beast's "listener"). The acceptor runs
// on the first loop; each accepted socket is created on the next loop in turn
// and its session lives there until it closes.
template <typename Protocol>
class Listener : public std::enable_shared_from_this<Listener<Protocol>> {
 public:
  Listener(ServerCore& core, std::span<IoLoop* const> loops, Wire wire)
      : core_(core),
        loops_(loops.begin(), loops.end()),
        wire_(wire),
        acceptor_(loops_.front()->context()),
        retry_timer_(acceptor_.get_executor()) {}

  // `after_bind` (may be empty) runs between bind and listen; its error
  // ends the opening.
  Status Open(const typename Protocol::endpoint& endpoint, const std::string& name,
              const std::function<Status()>& after_bind = {}) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec && std::is_same_v<Protocol, tcp>)
      acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (ec) return Status::Unavailable("cannot listen on " + name + ": " + ec.message());
    if (after_bind) {
      if (Status s = after_bind(); !s.ok()) return s;
    }
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::Unavailable("cannot listen on " + name + ": " + ec.message());
    return Status::Ok();
  }

  typename Protocol::endpoint local_endpoint() const {
    error_code ec;
    return acceptor_.local_endpoint(ec);
  }

  void Run() {
    asio::dispatch(acceptor_.get_executor(),
                   [self = this->shared_from_this()] { self->DoAccept(); });
  }

  // Stops accepting: posted to the acceptor's loop while it runs.
  void Stop() {
    asio::post(acceptor_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
  }
  // REQUIRES: no loop runs (the server joined its threads): closes here.
  void Close() {
    error_code ec;
    acceptor_.close(ec);
    retry_timer_.cancel();
  }

 private:
  void DoAccept() {
    IoLoop* loop = loops_[next_loop_];
    next_loop_ = (next_loop_ + 1) % loops_.size();
    acceptor_.async_accept(
        asio::any_io_executor(loop->context().get_executor()),
        [self = this->shared_from_this(), loop](const error_code& ec, auto socket) {
          self->OnAccept(ec, *loop, std::move(socket));
        });
  }

  template <typename AcceptedSocket>
  void OnAccept(const error_code& ec, IoLoop& loop, AcceptedSocket socket) {
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // E.g. EMFILE: back off instead of spinning, then accept again.
      core_.Log(LogLevel::kWarning, "accept: " + ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([self = this->shared_from_this()](const error_code& e) {
        if (!e && self->acceptor_.is_open()) self->DoAccept();
      });
      return;
    }
    if constexpr (std::is_same_v<Protocol, tcp>) {
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
    }
    Admit(core_, loop, Socket(std::move(socket)), wire_,
          KindOf(wire_, std::is_same_v<Protocol, tcp>));
    DoAccept();
  }

  ServerCore& core_;
  const std::vector<IoLoop*> loops_;
  const Wire wire_;
  size_t next_loop_ = 0;  // used on the acceptor's loop only
  typename Protocol::acceptor acceptor_;
  asio::steady_timer retry_timer_;
};

bool IsSocketFile(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Gives the socket file at `path` options.unix_mode / unix_group.
Status SetSocketAccess(const std::string& path, const ServerOptions& options) {
  if (!options.unix_group.empty()) {
    std::vector<char> buffer(16384);
    group entry{};
    group* found = nullptr;
    const int rc =
        ::getgrnam_r(options.unix_group.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc != 0 || found == nullptr) {
      return Status::InvalidArgument("unknown group '" + options.unix_group + "'" +
                                     (rc != 0 ? std::string(": ") + std::strerror(rc) : ""));
    }
    if (::chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
      return Status::Unavailable("cannot give " + path + " group " + options.unix_group + ": " +
                                 std::strerror(errno));
    }
  }
  if (options.unix_mode.has_value()) {
    if (*options.unix_mode > 07777) {
      return Status::InvalidArgument("unix_mode " + std::to_string(*options.unix_mode) +
                                     " is not a file mode");
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(*options.unix_mode)) != 0) {
      return Status::Unavailable("cannot chmod " + path + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

// The I/O threads to run: `threads`, or (0) the cores this process may use.
int ThreadCount(int configured) {
  if (configured > 0) return configured;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(CPU_COUNT(&set), 1);
  return static_cast<int>(std::max(std::thread::hardware_concurrency(), 1u));
}

}  // namespace
}  // namespace internal

class Server::Impl {
 public:
  Impl(ServerOptions options, std::shared_ptr<const HierarchyIndex> index)
      : core_(std::move(options)) {
    const int n = internal::ThreadCount(core_.options().threads);
    std::vector<internal::IoLoop*> loops;
    for (int i = 0; i < n; ++i) {
      loops_.push_back(std::make_unique<internal::IoLoop>(core_));
      loops.push_back(loops_.back().get());
      work_.push_back(asio::make_work_guard(loops_.back()->context()));
    }
    core_.set_loops(loops);
    poll_timer_.emplace(loops_.front()->context());
    core_.SetIndex(std::move(index));
    core_.StartFeed();
  }

  ~Impl() { Stop(); }

  Status Open() {
    const ServerOptions& o = core_.options();
    if (o.tcp_listen.empty() && o.unix_path.empty() && o.resp_tcp_listen.empty() &&
        o.resp_unix_path.empty() && o.http_listen.empty()) {
      return Status::InvalidArgument(
          "no listener: set tcp_listen, unix_path, resp_tcp_listen, resp_unix_path and/or "
          "http_listen");
    }
    if (Status s = OpenTcp(o.tcp_listen, internal::Wire::kFlatBuffers, &tcp_port_); !s.ok()) {
      return s;
    }
    if (Status s = OpenUnix(o.unix_path, internal::Wire::kFlatBuffers); !s.ok()) return s;
    if (Status s = OpenTcp(o.resp_tcp_listen, internal::Wire::kResp, &resp_tcp_port_); !s.ok()) {
      return s;
    }
    if (Status s = OpenUnix(o.resp_unix_path, internal::Wire::kResp); !s.ok()) return s;
    if (Status s = OpenTcp(o.http_listen, internal::Wire::kHttp, &http_port_); !s.ok()) return s;
    return Status::Ok();
  }

  Status Run() {
    for (auto& listener : tcp_) listener->Run();
    for (auto& listener : unix_) listener->Run();
    if (core_.options().lsn_poll_interval.count() > 0) SchedulePoll();
    try {
      for (auto& loop : loops_) {
        threads_.emplace_back([context = &loop->context()] { context->run(); });
      }
    } catch (const std::system_error& e) {
      Stop();
      return Status::Internal(std::string("cannot start I/O threads: ") + e.what());
    }
    return Status::Ok();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    core_.set_stopping();
    core_.StopFeed();
    for (auto& listener : tcp_) listener->Stop();
    for (auto& listener : unix_) listener->Stop();
    asio::post(loops_.front()->context(), [this] { poll_timer_->cancel(); });
    for (const auto& session : core_.LiveSessions()) session->BeginShutdown();
    if (!threads_.empty() && !core_.WaitForNoSessions(core_.options().shutdown_grace)) {
      core_.Log(LogLevel::kWarning,
                "shutdown grace period over; closing the remaining connections");
      for (const auto& session : core_.LiveSessions()) session->ForceClose();
      (void)core_.WaitForNoSessions(std::chrono::seconds(2));
    }
    work_.clear();
    for (auto& loop : loops_) loop->context().stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
    // The loops are stopped, so the posted closes may never have run: close
    // here, so the ports are free when Stop() returns.
    for (auto& listener : tcp_) listener->Close();
    for (auto& listener : unix_) listener->Close();
    poll_timer_->cancel();
    for (const std::string& path : unix_paths_) {
      if (internal::IsSocketFile(path)) ::unlink(path.c_str());
    }
  }

  void SchedulePoll() {
    poll_timer_->expires_after(core_.options().lsn_poll_interval);
    poll_timer_->async_wait([this](const error_code& ec) {
      if (ec || core_.stopping()) return;
      if (core_.waiters().size() != 0) core_.Wake(core_.applied_lsn());
      SchedulePoll();
    });
  }

  internal::ServerCore core_;  // declared first: sessions reference it until the loops are gone
  std::vector<std::unique_ptr<internal::IoLoop>> loops_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::shared_ptr<internal::Listener<tcp>>> tcp_;
  std::vector<std::shared_ptr<internal::Listener<local_stream>>> unix_;
  std::optional<asio::steady_timer> poll_timer_;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
  uint16_t tcp_port_ = 0;
  uint16_t resp_tcp_port_ = 0;
  uint16_t http_port_ = 0;
  std::vector<std::string> unix_paths_;
  std::string unix_path_;
  std::string resp_unix_path_;

 private:
  std::span<internal::IoLoop* const> loop_pointers() {
    loop_pointers_.clear();
    for (auto& loop : loops_) loop_pointers_.push_back(loop.get());
    return loop_pointers_;
  }

  Status OpenTcp(const std::string& address, internal::Wire wire, uint16_t* port) {
    if (address.empty()) return Status::Ok();
    Result<std::pair<std::string, uint16_t>> hp = internal::SplitHostPort(address);
    if (!hp.ok()) return hp.status();
    error_code ec;
    tcp::resolver resolver(loops_.front()->context());
    auto results = resolver.resolve(hp->first, std::to_string(hp->second),
                                    tcp::resolver::numeric_service | tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("cannot resolve '" + hp->first + "': " + ec.message());
    }
    auto listener = std::make_shared<internal::Listener<tcp>>(core_, loop_pointers(), wire);
    if (Status s = listener->Open(results.begin()->endpoint(), address); !s.ok()) return s;
    *port = listener->local_endpoint().port();
    core_.set_listening(internal::KindOf(wire, true));
    tcp_.push_back(std::move(listener));
    return Status::Ok();
  }

  Status OpenUnix(const std::string& path, internal::Wire wire) {
    if (path.empty()) return Status::Ok();
    if (internal::IsSocketFile(path)) {
      // Replace a stale socket, but never steal one a live server answers on.
      local_stream::socket probe(loops_.front()->context());
      error_code ec;
      probe.connect(local_stream::endpoint(path), ec);
      if (!ec) return Status::Unavailable("another server is listening on " + path);
      ::unlink(path.c_str());
    }
    auto listener =
        std::make_shared<internal::Listener<local_stream>>(core_, loop_pointers(), wire);
    const ServerOptions& options = core_.options();
    // The file is ours once bound: a failure to set its access removes it.
    auto set_access = [&] {
      Status s = internal::SetSocketAccess(path, options);
      if (!s.ok()) ::unlink(path.c_str());
      return s;
    };
    if (Status s = listener->Open(local_stream::endpoint(path), path, set_access); !s.ok()) {
      return s;
    }
    core_.set_listening(internal::KindOf(wire, false));
    unix_.push_back(std::move(listener));
    unix_paths_.push_back(path);
    (wire == internal::Wire::kResp ? resp_unix_path_ : unix_path_) = path;
    return Status::Ok();
  }

  std::vector<internal::IoLoop*> loop_pointers_;
};

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                              std::shared_ptr<const HierarchyIndex> index) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(index));
  if (Status s = impl->Open(); !s.ok()) {
    impl->Stop();
    return s;
  }
  if (Status s = impl->Run(); !s.ok()) return s;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::shared_ptr<const HierarchyIndex> Server::Borrow(const HierarchyIndex& index) {
  return std::shared_ptr<const HierarchyIndex>(std::shared_ptr<const HierarchyIndex>(), &index);
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }

void Server::SetIndex(std::shared_ptr<const HierarchyIndex> index) {
  impl_->core_.SetIndex(std::move(index));
}
void Server::NotifyApplied(Lsn lsn) { impl_->core_.Wake(lsn); }
Status Server::SetToken(std::string token) { return impl_->core_.SetToken(std::move(token)); }
void Server::SetReadyMaxLagBytes(uint64_t bytes) { impl_->core_.SetReadyMaxLagBytes(bytes); }
void Server::Stop() { impl_->Stop(); }
uint16_t Server::tcp_port() const { return impl_->tcp_port_; }
const std::string& Server::unix_path() const { return impl_->unix_path_; }
uint16_t Server::resp_tcp_port() const { return impl_->resp_tcp_port_; }
const std::string& Server::resp_unix_path() const { return impl_->resp_unix_path_; }
uint16_t Server::http_port() const { return impl_->http_port_; }
int Server::threads() const { return static_cast<int>(impl_->loops_.size()); }
uint64_t Server::connections() const { return impl_->core_.session_count(); }
uint64_t Server::waiting_requests() const { return impl_->core_.waiters().size(); }
uint64_t Server::requests_served() const { return impl_->core_.requests_served(); }

}  // namespace canopy::net
