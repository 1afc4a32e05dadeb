// request_fuzzer.cc — libFuzzer target for everything a server does with
// inbound bytes before and after the socket: FrameReader splits the input
// into frames, DecodeRequest verifies and checks each one, RequestHandler
// answers it from a small index, and the answer must itself be a valid
// Response frame. Any crash, sanitizer report or invalid answer is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "codec.h"
#include "frame.h"
#include "fuzz_index.h"
#include "request_handler.h"

namespace {

using namespace canopy::net;            // NOLINT
using namespace canopy::net::internal;  // NOLINT

void AnswerOne(std::span<const uint8_t> frame, RequestHandler* handler,
               flatbuffers::FlatBufferBuilder* builder) {
  DecoderLimits limits;
  limits.max_batch_queries = 64;
  limits.max_ids = 256;
  limits.max_paths = 64;
  DecodedRequest d = DecodeRequest(frame, limits);
  if (d.error != ErrorCode::kOk) {
    if (d.request != nullptr) std::abort();  // an error never hands out a request
    EncodeError(d.request_id, canopy::Lsn(1), d.error, d.message, builder);
  } else {
    handler->Answer(*d.request, &canopy::net::fuzz::FuzzIndex(), builder);
  }
  // What the server would send must decode as a Response. (A builder's
  // buffer is only as aligned as its largest scalar: copy it as a reader would.)
  static AlignedBytes sent;
  sent.Assign({builder->GetBufferPointer(), builder->GetSize()});
  if (!DecodeResponse(sent.span()).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RequestHandler handler(
      HandlerLimits{.max_ids_per_page = 16, .max_response_bytes = 1 << 20}, nullptr);
  static flatbuffers::FlatBufferBuilder builder(1024);

  // 1. The input as a byte stream of frames, fed in two uneven pieces.
  FrameReader reader(/*max_frame_bytes=*/8192, 64);
  const size_t split = size == 0 ? 0 : data[0] % (size + 1);
  reader.Append({data, split});
  for (int pass = 0; pass < 2; ++pass) {
    for (;;) {
      FrameReader::Next next = reader.NextFrame();
      if (next.state != FrameReader::State::kFrame) break;
      if (reinterpret_cast<uintptr_t>(next.frame.data()) % 8 != 0) std::abort();
      AnswerOne(next.frame, &handler, &builder);
    }
    if (pass == 0) reader.Append({data + split, size - split});
  }

  // 2. The input as one frame, as if its length prefix were honest.
  if (size >= kFrameHeaderBytes && size < 65536) {
    AlignedBytes frame;
    frame.Assign({data, size});
    const uint32_t n = static_cast<uint32_t>(size - kFrameHeaderBytes);
    StoreLittleEndian32(frame.data(), n);
    AnswerOne(frame.span(), &handler, &builder);
  }
  return 0;
}
