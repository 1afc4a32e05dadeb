// resp.h — just enough of the Redis protocol (RESP2) for canopy_serving_bench
// to check answers and fill Redis: a blocking connection over a Unix socket
// that sends one command and returns the raw bytes of the one reply, and a
// parser from those bytes to the ids they hold.
//
//   Result<std::unique_ptr<RespConnection>> c = RespConnection::Connect("/tmp/r.sock");
//   Result<std::string> raw = (*c)->Call({"ANCESTORS", "102", "SELF"});  // "*3\r\n:9970\r\n..."
//   Result<std::vector<std::vector<int64_t>>> ids = RespIdLists(raw.value());
//
// THREAD SAFETY: one thread per connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"

namespace canopy::bench::serving {

class RespConnection {
 public:
  static Result<std::unique_ptr<RespConnection>> Connect(
      const std::string& unix_path, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  // Sends `args` as a RESP array of bulk strings and reads one reply.
  // Returns the reply's bytes (an error reply too: it starts with '-').
  // Errors: kUnavailable (connection), kTimeout, kDataLoss (not RESP).
  Result<std::string> Call(const std::vector<std::string>& args);

 private:
  RespConnection(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  int fd_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
};

// RESP2 encoding of a command (array of bulk strings).
std::string RespCommand(const std::vector<std::string>& args);

// The length of the one complete RESP2 value at the start of `bytes`; 0 when
// it is incomplete. Errors: kDataLoss when it is not RESP2.
Result<size_t> RespValueLength(std::string_view bytes);

// The integers of a reply as id lists:
//   an array of integers            -> one list
//   an array of arrays (or nils)    -> one list per element (nil: empty)
//   an array mixing bulk strings and integers (COUNTS) -> one list of the integers
// Errors: kDataLoss (malformed), kInternal (an error reply, with its text).
Result<std::vector<std::vector<int64_t>>> RespIdLists(std::string_view reply);

// The RESP2 bytes canopyd answers for these ids (docs/resp.md): an array of
// integers; a batch is an array of such arrays; counts are
// [descendant_groups, N, descendant_project_namespaces, N, projects, N,
// unarchived_projects, N].
std::string RespIdArray(const std::vector<int64_t>& ids);
std::string RespBatch(const std::vector<std::vector<int64_t>>& lists);
std::string RespCounts(const std::vector<int64_t>& four_counts);

}  // namespace canopy::bench::serving
