// Branch-free float exp, sigmoid and tanh after Cephes' expf and tanhf, so that GCC vectorizes the
// loops that call them (with -fno-trapping-math): glibc's scalar expf and tanhf made an LSTM cell
// cost 8 ns an element. Within 1.5e-7 relative of the float64 functions over 10⁷ points in
// [-20, 20] and near 0; NaN stays NaN, large arguments saturate (exp overflows to +inf).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

__attribute__((always_inline)) inline float fastExp(float x) {
  x = x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x);
  const float fx = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  const float z = r * r;
  float y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}
__attribute__((always_inline)) inline float fastSigmoid(float x) { return x != x ? x : 1.0f / (1.0f + fastExp(-x)); }
__attribute__((always_inline)) inline float fastTanh(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  const float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
  const float e = fastExp(2.0f * (a < 9.0f ? a : 9.0f));
  const float large = std::copysign(1.0f - 2.0f / (e + 1.0f), x);
  return x != x ? x : (a < 0.625f ? small : large);
}
