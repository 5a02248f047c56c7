// Batch normalization's training pass over the last axis (channels), forward and backward, each as
// one kernel: TF.js composes it of a dozen elementwise kernels and reductions each way, each a pass
// over an activation-sized tensor, about half of a ResNet step. Every value is the one the layer's
// composed ops give, to the bit: the same float operations in the same order (sums row by row from
// the first, as the Mean and Sum kernels add; no contraction into FMA).
//
// Channel sums are split over threads by channel, so each channel's sum keeps its order; the
// elementwise passes are split by rows.
#include "kernel_support.h"
#include "parallel.h"
#include <algorithm>
#include <cmath>
#include <cstring>

namespace trainyard {
namespace {

// Channel runs of 64 (256 bytes): threads summing halves of narrower rows each read every cache line
// (the prefetcher fetches lines in pairs) and ran slower than one thread, up to 2.5× for 64 channels.
constexpr long kChannelRun = 64;

void overChannels(long channels, const std::function<void(long, long)>& fn) { overRange(channels, 1, fn, kChannelRun); }

void overRows(long rows, const std::function<void(long, long)>& fn) { overRange(rows, 64, fn, 1); }

// sum[c] = Σ_r x[r, c] over columns [c0, c1), as reduceLeading adds: the first row, then the rest in order.
WIDE void columnSums(const float* __restrict x, float* __restrict sum, long rows, long channels, long c0, long c1) {
  for (long c = c0; c < c1; ++c) sum[c] = x[c];
  for (long r = 1; r < rows; ++r) {
    const float* row = x + r * channels;
    for (long c = c0; c < c1; ++c) sum[c] += row[c];
  }
}

// Σ_r (x[r, c] − mean[c])², the square of the Sub kernel's difference, in the same order.
WIDE void centeredSquares(const float* __restrict x, const float* __restrict mean, float* __restrict sum, long rows, long channels, long c0, long c1) {
  for (long c = c0; c < c1; ++c) {
    const float d = x[c] - mean[c];
    sum[c] = d * d;
  }
  for (long r = 1; r < rows; ++r) {
    const float* row = x + r * channels;
    for (long c = c0; c < c1; ++c) {
      const float d = row[c] - mean[c];
      sum[c] += d * d;
    }
  }
}

// y = ((x − mean)·rstd)·γ + β.
WIDE void normalizeRows(const float* __restrict x, const float* __restrict mean, const float* __restrict rstd, const float* __restrict gamma,
                        const float* __restrict beta, float* __restrict y, long r0, long r1, long channels) {
  for (long r = r0; r < r1; ++r) {
    const float* row = x + r * channels;
    float* out = y + r * channels;
    for (long c = 0; c < channels; ++c) out[c] = (row[c] - mean[c]) * rstd[c] * gamma[c] + beta[c];
  }
}

// dβ = Σ dy and dγ = Σ dy·x̂ with x̂ = (x − mean)·rstd, in one pass, each summed as the Sum kernel adds.
WIDE void gradientSums(const float* __restrict dy, const float* __restrict x, const float* __restrict mean, const float* __restrict rstd, float* __restrict dgamma,
                       float* __restrict dbeta, long rows, long channels, long c0, long c1) {
  for (long c = c0; c < c1; ++c) {
    dbeta[c] = dy[c];
    dgamma[c] = dy[c] * ((x[c] - mean[c]) * rstd[c]);
  }
  for (long r = 1; r < rows; ++r) {
    const float* g = dy + r * channels;
    const float* row = x + r * channels;
    for (long c = c0; c < c1; ++c) {
      dbeta[c] += g[c];
      dgamma[c] += g[c] * ((row[c] - mean[c]) * rstd[c]);
    }
  }
}

// dx = (dy − (x̂·(dγ/m) + dβ/m))·(γ·rstd), with the per-channel factors made once.
WIDE void inputGradientRows(const float* __restrict dy, const float* __restrict x, const float* __restrict mean, const float* __restrict rstd,
                            const float* __restrict gammaDivM, const float* __restrict betaDivM, const float* __restrict gammaRstd, float* __restrict dx, long r0,
                            long r1, long channels) {
  for (long r = r0; r < r1; ++r) {
    const float* g = dy + r * channels;
    const float* row = x + r * channels;
    float* out = dx + r * channels;
    for (long c = 0; c < channels; ++c) out[c] = (g[c] - ((row[c] - mean[c]) * rstd[c] * gammaDivM[c] + betaDivM[c])) * gammaRstd[c];
  }
}

// batchNorm(x, gamma, beta, y, mean, variance, rstd, rows, channels, epsilon): x and y [rows, channels];
// the batch mean, biased variance and 1/√(variance + ε) [channels].
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  const float* gamma = floats(info[1]);
  const float* beta = floats(info[2]);
  float* y = floats(info[3]);
  float* mean = floats(info[4]);
  float* variance = floats(info[5]);
  float* rstd = floats(info[6]);
  const long rows = info[7].As<Napi::Number>().Int64Value();
  const long channels = info[8].As<Napi::Number>().Int64Value();
  const float epsilon = info[9].As<Napi::Number>().FloatValue();
  const float count = static_cast<float>(rows);
  overChannels(channels, [&](long c0, long c1) {
    columnSums(x, mean, rows, channels, c0, c1);
    for (long c = c0; c < c1; ++c) mean[c] /= count;
    centeredSquares(x, mean, variance, rows, channels, c0, c1);
    for (long c = c0; c < c1; ++c) {
      variance[c] /= count;
      rstd[c] = 1.0f / std::sqrt(variance[c] + epsilon);
    }
  });
  overRows(rows, [&](long r0, long r1) { normalizeRows(x, mean, rstd, gamma, beta, y, r0, r1, channels); });
  return info.Env().Undefined();
}

// batchNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, channels): the gradient of all three
// inputs, through the batch statistics too (Ioffe & Szegedy 2015, §3).
Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* x = floats(info[1]);
  const float* gamma = floats(info[2]);
  const float* mean = floats(info[3]);
  const float* rstd = floats(info[4]);
  float* dx = floats(info[5]);
  float* dgamma = floats(info[6]);
  float* dbeta = floats(info[7]);
  const long rows = info[8].As<Napi::Number>().Int64Value();
  const long channels = info[9].As<Napi::Number>().Int64Value();
  const float count = static_cast<float>(rows);
  std::vector<float> factors(static_cast<size_t>(3 * channels));
  float* gammaDivM = factors.data();
  float* betaDivM = gammaDivM + channels;
  float* gammaRstd = betaDivM + channels;
  overChannels(channels, [&](long c0, long c1) {
    gradientSums(dy, x, mean, rstd, dgamma, dbeta, rows, channels, c0, c1);
    for (long c = c0; c < c1; ++c) {
      gammaDivM[c] = dgamma[c] / count;
      betaDivM[c] = dbeta[c] / count;
      gammaRstd[c] = gamma[c] * rstd[c];
    }
  });
  overRows(rows, [&](long r0, long r1) { inputGradientRows(dy, x, mean, rstd, gammaDivM, betaDivM, gammaRstd, dx, r0, r1, channels); });
  return info.Env().Undefined();
}

}  // namespace

void registerBatchNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNorm", Napi::Function::New(env, BatchNorm));
  exports.Set("batchNormGrad", Napi::Function::New(env, BatchNormGrad));
}

}  // namespace trainyard
