// http_fuzzer_seeds.cc — writes a seed corpus for canopy_http_fuzzer: the
// endpoints' requests (with and without the bearer token, HTTP/1.0 and 1.1,
// a query string), pipelined requests, the refusals (other methods, a GET
// with a body, chunked, bad versions, garbage) and heads at and over the
// fuzzer's 2048-byte head limit; and, with a second argument, a libFuzzer
// dictionary of HTTP's tokens.
//   canopy_http_fuzzer_seeds DIR [DICT]
// Every seed starts with the fuzzer's plan byte (chunking; 0x40: a token is set).
#include <string>
#include <vector>

#include "fuzz_util.h"

int main(int argc, char** argv) {
  const std::string get_metrics = "GET /metrics HTTP/1.1\r\nHost: canopy\r\n\r\n";
  const std::string get_healthz = "GET /healthz HTTP/1.1\r\nHost: canopy\r\n\r\n";
  const std::string get_readyz = "GET /readyz?verbose=1 HTTP/1.1\r\nHost: canopy\r\n\r\n";
  const std::string with_token =
      "GET /metrics HTTP/1.1\r\nHost: canopy\r\nAuthorization: Bearer fuzz-token\r\n\r\n";
  const std::vector<std::string> streams = {
      get_metrics,
      get_healthz,
      get_readyz,
      with_token,
      "GET /metrics HTTP/1.1\r\nAuthorization: bearer   wrong\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n",
      "GET /healthz HTTP/1.0\r\n\r\n",
      "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get_readyz,
      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
      get_healthz + get_readyz + with_token + get_metrics,
      "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n" + get_healthz,
      "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
      "HEAD /healthz HTTP/1.1\r\n\r\n",
      "DELETE /readyz HTTP/1.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
      "GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "GET /healthz HTTP/9.9\r\n\r\n",
      "GET /healthz\r\n\r\n",
      "GET  /healthz HTTP/1.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
      "GET /healthz HTTP/1.1\nHost: lf-only\n\n",
      "\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\xff garbage\r\n\r\n", 20),
      std::string(64, '\0'),
      "GET /healthz HTTP/1.1\r\nX-Pad: " + std::string(1990, 'a') + "\r\n\r\n",  // at the limit
      "GET /healthz HTTP/1.1\r\nX-Pad: " + std::string(2100, 'a') + "\r\n\r\n",  // over it
      "GET /" + std::string(3000, 'x') + " HTTP/1.1\r\n\r\n",
      // The request line fits the limit, the head does not (Beast alone let it
      // through in one piece and refused it in pieces).
      "GET /" + std::string(2025, 'x') + " HTTP/1.1\r\nHost: canopy\r\n\r\n" + get_healthz,
      "GET /metr",
  };
  // Plans: whole, one byte at a time; with a token (0x40).
  return canopy::net::fuzz::WriteSeedCorpus(argc, argv, streams, {0x07, 0x01, 0x44, 0x47},
                                            {"GET",
                                             "POST",
                                             "HEAD",
                                             "HTTP/1.1",
                                             "HTTP/1.0",
                                             "/metrics",
                                             "/healthz",
                                             "/readyz",
                                             "\\x0D\\x0A",
                                             "\\x0D\\x0A\\x0D\\x0A",
                                             "Host: ",
                                             "Authorization: Bearer ",
                                             "fuzz-token",
                                             "Content-Length: ",
                                             "Transfer-Encoding: chunked",
                                             "Connection: close",
                                             "Connection: keep-alive",
                                             "Expect: 100-continue",
                                             "?",
                                             "%"});
}
