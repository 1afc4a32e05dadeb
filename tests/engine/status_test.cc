// The contracts of canopy/status.h: a Result made from an OK Status, value()
// of a Result holding an error, CANOPY_RETURN_IF_ERROR, the code names.
#include "canopy/status.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace canopy {
namespace {

TEST(Result, FromAnOkStatusHoldsAnInternalError) {
  const Result<int> r = Status();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("OK Status"), std::string::npos) << r.status().message();
}

TEST(Result, ValueOrError) {
  Result<std::vector<int>> good = std::vector<int>{1, 2};
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good.status().ok());
  EXPECT_EQ(good->size(), 2u);
  EXPECT_EQ(std::move(good).value(), (std::vector<int>{1, 2}));
  const Result<int> bad = Status::NotFound("namespace 7 not found");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().ToString(), "not_found: namespace 7 not found");
}

TEST(ResultDeathTest, ValueOfAnErrorAbortsWithTheError) {
  const Result<int> bad = Status::NotFound("namespace 7 not found");
  EXPECT_DEATH((void)bad.value(),
               "value\\(\\) of a Result holding not_found: namespace 7 not found");
  Result<std::string> moved = Status::Cancelled("stopping");
  EXPECT_DEATH((void)std::move(moved).value(), "holding cancelled: stopping");
}

Status FailsWhen(bool fail) { return fail ? Status::Timeout("late") : Status(); }

Result<int> Twice(bool fail, int* reached) {
  CANOPY_RETURN_IF_ERROR(FailsWhen(fail));
  ++*reached;
  return 2;
}

TEST(ReturnIfError, ReturnsTheErrorFromAStatusOrResultFunction) {
  int reached = 0;
  const Result<int> ok = Twice(false, &reached);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), 2);
  EXPECT_EQ(reached, 1);
  const Result<int> failed = Twice(true, &reached);
  EXPECT_EQ(failed.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(reached, 1);
}

TEST(StatusCode, EveryCodeHasAName) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kCancelled); ++c) {
    EXPECT_NE(StatusCodeName(static_cast<StatusCode>(c)), "unknown") << c;
  }
  EXPECT_EQ(StatusCodeName(StatusCode::kCancelled), "cancelled");
  EXPECT_EQ(Status::Cancelled("x").code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace canopy
