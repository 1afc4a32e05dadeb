// net/src/resp_protocol.h — the Redis protocol (RESP2, RESP3 after HELLO 3)
// on one server connection: the commands of docs/resp.md, answered from the
// index straight into the connection's output buffer.
//
//   * Commands are case-insensitive; ids are strict decimal int64.
//   * Id lists are plain RESP arrays of integers; the single forms answer
//     -NOTFOUND for an unknown id, the batch forms (M...) nil.
//   * Every query reflects one committed index state; its LSN is kept for
//     LASTLSN and, in RESP3 after ATTRIBUTES ON, sent as an attribute before
//     the answer (opt-in: redis-cli 7.0 cannot read attributes).
//   * MINLSN parks the command (its raw bytes) in the session; answers stay
//     in order (ordered() is true).
//   * A protocol error answers "-ERR Protocol error: ..." and closes the
//     connection; every other error is a reply and the connection stays.
//   * With a token, everything but AUTH, HELLO, QUIT and RESET answers -NOAUTH
//     until AUTH succeeds.
//
// THREAD SAFETY: one per session, used on its I/O thread (thread-compatible).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "request_handler.h"
#include "resp_parser.h"
#include "wire_protocol.h"

namespace canopy::net::internal {

// The parser limits a server's options imply.
RespLimits MakeRespLimits(const ServerOptions& options);

class RespProtocol final : public WireProtocol {
 public:
  RespProtocol(const ServerOptions& options, const HandlerLimits& handler_limits,
               const StatusSource* status_source);

  std::span<uint8_t> PrepareRead(size_t at_least) override {
    return parser_.PrepareWrite(at_least);
  }
  void CommitRead(size_t n) override { parser_.CommitWrite(n); }
  bool has_partial() const override { return parser_.has_partial(); }
  bool ordered() const override { return true; }

  bool HandleNext(SessionContext& ctx) override;
  void AnswerParked(std::span<const uint8_t> saved, uint64_t request_id,
                    const HierarchyIndex& index, SessionContext& ctx) override;
  void FailParked(std::span<const uint8_t> saved, uint64_t request_id, ErrorCode code,
                  std::string_view message, Lsn applied, SessionContext& ctx) override;
  void ConnectionError(ErrorCode code, std::string_view message, Lsn applied,
                       SessionContext& ctx) override;

  // Runs one command (for the fuzzer and tests as well as the session).
  // `parked_index`: answering a parked command from this index (MINLSN is
  // then already satisfied). `raw` is the command's bytes, for parking.
  void Execute(std::span<const std::string_view> args, std::span<const uint8_t> raw,
               const HierarchyIndex* parked_index, SessionContext& ctx);

  // The query commands (each also has its batch form, "M" + name).
  enum class Command : uint8_t {
    kAncestors,
    kDescendants,
    kProjects,
    kProjectAncestors,
    kRunners,
    kProjectRunners,
    kCounts,
    kPath,
    kResolve,
  };

 private:
  struct QueryOptions;

  void Reply(SessionContext& ctx) { ctx.AnswerAdded(); }
  void Error(SessionContext& ctx, std::string_view prefix, std::string_view message);

  void Hello(std::span<const std::string_view> args, SessionContext& ctx);
  void Auth(std::span<const std::string_view> args, SessionContext& ctx);
  void Client(std::span<const std::string_view> args, SessionContext& ctx);
  void CommandInfo(std::span<const std::string_view> args, SessionContext& ctx);
  void Status(const HierarchyIndex* index, SessionContext& ctx);
  // FEED from|$ [TABLES list] [SUBTREE id] [COLUMNS list] [COUNT n] [BLOCK ms]
  // (docs/resp.md): the change feed, polled.
  void Feed(std::span<const std::string_view> args, std::span<const uint8_t> raw,
            const HierarchyIndex* parked_index, SessionContext& ctx);
  void FeedReply(Lsn position, std::span<const SharedFeedTransaction> txns, SessionContext& ctx);

  void Query(Command command, bool many, std::span<const std::string_view> args,
             std::span<const uint8_t> raw, const HierarchyIndex* parked_index, SessionContext& ctx);
  // Parses ids/paths and options; false after writing an -ERR reply.
  bool ParseQuery(Command command, bool many, std::span<const std::string_view> args,
                  QueryOptions* options, SessionContext& ctx);
  void AnswerQuery(Command command, bool many, const QueryOptions& options,
                   const HierarchyIndex& index, SessionContext& ctx);
  void WriteLsnAttribute(Lsn lsn);

  const ServerOptions& options_;
  const HandlerLimits handler_limits_;
  const StatusSource* status_source_;
  RespParser parser_;
  RespWriter writer_;
  bool authenticated_;
  bool resp3_ = false;
  bool lsn_attribute_ = false;  // ATTRIBUTES ON (RESP3 only)
  std::string client_name_;
  Lsn last_lsn_;
  // Scratch reused across commands.
  std::vector<std::string_view> parked_args_;
  std::vector<int64_t> ids_;
  std::vector<std::string_view> paths_;
  IdAnswer answer_;
  std::string text_;
  std::vector<SharedFeedTransaction> feed_batch_;
};

}  // namespace canopy::net::internal
