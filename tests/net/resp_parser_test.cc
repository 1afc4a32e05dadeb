// resp_parser_test.cc — RespParser, ParseRespCommand and RespWriter without
// sockets: a pipelined stream split at every point gives the same commands,
// every limit at its value and one byte over, every way a header can be
// wrong, incremental scanning of big commands, and byte-exact replies in
// RESP2 and RESP3.
#include "resp_parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace canopy::net::internal {

// Reads the parser's private counters (a friend of RespParser).
class RespParserTestPeer {
 public:
  static size_t scanned(const RespParser& p) { return p.scanned_; }
  static size_t capacity(const RespParser& p) { return p.capacity_; }
  static const uint8_t* buffer(const RespParser& p) { return p.buffer_.get(); }
  static size_t args_capacity(const RespParser& p) { return p.args_.capacity(); }
  static size_t refs_capacity(const RespParser& p) { return p.refs_.capacity(); }
};

namespace {

using Peer = RespParserTestPeer;
using State = RespParser::State;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string_view Text(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A command as a RESP array of bulk strings.
std::string Multibulk(const std::vector<std::string>& args) {
  // Appended, not "*" + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
  std::string s = "*";
  s.append(std::to_string(args.size())).append("\r\n");
  for (const std::string& a : args) {
    s.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  }
  return s;
}

// What a parser made of a stream: one line per command ("ARG|ARG|...") and,
// at the end, "ERR <message>" if the stream broke.
struct Outcome {
  std::vector<std::string> events;
  std::vector<std::string> raws;
  bool partial = false;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  for (const std::string& e : o.events) os << "[" << e << "] ";
  return os << (o.partial ? "(partial)" : "");
}

std::string Join(std::span<const std::string_view> args) {
  std::string s;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) s += '|';
    s.append(args[i]);
  }
  return s;
}

// Drains every command buffered; false once the parser is in error.
bool Drain(RespParser* parser, Outcome* out) {
  for (;;) {
    RespParser::Next next = parser->NextCommand();
    if (next.state == State::kNeedMore) return true;
    if (next.state == State::kError) {
      EXPECT_FALSE(next.error.empty());
      out->events.push_back("ERR " + std::string(next.error));
      return false;
    }
    EXPECT_FALSE(parser->args().empty());
    // Every argument lies inside raw().
    for (std::string_view a : parser->args()) {
      EXPECT_GE(reinterpret_cast<const uint8_t*>(a.data()), parser->raw().data());
      EXPECT_LE(reinterpret_cast<const uint8_t*>(a.data() + a.size()),
                parser->raw().data() + parser->raw().size());
    }
    out->events.push_back(Join(parser->args()));
    out->raws.emplace_back(Text(parser->raw()));
  }
}

// Feeds `stream` cut at the offsets in `cuts` (ascending).
Outcome FeedCuts(std::string_view stream, const std::vector<size_t>& cuts, RespLimits limits = {},
                 size_t initial_capacity = 64) {
  RespParser parser(limits, initial_capacity);
  Outcome out;
  size_t from = 0;
  std::vector<size_t> all = cuts;
  all.push_back(stream.size());
  for (size_t to : all) {
    parser.Append(Bytes(stream.substr(from, to - from)));
    from = to;
    if (!Drain(&parser, &out)) return out;
  }
  out.partial = parser.has_partial();
  return out;
}

Outcome FeedWhole(std::string_view stream, RespLimits limits = {}) {
  return FeedCuts(stream, {}, limits);
}

Outcome FeedBytewise(std::string_view stream, RespLimits limits = {}) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  return FeedCuts(stream, cuts, limits, /*initial_capacity=*/1);
}

// The stream parsed whole, byte by byte, and cut once at every point (and
// twice at every pair of points when short) gives the same outcome.
void ExpectSplitInvariant(std::string_view stream, const Outcome& want, RespLimits limits = {}) {
  ASSERT_EQ(FeedWhole(stream, limits), want) << "whole";
  ASSERT_EQ(FeedBytewise(stream, limits), want) << "byte by byte";
  for (size_t i = 0; i <= stream.size(); ++i) {
    ASSERT_EQ(FeedCuts(stream, {i}, limits), want) << "cut at " << i;
  }
  if (stream.size() <= 160) {
    for (size_t i = 0; i <= stream.size(); ++i) {
      for (size_t j = i; j <= stream.size(); ++j) {
        ASSERT_EQ(FeedCuts(stream, {i, j}, limits), want) << "cuts at " << i << ", " << j;
      }
    }
  }
}

Outcome Commands(std::vector<std::string> events, std::vector<std::string> raws = {}) {
  Outcome o;
  o.events = std::move(events);
  o.raws = std::move(raws);
  return o;
}

std::string Error(std::string_view stream, RespLimits limits = {}) {
  Outcome o = FeedWhole(stream, limits);
  if (o.events.empty() || o.events.back().rfind("ERR ", 0) != 0) return "(no error)";
  return o.events.back().substr(4);
}

// ---- splitting and pipelining ---------------------------------------------------

TEST(RespParser, PipelinedStreamGivesTheSameCommandsAtEverySplit) {
  const std::string bin("a\r\nb\0c\r", 7);
  const std::string stream = Multibulk({"PING"}) + "PING hi\r\n" + "\r\n" + "*0\r\n" +
                             Multibulk({"SET", bin, ""}) + "*-1\r\n" + "\n" + " ECHO\t x  \n" +
                             Multibulk({"ANCESTORS", "9970", "SELF"});
  Outcome want = Commands({"PING", "PING|hi", "SET|" + bin + "|", "ECHO|x", "ANCESTORS|9970|SELF"},
                          {Multibulk({"PING"}), "PING hi\r\n", Multibulk({"SET", bin, ""}),
                           " ECHO\t x  \n", Multibulk({"ANCESTORS", "9970", "SELF"})});
  ExpectSplitInvariant(stream, want);
}

TEST(RespParser, ErrorsDoNotDependOnHowTheStreamWasSplit) {
  RespLimits small{
      .max_bulk_bytes = 8, .max_args = 3, .max_request_bytes = 40, .max_inline_bytes = 10};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Multibulk({"A"}) + "*2\r\n$3\r\nGET\r\nx", "expected '$', got 'x'"},
      {Multibulk({"A"}) + "*1\r\n$3\r\nGETxx", "bulk not followed by CRLF"},
      {"*1\r\n$9\r\n", "bulk too big (9 > 8 bytes)"},
      {"*4\r\n", "too many arguments (4 > 3)"},
      {"*3\r\n$8\r\n12345678\r\n$8\r\n12345678\r\n$8\r\n", "request too big (46 > 40 bytes)"},
      {"PING\r\nABCDEFGHIJK\r\n", "too big inline request"},
      {"PING\r\nABCDEFGHIJK", "too big inline request"},
      {"a b c d\r\n", "too many arguments (4 > 3)"},
      {"*123456789012\r\n", "too big multibulk count string"},
      {"*1\r\n$12345678901\r\n", "too big bulk count string"},
      {"*1x\r\n", "invalid multibulk length"},
      {"*1\r\n$1x\r\n", "invalid bulk length"},
      {"*1\rx", "invalid multibulk length"},
  };
  for (const auto& [stream, message] : cases) {
    SCOPED_TRACE(stream);
    Outcome whole = FeedWhole(stream, small);
    ASSERT_FALSE(whole.events.empty());
    EXPECT_EQ(whole.events.back(), "ERR " + message);
    ExpectSplitInvariant(stream, whole, small);
  }
}

TEST(RespParser, RandomCommandsInRandomChunks) {
  std::mt19937_64 rng(42);
  std::vector<std::string> events;
  std::string stream;
  for (int c = 0; c < 300; ++c) {
    std::vector<std::string> args(1 + rng() % 6);
    for (std::string& a : args) {
      a.resize(rng() % (rng() % 8 == 0 ? 3000 : 12));
      for (char& ch : a) ch = static_cast<char>(rng());
    }
    stream += Multibulk(args);
    std::string e;
    for (size_t i = 0; i < args.size(); ++i) e += (i ? "|" : "") + args[i];
    events.push_back(e);
  }
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = rng() % 5000; at < stream.size(); at += 1 + rng() % 5000) cuts.push_back(at);
    Outcome got = FeedCuts(stream, cuts, {}, 16 + rng() % 4096);
    EXPECT_EQ(got.events, events) << "round " << round;
    EXPECT_FALSE(got.partial);
  }
}

TEST(RespParser, ReadLoopWithPrepareWriteAndCommitWrite) {
  const std::string stream = Multibulk({"PING"}) + "ECHO a\r\n" + Multibulk({"X", "yy"});
  RespParser parser({}, 16);
  std::vector<std::string> got;
  size_t from = 0;
  while (from < stream.size()) {
    std::span<uint8_t> space = parser.PrepareWrite(5);
    ASSERT_GE(space.size(), 5u);
    const size_t n = std::min<size_t>(5, stream.size() - from);
    std::memcpy(space.data(), stream.data() + from, n);
    parser.CommitWrite(n);
    from += n;
    for (;;) {
      RespParser::Next next = parser.NextCommand();
      ASSERT_NE(next.state, State::kError) << next.error;
      if (next.state == State::kNeedMore) break;
      got.push_back(Join(parser.args()));
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"PING", "ECHO|a", "X|yy"}));
  EXPECT_FALSE(parser.has_partial());
}

TEST(RespParser, HasPartial) {
  RespParser parser({});
  EXPECT_FALSE(parser.has_partial());
  parser.Append(Bytes("*2\r\n$4\r\nECHO\r\n"));
  EXPECT_EQ(parser.NextCommand().state, State::kNeedMore);
  EXPECT_TRUE(parser.has_partial());
  parser.Append(Bytes("$1\r\nx\r\n"));
  EXPECT_EQ(parser.NextCommand().state, State::kCommand);
  EXPECT_EQ(parser.NextCommand().state, State::kNeedMore);
  EXPECT_FALSE(parser.has_partial());
  parser.Append(Bytes("PI"));
  EXPECT_EQ(parser.NextCommand().state, State::kNeedMore);
  EXPECT_TRUE(parser.has_partial());
}

// ---- inline commands --------------------------------------------------------------

TEST(RespParser, InlineCommands) {
  EXPECT_EQ(FeedWhole("PING\r\n").events, (std::vector<std::string>{"PING"}));
  EXPECT_EQ(FeedWhole("PING\n").events, (std::vector<std::string>{"PING"}));
  EXPECT_EQ(FeedWhole("  ANCESTORS \t 9970\tSELF  \r\n").events,
            (std::vector<std::string>{"ANCESTORS|9970|SELF"}));
  // A CR that does not end the line belongs to its argument; only spaces and tabs split.
  EXPECT_EQ(FeedWhole("a\rb c\r\r\n").events, (std::vector<std::string>{"a\rb|c\r"}));
  EXPECT_EQ(FeedWhole(std::string("x\0y $z\r\n", 8)).events,
            (std::vector<std::string>{std::string("x\0y|$z", 6)}));
  // Empty and blank lines are skipped.
  Outcome o = FeedWhole("\r\n\n  \r\n\t\nPING\n");
  EXPECT_EQ(o.events, (std::vector<std::string>{"PING"}));
  EXPECT_EQ(o.raws, (std::vector<std::string>{"PING\n"}));
  EXPECT_FALSE(o.partial);
  // Without its "\n" a line waits.
  o = FeedWhole("PING\r");
  EXPECT_TRUE(o.events.empty());
  EXPECT_TRUE(o.partial);
}

TEST(RespParser, InlineLineAtTheLimitAndOneByteOver) {
  RespLimits limits{.max_inline_bytes = 100};
  const std::string at(100, 'a');  // 100 bytes before the "\n"
  EXPECT_EQ(FeedWhole(at + "\n", limits).events, (std::vector<std::string>{at}));
  EXPECT_EQ(FeedBytewise(at + "\n", limits).events, (std::vector<std::string>{at}));
  // The "\r" counts: it is before the "\n".
  EXPECT_EQ(Error(at + "\r\n", limits), "too big inline request");
  EXPECT_EQ(Error(at + "a\n", limits), "too big inline request");
  // Refused as soon as the line is too long, before its end arrives.
  EXPECT_EQ(Error(at + "a", limits), "too big inline request");
  EXPECT_EQ(FeedWhole(at, limits).events, std::vector<std::string>{});
  // The request limit bounds an inline line too (line + "\n").
  RespLimits request{.max_request_bytes = 10};
  EXPECT_EQ(FeedWhole("123456789\n", request).events, (std::vector<std::string>{"123456789"}));
  EXPECT_EQ(Error("1234567890\n", request), "too big inline request");
}

TEST(RespParser, InlineArgumentCountLimit) {
  RespLimits limits{.max_args = 3};
  EXPECT_EQ(FeedWhole("a b c\n", limits).events, (std::vector<std::string>{"a|b|c"}));
  EXPECT_EQ(Error("a b c d e\n", limits), "too many arguments (5 > 3)");
}

// ---- arrays -------------------------------------------------------------------------

TEST(RespParser, EmptyAndNullArraysAreSkipped) {
  Outcome o = FeedWhole("*0\r\n*-1\r\n*0\r\n" + Multibulk({"PING"}));
  EXPECT_EQ(o.events, (std::vector<std::string>{"PING"}));
  EXPECT_EQ(o.raws, (std::vector<std::string>{Multibulk({"PING"})}));
  EXPECT_EQ(Error("*-2\r\n"), "invalid multibulk length");
  // Thousands of skipped headers in one read are all consumed in one call.
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "*0\r\n";
  EXPECT_EQ(FeedWhole(many + "PING\n").events, (std::vector<std::string>{"PING"}));
}

TEST(RespParser, BinarySafeBulks) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  const std::vector<std::string> args = {"ECHO", "\r\n", "*1\r\n$4\r\nPING\r\n",
                                         all,    "",     std::string(1, '\0')};
  Outcome o = FeedBytewise(Multibulk(args));
  ASSERT_EQ(o.events.size(), 1u);
  RespParser parser({});
  parser.Append(Bytes(Multibulk(args)));
  ASSERT_EQ(parser.NextCommand().state, State::kCommand);
  ASSERT_EQ(parser.args().size(), args.size());
  for (size_t i = 0; i < args.size(); ++i) EXPECT_EQ(parser.args()[i], args[i]) << i;
  EXPECT_EQ(Text(parser.raw()), Multibulk(args));
}

TEST(RespParser, MultibulkCounts) {
  EXPECT_EQ(Error("*2147483648\r\n"), "too many arguments (2147483648 > 100064)");
  EXPECT_EQ(Error("*1000000\r\n"), "too many arguments (1000000 > 100064)");
  EXPECT_EQ(Error("*9223372036854775807\r\n"), "too many arguments (9223372036854775807 > 100064)");
  for (const char* bad : {"*9223372036854775808\r\n", "*99999999999999999999\r\n", "*+5\r\n",
                          "* 5\r\n", "*5 \r\n", "*05\r\n", "*-0\r\n", "*\r\n", "*-\r\n", "*x\r\n",
                          "*-9223372036854775808\r\n", "*1\r\r\n", "*1\rx"}) {
    EXPECT_EQ(Error(bad), "invalid multibulk length") << bad;
  }
}

TEST(RespParser, BulkLengths) {
  EXPECT_EQ(Error("*1\r\n$2147483648\r\n"), "bulk too big (2147483648 > 4194304 bytes)");
  EXPECT_EQ(Error("*1\r\n$9223372036854775807\r\n"),
            "bulk too big (9223372036854775807 > 4194304 bytes)");
  for (const char* bad :
       {"*1\r\n$-1\r\n", "*1\r\n$-5\r\n", "*1\r\n$-9223372036854775808\r\n", "*1\r\n$abc\r\n",
        "*1\r\n$+5\r\n", "*1\r\n$ 5\r\n", "*1\r\n$05\r\n", "*1\r\n$-0\r\n", "*1\r\n$\r\n",
        "*1\r\n$9223372036854775808\r\n", "*1\r\n$1\r\r\n"}) {
    EXPECT_EQ(Error(bad), "invalid bulk length") << bad;
  }
  EXPECT_EQ(Error("*1\r\n:5\r\n"), "expected '$', got ':'");
  EXPECT_EQ(Error(std::string("*1\r\n\0", 5)), "expected '$', got '\\x00'");
  EXPECT_EQ(Error("*2\r\n$1\r\na\r\n*1\r\n"), "expected '$', got '*'");
  EXPECT_EQ(Error("*1\r\n$1\r\nab\r\n"), "bulk not followed by CRLF");
  EXPECT_EQ(Error("*1\r\n$1\r\na\n\r"), "bulk not followed by CRLF");
  // A bulk of length 0.
  EXPECT_EQ(FeedWhole("*2\r\n$0\r\n\r\n$1\r\nx\r\n").events, (std::vector<std::string>{"|x"}));
}

TEST(RespParser, HeaderLinesAreBoundedByTheInlineLimit) {
  RespLimits limits{.max_inline_bytes = 4};
  // "*123" is 4 bytes before its "\r": at the limit.
  EXPECT_EQ(Error("*123\r\n", limits), "(no error)");
  EXPECT_EQ(Error("*1234\r\n", limits), "too big multibulk count string");
  EXPECT_EQ(Error("*1234", limits), "too big multibulk count string");
  EXPECT_EQ(FeedWhole("*123", limits).events, std::vector<std::string>{});
  EXPECT_EQ(FeedWhole("*1\r\n$123\r\n", limits).events, std::vector<std::string>{});
  EXPECT_EQ(Error("*1\r\n$1234\r\n", limits), "too big bulk count string");
  EXPECT_EQ(Error("*1\r\n$1234", limits), "too big bulk count string");
}

// ---- limits ---------------------------------------------------------------------------

TEST(RespParser, ArgumentCountAtTheLimitAndOneOver) {
  RespLimits limits{.max_args = 5};
  const std::vector<std::string> five = {"a", "b", "c", "d", "e"};
  EXPECT_EQ(FeedWhole(Multibulk(five), limits).events, (std::vector<std::string>{"a|b|c|d|e"}));
  std::vector<std::string> six = five;
  six.push_back("f");
  EXPECT_EQ(Error(Multibulk(six), limits), "too many arguments (6 > 5)");
  // The default: 100,064 arguments (100,000 ids + 64).
  std::vector<std::string> ids(RespLimits{}.max_args, "1");
  EXPECT_EQ(FeedWhole(Multibulk(ids)).events.size(), 1u);
  ids.push_back("1");
  EXPECT_EQ(Error(Multibulk(ids)), "too many arguments (100065 > 100064)");
}

TEST(RespParser, BulkAtTheLimitAndOneOver) {
  RespLimits limits{.max_bulk_bytes = 10};
  EXPECT_EQ(FeedWhole(Multibulk({std::string(10, 'x')}), limits).events.size(), 1u);
  EXPECT_EQ(Error(Multibulk({std::string(11, 'x')}), limits), "bulk too big (11 > 10 bytes)");
}

TEST(RespParser, RequestBytesAtTheLimitAndOneOver) {
  const std::string command = Multibulk({"SET", "k", std::string(20, 'v')});
  RespLimits limits{.max_request_bytes = command.size()};
  Outcome o = FeedWhole(command, limits);
  ASSERT_EQ(o.events.size(), 1u);
  EXPECT_EQ(o.raws[0], command);
  limits.max_request_bytes = command.size() - 1;
  EXPECT_EQ(Error(command, limits), "request too big (" + std::to_string(command.size()) + " > " +
                                        std::to_string(command.size() - 1) + " bytes)");
  // Checked when the header declares it, before the bulk's bytes arrive.
  const std::string header_only = command.substr(0, command.size() - 22);
  EXPECT_EQ(Error(header_only, limits).rfind("request too big", 0), 0u);
  // An array that could not fit even with empty bulks is refused at its header.
  EXPECT_EQ(Error("*10\r\n", RespLimits{.max_request_bytes = 60}),
            "request too big (10 arguments > 60 bytes)");
}

TEST(RespParser, FourMiBCommandAt16KiBReadsIsScannedOnce) {
  const RespLimits limits;  // 4 MiB bulk, 4 MiB request
  const std::string head = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n";
  const size_t bulk = limits.max_request_bytes - head.size() - 12;  // "$4194272\r\n" + "\r\n"
  std::string command = head + "$" + std::to_string(bulk) + "\r\n" + std::string(bulk, 'v');
  command += "\r\n";
  ASSERT_EQ(command.size(), limits.max_request_bytes);  // exactly at the limit
  const std::string stream = command + "PING\r\n";

  RespParser parser(limits);
  std::vector<std::string> got;
  size_t reads = 0;
  for (size_t from = 0; from < stream.size(); from += 16 * 1024, ++reads) {
    parser.Append(Bytes(std::string_view(stream).substr(from, 16 * 1024)));
    for (;;) {
      RespParser::Next next = parser.NextCommand();
      ASSERT_NE(next.state, State::kError) << next.error;
      if (next.state == State::kNeedMore) break;
      ASSERT_FALSE(parser.args().empty());
      got.emplace_back(parser.args()[0]);
      if (got.back() == "SET") {
        ASSERT_EQ(parser.args().size(), 3u);
        EXPECT_EQ(parser.args()[2].size(), bulk);
        EXPECT_EQ(parser.args()[2].find_first_not_of('v'), std::string_view::npos);
        EXPECT_EQ(Text(parser.raw()), command);
      }
    }
    // Never more than one command + one read.
    ASSERT_LE(Peer::capacity(parser), limits.max_request_bytes + 16 * 1024);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"SET", "PING"}));
  EXPECT_GT(reads, 256u);
  // Only the header lines and the inline line were searched, once each: the
  // bulk's 4 MiB were never looked at (a rescan per read would be ~256 * 2 MiB).
  EXPECT_LE(Peer::scanned(parser), 64u);
  // The big buffer was returned.
  EXPECT_EQ(Peer::capacity(parser), 16u * 1024);

  // One byte more and the bulk's header is refused before its bytes arrive.
  RespParser over(limits);
  over.Append(Bytes(head + "$" + std::to_string(bulk + 1) + "\r\n"));
  RespParser::Next next = over.NextCommand();
  ASSERT_EQ(next.state, State::kError);
  EXPECT_EQ(next.error, "request too big (4194305 > 4194304 bytes)");
}

TEST(RespParser, ManySmallArgumentsFedByteByByteAreScannedOnce) {
  std::vector<std::string> args(20000, "12345");
  const std::string stream = Multibulk(args);
  RespParser parser({}, 1);
  size_t commands = 0;
  for (char c : stream) {
    parser.Append(Bytes(std::string_view(&c, 1)));
    RespParser::Next next = parser.NextCommand();
    ASSERT_NE(next.state, State::kError) << next.error;
    if (next.state == State::kCommand) {
      ++commands;
      EXPECT_EQ(parser.args().size(), args.size());
    }
  }
  EXPECT_EQ(commands, 1u);
  EXPECT_LE(Peer::scanned(parser), stream.size());
}

TEST(RespParser, LongInlineLineFedByteByByteIsScannedOnce) {
  const std::string line = std::string(64 * 1024 - 2, 'a') + "\r\n";
  RespParser parser({}, 1);
  size_t commands = 0;
  for (char c : line) {
    parser.Append(Bytes(std::string_view(&c, 1)));
    RespParser::Next next = parser.NextCommand();
    ASSERT_NE(next.state, State::kError) << next.error;
    commands += next.state == State::kCommand;
  }
  EXPECT_EQ(commands, 1u);
  EXPECT_LE(Peer::scanned(parser), line.size());
}

TEST(RespParser, SteadyStateReusesItsBuffers) {
  std::string round;
  for (int i = 0; i < 50; ++i) round += Multibulk({"MANCESTORS", "1", "2", "3", "SELF"}) + "PING\n";
  RespParser parser({});
  auto run = [&] {
    for (size_t from = 0; from < round.size(); from += 100) {
      parser.Append(Bytes(std::string_view(round).substr(from, 100)));
      while (parser.NextCommand().state == State::kCommand) {
      }
    }
  };
  run();
  const uint8_t* buffer = Peer::buffer(parser);
  const size_t args = Peer::args_capacity(parser), refs = Peer::refs_capacity(parser);
  for (int i = 0; i < 100; ++i) run();
  EXPECT_EQ(Peer::buffer(parser), buffer);
  EXPECT_EQ(Peer::args_capacity(parser), args);
  EXPECT_EQ(Peer::refs_capacity(parser), refs);
}

TEST(RespParser, ErrorsAreSticky) {
  RespParser parser({});
  parser.Append(Bytes(Multibulk({"PING"}) + "*1\r\n$x\r\n"));
  ASSERT_EQ(parser.NextCommand().state, State::kCommand);
  RespParser::Next next = parser.NextCommand();
  ASSERT_EQ(next.state, State::kError);
  EXPECT_EQ(next.error, "invalid bulk length");
  parser.Append(Bytes(Multibulk({"PING"})));
  for (int i = 0; i < 3; ++i) {
    next = parser.NextCommand();
    EXPECT_EQ(next.state, State::kError);
    EXPECT_EQ(next.error, "invalid bulk length");
  }
}

// ---- ParseRespCommand -------------------------------------------------------------------

TEST(ParseRespCommand, RoundTripsEveryRaw) {
  const std::string stream = Multibulk({"SET", std::string("a\r\n\0", 4), ""}) + "PING x\r\n" +
                             "ECHO y\n" + Multibulk({"GET"});
  RespParser parser({});
  parser.Append(Bytes(stream));
  int n = 0;
  std::vector<std::string_view> args;
  for (; parser.NextCommand().state == State::kCommand; ++n) {
    std::vector<uint8_t> kept(parser.raw().begin(), parser.raw().end());
    ASSERT_TRUE(ParseRespCommand(kept, &args)) << Text(parser.raw());
    ASSERT_EQ(args.size(), parser.args().size());
    for (size_t i = 0; i < args.size(); ++i) {
      EXPECT_EQ(args[i], parser.args()[i]);
      EXPECT_GE(reinterpret_cast<const uint8_t*>(args[i].data()), kept.data());
      EXPECT_LE(reinterpret_cast<const uint8_t*>(args[i].data() + args[i].size()),
                kept.data() + kept.size());
    }
  }
  EXPECT_EQ(n, 4);
}

TEST(ParseRespCommand, RefusesAnythingButExactlyOneCommand) {
  std::vector<std::string_view> args = {"stale"};
  for (std::string_view bad :
       {"", "\r\n", "*0\r\n", "*-1\r\n", "PING", "*1\r\n$4\r\nPING", "PING\r\nPING\r\n",
        "*1\r\n$4\r\nPING\r\nx", "*1\r\n$4\r\nPINGxx", "\r\nPING\r\n", "*1\r\n$x\r\n"}) {
    EXPECT_FALSE(ParseRespCommand(Bytes(bad), &args)) << bad;
    EXPECT_TRUE(args.empty());
  }
  ASSERT_TRUE(ParseRespCommand(Bytes("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"), &args));
  EXPECT_EQ(args, (std::vector<std::string_view>{"ECHO", ""}));
  ASSERT_TRUE(ParseRespCommand(Bytes("  PING  \r\n"), &args));
  EXPECT_EQ(args, (std::vector<std::string_view>{"PING"}));
}

// ---- RespWriter -----------------------------------------------------------------------------

std::string Write(bool resp3, const std::function<void(RespWriter&)>& f) {
  std::vector<uint8_t> out = {'>'};  // appends, never overwrites
  RespWriter w(&out, resp3);
  f(w);
  return std::string(out.begin() + 1, out.end());
}

TEST(RespWriter, EveryMethodInResp2AndResp3) {
  for (bool resp3 : {false, true}) {
    SCOPED_TRACE(resp3 ? "RESP3" : "RESP2");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.SimpleString("OK"); }), "+OK\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.SimpleString("a\r\nb\nc"); }), "+a  b c\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.SimpleString(""); }), "+\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Error("ERR", "unknown command 'X'"); }),
              "-ERR unknown command 'X'\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Error("NOTFOUND", "id\r\n5"); }),
              "-NOTFOUND id  5\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Error("ERR", ""); }), "-ERR\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Integer(42); }), ":42\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Integer(0); }), ":0\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Integer(std::numeric_limits<int64_t>::min()); }),
              ":-9223372036854775808\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Integer(std::numeric_limits<int64_t>::max()); }),
              ":9223372036854775807\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Bulk("abc"); }), "$3\r\nabc\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Bulk(""); }), "$0\r\n\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.Bulk(std::string_view("a\r\n\0", 4)); }),
              std::string("$4\r\na\r\n\0\r\n", 10));
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.ArrayHeader(0); }), "*0\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.ArrayHeader(123456); }), "*123456\r\n");
    EXPECT_EQ(Write(resp3, [](RespWriter& w) { w.IntegerArray({}); }), "*0\r\n");
    const std::vector<int64_t> ids = {
        9970, 101, -1, 0, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
    EXPECT_EQ(Write(resp3, [&](RespWriter& w) { w.IntegerArray(ids); }),
              "*6\r\n:9970\r\n:101\r\n:-1\r\n:0\r\n:-9223372036854775808\r\n"
              ":9223372036854775807\r\n");
  }
  EXPECT_EQ(Write(false, [](RespWriter& w) { w.Null(); }), "$-1\r\n");
  EXPECT_EQ(Write(true, [](RespWriter& w) { w.Null(); }), "_\r\n");
  EXPECT_EQ(Write(false, [](RespWriter& w) { w.NullArray(); }), "*-1\r\n");
  EXPECT_EQ(Write(true, [](RespWriter& w) { w.NullArray(); }), "_\r\n");
  EXPECT_EQ(Write(false, [](RespWriter& w) { w.MapHeader(4); }), "*8\r\n");
  EXPECT_EQ(Write(true, [](RespWriter& w) { w.MapHeader(4); }), "%4\r\n");
  EXPECT_EQ(Write(false, [](RespWriter& w) { w.MapHeader(0); }), "*0\r\n");
  EXPECT_EQ(Write(true, [](RespWriter& w) { w.MapHeader(0); }), "%0\r\n");
  EXPECT_EQ(Write(false, [](RespWriter& w) { w.AttributeHeader(1); }), "");
  EXPECT_EQ(Write(true, [](RespWriter& w) { w.AttributeHeader(1); }), "|1\r\n");
}

TEST(RespWriter, ManyAppendsGrowTheVectorGeometrically) {
  // Each method alone, then all of them in turn: no reallocation per append
  // (a reserve() of the exact size needed would do that).
  for (int method = 0; method <= 5; ++method) {
    SCOPED_TRACE(method);
    std::vector<uint8_t> out;
    RespWriter w(&out, true);
    std::vector<const uint8_t*> buffers;
    for (int i = 0; i < 20000; ++i) {
      switch (method < 5 ? method : i % 5) {
        case 0:
          w.Bulk("gitlab-org/frontend");
          break;
        case 1:
          w.Integer(i);
          break;
        case 2:
          w.SimpleString("OK");
          break;
        case 3:
          w.IntegerArray(std::vector<int64_t>{i, i + 1});
          break;
        case 4:
          w.Error("ERR", "x");
          break;
      }
      if (buffers.empty() || buffers.back() != out.data()) buffers.push_back(out.data());
    }
    EXPECT_LE(buffers.size(), 40u);
  }
}

TEST(RespWriter, AReplyInSequenceAndSwitchingProtocol) {
  std::vector<uint8_t> out;
  RespWriter w(&out, false);
  EXPECT_FALSE(w.resp3());
  w.MapHeader(1);
  w.Bulk("lsn");
  w.NullArray();
  w.set_resp3(true);
  EXPECT_TRUE(w.resp3());
  w.AttributeHeader(1);
  w.SimpleString("lsn");
  w.Bulk("0/16B3748");
  w.IntegerArray(std::vector<int64_t>{1, 2});
  std::vector<uint8_t> other;
  w.set_out(&other);
  EXPECT_EQ(w.out(), &other);
  w.Null();
  EXPECT_EQ(std::string(out.begin(), out.end()),
            "*2\r\n$3\r\nlsn\r\n*-1\r\n|1\r\n+lsn\r\n$9\r\n0/16B3748\r\n*2\r\n:1\r\n:2\r\n");
  EXPECT_EQ(std::string(other.begin(), other.end()), "_\r\n");
}

TEST(RespWriter, WhatItWritesParsesBack) {
  std::vector<int64_t> ids(5000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i * 7919) - 100000;
  std::vector<uint8_t> out;
  RespWriter w(&out, false);
  w.IntegerArray(ids);
  // An integer array is not a request (":" where "$" must be), but the same
  // writer's bulks are: a request built with Bulk parses back.
  w.ArrayHeader(2);
  w.Bulk("ECHO");
  w.Bulk(std::string_view("\r\n\0", 3));
  std::string text(out.begin(), out.end());
  const size_t at = text.find("*2\r\n$4");
  ASSERT_NE(at, std::string::npos);
  std::vector<std::string_view> args;
  ASSERT_TRUE(ParseRespCommand(Bytes(std::string_view(text).substr(at)), &args));
  EXPECT_EQ(args, (std::vector<std::string_view>{"ECHO", std::string_view("\r\n\0", 3)}));
  // And the integers read back.
  std::string_view rest = std::string_view(text).substr(0, at);
  ASSERT_EQ(rest.substr(0, 7), "*5000\r\n");
  rest.remove_prefix(7);
  for (int64_t id : ids) {
    ASSERT_EQ(rest[0], ':');
    const size_t end = rest.find("\r\n");
    EXPECT_EQ(std::stoll(std::string(rest.substr(1, end - 1))), id);
    rest.remove_prefix(end + 2);
  }
  EXPECT_TRUE(rest.empty());
}

}  // namespace
}  // namespace canopy::net::internal
