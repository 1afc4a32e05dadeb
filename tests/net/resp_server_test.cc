// resp_server_test.cc — canopyd's Redis-protocol listener in process: every
// query command answers what the engine answers, pipelining keeps order (a
// MINLSN wait holds back what is behind it), AUTH, HELLO 3's attribute, and
// hostile input (protocol errors, limits) closing only that connection.
// Real Redis clients are in tests/e2e/resp_e2e_test.cc; this test reads the
// replies byte by byte with its own small reader (resp_test_util.h) so it can
// check exact framing.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "resp_test_util.h"

namespace canopy::net {
namespace {

using testing::Eventually;
using testing::Reply;
using testing::RespConnection;
using testing::RespServerTest;

TEST_F(RespServerTest, EveryQueryCommandAnswersWhatTheEngineAnswers) {
  StartResp();
  RespConnection c = Connect();
  const auto& named = forest().named;
  const std::vector<int64_t> groups = {named.gitlab_org_id, named.small_group_id,
                                       named.huge_group_id, named.chain_21.back()};
  for (int64_t g : groups) {
    const std::string id = std::to_string(g);
    struct Case {
      std::vector<std::string> command;
      IdQuery query;
    };
    const std::vector<Case> cases = {
        {{"ANCESTORS", id}, {.kind = QueryKind::kAncestors, .id = g}},
        {{"ancestors", id, "self", "selffirst"},
         {.kind = QueryKind::kSelfAndAncestors, .id = g, .order = HierarchyOrder::kSelfFirst}},
        {{"DESCENDANTS", id}, {.kind = QueryKind::kDescendants, .id = g}},
        {{"DESCENDANTS", id, "SELF", "WITHPROJECTNAMESPACES"},
         {.kind = QueryKind::kSelfAndDescendants, .id = g, .include_project_namespaces = true}},
        {{"PROJECTS", id}, {.kind = QueryKind::kAllProjectIds, .id = g}},
        {{"PROJECTS", id, "UNARCHIVED"}, {.kind = QueryKind::kAllUnarchivedProjectIds, .id = g}},
        {{"RUNNERS", id}, {.kind = QueryKind::kRunnersOfGroup, .id = g}},
        {{"RUNNERS", id, "ANCESTORS"}, {.kind = QueryKind::kRunnersOfGroupAndAncestors, .id = g}},
        {{"DESCENDANTS", id, "LIMIT", "3", "AFTER", "0"},
         {.kind = QueryKind::kDescendants, .id = g, .limit = 3, .after_id = 0}},
    };
    for (const Case& k : cases) {
      std::optional<Reply> r = c.Call(k.command);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->type, '*') << k.command[0] << " " << id << ": " << r->text;
      EXPECT_EQ(r->Ints(), Engine(k.query)) << k.command[0] << " " << id;
    }
    std::optional<Reply> counts = c.Call({"COUNTS", id});
    ASSERT_TRUE(counts.has_value());
    ASSERT_EQ(counts->elements.size(), 8u);
    Result<SubtreeCounts> expected = index().Read().Counts(g);
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(counts->elements[0].text, "descendant_groups");
    EXPECT_EQ(counts->elements[1].integer, static_cast<int64_t>(expected->descendant_groups));
    EXPECT_EQ(counts->elements[5].integer, static_cast<int64_t>(expected->projects));
    std::optional<Reply> path = c.Call({"PATH", id});
    ASSERT_TRUE(path.has_value());
    EXPECT_EQ(path->text, *index().Read().NamespaceFullPath(g));
    std::optional<Reply> resolved = c.Call({"RESOLVE", path->text});
    ASSERT_TRUE(resolved.has_value());
    ASSERT_EQ(resolved->elements.size(), 2u);
    EXPECT_EQ(resolved->elements[0].text, "namespace");
    EXPECT_EQ(resolved->elements[1].integer, g);
  }
  // Projects: the project-side commands.
  const std::vector<int64_t> projects = index().Read().ListProjectIds();
  ASSERT_FALSE(projects.empty());
  for (size_t i = 0; i < projects.size(); i += projects.size() / 7 + 1) {
    const int64_t p = projects[i];
    const std::string id = std::to_string(p);
    std::optional<Reply> a = c.Call({"PROJECTANCESTORS", id, "SELFFIRST"});
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->Ints(), Engine({.kind = QueryKind::kProjectAncestors,
                                 .id = p,
                                 .order = HierarchyOrder::kSelfFirst}));
    std::optional<Reply> r = c.Call({"PROJECTRUNNERS", id});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->Ints(), Engine({.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = p}));
    std::optional<Reply> path = c.Call({"PATH", id, "PROJECT"});
    ASSERT_TRUE(path.has_value());
    EXPECT_EQ(path->text, *index().Read().ProjectFullPath(p));
  }
}

TEST_F(RespServerTest, UnknownIdsAndBadArgumentsAreErrorsAndTheConnectionStays) {
  StartResp();
  RespConnection c = Connect();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"ANCESTORS", "999999999"}, "NOTFOUND "},
      {{"PATH", "999999999"}, "NOTFOUND "},
      {{"RESOLVE", "no/such/path"}, "NOTFOUND "},
      {{"ANCESTORS"}, "ERR wrong number of ids"},
      {{"ANCESTORS", "1", "2"}, "ERR wrong number of ids"},
      {{"ANCESTORS", "abc"}, "ERR invalid id or option 'abc'"},
      {{"ANCESTORS", "9223372036854775808"}, "ERR invalid id or option"},
      {{"ANCESTORS", "+5"}, "ERR invalid id or option"},
      {{"ANCESTORS", "5", "UNARCHIVED"}, "ERR invalid id or option 'UNARCHIVED'"},
      {{"ANCESTORS", "5", "MINLSN", "nope"}, "ERR invalid MINLSN"},
      {{"DESCENDANTS", "5", "LIMIT", "0"}, "ERR invalid LIMIT"},
      {{"NOSUCHCOMMAND", "1"}, "ERR unknown command 'NOSUCHCOMMAND'"},
      {{"ECHO"}, "ERR wrong number of arguments"},
  };
  for (const auto& [command, prefix] : cases) {
    std::optional<Reply> r = c.Call(command);
    ASSERT_TRUE(r.has_value()) << command[0];
    EXPECT_EQ(r->type, '-') << command[0];
    EXPECT_EQ(r->text.rfind(prefix, 0), 0u) << r->text;
  }
  std::optional<Reply> pong = c.Call({"PING"});
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->text, "PONG");
}

// ORDER ANY: the same ids as the ascending answer, each once, unsorted
// somewhere (so the option reached the engine); ORDER ASC is the default; no
// AFTER with it; a bad ORDER word, or ORDER on an ancestor list, is -ERR.
TEST_F(RespServerTest, OrderAnyIsTheSameSetAndCannotBePaged) {
  StartResp();
  RespConnection c = Connect();
  const auto& named = forest().named;
  size_t unsorted = 0;
  for (int64_t g : {named.gitlab_org_id, named.huge_group_id, named.small_group_id,
                    named.chain_21.back(), named.user_namespace_id}) {
    const std::string id = std::to_string(g);
    struct Case {
      std::vector<std::string> command;
      IdQuery query;
    };
    const std::vector<Case> cases = {
        {{"DESCENDANTS", id, "ORDER", "ANY"}, {.kind = QueryKind::kDescendants, .id = g}},
        {{"descendants", id, "order", "any", "self", "withprojectnamespaces"},
         {.kind = QueryKind::kSelfAndDescendants, .id = g, .include_project_namespaces = true}},
        {{"PROJECTS", id, "ORDER", "ANY"}, {.kind = QueryKind::kAllProjectIds, .id = g}},
        {{"PROJECTS", id, "UNARCHIVED", "ORDER", "ANY"},
         {.kind = QueryKind::kAllUnarchivedProjectIds, .id = g}},
        {{"RUNNERS", id, "ANCESTORS", "ORDER", "ANY"},
         {.kind = QueryKind::kRunnersOfGroupAndAncestors, .id = g}},
    };
    for (const Case& k : cases) {
      const std::vector<int64_t> want = Engine(k.query);
      std::optional<Reply> r = c.Call(k.command);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->type, '*') << k.command[0] << " " << id << ": " << r->text;
      std::vector<int64_t> got = r->Ints();
      unsorted += !std::is_sorted(got.begin(), got.end());
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, want) << k.command[0] << " " << id << ": not the same ids, each once";
      // ORDER ASC: exactly the default answer.
      std::vector<std::string> asc = k.command;
      for (std::string& a : asc) {
        if (a == "ANY" || a == "any") a = "ASC";
      }
      r = c.Call(asc);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->Ints(), want) << asc[0] << " " << id << " ORDER ASC";
    }
    // The batch form takes it too.
    std::optional<Reply> many = c.Call({"MDESCENDANTS", id, "999999999", "ORDER", "ANY"});
    ASSERT_TRUE(many.has_value());
    ASSERT_EQ(many->elements.size(), 2u) << many->text;
    std::vector<int64_t> got = many->elements[0].Ints();
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, Engine({.kind = QueryKind::kDescendants, .id = g}));
    EXPECT_TRUE(many->elements[1].nil);
  }
  EXPECT_GT(unsorted, 0u) << "every ORDER ANY answer came sorted: the option did not arrive";

  // LIMIT takes that many of the ids.
  const int64_t org = named.gitlab_org_id;
  const std::vector<int64_t> all = Engine({.kind = QueryKind::kDescendants, .id = org});
  ASSERT_GT(all.size(), 5u);
  std::optional<Reply> page =
      c.Call({"DESCENDANTS", std::to_string(org), "LIMIT", "5", "ORDER", "ANY"});
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->type, '*') << page->text;
  ASSERT_EQ(page->elements.size(), 5u);
  for (int64_t id : page->Ints()) {
    EXPECT_TRUE(std::binary_search(all.begin(), all.end(), id)) << id;
  }

  const std::string id = std::to_string(org);
  const std::vector<std::pair<std::vector<std::string>, std::string>> errors = {
      {{"DESCENDANTS", id, "ORDER", "ANY", "AFTER", "0"}, "ERR AFTER needs ascending order"},
      {{"MPROJECTS", id, "AFTER", "5", "order", "any"}, "ERR AFTER needs ascending order"},
      {{"DESCENDANTS", id, "ORDER", "SIDEWAYS"}, "ERR invalid ORDER 'SIDEWAYS'"},
      {{"DESCENDANTS", id, "ORDER", "DESC"}, "ERR invalid ORDER 'DESC'"},
      {{"DESCENDANTS", id, "ORDER"}, "ERR invalid id or option 'ORDER'"},
      {{"ANCESTORS", id, "ORDER", "ANY"}, "ERR invalid id or option 'ORDER'"},
      {{"COUNTS", id, "ORDER", "ANY"}, "ERR invalid id or option 'ORDER'"},
  };
  for (const auto& [command, prefix] : errors) {
    std::optional<Reply> r = c.Call(command);
    ASSERT_TRUE(r.has_value()) << command[0];
    EXPECT_EQ(r->type, '-') << command[0];
    EXPECT_EQ(r->text.rfind(prefix, 0), 0u) << r->text;
  }
  std::optional<Reply> pong = c.Call({"PING"});
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->text, "PONG");
}

TEST_F(RespServerTest, OrderAnyOverThePageCapIsTooLargeAndSaysHowToPage) {
  ServerOptions options = testing::TestServerOptions();
  options.max_ids_per_page = 5;
  StartResp(options);
  RespConnection c = Connect();
  std::optional<Reply> r =
      c.Call({"DESCENDANTS", std::to_string(forest().named.gitlab_org_id), "ORDER", "ANY"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("TOOLARGE", 0), 0u) << r->text;
  EXPECT_NE(r->text.find("in ORDER ASC"), std::string::npos) << r->text;
}

TEST_F(RespServerTest, BatchFormsEqualTheSingleFormsWithNilForUnknownIds) {
  StartResp();
  RespConnection c = Connect();
  const auto& named = forest().named;
  std::vector<std::string> ids = {std::to_string(named.gitlab_org_id), "999999999",
                                  std::to_string(named.chain_21.back()),
                                  std::to_string(named.small_group_id)};
  for (std::string name : {"ANCESTORS", "DESCENDANTS", "PROJECTS", "COUNTS", "PATH"}) {
    std::vector<std::string> batch = {std::string("M") + name};
    batch.insert(batch.end(), ids.begin(), ids.end());
    std::optional<Reply> many = c.Call(batch);
    ASSERT_TRUE(many.has_value());
    ASSERT_EQ(many->type, '*') << name << ": " << many->text;
    ASSERT_EQ(many->elements.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      std::optional<Reply> one = c.Call({name, ids[i]});
      ASSERT_TRUE(one.has_value());
      if (one->type == '-') {
        EXPECT_TRUE(many->elements[i].nil) << name << " " << ids[i];
        continue;
      }
      EXPECT_EQ(many->elements[i].type, one->type);
      EXPECT_EQ(many->elements[i].text, one->text);
      EXPECT_EQ(many->elements[i].Ints(), one->Ints()) << name << " " << ids[i];
    }
  }
}

TEST_F(RespServerTest, AThousandPipelinedCommandsAnswerInOrder) {
  StartResp();
  RespConnection c = Connect();
  const std::vector<int64_t> ns = index().Read().ListNamespaceIds();
  std::string pipeline;
  std::vector<int64_t> asked;
  for (size_t i = 0; i < 1000; ++i) {
    asked.push_back(ns[(i * 7919) % ns.size()]);
    pipeline += RespConnection::Encode({"ANCESTORS", std::to_string(asked.back()), "SELF"});
  }
  ASSERT_TRUE(c.Send(pipeline));
  for (int64_t id : asked) {
    std::optional<Reply> r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->Ints(), Engine({.kind = QueryKind::kSelfAndAncestors, .id = id}));
  }
  std::optional<Reply> lsn = c.Call({"LASTLSN"});
  ASSERT_TRUE(lsn.has_value());
  EXPECT_EQ(lsn->text, index().applied_lsn().ToString());
}

TEST_F(RespServerTest, MinLsnWaitsHoldsBackWhatIsBehindAndEndsStaleOrAnswered) {
  HierarchyIndex own;
  ASSERT_TRUE(own.Apply(canopy::testing::LoadTransaction(forest(), Lsn(1000))).ok());
  ServerOptions options = testing::TestServerOptions();
  options.resp_tcp_listen = "127.0.0.1:0";
  options.tcp_listen.clear();
  auto server = Server::Start(options, Server::Borrow(own));
  ASSERT_TRUE(server.ok());
  RespConnection c((*server)->resp_tcp_port());
  // Stale after the wait; the PING behind it is answered after it.
  ASSERT_TRUE(
      c.Send(RespConnection::Encode({"ANCESTORS", std::to_string(forest().named.small_group_id),
                                     "MINLSN", "0/FFFFFF", "WAITMS", "100"}) +
             RespConnection::Encode({"PING"})));
  std::optional<Reply> stale = c.Read();
  ASSERT_TRUE(stale.has_value());
  EXPECT_EQ(stale->text.rfind("STALE ", 0), 0u) << stale->text;
  std::optional<Reply> pong = c.Read();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->text, "PONG");
  // Answered once the LSN is applied, with what the write added; in order.
  const int64_t parent = forest().named.small_group_id;
  ASSERT_TRUE(c.Send(RespConnection::Encode({"DESCENDANTS", std::to_string(parent), "MINLSN",
                                             Lsn(2000).ToString(), "WAITMS", "60000"}) +
                     RespConnection::Encode({"ECHO", "behind"})));
  ASSERT_TRUE(Eventually([&] { return (*server)->waiting_requests() == 1; }));
  ASSERT_TRUE(own.Apply(testing::AddGroup(Lsn(2000), 60'000'000, parent)).ok());
  (*server)->NotifyApplied(Lsn(2000));
  std::optional<Reply> answer = c.Read();
  ASSERT_TRUE(answer.has_value());
  const std::vector<int64_t> ids = answer->Ints();
  EXPECT_NE(std::find(ids.begin(), ids.end(), 60'000'000), ids.end());
  std::optional<Reply> echo = c.Read();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->text, "behind");
}

TEST_F(RespServerTest, ATokenRequiresAuth) {
  ServerOptions options = testing::TestServerOptions();
  options.token = "s3cret";
  StartResp(options);
  RespConnection c = Connect();
  std::optional<Reply> r = c.Call({"ANCESTORS", std::to_string(forest().named.gitlab_org_id)});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("NOAUTH", 0), 0u) << r->text;
  r = c.Call({"AUTH", "wrong"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("WRONGPASS", 0), 0u) << r->text;
  r = c.Call({"PING"});
  EXPECT_EQ(r->text.rfind("NOAUTH", 0), 0u) << r->text;
  r = c.Call({"AUTH", "default", "s3cret"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "OK");
  r = c.Call({"ANCESTORS", std::to_string(forest().named.chain_21.back())});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Ints(),
            Engine({.kind = QueryKind::kAncestors, .id = forest().named.chain_21.back()}));
  // HELLO with AUTH authenticates too.
  RespConnection h = Connect();
  r = h.Call({"HELLO", "3", "AUTH", "default", "s3cret"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, '%');
}

// After SetToken, AUTH and HELLO ... AUTH take the new token only.
TEST_F(RespServerTest, SetTokenChangesWhatAuthAccepts) {
  ServerOptions options = testing::TestServerOptions();
  options.token = "old-token";
  StartResp(options);
  ASSERT_TRUE(server_->SetToken("new-token").ok());
  RespConnection c = Connect();
  std::optional<Reply> r = c.Call({"AUTH", "old-token"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("WRONGPASS", 0), 0u) << r->text;
  r = c.Call({"AUTH", "new-token"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "OK");
  RespConnection h = Connect();
  r = h.Call({"HELLO", "3", "AUTH", "default", "old-token"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text.rfind("WRONGPASS", 0), 0u) << r->text;
  r = h.Call({"HELLO", "3", "AUTH", "default", "new-token"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, '%');
}

TEST_F(RespServerTest, Resp3SendsTheLsnAsAnAttributeWhenAsked) {
  StartResp();
  RespConnection c = Connect();
  std::optional<Reply> hello = c.Call({"HELLO", "3"});
  ASSERT_TRUE(hello.has_value());
  ASSERT_EQ(hello->type, '%');
  const int64_t g = forest().named.gitlab_org_id;
  std::optional<Reply> plain = c.Call({"ANCESTORS", std::to_string(g)});
  ASSERT_TRUE(plain.has_value());
  EXPECT_TRUE(plain->attribute.empty()) << "attributes are opt-in";
  std::optional<Reply> on = c.Call({"ATTRIBUTES", "ON"});
  ASSERT_TRUE(on.has_value());
  EXPECT_EQ(on->text, "OK");
  std::optional<Reply> r = c.Call({"DESCENDANTS", std::to_string(g)});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Ints(), Engine({.kind = QueryKind::kDescendants, .id = g}));
  ASSERT_EQ(r->attribute.size(), 2u);
  EXPECT_EQ(r->attribute[0].text, "lsn");
  EXPECT_EQ(r->attribute[1].text, index().applied_lsn().ToString());
  std::optional<Reply> nil = c.Call({"MANCESTORS", "999999999"});
  ASSERT_TRUE(nil.has_value());
  ASSERT_EQ(nil->elements.size(), 1u);
  EXPECT_EQ(nil->elements[0].type, '_');
}

TEST_F(RespServerTest, ProtocolErrorsCloseOnlyThatConnection) {
  ServerOptions options = testing::TestServerOptions();
  options.read_timeout = std::chrono::milliseconds(300);
  StartResp(options);
  const std::vector<std::string> hostile = {
      "*1\r\n$2147483648\r\n",                 // bulk over the limit
      "*1000000\r\n",                          // more arguments than the limit
      "*1\r\n$x\r\n",                          // not a number
      "*1\r\n:5\r\n",                          // not a bulk
      std::string("*1\r\n$4\r\nPING") + "XX",  // no CRLF after the bulk
      "*-5\r\n*1\r\n$-3\r\n",
  };
  for (const std::string& bytes : hostile) {
    RespConnection c = Connect();
    ASSERT_TRUE(c.Send(bytes));
    std::optional<Reply> r = c.Read();
    ASSERT_TRUE(r.has_value()) << bytes.substr(0, 12);
    EXPECT_EQ(r->text.rfind("ERR Protocol error", 0), 0u) << r->text;
    EXPECT_TRUE(c.WaitClosed());
  }
  // Inline commands work; a half-sent command is cut off after read_timeout.
  RespConnection inline_c = Connect();
  std::optional<Reply> r;
  ASSERT_TRUE(inline_c.Send("PING\r\n"));
  r = inline_c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "PONG");
  ASSERT_TRUE(inline_c.Send("*2\r\n$9\r\nANCESTORS\r\n$3\r\n12"));
  EXPECT_TRUE(inline_c.WaitClosed());
  EXPECT_TRUE(Logged("read timeout (incomplete request)"));
  // Everyone else is still served, on both protocols.
  RespConnection ok = Connect();
  r = ok.Call({"PING"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "PONG");
  ExpectServerHealthy();
}

TEST_F(RespServerTest, ClientProbesAreAnswered) {
  StartResp();
  RespConnection c = Connect();
  for (const std::vector<std::string>& probe :
       std::vector<std::vector<std::string>>{{"CLIENT", "SETNAME", "app"},
                                             {"SELECT", "0"},
                                             {"CONFIG", "GET", "save"},
                                             {"COMMAND", "COUNT"},
                                             {"COMMAND", "DOCS"},
                                             {"INFO"}}) {
    std::optional<Reply> r = c.Call(probe);
    ASSERT_TRUE(r.has_value());
    EXPECT_NE(r->type, '-') << probe[0] << ": " << r->text;
  }
  std::optional<Reply> name = c.Call({"CLIENT", "GETNAME"});
  EXPECT_EQ(name->text, "app");
  std::optional<Reply> status = c.Call({"STATUS"});
  EXPECT_NE(status->text.find("applied_lsn:" + index().applied_lsn().ToString()),
            std::string::npos);
  std::optional<Reply> quit = c.Call({"QUIT"});
  EXPECT_EQ(quit->text, "OK");
  EXPECT_TRUE(c.WaitClosed());
}

}  // namespace
}  // namespace canopy::net
