// http_fuzzer.cc — libFuzzer target for what canopyd's HTTP listener
// (--http-listen: /metrics, /healthz, /readyz) does with inbound bytes: the
// server's HttpProtocol (Boost.Beast's request parser, the routing, the
// token check, the answers) fed the input in chunks whose sizes come from the
// input, through a socketless session (fuzz_session.h) serving a small index.
// Checked:
//   * every answer is exactly one well-formed HTTP/1.1 response: a status
//     line with a known code, header lines, a Content-Length equal to the
//     body that follows; nothing else is ever written;
//   * answers come only for taken requests, and after the protocol asked to
//     close nothing more is taken;
//   * waiting for more input, the unparsed input is below the head limit;
//   * the outcome (the status codes, in order, and whether it closed) does
//     not depend on the chunking. (Fed to Beast's parser as it arrives, it
//     did: a head just over the limit passed in one piece and was refused in
//     pieces, and LF-only lines were a 400 in one piece but waited when
//     split; so HttpProtocol hands Beast only complete heads.)
// Any violation abort()s; so do crashes and sanitizer reports.
//
// Input: byte 0 chooses the chunk sizes (and bit 0x40 sets a token), the
// rest is the stream.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_session.h"
#include "fuzz_util.h"
#include "http_protocol.h"

namespace {

using canopy::net::ServerOptions;
using canopy::net::fuzz::ChunkPlan;
using canopy::net::fuzz::FuzzSession;
using canopy::net::internal::HttpProtocol;

// A small head limit, so that the fuzzer reaches it with short inputs.
constexpr uint32_t kHeadLimit = 2048;

void Check(bool ok, const char* what) {
  canopy::net::fuzz::CheckInvariant("http_fuzzer", ok, what);
}

const ServerOptions& Options(bool token) {
  static const ServerOptions without = [] {
    ServerOptions o;
    o.max_request_frame_bytes = kHeadLimit;
    return o;
  }();
  static const ServerOptions with = [] {
    ServerOptions o;
    o.max_request_frame_bytes = kHeadLimit;
    o.token = "fuzz-token";
    return o;
  }();
  return token ? with : without;
}

// Parses the responses in `out`; appends their status codes. Every byte must
// belong to a well-formed response.
void ParseResponses(std::string_view out, std::vector<int>* codes) {
  while (!out.empty()) {
    const size_t head_end = out.find("\r\n\r\n");
    Check(head_end != std::string_view::npos, "a response without the end of its head");
    const std::string_view head = out.substr(0, head_end + 2);
    Check(head.substr(0, 9) == "HTTP/1.1 ", "a response without a status line");
    const int code = std::atoi(std::string(head.substr(9, 3)).c_str());
    Check(code == 200 || code == 400 || code == 401 || code == 404 || code == 405 || code == 431 ||
              code == 500 || code == 503,
          "an unexpected status code");
    Check(head.size() > 12 && head[12] == ' ', "a status code of another length");
    size_t content_length = std::string_view::npos;
    size_t at = head.find("\r\n") + 2;
    while (at < head.size()) {
      const size_t end = head.find("\r\n", at);
      Check(end != std::string_view::npos, "a header line without CRLF");
      const std::string_view line = head.substr(at, end - at);
      Check(line.find(": ") != std::string_view::npos, "a header line without a name");
      Check(line.find('\n') == std::string_view::npos && line.find('\r') == std::string_view::npos,
            "a header line with a line break");
      if (line.substr(0, 16) == "Content-Length: ") {
        Check(content_length == std::string_view::npos, "two Content-Lengths");
        content_length = std::strtoul(std::string(line.substr(16)).c_str(), nullptr, 10);
      }
      at = end + 2;
    }
    Check(content_length != std::string_view::npos, "a response without Content-Length");
    const size_t total = head_end + 4 + content_length;
    Check(total <= out.size(), "a body shorter than its Content-Length");
    codes->push_back(code);
    out.remove_prefix(total);
  }
}

struct Outcome {
  std::vector<int> codes;
  bool closing = false;
  bool operator==(const Outcome&) const = default;
};

Outcome Feed(std::span<const uint8_t> stream, uint8_t plan) {
  ChunkPlan chunks(plan);
  const ServerOptions& options = Options((plan & 0x40) != 0);
  FuzzSession session(options);
  HttpProtocol protocol(options, nullptr, nullptr);
  session.set_protocol(&protocol);
  Outcome out;
  size_t from = 0;
  while (from < stream.size() && !session.closing()) {
    const size_t n = std::min({chunks.Next(), stream.size() - from, size_t{16 * 1024}});
    std::span<uint8_t> space = protocol.PrepareRead(n);
    Check(space.size() >= n, "PrepareRead gave less than asked");
    std::copy_n(stream.data() + from, n, space.data());
    protocol.CommitRead(n);
    from += n;
    // As the session: requests are taken until none is complete or it closes.
    while (!session.closing()) {
      const size_t answers = session.answers();
      session.ClearOutput();
      const bool took = protocol.HandleNext(session);
      const std::string_view written(reinterpret_cast<const char*>(session.output().data()),
                                     session.output().size());
      if (!took) {
        Check(written.empty() && session.answers() == answers, "an answer without a request");
        // A head that does not fit was refused (431) instead of waited for.
        Check(protocol.buffered() < kHeadLimit, "unparsed input past the head limit");
        break;
      }
      Check(session.answers() == answers + 1, "a request taken without exactly one answer");
      const size_t before = out.codes.size();
      ParseResponses(written, &out.codes);
      Check(out.codes.size() == before + 1, "an answer that is not exactly one response");
    }
  }
  out.closing = session.closing();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t plan = data[0];
  const std::span<const uint8_t> stream(data + 1, size - 1);
  const Outcome chunked = Feed(stream, plan);
  const Outcome whole = Feed(stream, static_cast<uint8_t>((plan & 0x40) | ChunkPlan::kWhole));
  Check(chunked == whole, "the outcome depends on how the stream was split");
  return 0;
}
