// Core pieces beyond dtypes: mmap, tensor views, the thread pool, error formatting, and more dtype facts.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <limits>

#include "core/dtype.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "test_paths.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;

TEST(MappedFile, MapsContentsAndHandlesEmptyAndMissingFiles) {
  auto dir = test::make_temp_dir("banyan-core");
  {
    std::ofstream(dir / "a.bin", std::ios::binary) << "hello mmap";
    std::ofstream(dir / "empty.bin", std::ios::binary);
  }
  MappedFile f(dir / "a.bin");
  ASSERT_EQ(f.size(), 10u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.data()), f.size()), "hello mmap");
  EXPECT_EQ(f.path(), dir / "a.bin");

  MappedFile moved(std::move(f));
  EXPECT_EQ(moved.size(), 10u);
  EXPECT_EQ(f.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is part of the contract
  MappedFile assigned;
  assigned = std::move(moved);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(assigned.data()), 5), "hello");

  MappedFile empty(dir / "empty.bin");
  EXPECT_EQ(empty.size(), 0u);

  try {
    MappedFile missing(dir / "nope.bin");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "nope.bin").string()), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(TensorView, ShapeHelpersAndConversion) {
  EXPECT_EQ(shape_str({2, 3}), "[2, 3]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({4, 0, 2}), 0);

  const uint16_t bf16[] = {0x3f80, 0xc000, 0x0000};  // 1, -2, 0
  TensorView v{DType::BF16, {1, 3}, reinterpret_cast<const uint8_t*>(bf16), sizeof(bf16)};
  EXPECT_EQ(v.numel(), 3);
  EXPECT_EQ(v.dim(-1), 3);
  EXPECT_EQ(v.dim(0), 1);
  EXPECT_EQ(v.to_f32(), (std::vector<float>{1.f, -2.f, 0.f}));

  const double f64[] = {0.5, -1e10};
  TensorView d{DType::F64, {2}, reinterpret_cast<const uint8_t*>(f64), sizeof(f64)};
  EXPECT_EQ(d.to_f32(), (std::vector<float>{0.5f, -1e10f}));

  const int32_t ints[] = {1, 2};
  TensorView i{DType::I32, {2}, reinterpret_cast<const uint8_t*>(ints), sizeof(ints)};
  EXPECT_THROW(i.to_f32(), Error);
}

TEST(DTypeFacts, SizesAndFloatness) {
  const std::pair<DType, size_t> sizes[] = {{DType::BF16, 2}, {DType::F16, 2},    {DType::F32, 4},
                                            {DType::F64, 8},  {DType::I8, 1},     {DType::U8, 1},
                                            {DType::I16, 2},  {DType::I32, 4},    {DType::I64, 8},
                                            {DType::BOOL, 1}, {DType::F8_E4M3, 1}, {DType::F8_E5M2, 1}};
  for (auto [t, n] : sizes) EXPECT_EQ(dtype_size(t), n) << dtype_name(t);
  EXPECT_TRUE(dtype_is_float(DType::F8_E5M2));
  EXPECT_FALSE(dtype_is_float(DType::I64));
  EXPECT_FALSE(dtype_is_float(DType::BOOL));
}

TEST(DTypeFacts, Bf16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_bf16(f), uint16_t(h)) << std::hex << h;
  }
}

TEST(DTypeFacts, Fp8EdgeValues) {
  EXPECT_EQ(f8e4m3_to_f32(0x01), std::ldexp(1.f, -9));  // smallest subnormal
  EXPECT_EQ(f8e4m3_to_f32(0x08), std::ldexp(1.f, -6));  // smallest normal
  EXPECT_EQ(f8e4m3_to_f32(0x77), 240.f);                // 1.875 * 2^7
  EXPECT_EQ(f8e4m3_to_f32(0xfe), -448.f);
  EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0xff)));
  EXPECT_TRUE(std::signbit(f8e4m3_to_f32(0x80)));
  EXPECT_EQ(f8e5m2_to_f32(0x01), std::ldexp(1.f, -16));
  EXPECT_EQ(f8e5m2_to_f32(0x7c), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f8e5m2_to_f32(0x7d)));
  // Monotone over the positive finite E4M3 codes.
  for (int c = 1; c < 0x7f; ++c) EXPECT_LT(f8e4m3_to_f32(uint8_t(c - 1)), f8e4m3_to_f32(uint8_t(c))) << c;
}

TEST(Error, CheckFormatsContext) {
  try {
    int layer = 4;
    BANYAN_CHECK(layer < 3, "tensor '{}' in layer {}", "w", layer);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tensor 'w' in layer 4");
  }
  EXPECT_NO_THROW(BANYAN_CHECK(true, "never {}", 1));
  EXPECT_THROW(fail("x {}", 1), std::runtime_error);
}

}  // namespace
}  // namespace banyan
