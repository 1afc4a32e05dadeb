// The server: listeners (one per endpoint, Beast's "listener"), the LSN
// poller, the I/O threads and the graceful stop. Sessions are in session.cc.
#include "canopy/net/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <charconv>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "server_core.h"
#include "session.h"

namespace canopy::net {
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using local_stream = asio::local::stream_protocol;

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

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

// Hands an accepted connection to a new session (or turns it away).
void Admit(ServerCore& core, Socket socket) {
  if (core.stopping()) {
    error_code ec;
    socket.close(ec);
    return;
  }
  const uint64_t id = core.NextSessionId();
  auto session = std::make_shared<Session>(core, std::move(socket), id);
  if (!core.Register(id, session)) {
    core.Log(LogLevel::kWarning, "connection limit reached; refusing a connection");
    session->Reject(ErrorCode::kOverloaded, "too many connections");
    return;
  }
  session->Start();
}

// Accepts connections on one endpoint (Beast's "listener").
template <typename Protocol>
class Listener : public std::enable_shared_from_this<Listener<Protocol>> {
 public:
  Listener(ServerCore& core, asio::io_context& ioc)
      : core_(core),
        ioc_(ioc),
        acceptor_(asio::make_strand(ioc)),
        retry_timer_(acceptor_.get_executor()) {}

  Status Open(const typename Protocol::endpoint& endpoint, const std::string& name) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec && std::is_same_v<Protocol, tcp>)
      acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
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

  void Stop() {
    asio::post(acceptor_.get_executor(), [self = this->shared_from_this()] {
      error_code ec;
      self->acceptor_.close(ec);
      self->retry_timer_.cancel();
    });
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = this->shared_from_this()](const error_code& ec, auto socket) {
                             self->OnAccept(ec, std::move(socket));
                           });
  }

  template <typename AcceptedSocket>
  void OnAccept(const error_code& ec, AcceptedSocket socket) {
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
    Admit(core_, Socket(std::move(socket)));
    DoAccept();
  }

  ServerCore& core_;
  asio::io_context& ioc_;
  typename Protocol::acceptor acceptor_;
  asio::steady_timer retry_timer_;
};

bool IsSocketFile(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace
}  // namespace internal

class Server::Impl {
 public:
  Impl(ServerOptions options, std::shared_ptr<const HierarchyIndex> index)
      : core_(std::move(options)),
        ioc_(std::max(core_.options().threads, 1)),
        poll_timer_(asio::make_strand(ioc_)),
        work_(asio::make_work_guard(ioc_)) {
    core_.SetIndex(std::move(index));
  }

  ~Impl() { Stop(); }

  Status Open() {
    const ServerOptions& o = core_.options();
    if (o.tcp_listen.empty() && o.unix_path.empty()) {
      return Status::InvalidArgument("no listener: set tcp_listen and/or unix_path");
    }
    if (!o.tcp_listen.empty()) {
      Result<std::pair<std::string, uint16_t>> hp = internal::SplitHostPort(o.tcp_listen);
      if (!hp.ok()) return hp.status();
      error_code ec;
      tcp::resolver resolver(ioc_);
      auto results = resolver.resolve(hp->first, std::to_string(hp->second),
                                      tcp::resolver::numeric_service | tcp::resolver::passive, ec);
      if (ec || results.empty()) {
        return Status::InvalidArgument("cannot resolve '" + hp->first + "': " + ec.message());
      }
      tcp_ = std::make_shared<internal::Listener<tcp>>(core_, ioc_);
      Status s = tcp_->Open(results.begin()->endpoint(), o.tcp_listen);
      if (!s.ok()) return s;
      tcp_port_ = tcp_->local_endpoint().port();
    }
    if (!o.unix_path.empty()) {
      if (internal::IsSocketFile(o.unix_path)) {
        // Replace a stale socket, but never steal one a live server answers on.
        local_stream::socket probe(ioc_);
        error_code ec;
        probe.connect(local_stream::endpoint(o.unix_path), ec);
        if (!ec) return Status::Unavailable("another server is listening on " + o.unix_path);
        ::unlink(o.unix_path.c_str());
      }
      unix_ = std::make_shared<internal::Listener<local_stream>>(core_, ioc_);
      Status s = unix_->Open(local_stream::endpoint(o.unix_path), o.unix_path);
      if (!s.ok()) return s;
      unix_path_ = o.unix_path;
    }
    return Status::Ok();
  }

  Status Run() {
    if (tcp_) tcp_->Run();
    if (unix_) unix_->Run();
    if (core_.options().lsn_poll_interval.count() > 0) SchedulePoll();
    try {
      const int n = std::max(core_.options().threads, 1);
      for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
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
    if (tcp_) tcp_->Stop();
    if (unix_) unix_->Stop();
    asio::post(poll_timer_.get_executor(), [this] { poll_timer_.cancel(); });
    for (const auto& session : core_.LiveSessions()) session->BeginShutdown();
    if (!core_.WaitForNoSessions(core_.options().shutdown_grace)) {
      core_.Log(LogLevel::kWarning,
                "shutdown grace period over; closing the remaining connections");
      for (const auto& session : core_.LiveSessions()) session->ForceClose();
      (void)core_.WaitForNoSessions(std::chrono::seconds(2));
    }
    work_.reset();
    ioc_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
    if (!unix_path_.empty() && internal::IsSocketFile(unix_path_)) ::unlink(unix_path_.c_str());
  }

  void SchedulePoll() {
    poll_timer_.expires_after(core_.options().lsn_poll_interval);
    poll_timer_.async_wait([this](const error_code& ec) {
      if (ec || core_.stopping()) return;
      if (core_.waiters().size() != 0) core_.Wake(core_.applied_lsn());
      SchedulePoll();
    });
  }

  internal::ServerCore core_;  // declared first: sessions reference it until ioc_ is gone
  asio::io_context ioc_;
  std::shared_ptr<internal::Listener<tcp>> tcp_;
  std::shared_ptr<internal::Listener<local_stream>> unix_;
  asio::steady_timer poll_timer_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
  uint16_t tcp_port_ = 0;
  std::string unix_path_;
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
void Server::Stop() { impl_->Stop(); }
uint16_t Server::tcp_port() const { return impl_->tcp_port_; }
const std::string& Server::unix_path() const { return impl_->unix_path_; }
uint64_t Server::connections() const { return impl_->core_.session_count(); }
uint64_t Server::waiting_requests() const { return impl_->core_.waiters().size(); }
uint64_t Server::requests_served() const { return impl_->core_.requests_served(); }

}  // namespace canopy::net
