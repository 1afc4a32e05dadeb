// frame_codec_test.cc — FrameReader and the request/response codec, without
// sockets: every way a byte stream can be wrong, and round trips of every
// message kind.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "codec.h"
#include "frame.h"
#include "net_test_util.h"

namespace canopy::net {
namespace {

using internal::DecodedRequest;
using internal::DecodeRequest;
using internal::DecoderLimits;
using internal::FrameReader;
using testing::EncodeFrame;
using testing::LengthPrefix;

Request PingRequestWithId(uint64_t id) {
  Request r;
  r.request_id = id;
  r.body = PingRequest{id * 3};
  return r;
}

TEST(FrameReader, SplitsAStreamFedOneByteAtATime) {
  std::vector<uint8_t> stream;
  for (uint64_t id = 1; id <= 5; ++id) {
    std::vector<uint8_t> f = EncodeFrame(PingRequestWithId(id));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameReader reader(1 << 20, 64);
  std::vector<uint64_t> ids;
  for (uint8_t byte : stream) {
    reader.Append({&byte, 1});
    for (;;) {
      FrameReader::Next next = reader.NextFrame();
      if (next.state != FrameReader::State::kFrame) {
        ASSERT_EQ(next.state, FrameReader::State::kNeedMore);
        break;
      }
      EXPECT_EQ(reinterpret_cast<uintptr_t>(next.frame.data()) % 8, 0u);
      DecodedRequest d = DecodeRequest(next.frame, DecoderLimits{});
      ASSERT_EQ(d.error, ErrorCode::kOk) << d.message;
      ids.push_back(d.request_id);
    }
  }
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_FALSE(reader.has_partial());
}

TEST(FrameReader, ManyFramesInOneChunkAndAnUnalignedStart) {
  std::vector<uint8_t> stream = {0xAB};  // shift everything by one byte
  for (uint64_t id = 1; id <= 50; ++id) {
    std::vector<uint8_t> f = EncodeFrame(PingRequestWithId(id));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameReader reader(1 << 20);
  reader.Append({stream.data() + 1, stream.size() - 1});
  uint64_t expect = 1;
  for (;;) {
    FrameReader::Next next = reader.NextFrame();
    if (next.state != FrameReader::State::kFrame) break;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(next.frame.data()) % 8, 0u);
    DecodedRequest d = DecodeRequest(next.frame, DecoderLimits{});
    ASSERT_EQ(d.error, ErrorCode::kOk) << d.message;
    EXPECT_EQ(d.request_id, expect++);
  }
  EXPECT_EQ(expect, 51u);
}

TEST(FrameReader, ZeroLengthIsMalformedAndSticky) {
  FrameReader reader(1024);
  reader.Append(LengthPrefix(0));
  EXPECT_EQ(reader.NextFrame().state, FrameReader::State::kEmpty);
  std::vector<uint8_t> good = EncodeFrame(PingRequestWithId(1));
  reader.Append(good);
  EXPECT_EQ(reader.NextFrame().state, FrameReader::State::kEmpty);
}

TEST(FrameReader, OversizedIsRefusedBeforeItsPayloadArrives) {
  FrameReader reader(1024);
  reader.Append(LengthPrefix(1025));
  FrameReader::Next next = reader.NextFrame();
  EXPECT_EQ(next.state, FrameReader::State::kTooLarge);
  EXPECT_EQ(next.declared_length, 1025u);
  FrameReader huge(1024);
  huge.Append(LengthPrefix(0xFFFFFFFFu));
  EXPECT_EQ(huge.NextFrame().state, FrameReader::State::kTooLarge);
}

TEST(FrameReader, TruncatedFrameWaitsForMore) {
  std::vector<uint8_t> f = EncodeFrame(PingRequestWithId(9));
  FrameReader reader(1 << 20);
  reader.Append({f.data(), f.size() - 1});
  EXPECT_EQ(reader.NextFrame().state, FrameReader::State::kNeedMore);
  EXPECT_TRUE(reader.has_partial());
  reader.Append({f.data() + f.size() - 1, 1});
  EXPECT_EQ(reader.NextFrame().state, FrameReader::State::kFrame);
}

TEST(DecodeRequest, GarbageFailsVerification) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    const size_t n = 8 + rng() % 200;
    std::vector<uint8_t> frame = LengthPrefix(static_cast<uint32_t>(n));
    for (size_t i = 0; i < n; ++i) frame.push_back(static_cast<uint8_t>(rng()));
    internal::AlignedBytes aligned;
    aligned.Assign(frame);
    DecodedRequest d = DecodeRequest(aligned.span(), DecoderLimits{});
    EXPECT_TRUE(d.fatal) << "round " << round;  // garbage without "CNP1" never verifies
    EXPECT_EQ(d.error, ErrorCode::kFailedVerification);
  }
}

TEST(DecodeRequest, EveryTruncationOfAValidFrameIsRefused) {
  Request r;
  r.request_id = 77;
  r.body = BatchRequest{{IdQuery{.kind = QueryKind::kDescendants, .id = 5},
                         IdQuery{.kind = QueryKind::kAncestors, .id = 6, .after_id = 3}}};
  std::vector<uint8_t> frame = EncodeFrame(r);
  for (size_t cut = 0; cut < frame.size(); ++cut) {
    std::vector<uint8_t> shorter(frame.begin(), frame.begin() + cut);
    // Keep the prefix honest about the shorter length: the buffer itself is cut.
    if (shorter.size() >= 4) {
      const uint32_t n = static_cast<uint32_t>(shorter.size() - 4);
      for (int i = 0; i < 4; ++i) shorter[i] = static_cast<uint8_t>(n >> (8 * i));
    }
    internal::AlignedBytes aligned;
    aligned.Assign(shorter);
    DecodedRequest d = DecodeRequest(aligned.span(), DecoderLimits{});
    EXPECT_NE(d.error, ErrorCode::kOk) << "cut at " << cut;
  }
}

TEST(DecodeRequest, AFlippedByteNeverCrashes) {
  Request r;
  r.request_id = 5;
  r.min_lsn = Lsn(10);
  r.body = ResolveRequest{{"gitlab-org/gitlab", "a/b/c"}};
  const std::vector<uint8_t> frame = EncodeFrame(r);
  for (size_t i = 4; i < frame.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> bad = frame;
      bad[i] ^= flip;
      internal::AlignedBytes aligned;
      aligned.Assign(bad);
      DecodedRequest d = DecodeRequest(aligned.span(), DecoderLimits{});
      if (d.error == ErrorCode::kOk) {
        ASSERT_NE(d.request, nullptr);  // verified: reading it must be safe
        (void)d.request->body_as_Resolve();
      }
    }
  }
}

TEST(DecodeRequest, UnknownBodyTypeIsAnUnknownRequestNotAFatalError) {
  flatbuffers::FlatBufferBuilder b;
  auto ping = fb::CreatePing(b, 1);
  fb::RequestBuilder rb(b);
  rb.add_request_id(42);
  rb.add_body_type(static_cast<fb::RequestBody>(200));  // from a newer schema
  rb.add_body(ping.Union());
  b.FinishSizePrefixed(rb.Finish(), fb::RequestIdentifier());
  DecodedRequest d = DecodeRequest({b.GetBufferPointer(), b.GetSize()}, DecoderLimits{});
  EXPECT_FALSE(d.fatal);
  EXPECT_EQ(d.error, ErrorCode::kUnknownRequest);
  EXPECT_EQ(d.request_id, 42u);

  flatbuffers::FlatBufferBuilder empty;
  empty.FinishSizePrefixed(fb::CreateRequest(empty, 43), fb::RequestIdentifier());
  d = DecodeRequest({empty.GetBufferPointer(), empty.GetSize()}, DecoderLimits{});
  EXPECT_EQ(d.error, ErrorCode::kUnknownRequest);
  EXPECT_EQ(d.request_id, 43u);
}

TEST(DecodeRequest, AUnionTypeWithoutABodyIsRefused) {
  // Found by the fuzzer: the Verifier accepts a union type whose value is
  // absent, so body_as_X() is null. Every known type must be refused so.
  for (uint8_t type = 1; type <= static_cast<uint8_t>(fb::RequestBody::MAX); ++type) {
    flatbuffers::FlatBufferBuilder b;
    fb::RequestBuilder rb(b);
    rb.add_request_id(type);
    rb.add_body_type(static_cast<fb::RequestBody>(type));
    b.FinishSizePrefixed(rb.Finish(), fb::RequestIdentifier());
    DecodedRequest d = DecodeRequest({b.GetBufferPointer(), b.GetSize()}, DecoderLimits{});
    EXPECT_EQ(d.error, ErrorCode::kInvalidArgument) << static_cast<int>(type);
    EXPECT_EQ(d.request, nullptr);
    EXPECT_FALSE(d.fatal);
  }
}

TEST(DecodeRequest, FuzzerFindingsStayFixed) {
  // Inputs canopy_request_fuzzer found (run through FrameReader as the
  // server does): a FullPath type with no body, and a Counts whose [long]
  // vector sits 4-aligned (the 2.0.8 Verifier accepts it).
  const std::vector<std::vector<uint8_t>> findings = {
      {
          0x5c, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x43, 0x4e, 0x50, 0x31, 0x00, 0x00,
          0x0e, 0x00, 0x14, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
          0x0e, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x14, 0x00, 0x00, 0x00, 0x09, 0x00,
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0c, 0x00, 0x07, 0x00, 0x08, 0x00,
          0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00,
          0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06,
          0x00, 0x00, 0x00, 0x00, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
          0x00, 0x00, 0x01, 0x24, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00,
      },
      {
          0x75, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x43, 0x4e, 0x50, 0x31, 0x00, 0x00,
          0x0e, 0x00, 0x16, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x08, 0x00,
          0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x14, 0x00, 0x00, 0x00, 0x0b, 0x00,
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x08, 0x00, 0x04, 0x00,
          0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x28, 0x00,
          0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
          0x6e, 0x6f, 0x70, 0x65, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
          0x00, 0x00, 0x07, 0x14, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0xfa, 0x00,
          0x00, 0x00, 0x00, 0x06, 0x00, 0x08, 0x00, 0x04, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04,
          0x00, 0x6f, 0x72, 0x67, 0x2f, 0x61, 0x2f, 0x62, 0x2f, 0x70, 0x32, 0x00, 0x00, 0x07,
          0x00, 0x00, 0x00, 0x6f, 0x72, 0x67, 0x2f, 0x61, 0x2f, 0x62, 0x00,
      },
  };
  for (const std::vector<uint8_t>& bytes : findings) {
    FrameReader reader(1 << 20);
    reader.Append(bytes);
    FrameReader::Next next = reader.NextFrame();
    ASSERT_EQ(next.state, FrameReader::State::kFrame);
    DecodedRequest d = DecodeRequest(next.frame, DecoderLimits{});
    EXPECT_NE(d.error, ErrorCode::kOk);
    EXPECT_EQ(d.request, nullptr);
  }
}

TEST(DecodeRequest, OutOfRangeEnumsAndOversizedBatches) {
  flatbuffers::FlatBufferBuilder b;
  auto q = fb::CreateIdQuery(b, static_cast<fb::QueryKind>(99), 1);
  b.FinishSizePrefixed(fb::CreateRequest(b, 7, 0, 0, fb::RequestBody::IdQuery, q.Union()),
                       fb::RequestIdentifier());
  DecodedRequest d = DecodeRequest({b.GetBufferPointer(), b.GetSize()}, DecoderLimits{});
  EXPECT_EQ(d.error, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(d.fatal);

  // An id_order from a newer schema, alone and as a batch member.
  b.Clear();
  q = fb::CreateIdQuery(b, fb::QueryKind::Descendants, 1, 0, fb::HierarchyOrder::RootFirst, false,
                        0, flatbuffers::nullopt, static_cast<fb::IdOrder>(2));
  b.FinishSizePrefixed(fb::CreateRequest(b, 9, 0, 0, fb::RequestBody::IdQuery, q.Union()),
                       fb::RequestIdentifier());
  d = DecodeRequest({b.GetBufferPointer(), b.GetSize()}, DecoderLimits{});
  EXPECT_EQ(d.error, ErrorCode::kInvalidArgument);
  EXPECT_NE(d.message.find("id_order"), std::string::npos) << d.message;
  EXPECT_FALSE(d.fatal);
  b.Clear();
  std::vector<flatbuffers::Offset<fb::IdQuery>> members = {
      fb::CreateIdQuery(b, fb::QueryKind::Descendants, 1),
      fb::CreateIdQuery(b, fb::QueryKind::Descendants, 1, 0, fb::HierarchyOrder::RootFirst, false,
                        0, flatbuffers::nullopt, static_cast<fb::IdOrder>(200))};
  auto batch_body = fb::CreateBatchQuery(b, b.CreateVector(members));
  b.FinishSizePrefixed(
      fb::CreateRequest(b, 10, 0, 0, fb::RequestBody::BatchQuery, batch_body.Union()),
      fb::RequestIdentifier());
  d = DecodeRequest({b.GetBufferPointer(), b.GetSize()}, DecoderLimits{});
  EXPECT_EQ(d.error, ErrorCode::kInvalidArgument);
  EXPECT_NE(d.message.find("batch member 1"), std::string::npos) << d.message;

  Request batch;
  batch.request_id = 8;
  BatchRequest br;
  br.queries.resize(11, IdQuery{.kind = QueryKind::kAncestors, .id = 1});
  batch.body = br;
  std::vector<uint8_t> frame = EncodeFrame(batch);
  DecoderLimits limits;
  limits.max_batch_queries = 10;
  d = DecodeRequest(frame, limits);
  EXPECT_EQ(d.error, ErrorCode::kTooLarge);
  EXPECT_EQ(d.request_id, 8u);
}

TEST(DecodeRequest, APlainBufferWithALengthGluedOnIsNotAFrame) {
  // The frame format is FlatBuffers' size-prefixed buffer; a plain buffer
  // with 4 bytes in front has its alignment off by 4 and must not verify.
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateRequest(b, 1, 2, 3, fb::RequestBody::Ping, fb::CreatePing(b, 9).Union()),
           fb::RequestIdentifier());
  std::vector<uint8_t> frame = LengthPrefix(static_cast<uint32_t>(b.GetSize()));
  frame.insert(frame.end(), b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  internal::AlignedBytes aligned;
  aligned.Assign(frame);
  EXPECT_NE(DecodeRequest(aligned.span(), DecoderLimits{}).error, ErrorCode::kOk);
}

TEST(Codec, EveryRequestKindRoundTrips) {
  std::vector<Request> requests;
  auto add = [&](RequestBody body) {
    Request r;
    r.request_id = requests.size() + 1;
    r.min_lsn = Lsn(123);
    r.timeout_ms = 456;
    r.body = std::move(body);
    requests.push_back(std::move(r));
  };
  add(HelloRequest{1, "token", "test"});
  add(PingRequest{99});
  add(IdQuery{
      .kind = QueryKind::kAncestorsUpto, .id = 5, .top = 2, .order = HierarchyOrder::kSelfFirst});
  add(IdQuery{.kind = QueryKind::kDescendants,
              .id = 5,
              .include_project_namespaces = true,
              .limit = 10,
              .after_id = 0});
  add(IdQuery{.kind = QueryKind::kAllProjectIds, .id = 7, .id_order = IdOrder::kAny});
  add(BatchRequest{{IdQuery{.kind = QueryKind::kRootAncestor, .id = 1}}});
  add(CountsRequest{{1, 2, 3}});
  add(FullPathRequest{Table::kProjects, {4, 5}});
  add(ResolveRequest{{"a/b", ""}});
  add(RunnersOfGroupsRequest{{1, 9}});
  add(StatusRequest{});
  for (const Request& r : requests) {
    std::vector<uint8_t> frame = EncodeFrame(r);
    internal::AlignedBytes aligned;
    aligned.Assign(frame);
    DecodedRequest d = DecodeRequest(aligned.span(), DecoderLimits{});
    ASSERT_EQ(d.error, ErrorCode::kOk) << d.message;
    EXPECT_EQ(d.request_id, r.request_id);
    EXPECT_EQ(d.request->min_lsn(), 123u);
    EXPECT_EQ(d.request->timeout_ms(), 456u);
    // RequestBody's variant order -> the union's member number in canopy.fbs.
    constexpr unsigned kWireType[] = {1, 2, 3, 4, 5, 6, 7, 9, 8};
    EXPECT_EQ(static_cast<unsigned>(d.request->body_type()), kWireType[r.body.index()]);
    if (const IdQuery* q = std::get_if<IdQuery>(&r.body)) {
      IdQuery back = internal::ToIdQuery(*d.request->body_as_IdQuery());
      EXPECT_EQ(back.kind, q->kind);
      EXPECT_EQ(back.id, q->id);
      EXPECT_EQ(back.top, q->top);
      EXPECT_EQ(back.order, q->order);
      EXPECT_EQ(back.include_project_namespaces, q->include_project_namespaces);
      EXPECT_EQ(back.limit, q->limit);
      EXPECT_EQ(back.after_id, q->after_id);
      EXPECT_EQ(back.id_order, q->id_order);
    }
  }
}

TEST(Codec, ResponsesRoundTrip) {
  flatbuffers::FlatBufferBuilder b;
  IdAnswer a;
  a.ids = {3, 1, 2};
  a.total = 10;
  a.more = true;
  internal::EncodeIdAnswer(5, Lsn(77), a, &b);
  Result<Response> r = internal::DecodeResponse({b.GetBufferPointer(), b.GetSize()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->request_id, 5u);
  EXPECT_EQ(r->lsn, Lsn(77));
  const IdPage& page = std::get<IdPage>(r->body);
  EXPECT_EQ(page.ids, a.ids);
  EXPECT_EQ(page.total, 10u);
  EXPECT_TRUE(page.more);

  IdAnswer missing;
  missing.status = Status::NotFound("namespace 9 not found");
  internal::EncodeIdAnswer(6, Lsn(78), missing, &b);
  r = internal::DecodeResponse({b.GetBufferPointer(), b.GetSize()});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->error, ErrorCode::kUnknownId);
  EXPECT_EQ(std::get<IdPage>(r->body).status, ErrorCode::kUnknownId);

  ServerStatus s;
  s.applied_lsn = Lsn(0x16B3748);
  s.replication.state = ServingState::kStreaming;
  s.replication.tables.push_back({"public.namespaces", 10, 20, 5.5, 2.0, false});
  s.index.namespaces = 42;
  s.connections = 3;
  s.server_version = "x";
  s.replication.last_commit_unix_ms = 1'764'936'000'123;
  s.lag_seconds = 1.25;
  internal::EncodeStatus(7, s, &b);
  r = internal::DecodeResponse({b.GetBufferPointer(), b.GetSize()});
  ASSERT_TRUE(r.ok());
  const ServerStatus& back = std::get<ServerStatus>(r->body);
  EXPECT_EQ(back.applied_lsn, s.applied_lsn);
  EXPECT_EQ(back.replication.state, ServingState::kStreaming);
  ASSERT_EQ(back.replication.tables.size(), 1u);
  EXPECT_EQ(back.replication.tables[0].estimated_rows, 20u);
  EXPECT_EQ(back.index.namespaces, 42u);
  EXPECT_EQ(back.connections, 3u);
  EXPECT_EQ(back.replication.last_commit_unix_ms, 1'764'936'000'123);
  EXPECT_EQ(back.lag_seconds, 1.25);

  internal::EncodeError(0, Lsn(1), ErrorCode::kStale, "late", &b);
  r = internal::DecodeResponse({b.GetBufferPointer(), b.GetSize()});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->error, ErrorCode::kStale);
  EXPECT_EQ(r->message, "late");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r->body));
}

TEST(Codec, ErrorCodeNamesAndStatusMapping) {
  for (uint16_t v = 0; v <= kMaxErrorCode; ++v) {
    EXPECT_STRNE(ErrorCodeName(static_cast<ErrorCode>(v)), "unknown") << v;
  }
  EXPECT_EQ(ToStatusCode(ErrorCode::kUnknownId), StatusCode::kNotFound);
  EXPECT_EQ(ToStatusCode(ErrorCode::kStale), StatusCode::kTimeout);
  EXPECT_EQ(ToStatus(ErrorCode::kStale, "x").message(), "stale: x");
  EXPECT_TRUE(ToStatus(ErrorCode::kOk, "").ok());
}

}  // namespace
}  // namespace canopy::net
