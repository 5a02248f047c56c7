// What every kernel source shares: typed-array views and the vector width chosen at load time.
#pragma once
#include <napi.h>

// AVX-512 or AVX2 where the CPU has it, chosen at load time; without FMA (binding.gyp turns
// contraction off), so the arithmetic and its rounding are the SSE build's, only 16 or 8 lanes wide
// instead of 4: the same bits on every machine.
#define WIDE __attribute__((target_clones("avx512f", "avx2", "default")))

namespace trainyard {

inline float* floats(const Napi::Value& value) { return value.As<Napi::Float32Array>().Data(); }

// One row of softmax, given the row's maximum, and one row of its gradient (softmax_rows.cc).
void softmaxRow(const float* row, float* out, float max, long classes);
void softmaxGradRow(const float* dy, const float* y, float* dx, long classes);

// The kernels of batch_norm.cc and attention.cc, added to the addon's exports.
void registerBatchNorm(Napi::Env env, Napi::Object exports);
void registerAttention(Napi::Env env, Napi::Object exports);

}  // namespace trainyard
