// resp_fuzzer_seeds.cc — writes a seed corpus for canopy_resp_fuzzer: the
// commands of docs/resp.md as RESP arrays and inline lines, a pipelined
// stream of them, and streams at (and one byte over) the fuzzer's limits; and,
// with a second argument, a libFuzzer dictionary of RESP's tokens.
//   canopy_resp_fuzzer_seeds DIR [DICT]
// Every seed starts with the fuzzer's chunk-plan byte.
#include <string>
#include <vector>

#include "fuzz_util.h"

namespace {

std::string Multibulk(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

std::string Inline(const std::vector<std::string>& args) {
  std::string s;
  for (const std::string& a : args) s += (s.empty() ? "" : " ") + a;
  return s + "\r\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::vector<std::string>> commands = {
      {"PING"},
      {"PING", "hello"},
      {"HELLO", "3", "AUTH", "default", "token", "SETNAME", "seed"},
      {"AUTH", "token"},
      {"ANCESTORS", "9970", "SELF", "SELFFIRST"},
      {"DESCENDANTS", "9970", "WITHPROJECTNAMESPACES", "LIMIT", "100", "AFTER", "101"},
      {"MPROJECTS", "9970", "101", "ORDER", "ANY", "LIMIT", "10"},
      {"DESCENDANTS", "9970", "ORDER", "ASC", "AFTER", "5"},
      {"PROJECTS", "9970", "UNARCHIVED", "MINLSN", "16/B374D848", "WAITMS", "50"},
      {"MANCESTORS", "102", "101", "999999", "SELF"},
      {"MCOUNTS", "1", "2", "3"},
      {"PATH", "4", "PROJECT"},
      {"RESOLVE", "gitlab-org/frontend"},
      {"CLIENT", "SETINFO", "LIB-NAME", "redis-py"},
      {"ECHO", std::string("binary\r\n\0\xff", 10)},
      {"COMMAND", "DOCS"},
      {"FEED", "0/64", "TABLES", "namespaces,projects", "SUBTREE", "1", "COUNT", "2"},
      {"FEED", "0/65", "COLUMNS", "projects.name,namespaces.parent_id", "BLOCK", "10"},
      {"FEED", "$"},
  };
  std::vector<std::string> seeds;
  std::string stream;
  for (const auto& c : commands) {
    seeds.push_back(Multibulk(c));
    seeds.push_back(Inline(c));
    stream += Multibulk(c);
  }
  stream += "PING\n\r\n*0\r\n*-1\r\n  ECHO\t x \r\n";
  seeds.push_back(stream);
  // Limits of the fuzzer (bulk 1024, 64 arguments, request 4096, inline 512): at and over.
  seeds.push_back(Multibulk({"ECHO", std::string(1024, 'b')}));
  seeds.push_back(Multibulk({"ECHO", std::string(1025, 'b')}));
  seeds.push_back(Multibulk(std::vector<std::string>(64, "1")));
  seeds.push_back(Multibulk(std::vector<std::string>(65, "1")));
  seeds.push_back(Multibulk({"A", std::string(1000, 'x'), std::string(1000, 'y'),
                             std::string(1000, 'z'), std::string(1000, 'w')}));
  seeds.push_back(std::string(512, 'i') + "\n");
  seeds.push_back(std::string(513, 'i') + "\n");
  // Headers that must be refused.
  seeds.push_back("*2147483648\r\n*1\r\n$2147483648\r\n*1\r\n$-1\r\n*-2\r\n*1\r\n:1\r\n");
  seeds.push_back("*1\r\n$4\r\nPINGxx*9223372036854775808\r\n");
  // Each seed with a few chunk plans (byte 0): one byte at a time, small (0x80: written through
  // PrepareWrite), whole.
  return canopy::net::fuzz::WriteSeedCorpus(argc, argv, seeds, {0x00, 0x83, 0x07},
                                            {"\\x0d\\x0a",
                                             "*",
                                             "$",
                                             "*0\\x0d\\x0a",
                                             "*-1\\x0d\\x0a",
                                             "$0\\x0d\\x0a\\x0d\\x0a",
                                             "$-1\\x0d\\x0a",
                                             "*1\\x0d\\x0a$",
                                             "\\x0a",
                                             " ",
                                             "\\x09",
                                             "9223372036854775807",
                                             "9223372036854775808",
                                             "-9223372036854775808",
                                             "2147483648",
                                             "1024",
                                             "1025",
                                             "64",
                                             "65",
                                             "4096",
                                             "512",
                                             "PING",
                                             "HELLO",
                                             "ORDER",
                                             "ANY",
                                             "ASC"});
}
