// net/src/resp_parser.h — the Redis protocol (RESP) on canopyd's side of the
// socket: RespParser turns a byte stream into commands without trusting it,
// RespWriter encodes replies straight into a connection's output buffer.
//
//   RespParser parser(limits);
//   std::span<uint8_t> space = parser.PrepareWrite(4096);
//   size_t n = read(fd, space.data(), space.size());
//   parser.CommitWrite(n);
//   for (;;) {
//     RespParser::Next next = parser.NextCommand();
//     if (next.state == RespParser::State::kNeedMore) break;
//     if (next.state == RespParser::State::kError) { reply "-ERR Protocol error: " +
//                                                     next.error; close; }
//     use(parser.args());      // views into the buffer; valid until the next call
//   }
//
// Requests are RESP arrays of bulk strings ("*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n"),
// as every client sends them, or inline commands ("PING hi\r\n", split on
// spaces/tabs, "\n" alone also ends the line; an empty line is skipped).
// Parsing is incremental: a command that arrives in many reads is scanned
// once, not again from its start at every read.
//
// Limits (each violation is a protocol error, after which the parser keeps
// returning kError: the stream can no longer be trusted):
//   * an array header's count > max_args, or < 0 ("*-1" / "*0" are skipped,
//     as Redis does);
//   * a bulk length > max_bulk_bytes, or < 0, or not a number;
//   * one command's bytes (headers + bulks) > max_request_bytes (checked as
//     soon as a header declares it, before the bytes are buffered);
//   * an inline line (or a header line) longer than max_inline_bytes without
//     its "\n";
//   * a byte other than '*' where an array must start, unless it starts an
//     inline command; a bulk not introduced by '$'; a bulk not followed by
//     "\r\n".
// Memory: the buffer holds at most one command + one read; it is compacted
// when consumed bytes pile up, and returns memory (ShrinkTo) after a huge one.
//
// THREAD SAFETY: thread-compatible (one owner at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace canopy::net::internal {

struct RespLimits {
  size_t max_bulk_bytes = 4u << 20;
  size_t max_args = 100'064;
  size_t max_request_bytes = 4u << 20;
  size_t max_inline_bytes = 64u << 10;
};

class RespParser {
 public:
  enum class State : uint8_t {
    kCommand = 0,   // args() / raw() hold one complete command (at least one argument)
    kNeedMore = 1,  // no complete command buffered
    kError = 2,     // protocol error: `error` says what (sticky)
  };
  struct Next {
    State state = State::kNeedMore;
    std::string_view error;  // kError only; valid as long as the parser
  };

  explicit RespParser(RespLimits limits, size_t initial_capacity = 16 * 1024);

  // Space for at least `at_least` more bytes; fill a prefix, then
  // CommitWrite(n). Invalidates args() and raw().
  std::span<uint8_t> PrepareWrite(size_t at_least);
  void CommitWrite(size_t n);
  // PrepareWrite + copy + CommitWrite.
  void Append(std::span<const uint8_t> bytes);

  Next NextCommand();
  // The last kCommand's arguments and its exact bytes on the wire. Valid until
  // the next NextCommand/PrepareWrite/Append.
  std::span<const std::string_view> args() const { return args_; }
  std::span<const uint8_t> raw() const { return raw_; }

  // Bytes of a command that has started but is not complete.
  bool has_partial() const;
  const RespLimits& limits() const { return limits_; }

 private:
  friend bool ParseRespCommand(std::span<const uint8_t> raw, std::vector<std::string_view>* args);
  friend class RespParserTestPeer;  // tests and the fuzzer read scanned_, capacity_, ...

  // Where the scanner is within the command that starts at begin_.
  enum class Phase : uint8_t {
    kStart,        // nothing of the command seen yet
    kInline,       // an inline line: looking for its "\n"
    kArrayHeader,  // "*N\r\n": looking for its "\r"
    kBulkHeader,   // "$N\r\n" at `pos`: looking for its "\r"
    kBulkBody,     // `bulk` bytes + "\r\n" at `pos`: waiting for them (not scanned)
  };
  // An argument while the command is incomplete: offsets relative to begin_,
  // so compacting or growing the buffer leaves them valid.
  struct ArgRef {
    size_t offset;
    size_t size;
  };
  // The incremental state (Redis's multibulklen/bulklen), offsets relative to
  // the command's first byte.
  struct Scan {
    Phase phase = Phase::kStart;
    size_t pos = 0;         // start of the element being parsed
    size_t search = 0;      // where the search for a line end resumes
    int64_t remaining = 0;  // bulks still expected in the array
    size_t bulk = 0;        // kBulkBody: the declared length
  };

  enum class Step : uint8_t { kCommand, kSkip, kNeedMore, kError };
  struct Scanned {
    Step step = Step::kNeedMore;
    size_t consumed = 0;  // kCommand / kSkip: the command's bytes
  };
  // Continues scanning the command whose first byte is in[0] from `*scan`;
  // add(offset, size) is called once per argument, in order. kSkip: an empty
  // inline line, "*0" or "*-1" (no argument added). Defined in resp_parser.cc
  // (used by RespParser and ParseRespCommand only).
  template <typename AddArg>
  static Scanned ScanCommand(std::span<const uint8_t> in, const RespLimits& limits,
                             size_t inline_limit, Scan* scan, AddArg&& add, std::string* error,
                             size_t* scanned);
  static size_t InlineLimit(const RespLimits& limits);

  void Reallocate(size_t capacity);  // to `capacity` bytes, moving [begin_, end_) to 0
  void MaybeShrink();

  RespLimits limits_;
  size_t inline_limit_;  // bytes an inline line may have before its "\n"
  size_t initial_capacity_;
  std::unique_ptr<uint8_t[]> buffer_;  // bytes [begin_, end_) are unread
  size_t capacity_ = 0;
  size_t begin_ = 0;  // first byte of the current (incomplete) command
  size_t end_ = 0;    // end of the bytes received
  Scan scan_;
  std::vector<ArgRef> refs_;
  std::vector<std::string_view> args_;
  std::span<const uint8_t> raw_;
  std::string error_;   // non-empty: the sticky error
  size_t scanned_ = 0;  // bytes looked at by line-end searches (tests: scanned once)
};

// Parses exactly one complete command from `raw` (a raw() kept aside, e.g.
// for a request that waits for an LSN). False if `raw` is not exactly one
// command. The views point into `raw`.
bool ParseRespCommand(std::span<const uint8_t> raw, std::vector<std::string_view>* args);

// Appends RESP replies to a byte vector (a connection's output buffer). No
// allocation beyond the vector's growth. `resp3` selects the encoding of
// null, maps, attributes and doubles-as-needed.
class RespWriter {
 public:
  RespWriter(std::vector<uint8_t>* out, bool resp3) : out_(out), resp3_(resp3) {}
  bool resp3() const { return resp3_; }
  void set_resp3(bool resp3) { resp3_ = resp3; }
  std::vector<uint8_t>* out() { return out_; }
  void set_out(std::vector<uint8_t>* out) { out_ = out; }

  void SimpleString(std::string_view s);  // "+OK\r\n"; CR/LF in s become spaces
  // "-PREFIX message\r\n"; CR/LF in message become spaces. prefix e.g. "ERR".
  void Error(std::string_view prefix, std::string_view message);
  void Integer(int64_t v);        // ":42\r\n"
  void Bulk(std::string_view s);  // "$3\r\nabc\r\n"
  void Null();                    // RESP2 "$-1\r\n", RESP3 "_\r\n"
  void NullArray();               // RESP2 "*-1\r\n", RESP3 "_\r\n"
  void ArrayHeader(size_t n);     // "*n\r\n"
  // RESP3 "%n\r\n"; RESP2: "*2n\r\n" (the caller then writes n key/value pairs).
  void MapHeader(size_t n);
  // RESP3 "|n\r\n" (then n key/value pairs, then the reply); RESP2: nothing
  // (the caller must skip the pairs itself — use it only when resp3()).
  void AttributeHeader(size_t n);
  // "*n\r\n:id\r\n..." — an id list, the hot path: one reserve, no
  // per-element allocation.
  void IntegerArray(std::span<const int64_t> ids);

 private:
  std::vector<uint8_t>* out_;
  bool resp3_;
};

}  // namespace canopy::net::internal
