// resp_parser.cc — RespParser (RESP requests from an untrusted byte stream,
// incrementally) and RespWriter (RESP2/RESP3 replies into a byte vector).
//
// The scanner follows the shape of Redis's processMultibulkBuffer /
// processInlineBuffer: the multibulk count and the current bulk's length are
// kept across reads, line ends are searched from where the last search
// stopped, and a bulk's bytes are never scanned (only its "\r\n" is checked),
// so a command that arrives in many reads is looked at once. Every decision is
// taken on complete lines and bulks, or on a byte count that no completion can
// undo, so the result does not depend on how the stream was split into reads.
//
// Choices where Redis leaves room:
//   * numbers are strict (no sign but '-', no leading zero, no spaces, int64);
//   * "*-1" and "*0" are skipped, any other negative count is an error;
//   * a bulk must be followed by "\r\n" (Redis skips two bytes unchecked);
//   * an inline line's limit counts its bytes before the "\n" (a "\r" too),
//     and a line must also fit max_request_bytes with its "\n";
//   * an array whose count could not fit max_request_bytes even with empty
//     bulks ("$0\r\n\r\n" each) is refused at its header.
// Limit messages name the numbers: "too many arguments (N > M)", "bulk too
// big (N > M bytes)", "request too big (N > M bytes)".
#include "resp_parser.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace canopy::net::internal {
namespace {

// A buffer that grew past this for a large command returns to its initial
// capacity once what it holds is small again.
constexpr size_t kShrinkAbove = 1 << 20;
// The smallest bulk on the wire: "$0\r\n\r\n".
constexpr size_t kMinBulkBytes = 6;

// A strict decimal int64: an optional '-', then digits without a leading zero
// ("0" itself excepted; "-0", "+5", " 5", "" and overflow are refused).
bool ParseInt64(const uint8_t* s, size_t n, int64_t* out) {
  if (n == 0) return false;
  const bool negative = s[0] == '-';
  size_t i = negative ? 1 : 0;
  if (i == n) return false;
  if (s[i] == '0') {
    if (n != 1) return false;
    *out = 0;
    return true;
  }
  const uint64_t bound = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  uint64_t v = 0;
  for (; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t digit = s[i] - '0';
    if (v > (bound - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

RespLimits WholeInput(size_t n) {
  return RespLimits{
      .max_bulk_bytes = n, .max_args = n, .max_request_bytes = n, .max_inline_bytes = n};
}

std::string Describe(uint8_t c) {
  if (c >= 0x20 && c < 0x7f) return std::string(1, static_cast<char>(c));
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string{'\\', 'x', kHex[c >> 4], kHex[c & 15]};
}

enum class Line : uint8_t { kFound, kNeedMore, kTooBig };

// Looks for the "\r" ending the header line that starts at `pos`, from
// `*search` on. kFound: *cr is its offset and the byte after it is buffered.
Line FindHeaderEnd(std::span<const uint8_t> in, size_t pos, size_t limit, size_t* search,
                   size_t* cr, size_t* scanned) {
  const size_t n = in.size();
  const size_t from = std::min(*search, n);
  const void* hit = std::memchr(in.data() + from, '\r', n - from);
  if (hit == nullptr) {
    *scanned += n - from;
    if (n - pos > limit) return Line::kTooBig;
    *search = n;
    return Line::kNeedMore;
  }
  *cr = static_cast<size_t>(static_cast<const uint8_t*>(hit) - in.data());
  *scanned += *cr - from + 1;
  if (*cr - pos > limit) return Line::kTooBig;
  if (*cr + 1 == n) {
    *search = *cr;  // found again at once when the "\n" arrives
    return Line::kNeedMore;
  }
  return Line::kFound;
}

}  // namespace

size_t RespParser::InlineLimit(const RespLimits& limits) {
  // The line and its "\n" are also one request.
  const size_t request = limits.max_request_bytes == 0 ? 0 : limits.max_request_bytes - 1;
  return std::min(limits.max_inline_bytes, request);
}

template <typename AddArg>
RespParser::Scanned RespParser::ScanCommand(std::span<const uint8_t> in, const RespLimits& limits,
                                            size_t inline_limit, Scan* s, AddArg&& add,
                                            std::string* error, size_t* scanned) {
  const uint8_t* p = in.data();
  const size_t n = in.size();
  auto fail = [&](std::string message) {
    *error = std::move(message);
    return Scanned{Step::kError, 0};
  };
  for (;;) {
    switch (s->phase) {
      case Phase::kStart:
        if (n == 0) return {};
        s->pos = 0;
        if (p[0] == '*') {
          s->phase = Phase::kArrayHeader;
          s->search = 1;
        } else {
          s->phase = Phase::kInline;
          s->search = 0;
        }
        break;

      case Phase::kInline: {
        const size_t from = std::min(s->search, n);
        const void* hit = std::memchr(p + from, '\n', n - from);
        if (hit == nullptr) {
          *scanned += n - from;
          if (n > inline_limit) return fail("too big inline request");
          s->search = n;
          return {};
        }
        const size_t line = static_cast<size_t>(static_cast<const uint8_t*>(hit) - p);
        *scanned += line - from + 1;
        if (line > inline_limit) return fail("too big inline request");
        size_t stop = line;
        if (stop > 0 && p[stop - 1] == '\r') --stop;
        size_t count = 0;
        for (size_t i = 0; i < stop;) {
          while (i < stop && (p[i] == ' ' || p[i] == '\t')) ++i;
          if (i == stop) break;
          const size_t start = i;
          while (i < stop && p[i] != ' ' && p[i] != '\t') ++i;
          if (++count <= limits.max_args) add(start, i - start);
        }
        if (count > limits.max_args) {
          return fail("too many arguments (" + std::to_string(count) + " > " +
                      std::to_string(limits.max_args) + ")");
        }
        return {count == 0 ? Step::kSkip : Step::kCommand, line + 1};
      }

      case Phase::kArrayHeader: {
        size_t cr = 0;
        switch (FindHeaderEnd(in, s->pos, limits.max_inline_bytes, &s->search, &cr, scanned)) {
          case Line::kNeedMore:
            return {};
          case Line::kTooBig:
            return fail("too big multibulk count string");
          case Line::kFound:
            break;
        }
        int64_t count = 0;
        if (p[cr + 1] != '\n' || !ParseInt64(p + 1, cr - 1, &count)) {
          return fail("invalid multibulk length");
        }
        const size_t header = cr + 2;
        if (count == 0 || count == -1) return {Step::kSkip, header};  // as Redis does
        if (count < 0) return fail("invalid multibulk length");
        const uint64_t args = static_cast<uint64_t>(count);
        if (args > limits.max_args) {
          return fail("too many arguments (" + std::to_string(args) + " > " +
                      std::to_string(limits.max_args) + ")");
        }
        // Even empty bulks could not fit: refuse now rather than buffer them.
        if (header > limits.max_request_bytes ||
            args > (limits.max_request_bytes - header) / kMinBulkBytes) {
          return fail("request too big (" + std::to_string(args) + " arguments > " +
                      std::to_string(limits.max_request_bytes) + " bytes)");
        }
        s->remaining = count;
        s->phase = Phase::kBulkHeader;
        s->pos = header;
        s->search = header + 1;
        break;
      }

      case Phase::kBulkHeader: {
        if (s->pos >= n) return {};
        if (p[s->pos] != '$') return fail("expected '$', got '" + Describe(p[s->pos]) + "'");
        size_t cr = 0;
        switch (FindHeaderEnd(in, s->pos, limits.max_inline_bytes, &s->search, &cr, scanned)) {
          case Line::kNeedMore:
            return {};
          case Line::kTooBig:
            return fail("too big bulk count string");
          case Line::kFound:
            break;
        }
        int64_t length = 0;
        if (p[cr + 1] != '\n' || !ParseInt64(p + s->pos + 1, cr - s->pos - 1, &length) ||
            length < 0) {
          return fail("invalid bulk length");
        }
        const uint64_t bulk = static_cast<uint64_t>(length);
        if (bulk > limits.max_bulk_bytes) {
          return fail("bulk too big (" + std::to_string(bulk) + " > " +
                      std::to_string(limits.max_bulk_bytes) + " bytes)");
        }
        // No overflow: bulk <= INT64_MAX and cr is an offset in memory.
        const uint64_t command_end = cr + 2 + bulk + 2;
        if (command_end > limits.max_request_bytes) {
          return fail("request too big (" + std::to_string(command_end) + " > " +
                      std::to_string(limits.max_request_bytes) + " bytes)");
        }
        s->pos = cr + 2;
        s->bulk = static_cast<size_t>(bulk);
        s->phase = Phase::kBulkBody;
        break;
      }

      case Phase::kBulkBody: {
        if (n - s->pos < s->bulk + 2) return {};  // waits: the bytes are not scanned
        const size_t stop = s->pos + s->bulk;
        if (p[stop] != '\r' || p[stop + 1] != '\n') return fail("bulk not followed by CRLF");
        add(s->pos, s->bulk);
        s->pos = stop + 2;
        if (--s->remaining == 0) return {Step::kCommand, s->pos};
        s->phase = Phase::kBulkHeader;
        s->search = s->pos + 1;
        break;
      }
    }
  }
}

// ---- RespParser ---------------------------------------------------------------

RespParser::RespParser(RespLimits limits, size_t initial_capacity)
    : limits_(limits),
      inline_limit_(InlineLimit(limits)),
      initial_capacity_(std::max<size_t>(initial_capacity, 64)) {
  Reallocate(initial_capacity_);
}

void RespParser::Reallocate(size_t capacity) {
  const size_t unread = end_ - begin_;
  auto fresh = std::make_unique_for_overwrite<uint8_t[]>(capacity);
  if (unread > 0) std::memcpy(fresh.get(), buffer_.get() + begin_, unread);
  buffer_ = std::move(fresh);
  capacity_ = capacity;
  begin_ = 0;
  end_ = unread;
}

std::span<uint8_t> RespParser::PrepareWrite(size_t at_least) {
  args_.clear();
  raw_ = {};
  // After an error nothing is parsed again: keep no bytes (memory stays bounded).
  if (!error_.empty()) begin_ = end_ = 0;
  if (capacity_ - end_ < at_least) {
    const size_t unread = end_ - begin_;
    if (capacity_ - unread >= at_least) {
      // Consumed bytes piled up in front: move the unread ones down.
      std::memmove(buffer_.get(), buffer_.get() + begin_, unread);
      begin_ = 0;
      end_ = unread;
    } else {
      // Doubling, but never past one command + this read (a command needs
      // at most max_request_bytes; a header line in progress may need more).
      const size_t doubled = capacity_ > std::numeric_limits<size_t>::max() / 2
                                 ? std::numeric_limits<size_t>::max()
                                 : capacity_ * 2;
      const size_t command_cap =
          limits_.max_request_bytes > std::numeric_limits<size_t>::max() - at_least
              ? std::numeric_limits<size_t>::max()
              : limits_.max_request_bytes + at_least;
      Reallocate(std::max(unread + at_least, std::min(doubled, command_cap)));
    }
  }
  return {buffer_.get() + end_, capacity_ - end_};
}

void RespParser::CommitWrite(size_t n) { end_ = std::min(end_ + n, capacity_); }

void RespParser::Append(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  std::span<uint8_t> space = PrepareWrite(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  CommitWrite(bytes.size());
}

bool RespParser::has_partial() const { return end_ != begin_; }

void RespParser::MaybeShrink() {
  if (capacity_ <= kShrinkAbove || capacity_ <= initial_capacity_) return;
  if (end_ - begin_ > initial_capacity_ / 2) return;
  // Not while a big bulk is on its way: it would only grow again.
  if (scan_.phase == Phase::kBulkBody && scan_.pos + scan_.bulk + 2 > initial_capacity_) return;
  Reallocate(initial_capacity_);
}

RespParser::Next RespParser::NextCommand() {
  args_.clear();
  raw_ = {};
  if (!error_.empty()) return {State::kError, error_};
  // refs_ holds the arguments of the partial command: kept across calls.
  for (;;) {
    const std::span<const uint8_t> in(buffer_.get() + begin_, end_ - begin_);
    const Scanned r = ScanCommand(
        in, limits_, inline_limit_, &scan_,
        [this](size_t offset, size_t size) {
          refs_.push_back({offset, size});
        },
        &error_, &scanned_);
    switch (r.step) {
      case Step::kSkip:
        begin_ += r.consumed;
        scan_ = Scan{};
        continue;
      case Step::kCommand: {
        const char* base = reinterpret_cast<const char*>(in.data());
        for (const ArgRef& a : refs_) args_.emplace_back(base + a.offset, a.size);
        refs_.clear();
        raw_ = in.first(r.consumed);
        begin_ += r.consumed;
        scan_ = Scan{};
        return {State::kCommand, {}};
      }
      case Step::kNeedMore:
        if (begin_ == end_) begin_ = end_ = 0;  // cheap rewind
        MaybeShrink();
        return {State::kNeedMore, {}};
      case Step::kError:
        refs_.clear();
        return {State::kError, error_};
    }
  }
}

bool ParseRespCommand(std::span<const uint8_t> raw, std::vector<std::string_view>* args) {
  args->clear();
  // raw() already met the connection's limits; here only its own size bounds it.
  const RespLimits limits = WholeInput(raw.size());
  RespParser::Scan scan;
  std::string error;
  size_t scanned = 0;
  const char* base = reinterpret_cast<const char*>(raw.data());
  const RespParser::Scanned r = RespParser::ScanCommand(
      raw, limits, RespParser::InlineLimit(limits), &scan,
      [&](size_t offset, size_t size) { args->emplace_back(base + offset, size); }, &error,
      &scanned);
  if (r.step != RespParser::Step::kCommand || r.consumed != raw.size()) {
    args->clear();
    return false;
  }
  return true;
}

// ---- RespWriter ---------------------------------------------------------------

namespace {

// "-9223372036854775808" / "18446744073709551615": 20 characters.
constexpr size_t kMaxDigits = 20;
// A type byte, a number, "\r\n".
constexpr size_t kMaxHeader = 1 + kMaxDigits + 2;

template <typename Int>
uint8_t* PutHeader(uint8_t* p, char type, Int v) {
  *p++ = static_cast<uint8_t>(type);
  char* c = reinterpret_cast<char*>(p);
  c = std::to_chars(c, c + kMaxDigits, v).ptr;
  p = reinterpret_cast<uint8_t*>(c);
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

template <typename Int>
void AppendHeader(std::vector<uint8_t>* out, char type, Int v) {
  uint8_t buf[kMaxHeader];
  out->insert(out->end(), buf, PutHeader(buf, type, v));
}

void AppendBytes(std::vector<uint8_t>* out, std::string_view s) {
  out->insert(out->end(), s.begin(), s.end());
}

void AppendCrlf(std::vector<uint8_t>* out) {
  const uint8_t crlf[2] = {'\r', '\n'};
  out->insert(out->end(), crlf, crlf + 2);
}

// Appends s with CR and LF turned into spaces (a simple string or error is one line).
void AppendLine(std::vector<uint8_t>* out, std::string_view s) {
  const size_t from = out->size();
  AppendBytes(out, s);
  for (size_t i = from; i < out->size(); ++i) {
    if ((*out)[i] == '\r' || (*out)[i] == '\n') (*out)[i] = ' ';
  }
}

}  // namespace

void RespWriter::SimpleString(std::string_view s) {
  out_->push_back('+');
  AppendLine(out_, s);
  AppendCrlf(out_);
}

void RespWriter::Error(std::string_view prefix, std::string_view message) {
  out_->push_back('-');
  AppendLine(out_, prefix);
  if (!prefix.empty() && !message.empty()) out_->push_back(' ');
  AppendLine(out_, message);
  AppendCrlf(out_);
}

void RespWriter::Integer(int64_t v) { AppendHeader(out_, ':', v); }

void RespWriter::Bulk(std::string_view s) {
  AppendHeader(out_, '$', s.size());
  AppendBytes(out_, s);
  AppendCrlf(out_);
}

void RespWriter::Null() {
  AppendBytes(out_, resp3_ ? std::string_view("_\r\n") : std::string_view("$-1\r\n"));
}

void RespWriter::NullArray() {
  AppendBytes(out_, resp3_ ? std::string_view("_\r\n") : std::string_view("*-1\r\n"));
}

void RespWriter::ArrayHeader(size_t n) { AppendHeader(out_, '*', n); }

void RespWriter::MapHeader(size_t n) {
  if (resp3_) {
    AppendHeader(out_, '%', n);
  } else {
    AppendHeader(out_, '*', 2 * n);
  }
}

void RespWriter::AttributeHeader(size_t n) {
  if (resp3_) AppendHeader(out_, '|', n);
}

void RespWriter::IntegerArray(std::span<const int64_t> ids) {
  // Size for the longest numbers once, write in place, then cut to what was written.
  const size_t from = out_->size();
  out_->resize(from + kMaxHeader * (ids.size() + 1));
  uint8_t* const base = out_->data();
  uint8_t* p = PutHeader(base + from, '*', ids.size());
  for (int64_t id : ids) p = PutHeader(p, ':', id);
  out_->resize(static_cast<size_t>(p - base));
}

}  // namespace canopy::net::internal
