// Encoding fp32 rows into the ggml tensor types the exporter writes, and the HF→GGML rotary permutation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

// q8_0: blocks of 32 values → fp16 scale d = max|x|/127 and int8 q = round(x/d). `n` must be a multiple of 32.
void quantize_q8_0(const float* x, int64_t n, uint8_t* out);
void dequantize_q8_0(const uint8_t* in, int64_t n, float* out);

// Appends `n` fp32 values encoded as `t` to `out`.
void encode(TensorType t, const float* x, int64_t n, std::string& out);

// llama.cpp's rotary layout for LLaMA-style (Mixtral) q/k projections: HF stores each head's rotary pairs as
// (first half, second half); GGML expects them interleaved. For a weight of [rows = n_head*head_dim, cols], row
// r = h*head_dim + half*(head_dim/2) + i moves to h*head_dim + 2*i + half.
std::vector<float> permute_rotary_rows(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t n_head);

}  // namespace banyan::gguf
