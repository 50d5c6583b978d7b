#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace banyan;

TEST(DType, NamesRoundTrip) {
  for (auto t : {DType::BF16, DType::F16, DType::F32, DType::F64, DType::I8, DType::U8, DType::I16, DType::I32,
                 DType::I64, DType::BOOL, DType::F8_E4M3, DType::F8_E5M2}) {
    auto parsed = parse_dtype(dtype_name(t));
    ASSERT_TRUE(parsed.has_value()) << dtype_name(t);
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(parse_dtype("F12").has_value());
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly half-way between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3·2^-8 is half-way too, and rounds up to the even neighbour.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(DType, F16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), uint16_t(h)) << std::hex << h;
  }
}

TEST(DType, Fp8Values) {
  EXPECT_EQ(f8e4m3_to_f32(0x38), 1.0f);   // exp 7, mantissa 0
  EXPECT_EQ(f8e4m3_to_f32(0x7e), 448.0f); // the largest finite E4M3FN value
  EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0x7f)));
  EXPECT_EQ(f8e5m2_to_f32(0x3c), 1.0f);
  EXPECT_EQ(f8e5m2_to_f32(0x7b), 57344.0f);
}
