// resp_fuzzer.cc — libFuzzer target for what canopyd's RESP listener does
// with inbound bytes: RespParser splits the input into commands (fed in
// chunks whose sizes come from the input), every command goes to
// HandleCommand, which runs it through the server's RespProtocol (the
// commands of docs/resp.md, answered from a small index) and checks that it
// added exactly one well-formed RESP reply; and the parser's promises are
// checked:
//   * a command has at least one and at most max_args arguments, each a view
//     inside raw(), and raw() is within the request limit;
//   * raw() parses again with ParseRespCommand to the same arguments;
//   * the outcome (commands, error, partial) does not depend on the chunking;
//   * the buffer stays within one command + one read;
//   * a reply of the arguments as bulks (RespWriter) parses back to them;
//   * if the whole input is exactly one command for ParseRespCommand, a
//     parser sees that same command.
// Any violation abort()s; so do crashes and sanitizer reports.
//
// Input: byte 0 chooses the chunk sizes, the rest is the stream.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_session.h"
#include "fuzz_util.h"
#include "resp_parser.h"
#include "resp_protocol.h"

namespace canopy::net::internal {

// The parser's private state the checks need (a friend of RespParser).
class RespParserTestPeer {
 public:
  static size_t capacity(const RespParser& p) { return p.capacity_; }
  static size_t refs_capacity(const RespParser& p) { return p.refs_.capacity(); }
};

}  // namespace canopy::net::internal

namespace {

using canopy::net::internal::ParseRespCommand;
using canopy::net::internal::RespLimits;
using canopy::net::internal::RespParser;
using canopy::net::internal::RespParserTestPeer;
using canopy::net::internal::RespWriter;

// Small limits, so that the fuzzer reaches every limit with short inputs.
constexpr RespLimits kLimits{
    .max_bulk_bytes = 1024, .max_args = 64, .max_request_bytes = 4096, .max_inline_bytes = 512};
constexpr size_t kInitialCapacity = 64;

void Check(bool ok, const char* what) {
  canopy::net::fuzz::CheckInvariant("resp_fuzzer", ok, what);
}

// One complete, well-formed RESP reply starts at out[*pos]; moves *pos past it.
bool SkipReply(std::span<const uint8_t> out, size_t* pos, int depth = 0) {
  if (depth > 8 || *pos >= out.size()) return false;
  const char type = static_cast<char>(out[*pos]);
  const size_t line_end = [&] {
    for (size_t i = *pos + 1; i + 1 < out.size(); ++i) {
      if (out[i] == '\r' && out[i + 1] == '\n') return i;
    }
    return out.size();
  }();
  if (line_end == out.size()) return false;
  const std::string line(reinterpret_cast<const char*>(out.data()) + *pos + 1, line_end - *pos - 1);
  *pos = line_end + 2;
  auto count = [&](long* n) {
    char* end = nullptr;
    *n = std::strtol(line.c_str(), &end, 10);
    return !line.empty() && end == line.c_str() + line.size();
  };
  long n = 0;
  switch (type) {
    case '+':
    case '-':
      return line.find('\r') == std::string::npos && line.find('\n') == std::string::npos;
    case ':':
      return count(&n);
    case '_':
      return line.empty();
    case '$':
      if (!count(&n)) return false;
      if (n < 0) return n == -1;
      if (*pos + static_cast<size_t>(n) + 2 > out.size()) return false;
      *pos += static_cast<size_t>(n);
      if (out[*pos] != '\r' || out[*pos + 1] != '\n') return false;
      *pos += 2;
      return true;
    case '*':
    case '%':
    case '|': {
      if (!count(&n)) return false;
      if (n < 0) return n == -1 && type == '*';
      const long elements = type == '*' ? n : 2 * n;
      for (long i = 0; i < elements; ++i) {
        if (!SkipReply(out, pos, depth + 1)) return false;
      }
      return type != '|' || SkipReply(out, pos, depth + 1);  // an attribute precedes a reply
    }
    default:
      return false;
  }
}

// A change feed after the fuzz index's LSN (0/64): a rename, a move, a
// delete and a position, so FEED has JSON to write.
std::shared_ptr<canopy::ChangeFeed> FuzzFeed() {
  using canopy::FeedChange;
  auto feed = canopy::ChangeFeed::Create({.max_transactions = 16}, canopy::Lsn(100));
  canopy::NamespaceRow before{
      .id = 3, .parent_id = 2, .type = canopy::NamespaceType::kGroup, .name = "b", .path = "b"};
  canopy::NamespaceRow after = before;
  after.name = "b \"renamed\"\n";
  feed->Append(
      {canopy::Lsn(101),
       1764979200123,
       {FeedChange{
           canopy::Table::kNamespaces, canopy::ChangeOp::kUpdate, 3, before, after, {1, 2, 3}}}});
  after.parent_id = 5;
  feed->Append({canopy::Lsn(102),
                1764979200456,
                {FeedChange{canopy::Table::kNamespaces,
                            canopy::ChangeOp::kUpdate,
                            3,
                            before,
                            after,
                            {1, 2, 3, 5}}}});
  feed->Append({canopy::Lsn(103),
                1764979200789,
                {FeedChange{canopy::Table::kProjects,
                            canopy::ChangeOp::kDelete,
                            4,
                            canopy::ProjectRow{.id = 4, .namespace_id = 6},
                            std::monostate{},
                            {6}}}});
  feed->Append({canopy::Lsn(104), 0, {}});
  return feed;
}

// Every command a connection would execute: the server's RESP protocol
// answers it from the fuzz index; it must add exactly one well-formed reply
// (a parked MINLSN command is answered or failed at once by FuzzSession).
void HandleCommand(std::span<const std::string_view> args, std::span<const uint8_t> raw) {
  static const canopy::net::ServerOptions options = [] {
    canopy::net::ServerOptions o;
    o.max_ids_per_request = 64;
    o.max_ids_per_page = 16;
    o.max_response_frame_bytes = 4096;
    o.token = "";
    o.feed = FuzzFeed();
    return o;
  }();
  static const canopy::net::internal::HandlerLimits limits{.max_ids_per_page = 16,
                                                           .max_response_bytes = 4096};
  static canopy::net::fuzz::FuzzSession session(options);
  static canopy::net::internal::RespProtocol protocol(options, limits, nullptr);
  session.set_protocol(&protocol);
  session.ClearOutput();
  const size_t answers = session.answers();
  protocol.Execute(args, raw, nullptr, session);
  Check(session.answers() == answers + 1, "a command added no reply or more than one");
  const std::span<const uint8_t> out(session.output());
  size_t pos = 0;
  Check(SkipReply(out, &pos), "a malformed reply");
  Check(pos == out.size(), "bytes after the reply");
}

bool Inside(std::string_view arg, std::span<const uint8_t> raw) {
  const auto* begin = reinterpret_cast<const uint8_t*>(arg.data());
  return begin >= raw.data() && begin + arg.size() <= raw.data() + raw.size();
}

void CheckCommand(const RespParser& parser) {
  std::span<const std::string_view> args = parser.args();
  std::span<const uint8_t> raw = parser.raw();
  Check(!args.empty(), "a command without arguments");
  Check(args.size() <= kLimits.max_args, "more arguments than max_args");
  Check(!raw.empty() && raw.size() <= kLimits.max_request_bytes, "raw() over the request limit");
  for (std::string_view a : args) {
    Check(Inside(a, raw), "an argument outside raw()");
    Check(a.size() <= kLimits.max_bulk_bytes || a.size() <= kLimits.max_inline_bytes,
          "an argument over the bulk limit");
  }

  // raw(), kept aside (as for a request that waits for an LSN), parses again.
  static std::vector<uint8_t> kept;
  static std::vector<std::string_view> again;
  kept.assign(raw.begin(), raw.end());
  Check(ParseRespCommand(kept, &again), "raw() does not parse with ParseRespCommand");
  Check(again.size() == args.size(), "ParseRespCommand: another argument count");
  for (size_t i = 0; i < args.size(); ++i) {
    Check(again[i] == args[i], "ParseRespCommand: another argument");
    Check(Inside(again[i], kept), "ParseRespCommand: an argument outside its input");
    Check(again[i].data() - reinterpret_cast<const char*>(kept.data()) ==
              args[i].data() - reinterpret_cast<const char*>(raw.data()),
          "ParseRespCommand: an argument at another offset");
  }

  // The arguments written back as a RESP array of bulks are that same command.
  static std::vector<uint8_t> reply;
  reply.clear();
  RespWriter writer(&reply, args.size() % 2 == 0);
  writer.ArrayHeader(args.size());
  for (std::string_view a : args) writer.Bulk(a);
  Check(ParseRespCommand(reply, &again), "RespWriter's bulks do not parse");
  Check(again.size() == args.size(), "RespWriter: another argument count");
  for (size_t i = 0; i < args.size(); ++i)
    Check(again[i] == args[i], "RespWriter: another argument");
}

// What a connection saw: commands, then an error or a partial command.
struct Outcome {
  std::vector<std::string> commands;
  std::string error;
  bool partial = false;
  bool operator==(const Outcome&) const = default;
};

// Drains the parser; false once it reported an error. `check`: CheckCommand each command.
bool Drain(RespParser* parser, bool check, Outcome* out) {
  for (;;) {
    RespParser::Next next = parser->NextCommand();
    if (next.state == RespParser::State::kNeedMore) return true;
    if (next.state == RespParser::State::kError) {
      Check(!next.error.empty(), "an error without a message");
      Check(parser->args().empty() && parser->raw().empty(), "arguments with an error");
      out->error.assign(next.error);
      // Sticky.
      RespParser::Next again = parser->NextCommand();
      Check(again.state == RespParser::State::kError && again.error == next.error,
            "an error that is not sticky");
      return false;
    }
    Check(next.state == RespParser::State::kCommand, "an unknown state");
    if (check) {
      CheckCommand(*parser);
      HandleCommand(parser->args(), parser->raw());
    }
    std::string flat;
    for (std::string_view a : parser->args()) {
      flat += std::to_string(a.size());
      flat += ':';
      flat.append(a);
    }
    out->commands.push_back(std::move(flat));
  }
}

Outcome Feed(std::span<const uint8_t> stream, uint8_t plan, bool check) {
  canopy::net::fuzz::ChunkPlan chunks(plan);
  RespParser parser(kLimits, kInitialCapacity);
  Outcome out;
  size_t from = 0;
  size_t biggest = 0;
  while (from < stream.size()) {
    const size_t n = std::min(chunks.Next(), stream.size() - from);
    biggest = std::max(biggest, n);
    // The two ways to feed: Append, and PrepareWrite + CommitWrite.
    if (plan & 0x80) {
      std::span<uint8_t> space = parser.PrepareWrite(n);
      Check(space.size() >= n, "PrepareWrite gave less than asked");
      std::copy_n(stream.data() + from, n, space.data());
      parser.CommitWrite(n);
    } else {
      parser.Append(stream.subspan(from, n));
    }
    from += n;
    // At most one command (+ a header line in progress) + one read, and what was there before.
    Check(RespParserTestPeer::capacity(parser) <=
              kInitialCapacity + kLimits.max_request_bytes + kLimits.max_inline_bytes + biggest,
          "the buffer grew past one command + one read");
    Check(RespParserTestPeer::refs_capacity(parser) <= 2 * kLimits.max_args,
          "more argument slots than max_args");
    if (!Drain(&parser, check, &out)) return out;
  }
  out.partial = parser.has_partial();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t plan = data[0];
  const std::span<const uint8_t> stream(data + 1, size - 1);

  // 1. The stream in chunks chosen by the input, and in one piece: same outcome.
  const Outcome chunked = Feed(stream, plan, /*check=*/true);
  const Outcome whole = Feed(stream, canopy::net::fuzz::ChunkPlan::kWhole, /*check=*/false);
  Check(chunked == whole, "the outcome depends on how the stream was split");

  // 2. The stream as one kept command: ParseRespCommand and a parser agree.
  static std::vector<std::string_view> args;
  if (ParseRespCommand(stream, &args)) {
    Check(!args.empty(), "ParseRespCommand: a command without arguments");
    const RespLimits unlimited{.max_bulk_bytes = stream.size(),
                               .max_args = stream.size(),
                               .max_request_bytes = stream.size(),
                               .max_inline_bytes = stream.size()};
    RespParser parser(unlimited, kInitialCapacity);
    parser.Append(stream);
    Check(parser.NextCommand().state == RespParser::State::kCommand,
          "ParseRespCommand accepts what a parser does not");
    Check(parser.raw().size() == stream.size(), "ParseRespCommand: another length");
    Check(parser.args().size() == args.size(), "ParseRespCommand: another argument count");
    for (size_t i = 0; i < args.size(); ++i) {
      Check(parser.args()[i] == args[i], "ParseRespCommand: another argument");
    }
    Check(parser.NextCommand().state == RespParser::State::kNeedMore && !parser.has_partial(),
          "bytes after the one command");
  } else {
    Check(args.empty(), "ParseRespCommand: arguments after a refusal");
  }
  return 0;
}
