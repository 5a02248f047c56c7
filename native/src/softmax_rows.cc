// Softmax over one row and its gradient, shared by the Softmax kernels and the fused attention.
#include "fast_math.h"
#include "kernel_support.h"

namespace trainyard {

// exp(x − max) with the vectorizable fastExp (glibc's scalar expf made the Softmax kernel 3× slower
// than wasm's), exactly 0 below expf's normal range (so that a masked logit, x − 1e9, gives 0 and
// not a denormal), then the sum in order and a division.
WIDE void softmaxRow(const float* __restrict row, float* __restrict o, float max, long classes) {
  for (long j = 0; j < classes; ++j) {
    const float v = row[j] - max;
    o[j] = v < -87.33654f ? 0.0f : fastExp(v);
  }
  float sum = 0.0f;
  for (long j = 0; j < classes; ++j) sum += o[j];
  for (long j = 0; j < classes; ++j) o[j] /= sum;
}

// TF.js's gradient of softmax in one pass instead of four kernels (Mul, Sum, Mul, Sub) and their
// intermediates: dx = dy·y − (Σ dy·y)·y, with the row sum in float, in order, as the Sum kernel adds.
WIDE void softmaxGradRow(const float* __restrict dy, const float* __restrict y, float* __restrict dx, long classes) {
  float sum = 0.0f;
  for (long j = 0; j < classes; ++j) sum += dy[j] * y[j];
  for (long j = 0; j < classes; ++j) dx[j] = dy[j] * y[j] - sum * y[j];
}

}  // namespace trainyard
