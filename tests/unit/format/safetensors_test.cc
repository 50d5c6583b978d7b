// safetensors reader/writer: byte-exact round trips, the reference layout, sharded checkpoints, and one test per
// validation error (each malformed file is built by hand in a temp dir).
#include "format/safetensors.h"

#include <gtest/gtest.h>

#include <numeric>

#include "format/sha256.h"
#include "safetensors_test_util.h"
#include "test_paths.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;
using test::expect_error_containing;
using test::read_file_bytes;
using test::write_raw_safetensors;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir("banyan-st"); }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string pattern_bytes(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + seed * 17 + 7) & 0xff);
  return s;
}

// ------------------------------------------------------------------------------------------------------ writer

TEST_F(SafetensorsTest, WriterEmitsReferenceLayout) {
  auto path = dir_ / "a.safetensors";
  SafetensorsWriter w(path, {{"a", DType::F32, {2}}, {"b", DType::BF16, {3}}}, {{"format", "pt"}});
  w.write("a", pattern_bytes(8, 1).data(), 8);
  w.write("b", pattern_bytes(6, 2).data(), 6);
  w.finish();
  std::string bytes = read_file_bytes(path);
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}})";
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_GE(n, json.size());
  EXPECT_LT(n, json.size() + 8);
  EXPECT_EQ(bytes.substr(8, json.size()), json);
  EXPECT_EQ(bytes.substr(8 + json.size(), n - json.size()), std::string(n - json.size(), ' '));
  EXPECT_EQ(bytes.substr(8 + n), pattern_bytes(8, 1) + pattern_bytes(6, 2));
  EXPECT_EQ(w.bytes_written(), bytes.size());
}

TEST_F(SafetensorsTest, RoundTripEveryDTypeByteExact) {
  const DType all[] = {DType::BF16, DType::F16, DType::F32,  DType::F64,     DType::I8,     DType::U8,
                       DType::I16,  DType::I32, DType::I64,  DType::BOOL,    DType::F8_E4M3, DType::F8_E5M2};
  std::vector<TensorSpec> specs;
  std::vector<std::string> payloads;
  int i = 0;
  for (DType t : all) {
    Shape shape = {int64_t(i % 3 + 1), 5};
    specs.push_back({"t." + std::string(dtype_name(t)), t, shape});
    payloads.push_back(pattern_bytes(dtype_size(t) * size_t(shape_numel(shape)), i));
    ++i;
  }
  specs.push_back({"scalar", DType::F32, {}});
  payloads.push_back(pattern_bytes(4, 99));
  specs.push_back({"empty", DType::BF16, {0, 4}});
  payloads.push_back("");

  auto path = dir_ / "all.safetensors";
  {
    SafetensorsWriter w(path, specs, {{"format", "pt"}, {"note", "quote\" and \xc3\xa9"}});
    for (size_t k = 0; k < specs.size(); ++k) w.write(specs[k].name, payloads[k].data(), payloads[k].size());
    w.finish();
  }
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), specs.size());
  EXPECT_EQ(f.metadata().at("note"), "quote\" and \xc3\xa9");
  EXPECT_EQ(f.header().header_len % 8, 0u);
  for (size_t k = 0; k < specs.size(); ++k) {
    TensorView v = f.view(specs[k].name);
    EXPECT_EQ(v.dtype, specs[k].dtype);
    EXPECT_EQ(v.shape, specs[k].shape);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data), v.nbytes), payloads[k]) << specs[k].name;
  }

  // Re-write from what the reader saw, in data order: identical bytes.
  auto path2 = dir_ / "again.safetensors";
  {
    std::vector<TensorSpec> specs2;
    for (const auto& t : f.tensors()) specs2.push_back({t.name, t.dtype, t.shape});
    SafetensorsWriter w(path2, specs2, f.metadata());
    for (const auto& t : f.tensors()) {
      TensorView v = f.view(t);
      w.write(t.name, v.data, v.nbytes);
    }
    w.finish();
  }
  EXPECT_EQ(read_file_bytes(path), read_file_bytes(path2));
}

TEST_F(SafetensorsTest, StreamingAppendInOddChunksEqualsWholeWrites) {
  std::vector<TensorSpec> specs = {{"x", DType::F32, {7, 3}}, {"z", DType::U8, {0}}, {"y", DType::BF16, {11}}};
  std::string all = pattern_bytes(7 * 3 * 4 + 11 * 2, 5);
  auto whole = dir_ / "whole.safetensors", chunked = dir_ / "chunked.safetensors";
  {
    SafetensorsWriter w(whole, specs);
    w.write("x", all.data(), 84);
    w.write("z", nullptr, 0);
    w.write("y", all.data() + 84, 22);
    w.finish();
  }
  {
    SafetensorsWriter w(chunked, specs);
    for (size_t i = 0; i < all.size(); i += 5) w.append(all.data() + i, std::min<size_t>(5, all.size() - i));
    w.finish();
  }
  EXPECT_EQ(read_file_bytes(whole), read_file_bytes(chunked));
  SafetensorsFile f(chunked);
  EXPECT_EQ(f.view("z").nbytes, 0u);
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(SafetensorsTest, WriterRejectsMisuse) {
  auto path = dir_ / "w.safetensors";
  std::string buf(64, 'x');
  {
    SafetensorsWriter w(path, {{"a", DType::F32, {2}}, {"b", DType::F32, {2}}});
    expect_error_containing([&] { w.write("b", buf.data(), 8); }, {path.string(), "'b'", "out of order"});
    expect_error_containing([&] { w.write("a", buf.data(), 4); }, {"'a'", "4 bytes", "expected 8"});
    w.write("a", buf.data(), 8);
    expect_error_containing([&] { w.finish(); }, {"'b'", "0 of 8"});
  }
  EXPECT_FALSE(fs::exists(path)) << "an abandoned writer must not leave a partial checkpoint behind";
  {
    SafetensorsWriter w(path, {{"a", DType::F32, {2}}});
    expect_error_containing([&] { w.append(buf.data(), 9); }, {"beyond the last tensor"});
  }
  expect_error_containing([&] { SafetensorsWriter(path, {{"a", DType::F32, {2}}, {"a", DType::F32, {1}}}); },
                          {"'a'", "twice"});
  expect_error_containing([&] { SafetensorsWriter(path, {{"a", DType::F32, {-1}}}); }, {"'a'", "negative"});
}

// ----------------------------------------------------------------------------------------------- validation

struct BadCase {
  std::string what;
  std::string header;
  std::string data;
  std::vector<std::string> needles;
};

TEST_F(SafetensorsTest, EveryValidationErrorNamesFileAndTensor) {
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<BadCase> cases = {
      {"invalid JSON", R"({"w":{"dtype":"F32",)", std::string(8, 'x'), {"invalid header JSON"}},
      {"not starting with {", R"(["w"])", "", {"does not start"}},
      {"duplicate key", "{" + ok_entry + "," + ok_entry + "}", std::string(8, 'x'), {"duplicate key", "\"w\""}},
      {"unknown dtype", R"({"w":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", std::string(8, 'x'),
       {"'w'", "unknown dtype", "F12"}},
      {"byte size mismatch", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, 'x'),
       {"'w'", "byte size 8 != 12"}},
      {"offsets beyond data", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(4, 'x'),
       {"'w'", "out of range"}},
      {"overlapping",
       R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       std::string(8, 'x'),
       {"overlap", "'w'", "'v'"}},
      {"gap between tensors",
       R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"v":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       std::string(12, 'x'),
       {"'v'", "not covered"}},
      {"trailing bytes not covered", "{" + ok_entry + "}", std::string(12, 'x'), {"cover only [0, 8)", "'w'"}},
      {"end before begin", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", std::string(8, 'x'),
       {"'w'", "end before begin"}},
      {"negative dimension", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, 'x'),
       {"'w'", "non-negative"}},
      {"shape overflow",
       R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", std::string(8, 'x'),
       {"'w'", "overflow"}},
      {"missing dtype", R"({"w":{"shape":[2],"data_offsets":[0,8]}})", std::string(8, 'x'), {"'w'", "missing dtype"}},
      {"missing offsets", R"({"w":{"dtype":"F32","shape":[2]}})", std::string(8, 'x'), {"'w'", "data_offsets"}},
      {"unexpected field", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", std::string(8, 'x'),
       {"'w'", "unexpected field"}},
      {"entry not an object", R"({"w":[1,2]})", "", {"'w'", "not an object"}},
      {"metadata value not a string", R"({"__metadata__":{"k":1}})", "", {"__metadata__", "\"k\""}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto path = dir_ / "bad.safetensors";
    write_raw_safetensors(path, c.header, c.data);
    std::vector<std::string> needles = c.needles;
    needles.push_back(path.string());
    try {
      SafetensorsFile f(path);
      ADD_FAILURE() << "no error for: " << c.what;
    } catch (const Error& e) {
      std::string msg = e.what();
      for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    }
  }
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFileAndTinyFiles) {
  auto path = dir_ / "short.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    uint64_t n = 1000;
    for (int i = 0; i < 8; ++i) out.put(char(n >> (8 * i)));
    out << "{}";
  }
  expect_error_containing([&] { SafetensorsFile f(path); }, {path.string(), "header length 1000", "beyond"});
  {
    std::ofstream out(path, std::ios::binary);
    out << "abc";
  }
  expect_error_containing([&] { SafetensorsFile f(path); }, {path.string(), "too small"});
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(char(0xff));
  }
  expect_error_containing([&] { SafetensorsFile f(path); }, {path.string(), "exceeds"});
}

TEST_F(SafetensorsTest, EmptyHeaderObjectIsAValidEmptyFile) {
  auto path = dir_ / "empty.safetensors";
  write_raw_safetensors(path, "{}      ", "");
  SafetensorsFile f(path);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.header_bytes(), "{}      ");
}

TEST_F(SafetensorsTest, ViewOfMissingTensorNamesFileAndTensor) {
  auto path = dir_ / "one.safetensors";
  {
    SafetensorsWriter w(path, {{"a", DType::U8, {1}}});
    w.write("a", "x", 1);
    w.finish();
  }
  SafetensorsFile f(path);
  EXPECT_EQ(f.find("nope"), nullptr);
  expect_error_containing([&] { f.view("nope"); }, {path.string(), "'nope'"});
}

// ---------------------------------------------------------------------------------------------- checkpoints

void write_shard(const fs::path& path, const std::vector<std::pair<std::string, int>>& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, n] : tensors) specs.push_back({name, DType::F32, {n}});
  SafetensorsWriter w(path, specs, {{"format", "pt"}});
  for (const auto& [name, n] : tensors) {
    std::vector<float> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), float(name.size()));
    w.write(name, v.data(), v.size() * 4);
  }
  w.finish();
}

void write_index(const fs::path& dir, const std::string& weight_map_json) {
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata":{"total_size":0},"weight_map":)" << weight_map_json << "}";
}

TEST_F(SafetensorsTest, ShardedCheckpointLoadsAndHashesTheIndex) {
  write_shard(dir_ / "model-00001-of-00002.safetensors", {{"a", 3}, {"b", 2}});
  write_shard(dir_ / "model-00002-of-00002.safetensors", {{"c", 4}});
  write_index(dir_, R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
                    R"("c":"model-00002-of-00002.safetensors"})");
  Checkpoint ck(dir_);
  EXPECT_TRUE(ck.sharded());
  EXPECT_EQ(ck.files().size(), 2u);
  EXPECT_EQ(ck.tensor_names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ck.info("c").shape, Shape{4});
  EXPECT_EQ(ck.file_of("c").path().filename(), "model-00002-of-00002.safetensors");
  auto v = ck.view("c").to_f32();
  EXPECT_EQ(v, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ck.source_hash(), sha256_hex(read_file_bytes(dir_ / "model.safetensors.index.json")));
  expect_error_containing([&] { ck.view("zz"); }, {dir_.string(), "'zz'"});
}

TEST_F(SafetensorsTest, IndexedTensorMissingFromShardIsAnError) {
  write_shard(dir_ / "s1.safetensors", {{"a", 3}});
  write_index(dir_, R"({"a":"s1.safetensors","ghost":"s1.safetensors"})");
  expect_error_containing([&] { Checkpoint ck(dir_); }, {"'ghost'", "missing from its shard", "s1.safetensors"});
}

TEST_F(SafetensorsTest, ShardTensorAbsentFromIndexIsAnError) {
  write_shard(dir_ / "s1.safetensors", {{"a", 3}, {"extra", 1}});
  write_index(dir_, R"({"a":"s1.safetensors"})");
  expect_error_containing([&] { Checkpoint ck(dir_); }, {"'extra'", "not listed"});
}

TEST_F(SafetensorsTest, MissingShardFileOrCheckpointIsAnError) {
  write_index(dir_, R"({"a":"gone.safetensors"})");
  expect_error_containing([&] { Checkpoint ck(dir_); }, {"gone.safetensors", "cannot open"});
  fs::remove(dir_ / "model.safetensors.index.json");
  expect_error_containing([&] { Checkpoint ck(dir_); }, {dir_.string(), "no model.safetensors"});
  std::ofstream(dir_ / "model.safetensors.index.json") << "{not json";
  expect_error_containing([&] { Checkpoint ck(dir_); }, {"model.safetensors.index.json", "invalid JSON"});
}

TEST_F(SafetensorsTest, SingleFileCheckpointHashesItsHeader) {
  write_shard(dir_ / "model.safetensors", {{"b", 2}, {"a", 1}});
  Checkpoint ck(dir_);
  EXPECT_FALSE(ck.sharded());
  EXPECT_EQ(ck.num_tensors(), 2u);
  std::string bytes = read_file_bytes(dir_ / "model.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  EXPECT_EQ(ck.source_hash(), sha256_hex(bytes.substr(8, n)));
}

// -------------------------------------------------------------------------------------- the shared real model

TEST(SafetensorsShared, TinyQwen3MoeLoadsAndRewritesByteExact) {
  BANYAN_REQUIRE_SHARED(shared);
  fs::path model = shared / "models" / "tiny-qwen3moe";
  Checkpoint ck(model);
  EXPECT_EQ(ck.num_tensors(), 3147u);
  const SafetensorsFile& f = *ck.files().at(0);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(ck.info("model.embed_tokens.weight").shape, (Shape{8192, 192}));
  EXPECT_EQ(ck.info("model.embed_tokens.weight").dtype, DType::BF16);

  // The file was written by the reference (Rust) implementation: re-writing it must give the same bytes.
  auto dir = test::make_temp_dir("banyan-st-shared");
  auto out = dir / "model.safetensors";
  {
    std::vector<TensorSpec> specs;
    for (const auto& t : f.tensors()) specs.push_back({t.name, t.dtype, t.shape});
    SafetensorsWriter w(out, specs, f.metadata());
    for (const auto& t : f.tensors()) {
      TensorView v = f.view(t);
      w.write(t.name, v.data, v.nbytes);
    }
    w.finish();
  }
  EXPECT_EQ(sha256_file_hex(out), sha256_file_hex(model / "model.safetensors"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace banyan
