// resp_wire.h — the Redis protocol (RESP2) on the wire, for tests and
// benchmarks: encoding a command, the length of one complete value, a
// blocking connection (Unix socket or loopback TCP) that sends bytes and reads
// one reply, and a parser from a reply to the id lists it holds.
//
//   Result<std::unique_ptr<RespConnection>> c = RespConnection::Connect("/tmp/r.sock");
//   Result<std::string> raw = (*c)->Call({"ANCESTORS", "102", "SELF"});  // "*3\r\n:9970\r\n..."
//   Result<std::vector<std::vector<int64_t>>> ids = RespIdLists(raw.value());
//
// ERRORS (Status): kInvalidArgument (a Unix socket path too long),
// kUnavailable (cannot connect, send failed, connection closed), kTimeout (no
// complete reply within the connection's timeout), kDataLoss (bytes that are
// not RESP2), kInternal (RespIdLists of an error reply, with its text).
//
// THREAD SAFETY: one thread per connection; the functions are pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"

namespace canopy::testing {

class RespConnection {
 public:
  // Over a Unix socket.
  static Result<std::unique_ptr<RespConnection>> Connect(
      const std::string& unix_path, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Over TCP to 127.0.0.1:port.
  static Result<std::unique_ptr<RespConnection>> ConnectTcp(
      int port, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  // Sends `bytes` as they are (RespCommand's, or anything else).
  Status Send(std::string_view bytes);
  // Reads one complete reply and returns its bytes (an error reply too: it
  // starts with '-'); bytes after it stay for the next read.
  Result<std::string> ReadReply();
  // Send(RespCommand(args)), then ReadReply().
  Result<std::string> Call(const std::vector<std::string>& args);

  int fd() const { return fd_; }

 private:
  RespConnection(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  int fd_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
};

// RESP2 encoding of a command (an array of bulk strings).
std::string RespCommand(const std::vector<std::string>& args);

// The RESP2 replies canopyd sends (docs/resp.md), built from answers: an id
// list is an array of integers; a batch an array of such arrays; counts are
// [descendant_groups, N, descendant_project_namespaces, N, projects, N,
// unarchived_projects, N].
std::string RespIdArray(const std::vector<int64_t>& ids);
std::string RespBatch(const std::vector<std::vector<int64_t>>& lists);
std::string RespCounts(const std::vector<int64_t>& four_counts);

// The length of the one complete RESP2 value at the start of `bytes`; 0 when
// it is incomplete. Errors: kDataLoss when it is not RESP2.
Result<size_t> RespValueLength(std::string_view bytes);

// The integers of a reply as id lists:
//   an array of integers            -> one list
//   an array of arrays (or nils)    -> one list per element (nil: empty)
//   an array mixing bulk strings and integers (COUNTS) -> one list of the integers
// Errors: kDataLoss (malformed), kInternal (an error reply, with its text).
Result<std::vector<std::vector<int64_t>>> RespIdLists(std::string_view reply);

}  // namespace canopy::testing
