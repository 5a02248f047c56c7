// TF.js kernels over OpenBLAS: batched sgemm and 2-D convolution (forward and both gradients) as
// im2col + sgemm; and in C++ the elementwise ops, reductions, softmax, pooling, the LSTM cell and
// the optimizers' update. Every function works in place on Float32Arrays the caller allocated (views of
// the wasm backend's heap), so no tensor data is copied between JavaScript and here.
#include <napi.h>
#include "fast_math.h"
#include "kernel_support.h"
#include "parallel.h"
#include <cblas.h>
#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif
#include <cmath>
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

// Declared here as well: not every cblas.h declares OpenBLAS's own functions.
extern "C" void openblas_set_num_threads(int);

namespace {

using trainyard::floats;
using trainyard::softmaxGradRow;
using trainyard::softmaxRow;

int integer(const Napi::Object& params, const char* name) { return params.Get(name).As<Napi::Number>().Int32Value(); }

// Below this many multiply-adds a product is not split over threads: waking a helper costs more.
constexpr double kSplitMultiplyAdds = 1 << 19;

// C = op(A) op(B) + beta·C, row-major with leading dimensions, in one OpenBLAS call on this thread.
void sgemm(bool transA, bool transB, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

// The row multiple at which a run of rows of C, computed by a product of its own, gets the bits those
// rows get inside the whole product; 0 where none was found. OpenBLAS computes row-major C as
// column-major Cᵀ, whose columns (our rows) its kernel takes a few at a time, with other kernels for
// the few left over at the end: rows that fall in such a remainder in one call and not in the other
// come out differently. The multiple depends on the kernel OpenBLAS chose for the CPU (12 on an AMD
// EPYC with AVX-512, 16 or less elsewhere), so it is found by trying, once: the smallest candidate at
// which every split of a probe product gives the whole's bits. Columns are never split: OpenBLAS
// halves that dimension into blocks by its own rule, with remainders inside the whole.
int rowMultiple() {
  static const int multiple = [] {
    constexpr int m = 193, n = 37, k = 131;
    std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n), whole(static_cast<size_t>(m) * n), parts(whole.size());
    uint32_t state = 12345;
    for (auto* values : {&a, &b}) {
      for (float& v : *values) {
        state = state * 1664525u + 1013904223u;
        v = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
      }
    }
    auto rows = [&](int r0, int r1, float* c) { sgemm(false, false, r1 - r0, n, k, a.data() + static_cast<long>(r0) * k, k, b.data(), n, 0.0f, c + static_cast<long>(r0) * n, n); };
    rows(0, m, whole.data());
    for (int candidate : {4, 8, 12, 16, 24, 48}) {
      bool same = true;
      for (int split = candidate; split < m && same; split += candidate) {
        rows(0, split, parts.data());
        rows(split, m, parts.data());
        same = std::memcmp(parts.data(), whole.data(), sizeof(float) * whole.size()) == 0;
      }
      if (same) return candidate;
    }
    return 0;
  }();
  return multiple;
}

// C = op(A) op(B) + beta·C, row-major with leading dimensions, split over the kernel threads by runs of
// rows of C (at rowMultiple()), so every element of C is the bits it is unsplit. Parts of fewer than
// 32 rows ran slower split than whole.
void gemm(bool transA, bool transB, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  auto rows = [&](long r0, long r1) { sgemm(transA, transB, static_cast<int>(r1 - r0), n, k, a + (transA ? r0 : r0 * lda), lda, b, ldb, beta, c + r0 * ldc, ldc); };
  const int threads = trainyard::workerPool().threads();
  const double work = static_cast<double>(m) * n * k;
  if (threads == 1 || work < kSplitMultiplyAdds || m < 32 * threads || rowMultiple() == 0) {
    rows(0, m);
  } else {
    trainyard::overRange(m, 1, rows, rowMultiple());
  }
}

// C_i = op(A_i) op(B_i), row-major, for i < batch; a stride of 0 broadcasts that operand over the batch.
// With several kernel threads the work is split over them by batch item, else as gemm() splits it.
void product(bool transA, bool transB, int m, int n, int k, const float* a, const float* b, float* c, int batch, long strideA, long strideB, long strideC) {
  const int lda = transA ? m : k;
  const int ldb = transB ? k : n;
  auto& pool = trainyard::workerPool();
  const int threads = pool.threads();
  const bool splits = threads > 1 && static_cast<double>(m) * n * k * batch >= kSplitMultiplyAdds;
  // A product of too few rows for gemm() to split, over a long inner dimension (a weight's gradient,
  // [32, 3200] × [3200, 512]), is split along that dimension, each thread's sum added in order after:
  // the same bits for the same thread count, not those of one thread.
  const bool byInner = batch == 1 && m < 32 * threads && k >= 256 * threads;
  if (splits && byInner) {
    const long size = static_cast<long>(m) * n;
    std::vector<float> partials(static_cast<size_t>(threads - 1) * size);
    pool.run(threads, [&](int slice) {
      const int k0 = static_cast<int>(trainyard::partBegin(k, threads, slice));
      const int k1 = static_cast<int>(trainyard::partBegin(k, threads, slice + 1));
      const float* ai = a + (transA ? static_cast<long>(k0) * lda : k0);
      const float* bi = b + (transB ? k0 : static_cast<long>(k0) * ldb);
      float* ci = slice == 0 ? c : partials.data() + (slice - 1) * size;
      sgemm(transA, transB, m, n, k1 - k0, ai, lda, bi, ldb, 0.0f, ci, n);
    });
    for (int slice = 1; slice < threads; ++slice) {
      const float* partial = partials.data() + (slice - 1) * size;
      for (long i = 0; i < size; ++i) c[i] += partial[i];
    }
  } else if (splits && batch >= threads) {
    // Each item whole on one thread: the pool's threads never split their parts again.
    trainyard::overRange(batch, 1, [&](long first, long end) {
      for (long i = first; i < end; ++i) sgemm(transA, transB, m, n, k, a + i * strideA, lda, b + i * strideB, ldb, 0.0f, c + i * strideC, n);
    }, 1);
  } else {
    for (long i = 0; i < batch; ++i) gemm(transA, transB, m, n, k, a + i * strideA, lda, b + i * strideB, ldb, 0.0f, c + i * strideC, n);
  }
}

// gemm(transA, transB, M, N, K, a, b, c, batch, strideA, strideB, strideC): product() from JavaScript.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  product(info[0].As<Napi::Boolean>(), info[1].As<Napi::Boolean>(), info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().Int32Value(),
          info[4].As<Napi::Number>().Int32Value(), floats(info[5]), floats(info[6]), floats(info[7]), info[8].As<Napi::Number>().Int32Value(),
          info[9].As<Napi::Number>().Int64Value(), info[10].As<Napi::Number>().Int64Value(), info[11].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

struct ConvParams {
  int batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, padTop, padLeft, dilH, dilW;
  ConvParams() = default;
  explicit ConvParams(const Napi::Object& p)
      : batch(integer(p, "batch")), inH(integer(p, "inH")), inW(integer(p, "inW")), inC(integer(p, "inC")), outH(integer(p, "outH")),
        outW(integer(p, "outW")), outC(integer(p, "outC")), fH(integer(p, "fH")), fW(integer(p, "fW")), strideH(integer(p, "strideH")),
        strideW(integer(p, "strideW")), padTop(integer(p, "padTop")), padLeft(integer(p, "padLeft")), dilH(integer(p, "dilH")),
        dilW(integer(p, "dilW")) {}
  long patch() const { return static_cast<long>(fH) * fW * inC; }
  long positions() const { return static_cast<long>(outH) * outW; }
};

// Reused across calls: allocating the column matrix each time cost about 30 % of a CNN step.
// One per thread: a distributed job's training threads each load this addon and run convolutions at once.
std::vector<float>& scratch(size_t size) {
  static thread_local std::vector<float> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}

// One image (NHWC) → columns [outH·outW, fH·fW·inC]; padding reads as zero. Where a filter row
// lies inside the image without dilation, its fW·inC values are one run in memory and one run in
// the column: copied as one (a memcpy call per pixel cost more than the copy for a 1-channel input).
void im2col(const ConvParams& p, const float* image, float* cols) {
  const long run = static_cast<long>(p.fW) * p.inC;
  for (int oy = 0; oy < p.outH; ++oy) {
    for (int ox = 0; ox < p.outW; ++ox) {
      float* row = cols + (static_cast<long>(oy) * p.outW + ox) * p.patch();
      const int ix0 = ox * p.strideW - p.padLeft;
      const bool inside = p.dilW == 1 && ix0 >= 0 && ix0 + p.fW <= p.inW;
      for (int fy = 0; fy < p.fH; ++fy) {
        const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
        float* out = row + fy * run;
        if (iy < 0 || iy >= p.inH) {
          std::fill(out, out + run, 0.0f);
        } else if (inside) {
          const float* in = image + (static_cast<long>(iy) * p.inW + ix0) * p.inC;
          std::copy(in, in + run, out);
        } else {
          for (int fx = 0; fx < p.fW; ++fx) {
            const int ix = ix0 + fx * p.dilW;
            float* px = out + static_cast<long>(fx) * p.inC;
            if (ix < 0 || ix >= p.inW) {
              std::fill(px, px + p.inC, 0.0f);
            } else {
              const float* in = image + (static_cast<long>(iy) * p.inW + ix) * p.inC;
              std::copy(in, in + p.inC, px);
            }
          }
        }
      }
    }
  }
}

// The adjoint of im2col: adds each column entry back onto the pixel it came from (one run per
// filter row where it lies inside the image, as in im2col).
void col2im(const ConvParams& p, const float* cols, float* image) {
  const long run = static_cast<long>(p.fW) * p.inC;
  for (int oy = 0; oy < p.outH; ++oy) {
    for (int ox = 0; ox < p.outW; ++ox) {
      const float* row = cols + (static_cast<long>(oy) * p.outW + ox) * p.patch();
      const int ix0 = ox * p.strideW - p.padLeft;
      const bool inside = p.dilW == 1 && ix0 >= 0 && ix0 + p.fW <= p.inW;
      for (int fy = 0; fy < p.fH; ++fy) {
        const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
        if (iy < 0 || iy >= p.inH) continue;
        const float* in = row + fy * run;
        if (inside) {
          float* pixel = image + (static_cast<long>(iy) * p.inW + ix0) * p.inC;
          for (long k = 0; k < run; ++k) pixel[k] += in[k];
          continue;
        }
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ix0 + fx * p.dilW;
          if (ix < 0 || ix >= p.inW) continue;
          float* pixel = image + (static_cast<long>(iy) * p.inW + ix) * p.inC;
          const float* px = in + static_cast<long>(fx) * p.inC;
          for (int c = 0; c < p.inC; ++c) pixel[c] += px[c];
        }
      }
    }
  }
}

// A fused convolution's epilogue on one image's output [P, C], while it is still in cache: + bias
// (one per channel, or one for all: `broadcast`), then relu as the Relu kernel computes it (NaN and
// −0 kept), so the result is the unfused Add and Relu's to the bit.
WIDE void biasAndRelu(float* __restrict values, const float* __restrict bias, bool broadcast, bool relu, long positions, long channels) {
  for (long i = 0; i < positions; ++i) {
    float* row = values + i * channels;
    if (bias) {
      for (long c = 0; c < channels; ++c) row[c] = row[c] + bias[broadcast ? 0 : c];
    }
    if (relu) {
      for (long c = 0; c < channels; ++c) row[c] = row[c] < 0.0f ? 0.0f : row[c];
    }
  }
}

// The batch's images split over the kernel threads, in runs of consecutive images: fn(part, first, end).
// Every thread has its own column matrix (scratch is thread-local). Returns how many parts it ran.
int overImages(int batch, const std::function<void(int, int, int)>& fn) {
  auto& pool = trainyard::workerPool();
  const int parts = std::max(1, std::min(batch, pool.threads()));
  if (parts == 1) {
    fn(0, 0, batch);
    return 1;
  }
  pool.run(parts, [&](int part) { fn(part, trainyard::partBegin(batch, parts, part), trainyard::partBegin(batch, parts, part + 1)); });
  return parts;
}

// out_b [P, outC] = cols_b [P, K] · filter [K, outC] for every image, then + bias and relu where given.
void convolveImages(const ConvParams& p, const float* x, const float* filter, float* out, const float* bias, bool broadcast, bool relu) {
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  overImages(p.batch, [&](int, int first, int end) {
    auto& cols = scratch(p.positions() * p.patch());
    for (int b = first; b < end; ++b) {
      im2col(p, x + b * image, cols.data());
      float* o = out + b * p.positions() * p.outC;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p.positions(), p.outC, p.patch(), 1.0f, cols.data(), p.patch(), filter, p.outC, 0.0f, o, p.outC);
      if (bias || relu) biasAndRelu(o, bias, broadcast, relu, p.positions(), p.outC);
    }
  });
}

// conv2d(x, filter, out, params, bias | null, relu)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const bool withBias = info.Length() > 4 && info[4].IsTypedArray();
  const bool broadcast = withBias && info[4].As<Napi::Float32Array>().ElementLength() == 1;
  const bool relu = info.Length() > 5 && info[5].As<Napi::Boolean>().Value();
  convolveImages(ConvParams(info[3].As<Napi::Object>()), floats(info[0]), floats(info[1]), floats(info[2]), withBias ? floats(info[4]) : nullptr, broadcast, relu);
  return info.Env().Undefined();
}

// conv2dBackpropFilter(x, dy, dw, params): dw [K, outC] = Σ_b cols_bᵀ · dy_b. With several threads each
// sums its run of images apart and the runs are added in order: the same bits for the same thread count.
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  const float* dy = floats(info[1]);
  float* dw = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  const long weights = p.patch() * p.outC;
  const int threads = std::max(1, std::min(p.batch, trainyard::workerPool().threads()));
  std::vector<float> partials(static_cast<size_t>(threads - 1) * weights);
  const int parts = overImages(p.batch, [&](int part, int first, int end) {
    float* sum = part == 0 ? dw : partials.data() + (part - 1) * weights;
    auto& cols = scratch(p.positions() * p.patch());
    for (int b = first; b < end; ++b) {
      im2col(p, x + b * image, cols.data());
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p.patch(), p.outC, p.positions(), 1.0f, cols.data(), p.patch(), dy + b * p.positions() * p.outC,
                  p.outC, b == first ? 0.0f : 1.0f, sum, p.outC);
    }
  });
  for (int part = 1; part < parts; ++part) {
    const float* partial = partials.data() + (part - 1) * weights;
    for (long i = 0; i < weights; ++i) dw[i] += partial[i];
  }
  if (p.batch == 0) std::memset(dw, 0, sizeof(float) * weights);
  return info.Env().Undefined();
}

// conv2dBackpropInput(dy, filter, dx, params). At stride 1 without dilation, dx is the forward
// convolution of dy with the filter turned by 180° and its channel axes swapped, padded by f − 1 − pad:
// a product of K = fH·fW·outC instead of outC, and no column matrix to add back pixel by pixel (64
// images of 28×28×16, 3×3: as fast as the forward pass, where it took 1.14× as long). Otherwise
// dcols_b [P, K] = dy_b · filterᵀ, then col2im into dx_b.
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* filter = floats(info[1]);
  float* dx = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  if (p.strideH == 1 && p.strideW == 1 && p.dilH == 1 && p.dilW == 1 && p.padTop >= 0 && p.padLeft >= 0 && p.padTop < p.fH && p.padLeft < p.fW) {
    std::vector<float> turned(static_cast<size_t>(p.fH) * p.fW * p.inC * p.outC);
    for (int fy = 0; fy < p.fH; ++fy)
      for (int fx = 0; fx < p.fW; ++fx)
        for (int i = 0; i < p.inC; ++i)
          for (int o = 0; o < p.outC; ++o)
            turned[((static_cast<long>(p.fH - 1 - fy) * p.fW + (p.fW - 1 - fx)) * p.outC + o) * p.inC + i] = filter[((static_cast<long>(fy) * p.fW + fx) * p.inC + i) * p.outC + o];
    ConvParams t = p;
    t.inH = p.outH, t.inW = p.outW, t.inC = p.outC, t.outH = p.inH, t.outW = p.inW, t.outC = p.inC;
    t.padTop = p.fH - 1 - p.padTop, t.padLeft = p.fW - 1 - p.padLeft;
    convolveImages(t, dy, turned.data(), dx, nullptr, false, false);
    return info.Env().Undefined();
  }
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  overImages(p.batch, [&](int, int first, int end) {
    std::memset(dx + first * image, 0, sizeof(float) * image * (end - first));
    auto& cols = scratch(p.positions() * p.patch());
    for (int b = first; b < end; ++b) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p.positions(), p.patch(), p.outC, 1.0f, dy + b * p.positions() * p.outC, p.outC, filter, p.outC,
                  0.0f, cols.data(), p.patch());
      col2im(p, cols.data(), dx + b * image);
    }
  });
  return info.Env().Undefined();
}

// One window of maxPoolGrad, channel by channel: the gradient g goes to the candidate (in the order
// given) holding the first strict maximum; none gets it where no input exceeds −∞ (all −∞ or NaN).
// `accumulate` adds into dx (windows that overlap); otherwise each candidate's dx is written, the
// winner's as 0 + g, which gives the bits that adding into a zeroed dx gave (−0 + 0 = +0).
// GCC does not vectorize these selects ("control flow in loop"), so SSE4.1 does four channels at once.
void routeWindow(const float* const* from, float* const* to, int count, const float* g, int channels, bool accumulate) {
  int c = 0;
#if defined(__SSE4_1__)
  const __m128 zero = _mm_setzero_ps();
  for (; c + 4 <= channels; c += 4) {
    __m128 best = _mm_set1_ps(-INFINITY);
    __m128 winner = _mm_set1_ps(-1.0f);
    for (int j = 0; j < count; ++j) {
      const __m128 v = _mm_loadu_ps(from[j] + c);
      const __m128 greater = _mm_cmpgt_ps(v, best);
      best = _mm_blendv_ps(best, v, greater);
      winner = _mm_blendv_ps(winner, _mm_set1_ps(static_cast<float>(j)), greater);
    }
    const __m128 gradient = _mm_add_ps(zero, _mm_loadu_ps(g + c));
    for (int j = 0; j < count; ++j) {
      const __m128 share = _mm_and_ps(_mm_cmpeq_ps(winner, _mm_set1_ps(static_cast<float>(j))), gradient);
      _mm_storeu_ps(to[j] + c, accumulate ? _mm_add_ps(_mm_loadu_ps(to[j] + c), share) : share);
    }
  }
#endif
  for (; c < channels; ++c) {
    float best = -INFINITY;
    int winner = -1;
    for (int j = 0; j < count; ++j) {
      if (from[j][c] > best) {
        best = from[j][c];
        winner = j;
      }
    }
    for (int j = 0; j < count; ++j) {
      const float share = j == winner ? 0.0f + g[c] : 0.0f;
      to[j][c] = accumulate ? to[j][c] + share : share;
    }
  }
}

// maxPoolGrad(dy, x, dx, params): each output's gradient goes to the first largest input of its
// window (strictly greater, window scanned column by column), as the cpu backend routes it, ties
// included (relu leaves many); windows that overlap add up. Windows that tile the input (stride =
// window, no dilation: a max-pooling layer's default) write each input once, with no zeroing pass
// unless some input lies outside every window.
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* x = floats(info[1]);
  float* dx = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  const bool tiles = p.strideH == p.fH && p.strideW == p.fW && p.dilH == 1 && p.dilW == 1 && p.padTop >= 0 && p.padLeft >= 0;
  const bool covered = tiles && p.padTop == 0 && p.padLeft == 0 && static_cast<long>(p.outH) * p.fH >= p.inH && static_cast<long>(p.outW) * p.fW >= p.inW;
  if (!covered) std::memset(dx, 0, sizeof(float) * image * p.batch);
  std::vector<const float*> from(static_cast<size_t>(p.fH) * p.fW);
  std::vector<float*> to(from.size());
  for (int b = 0; b < p.batch; ++b) {
    const float* xb = x + b * image;
    float* dxb = dx + b * image;
    for (int oy = 0; oy < p.outH; ++oy) {
      for (int ox = 0; ox < p.outW; ++ox) {
        // Column by column, as the cpu backend's MaxPoolGrad scans: it decides which of equal values wins.
        int count = 0;
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
          if (ix < 0 || ix >= p.inW) continue;
          for (int fy = 0; fy < p.fH; ++fy) {
            const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
            if (iy < 0 || iy >= p.inH) continue;
            const long base = (static_cast<long>(iy) * p.inW + ix) * p.inC;
            from[count] = xb + base;
            to[count] = dxb + base;
            ++count;
          }
        }
        routeWindow(from.data(), to.data(), count, dy + ((static_cast<long>(b) * p.outH + oy) * p.outW + ox) * p.inC, p.inC, !tiles);
      }
    }
  }
  return info.Env().Undefined();
}

struct AdamScalars {
  float beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, correction1, correction2, decay, lr;
};

// Its own function with restrict pointers: inline in OptimizerStep the loop did not vectorize
// (seven streams defeat GCC's alias versioning), and this is most of a native MLP step's update.
void adamUpdate(size_t n, const float* __restrict theta, const float* __restrict g, const float* __restrict m, const float* __restrict v,
                float* __restrict thetaOut, float* __restrict mOut, float* __restrict vOut, const AdamScalars k) {
  for (size_t i = 0; i < n; ++i) {
    const float first = k.beta1 * m[i] + k.oneMinusBeta1 * g[i];
    const float second = k.beta2 * v[i] + k.oneMinusBeta2 * (g[i] * g[i]);
    mOut[i] = first;
    vOut[i] = second;
    const float decayed = theta[i] * k.decay;
    const float step = (first / k.correction1) / (std::sqrt(second / k.correction2) + k.eps);
    thetaOut[i] = decayed - k.lr * step;
  }
}

double number(const Napi::Object& params, const char* name) { return params.Get(name).As<Napi::Number>().DoubleValue(); }

// An update touches five to seven arrays per value, so it is split over threads at a quarter of the
// elementwise grain; every value's update is independent, so the result is 1 thread's bits.
void overValues(size_t n, const std::function<void(size_t, size_t)>& fn) {
  trainyard::overRange(static_cast<long>(n), trainyard::kElementwiseGrain / 4, [&](long i0, long i1) { fn(static_cast<size_t>(i0), static_cast<size_t>(i1)); });
}

// optimizerStep(rule, inputs [θ, g, slots…], outputs [θ', slots'…], params): one update of one
// variable, the formulas of src/engine/optimizers/*.ts in the same order of float32 operations (each
// scalar rounded to float32 as TF.js does), so the result is the JS path's to the last bit.
Napi::Value OptimizerStep(const Napi::CallbackInfo& info) {
  const std::string rule = info[0].As<Napi::String>();
  auto inputs = info[1].As<Napi::Array>();
  auto outputs = info[2].As<Napi::Array>();
  const auto params = info[3].As<Napi::Object>();
  const float* theta = floats(inputs.Get(0u));
  const float* g = floats(inputs.Get(1u));
  float* thetaOut = floats(outputs.Get(0u));
  const size_t n = inputs.Get(0u).As<Napi::Float32Array>().ElementLength();
  const float lr = static_cast<float>(number(params, "lr"));
  if (rule == "sgd") {
    overValues(n, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) thetaOut[i] = theta[i] - lr * g[i];
    });
  } else if (rule == "momentum" || rule == "nesterov") {
    const float mu = static_cast<float>(number(params, "momentum"));
    const float* v = floats(inputs.Get(2u));
    float* vOut = floats(outputs.Get(1u));
    const bool nesterov = rule == "nesterov";
    overValues(n, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) {
        const float velocity = mu * v[i] + g[i];
        vOut[i] = velocity;
        const float direction = nesterov ? g[i] + mu * velocity : velocity;
        thetaOut[i] = theta[i] - lr * direction;
      }
    });
  } else if (rule == "adagrad") {
    const float eps = static_cast<float>(number(params, "epsilon"));
    const float* acc = floats(inputs.Get(2u));
    float* accOut = floats(outputs.Get(1u));
    overValues(n, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) {
        const float sum = acc[i] + g[i] * g[i];
        accOut[i] = sum;
        thetaOut[i] = theta[i] - lr * (g[i] / (std::sqrt(sum) + eps));
      }
    });
  } else if (rule == "rmsprop") {
    const float rho = static_cast<float>(number(params, "rho"));
    const float oneMinusRho = static_cast<float>(1.0 - number(params, "rho"));
    const float eps = static_cast<float>(number(params, "epsilon"));
    const float mu = static_cast<float>(number(params, "momentum"));
    const bool withMomentum = number(params, "momentum") > 0;
    const float* sq = floats(inputs.Get(2u));
    float* sqOut = floats(outputs.Get(1u));
    const float* buffer = withMomentum ? floats(inputs.Get(3u)) : nullptr;
    float* bufferOut = withMomentum ? floats(outputs.Get(2u)) : nullptr;
    overValues(n, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) {
        const float s = rho * sq[i] + oneMinusRho * (g[i] * g[i]);
        sqOut[i] = s;
        float direction = g[i] / (std::sqrt(s) + eps);
        if (withMomentum) {
          direction = mu * buffer[i] + direction;
          bufferOut[i] = direction;
        }
        thetaOut[i] = theta[i] - lr * direction;
      }
    });
  } else if (rule == "adam") {
    const float beta1 = static_cast<float>(number(params, "beta1"));
    const float beta2 = static_cast<float>(number(params, "beta2"));
    const float oneMinusBeta1 = static_cast<float>(1.0 - number(params, "beta1"));
    const float oneMinusBeta2 = static_cast<float>(1.0 - number(params, "beta2"));
    const float eps = static_cast<float>(number(params, "epsilon"));
    const float correction1 = static_cast<float>(number(params, "correction1"));
    const float correction2 = static_cast<float>(number(params, "correction2"));
    // θ·1 is θ exactly, so without weight decay the same loop gives the undecayed update (and vectorizes).
    const double weightDecay = number(params, "weightDecay");
    const float decay = weightDecay > 0 ? static_cast<float>(1.0 - number(params, "lr") * weightDecay) : 1.0f;
    const float* m = floats(inputs.Get(2u));
    const float* v = floats(inputs.Get(3u));
    float* mOut = floats(outputs.Get(1u));
    float* vOut = floats(outputs.Get(2u));
    const AdamScalars k{beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, correction1, correction2, decay, lr};
    overValues(n, [&](size_t i0, size_t i1) { adamUpdate(i1 - i0, theta + i0, g + i0, m + i0, v + i0, thetaOut + i0, mOut + i0, vOut + i0, k); });
  } else {
    Napi::TypeError::New(info.Env(), "unknown optimizer rule " + rule).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// ---- Elementwise ops, reductions, softmax, pooling and the LSTM cell --------------------------
// These are small kernels; what they save is less the arithmetic than wasm's scalar loops and,
// for the LSTM cell, the two dozen TF.js dispatches per time step it replaces.

// The unary ops, numbered as in native-elementwise.ts (UNARY_OPS).
enum class Unary { Relu, Sigmoid, Tanh, Exp, Log, Neg, Square, Sqrt, Abs, Step, Rsqrt, Relu6 };

// Restrict pointers and a function each, kept out of the switch (WIDE is never inlined): inlined
// there, GCC left them scalar ("control flow in loop"), 4 ns an element.
WIDE void sigmoidAll(const float* __restrict x, float* __restrict out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = fastSigmoid(x[i]);
}
WIDE void tanhAll(const float* __restrict x, float* __restrict out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = fastTanh(x[i]);
}

// One run of values of a unary op.
void unaryRun(Unary op, const float* x, float* out, size_t n, float alpha) {
  switch (op) {
    case Unary::Relu: for (size_t i = 0; i < n; ++i) out[i] = x[i] < 0.0f ? 0.0f : x[i]; break;
    case Unary::Relu6: for (size_t i = 0; i < n; ++i) out[i] = x[i] < 0.0f ? 0.0f : (x[i] > 6.0f ? 6.0f : x[i]); break;
    case Unary::Sigmoid: sigmoidAll(x, out, n); break;
    case Unary::Tanh: tanhAll(x, out, n); break;
    case Unary::Exp: for (size_t i = 0; i < n; ++i) out[i] = std::exp(x[i]); break;
    case Unary::Log: for (size_t i = 0; i < n; ++i) out[i] = std::log(x[i]); break;
    case Unary::Neg: for (size_t i = 0; i < n; ++i) out[i] = -x[i]; break;
    case Unary::Square: for (size_t i = 0; i < n; ++i) out[i] = x[i] * x[i]; break;
    case Unary::Sqrt: for (size_t i = 0; i < n; ++i) out[i] = std::sqrt(x[i]); break;
    case Unary::Abs: for (size_t i = 0; i < n; ++i) out[i] = std::fabs(x[i]); break;
    case Unary::Rsqrt: for (size_t i = 0; i < n; ++i) out[i] = 1.0f / std::sqrt(x[i]); break;
    // NaN stays NaN, as in TF.js's Step.
    case Unary::Step: for (size_t i = 0; i < n; ++i) out[i] = std::isnan(x[i]) ? x[i] : (x[i] > 0.0f ? 1.0f : alpha); break;
  }
}

// unary(op, x, out, alpha): alpha is Step's value for x ≤ 0.
Napi::Value UnaryOp(const Napi::CallbackInfo& info) {
  const auto op = static_cast<Unary>(info[0].As<Napi::Number>().Int32Value());
  auto xs = info[1].As<Napi::Float32Array>();
  const float* x = xs.Data();
  float* out = floats(info[2]);
  const float alpha = info[3].As<Napi::Number>().FloatValue();
  // N-API is only called on this thread: the helpers get plain pointers.
  trainyard::overRange(static_cast<long>(xs.ElementLength()), trainyard::kElementwiseGrain,
                       [&](long begin, long end) { unaryRun(op, x + begin, out + begin, static_cast<size_t>(end - begin), alpha); });
  return info.Env().Undefined();
}

enum class Binary { Add, Sub, Mul, Div, Maximum, Minimum, SquaredDifference };

// One row of out = a op b, where either side may be one value repeated (step 0).
template <typename F>
void binaryRows(long rows, long inner, const float* a, long aRow, long aStep, const float* b, long bRow, long bStep, float* out, F f) {
  for (long r = 0; r < rows; ++r) {
    const float* ar = a + r * aRow;
    const float* br = b + r * bRow;
    float* o = out + r * inner;
    if (aStep == 1 && bStep == 1) {
      for (long j = 0; j < inner; ++j) o[j] = f(ar[j], br[j]);
    } else if (aStep == 1) {
      for (long j = 0; j < inner; ++j) o[j] = f(ar[j], br[0]);
    } else if (bStep == 1) {
      for (long j = 0; j < inner; ++j) o[j] = f(ar[0], br[j]);
    } else {
      for (long j = 0; j < inner; ++j) o[j] = f(ar[0], br[0]);
    }
  }
}

// binary(op, a, b, out, rows, inner, aRow, aStep, bRow, bStep): out [rows, inner]; an operand
// advances aRow per row and aStep (0 or 1) along it, which covers equal shapes, a scalar on either
// side and a row (a bias) broadcast over the leading axes.
Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  const auto op = static_cast<Binary>(info[0].As<Napi::Number>().Int32Value());
  const float* a = floats(info[1]);
  const float* b = floats(info[2]);
  float* out = floats(info[3]);
  const long rows = info[4].As<Napi::Number>().Int64Value();
  const long inner = info[5].As<Napi::Number>().Int64Value();
  const long aRow = info[6].As<Napi::Number>().Int64Value();
  const long aStep = info[7].As<Napi::Number>().Int64Value();
  const long bRow = info[8].As<Napi::Number>().Int64Value();
  const long bStep = info[9].As<Napi::Number>().Int64Value();
  // Split by rows; a part's rows start inside each operand at its own row stride.
  trainyard::overRange(rows, std::max(1L, trainyard::kElementwiseGrain / std::max(1L, inner)), [&](long r0, long r1) {
    const float* ar = a + r0 * aRow;
    const float* br = b + r0 * bRow;
    float* o = out + r0 * inner;
    const long n = r1 - r0;
    switch (op) {
      case Binary::Add: binaryRows(n, inner, ar, aRow, aStep, br, bRow, bStep, o, [](float x, float y) { return x + y; }); break;
      case Binary::Sub: binaryRows(n, inner, ar, aRow, aStep, br, bRow, bStep, o, [](float x, float y) { return x - y; }); break;
      case Binary::Mul: binaryRows(n, inner, ar, aRow, aStep, br, bRow, bStep, o, [](float x, float y) { return x * y; }); break;
      case Binary::Div: binaryRows(n, inner, ar, aRow, aStep, br, bRow, bStep, o, [](float x, float y) { return x / y; }); break;
      // NaN wins, as in TF.js.
      case Binary::Maximum: binaryRows(n, inner, ar, aRow, aStep, br, bRow, bStep, o, [](float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : (x > y ? x : y); }); break;
      case Binary::Minimum: binaryRows(n, inner, ar, aRow, aStep, br, bRow, bStep, o, [](float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : (x < y ? x : y); }); break;
      case Binary::SquaredDifference: binaryRows(n, inner, ar, aRow, aStep, br, bRow, bStep, o, [](float x, float y) { return (x - y) * (x - y); }); break;
    }
  }, 1);
  return info.Env().Undefined();
}

enum class Reduce { Sum, Max, Min, Mean };

// reduceInner(op, x, out, outer, inner): out[i] = op over x[i·inner … i·inner + inner), the last axes.
Napi::Value ReduceInner(const Napi::CallbackInfo& info) {
  const auto op = static_cast<Reduce>(info[0].As<Napi::Number>().Int32Value());
  const float* x = floats(info[1]);
  float* out = floats(info[2]);
  const long outer = info[3].As<Napi::Number>().Int64Value();
  const long inner = info[4].As<Napi::Number>().Int64Value();
  for (long i = 0; i < outer; ++i) {
    const float* row = x + i * inner;
    float acc = op == Reduce::Sum || op == Reduce::Mean ? 0.0f : row[0];
    switch (op) {
      case Reduce::Sum:
      case Reduce::Mean: for (long j = 0; j < inner; ++j) acc += row[j]; break;
      case Reduce::Max: for (long j = 1; j < inner; ++j) acc = std::isnan(row[j]) || row[j] > acc ? row[j] : acc; break;
      case Reduce::Min: for (long j = 1; j < inner; ++j) acc = std::isnan(row[j]) || row[j] < acc ? row[j] : acc; break;
    }
    out[i] = op == Reduce::Mean ? acc / static_cast<float>(inner) : acc;
  }
  return info.Env().Undefined();
}

// reduceLeading(op, x, out, outer, inner): out[j] = op over x[i·inner + j] for every i (the leading axes).
Napi::Value ReduceLeading(const Napi::CallbackInfo& info) {
  const auto op = static_cast<Reduce>(info[0].As<Napi::Number>().Int32Value());
  const float* x = floats(info[1]);
  float* out = floats(info[2]);
  const long outer = info[3].As<Napi::Number>().Int64Value();
  const long inner = info[4].As<Napi::Number>().Int64Value();
  std::memcpy(out, x, sizeof(float) * inner);
  for (long i = 1; i < outer; ++i) {
    const float* row = x + i * inner;
    switch (op) {
      case Reduce::Sum:
      case Reduce::Mean: for (long j = 0; j < inner; ++j) out[j] += row[j]; break;
      case Reduce::Max: for (long j = 0; j < inner; ++j) out[j] = std::isnan(row[j]) || row[j] > out[j] ? row[j] : out[j]; break;
      case Reduce::Min: for (long j = 0; j < inner; ++j) out[j] = std::isnan(row[j]) || row[j] < out[j] ? row[j] : out[j]; break;
    }
  }
  if (op == Reduce::Mean) {
    for (long j = 0; j < inner; ++j) out[j] /= static_cast<float>(outer);
  }
  return info.Env().Undefined();
}

// softmax(x, out, rows, classes): over the last axis, shifted by the row's maximum.
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  float* out = floats(info[1]);
  const long rows = info[2].As<Napi::Number>().Int64Value();
  const long classes = info[3].As<Napi::Number>().Int64Value();
  trainyard::overRange(rows, std::max(1L, trainyard::kElementwiseGrain / std::max(1L, classes)), [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float* row = x + r * classes;
      float max = row[0];
      for (long j = 1; j < classes; ++j) max = row[j] > max ? row[j] : max;
      softmaxRow(row, out + r * classes, max, classes);
    }
  }, 1);
  return info.Env().Undefined();
}

// pool(isMax, x, out, params): max or mean over each window; padding is left out of both (the
// mean divides by the window's in-bounds count, as TF.js's AvgPool does).
Napi::Value Pool(const Napi::CallbackInfo& info) {
  const bool isMax = info[0].As<Napi::Boolean>();
  const float* x = floats(info[1]);
  float* out = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  std::vector<float> acc(p.inC);
  for (int b = 0; b < p.batch; ++b) {
    const float* xb = x + b * image;
    for (int oy = 0; oy < p.outH; ++oy) {
      for (int ox = 0; ox < p.outW; ++ox) {
        std::fill(acc.begin(), acc.end(), isMax ? -INFINITY : 0.0f);
        int count = 0;
        for (int fy = 0; fy < p.fH; ++fy) {
          const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
          if (iy < 0 || iy >= p.inH) continue;
          for (int fx = 0; fx < p.fW; ++fx) {
            const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
            if (ix < 0 || ix >= p.inW) continue;
            const float* px = xb + (static_cast<long>(iy) * p.inW + ix) * p.inC;
            ++count;
            if (isMax) {
              for (int c = 0; c < p.inC; ++c) acc[c] = px[c] > acc[c] || std::isnan(px[c]) ? px[c] : acc[c];
            } else {
              for (int c = 0; c < p.inC; ++c) acc[c] += px[c];
            }
          }
        }
        float* o = out + ((static_cast<long>(b) * p.outH + oy) * p.outW + ox) * p.inC;
        for (int c = 0; c < p.inC; ++c) o[c] = isMax ? acc[c] : acc[c] / static_cast<float>(count);
      }
    }
  }
  return info.Env().Undefined();
}

// avgPoolGrad(dy, dx, params): each output's gradient spread evenly over its window, divided by
// the whole window's size, padding included (TF.js's AvgPoolGrad, whatever the padding).
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  float* dx = floats(info[1]);
  const ConvParams p(info[2].As<Napi::Object>());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  const float share = 1.0f / static_cast<float>(p.fH * p.fW);
  std::memset(dx, 0, sizeof(float) * image * p.batch);
  for (int b = 0; b < p.batch; ++b) {
    float* dxb = dx + b * image;
    for (int oy = 0; oy < p.outH; ++oy) {
      for (int ox = 0; ox < p.outW; ++ox) {
        const float* g = dy + ((static_cast<long>(b) * p.outH + oy) * p.outW + ox) * p.inC;
        for (int fy = 0; fy < p.fH; ++fy) {
          const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
          if (iy < 0 || iy >= p.inH) continue;
          for (int fx = 0; fx < p.fW; ++fx) {
            const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
            if (ix < 0 || ix >= p.inW) continue;
            float* px = dxb + (static_cast<long>(iy) * p.inW + ix) * p.inC;
            for (int c = 0; c < p.inC; ++c) px[c] += g[c] * share;
          }
        }
      }
    }
  }
  return info.Env().Undefined();
}

// unpack(x, outs, outer, n, inner): x [outer, n, inner] → n tensors [outer, inner]; pack is its
// inverse. TF.js's wasm Unpack slices element by element (125 ms for an LSTM's [64, 50, 512]).
Napi::Value Unpack(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  auto outs = info[1].As<Napi::Array>();
  const long outer = info[2].As<Napi::Number>().Int64Value();
  const long n = info[3].As<Napi::Number>().Int64Value();
  const long inner = info[4].As<Napi::Number>().Int64Value();
  for (long i = 0; i < n; ++i) {
    float* out = floats(outs.Get(static_cast<uint32_t>(i)));
    for (long o = 0; o < outer; ++o) std::memcpy(out + o * inner, x + (o * n + i) * inner, sizeof(float) * inner);
  }
  return info.Env().Undefined();
}

Napi::Value Pack(const Napi::CallbackInfo& info) {
  auto ins = info[0].As<Napi::Array>();
  float* out = floats(info[1]);
  const long outer = info[2].As<Napi::Number>().Int64Value();
  const long n = info[3].As<Napi::Number>().Int64Value();
  const long inner = info[4].As<Napi::Number>().Int64Value();
  for (long i = 0; i < n; ++i) {
    const float* in = floats(ins.Get(static_cast<uint32_t>(i)));
    for (long o = 0; o < outer; ++o) std::memcpy(out + (o * n + i) * inner, in + o * inner, sizeof(float) * inner);
  }
  return info.Env().Undefined();
}

WIDE void lstmRow(const float* __restrict z, const float* __restrict cPrev, float* __restrict a, float* __restrict c, float* __restrict h, long u) {
  for (long j = 0; j < 4 * u; ++j) a[j] = fastSigmoid(z[j]);
  for (long j = 0; j < u; ++j) a[2 * u + j] = fastTanh(z[2 * u + j]);
  for (long j = 0; j < u; ++j) {
    const float cell = a[u + j] * cPrev[j] + a[j] * a[2 * u + j];
    const float tc = fastTanh(cell);
    c[j] = cell;
    a[4 * u + j] = tc;
    h[j] = a[3 * u + j] * tc;
  }
}

// lstmCell(pre, cPrev, h, c, gates, batch, units): one LSTM step from its pre-activations
// pre [B, 4U] (blocks i, f, g, o, as Keras orders them): i, f, o = σ(·), g = tanh(·),
// c = f⊙c_prev + i⊙g, h = o⊙tanh(c). gates [B, 5U] keeps i, f, g, o and tanh(c) for the
// gradient, which then needs no transcendental function.
Napi::Value LstmCell(const Napi::CallbackInfo& info) {
  const float* pre = floats(info[0]);
  const float* cPrev = floats(info[1]);
  float* h = floats(info[2]);
  float* c = floats(info[3]);
  float* gates = floats(info[4]);
  const long batch = info[5].As<Napi::Number>().Int64Value();
  const long u = info[6].As<Napi::Number>().Int64Value();
  for (long b = 0; b < batch; ++b) lstmRow(pre + b * 4 * u, cPrev + b * u, gates + b * 5 * u, c + b * u, h + b * u, u);
  return info.Env().Undefined();
}

// lstmCellGrad(dh, dc, gates, cPrev, dPre | null, dcPrev | null, batch, units): the gradients
// of lstmCell with respect to pre and c_prev, given those of h and c':
//   dc_total = dc + dh⊙o⊙(1 − tanh²c)
//   dz_i = dc_total⊙g⊙i(1 − i)   dz_f = dc_total⊙c_prev⊙f(1 − f)
//   dz_g = dc_total⊙i⊙(1 − g²)   dz_o = dh⊙tanh(c)⊙o(1 − o)   dc_prev = dc_total⊙f
Napi::Value LstmCellGrad(const Napi::CallbackInfo& info) {
  const float* dh = floats(info[0]);
  const float* dc = floats(info[1]);
  const float* gates = floats(info[2]);
  const float* cPrev = floats(info[3]);
  float* dPre = info[4].IsNull() ? nullptr : floats(info[4]);
  float* dcPrev = info[5].IsNull() ? nullptr : floats(info[5]);
  const long batch = info[6].As<Napi::Number>().Int64Value();
  const long u = info[7].As<Napi::Number>().Int64Value();
  for (long b = 0; b < batch; ++b) {
    const float* a = gates + b * 5 * u;
    for (long j = 0; j < u; ++j) {
      const long k = b * u + j;
      const float i = a[j], f = a[u + j], g = a[2 * u + j], o = a[3 * u + j], tc = a[4 * u + j];
      const float total = dc[k] + dh[k] * o * (1.0f - tc * tc);
      if (dPre) {
        float* dz = dPre + b * 4 * u;
        dz[j] = total * g * i * (1.0f - i);
        dz[u + j] = total * cPrev[k] * f * (1.0f - f);
        dz[2 * u + j] = total * i * (1.0f - g * g);
        dz[3 * u + j] = dh[k] * tc * o * (1.0f - o);
      }
      if (dcPrev) dcPrev[k] = total * f;
    }
  }
  return info.Env().Undefined();
}

// The bias gradient of the sequence kernels: dPre summed over its rows [rows, width], in row order
// from the first, as the Sum kernel (reduceLeading) added it up when the bias was a separate Add.
WIDE void sumRows(const float* __restrict x, float* __restrict out, long rows, long width) {
  if (rows == 0) {
    std::memset(out, 0, sizeof(float) * width);
    return;
  }
  std::memcpy(out, x, sizeof(float) * width);
  for (long i = 1; i < rows; ++i) {
    const float* row = x + i * width;
    for (long j = 0; j < width; ++j) out[j] += row[j];
  }
}

// ---- The GRU over a whole sequence ------------------------------------------------------------
// Keras's GRU (reset_after = false, the layer in src/engine/layers/recurrent.ts), all T steps in one
// call forward and one backward: per step z, r = σ(pre_zr + h U_zr), h̃ = tanh(pre_h + (r⊙h) U_h),
// h' = z⊙h + (1 − z)⊙h̃, where pre [B, T, 3U] = x W (blocks z, r, h) is computed outside for all
// steps at once; the bias b is added here, and its gradient summed here (an Add over [B, T, 3U]
// and a Sum fewer per layer call). As TF.js ops a step was some ninety kernel calls (splits,
// concats, their gradients); here it is two sgemm calls forward and two backward, and the gradient
// of U is two sgemm calls over all B·T rows at the end.

// Rows are [B, T, ·]: row b of step t of a [B, T, width] tensor is at (b·T + t)·width.
struct SequenceShape {
  long batch, steps, units;
  long row(long b, long t, long width) const { return (b * steps + t) * width; }
};

// The elementwise parts of a step, one batch row each, as functions of restrict pointers: inline
// in the step GCC left them scalar (possible aliasing, and h_{−1} = 0 as a branch). h_{−1} is a
// row of zeros instead.
WIDE void gruGatesRow(const float* __restrict p, const float* __restrict bias, const float* __restrict inner, const float* __restrict hp, float* __restrict g,
                      float* __restrict rh, long u) {
  for (long j = 0; j < 2 * u; ++j) g[j] = fastSigmoid((p[j] + bias[j]) + inner[j]);
  for (long j = 0; j < u; ++j) rh[j] = g[u + j] * hp[j];
}

WIDE void gruOutputRow(const float* __restrict pH, const float* __restrict bH, const float* __restrict cand, const float* __restrict hp, float* __restrict g,
                       float* __restrict h, long u) {
  for (long j = 0; j < u; ++j) {
    const float z = g[j];
    const float hh = fastTanh((pH[j] + bH[j]) + cand[j]);
    g[2 * u + j] = hh;
    h[j] = z * hp[j] + (1.0f - z) * hh;
  }
}

std::vector<float>& zerosRow(size_t size) {
  static thread_local std::vector<float> zeros;
  if (zeros.size() < size) zeros.assign(size, 0.0f);
  return zeros;
}

void gruForwardStep(const SequenceShape& s, long t, const float* pre, const float* bias, const float* kernel, float* hs, float* gates, float* inner, float* rh, float* cand) {
  const long u = s.units;
  const float* zeros = zerosRow(u).data();
  // h_{t−1}: rows b at stride T·U in hs.
  const float* hPrev = t > 0 ? hs + (t - 1) * u : nullptr;
  if (hPrev) {
    gemm(false, false, s.batch, 2 * u, u, hPrev, s.steps * u, kernel, 3 * u, 0.0f, inner, 2 * u);
  } else {
    std::memset(inner, 0, sizeof(float) * s.batch * 2 * u);
  }
  for (long b = 0; b < s.batch; ++b) {
    gruGatesRow(pre + s.row(b, t, 3 * u), bias, inner + b * 2 * u, hPrev ? hPrev + b * s.steps * u : zeros, gates + s.row(b, t, 3 * u), rh + b * u, u);
  }
  if (hPrev) {
    gemm(false, false, s.batch, u, u, rh, u, kernel + 2 * u, 3 * u, 0.0f, cand, u);
  } else {
    std::memset(cand, 0, sizeof(float) * s.batch * u);
  }
  for (long b = 0; b < s.batch; ++b) {
    gruOutputRow(pre + s.row(b, t, 3 * u) + 2 * u, bias + 2 * u, cand + b * u, hPrev ? hPrev + b * s.steps * u : zeros, gates + s.row(b, t, 3 * u), hs + s.row(b, t, u), u);
  }
}

// gruSequence(pre, bias, kernel, hs, last, gates, batch, steps, units): pre [B, T, 3U] (x W),
// bias [3U], kernel (the recurrent one) [U, 3U]; out hs [B, T, U] (every h_t), last [B, U] (h_T),
// gates [B, T, 3U] (z, r and h̃ of each step, for the gradient). The state starts at zero. The bias
// is added to x W first, (x W + b) + h U, as the Add kernel before this one did: the same bits.
Napi::Value GruSequence(const Napi::CallbackInfo& info) {
  const float* pre = floats(info[0]);
  const float* bias = floats(info[1]);
  const float* kernel = floats(info[2]);
  float* hs = floats(info[3]);
  float* last = floats(info[4]);
  float* gates = floats(info[5]);
  const SequenceShape s{info[6].As<Napi::Number>().Int64Value(), info[7].As<Napi::Number>().Int64Value(), info[8].As<Napi::Number>().Int64Value()};
  const long u = s.units;
  auto& work = scratch(static_cast<size_t>(s.batch) * 4 * u);
  float* inner = work.data();
  float* rh = inner + s.batch * 2 * u;
  float* cand = rh + s.batch * u;
  for (long t = 0; t < s.steps; ++t) gruForwardStep(s, t, pre, bias, kernel, hs, gates, inner, rh, cand);
  for (long b = 0; b < s.batch; ++b) std::memcpy(last + b * u, hs + s.row(b, s.steps - 1, u), sizeof(float) * u);
  return info.Env().Undefined();
}

// Back through one step, one batch row: da_z and da_h into d, and the direct path dh⊙z back to
// h_{t−1} into carry (which held what flowed into h_t from step t + 1).
WIDE void gruGradRow(const float* __restrict dy, const float* __restrict g, const float* __restrict hp, float* __restrict carry, float* __restrict d, long u) {
  for (long j = 0; j < u; ++j) {
    const float z = g[j], hh = g[2 * u + j];
    const float dh = dy[j] + carry[j];
    const float dz = dh * (hp[j] - hh);
    d[j] = dz * z * (1.0f - z);
    d[2 * u + j] = dh * (1.0f - z) * (1.0f - hh * hh);
    carry[j] = dh * z;
  }
}

// da_r = d(r⊙h)⊙h_{t−1}⊙r(1 − r) into dR, and d(r⊙h)⊙r onto carry.
WIDE void gruGradResetRow(const float* __restrict dRh, const float* __restrict r, const float* __restrict hp, float* __restrict dR, float* __restrict carry, long u) {
  for (long j = 0; j < u; ++j) {
    dR[j] = dRh[j] * hp[j] * r[j] * (1.0f - r[j]);
    carry[j] += dRh[j] * r[j];
  }
}

// gruSequenceGrad(dHs, dLast, hs, gates, kernel, dPre, dKernel, dBias, batch, steps, units): back
// through time, given the gradients of hs and last: dPre [B, T, 3U], dKernel [U, 3U] and dBias [3U].
//   dh = dHs_t + (what flows back from step t + 1); dh̃ = dh⊙(1 − z); dz = dh⊙(h_{t−1} − h̃)
//   da_h = dh̃⊙(1 − h̃²)  da_z = dz⊙z(1 − z)  d(r⊙h) = da_h U_hᵀ  da_r = d(r⊙h)⊙h_{t−1}⊙r(1 − r)
//   back to h_{t−1}: dh⊙z + d(r⊙h)⊙r + [da_z, da_r] U_zrᵀ
//   dU_zr = Σ_t h_{t−1}ᵀ [da_z, da_r]   dU_h = Σ_t (r⊙h_{t−1})ᵀ da_h
Napi::Value GruSequenceGrad(const Napi::CallbackInfo& info) {
  // Either gradient may be null (zeros): the layer uses hs or last, never both.
  const float* dHs = info[0].IsNull() ? nullptr : floats(info[0]);
  const float* dLast = info[1].IsNull() ? nullptr : floats(info[1]);
  const float* hs = floats(info[2]);
  const float* gates = floats(info[3]);
  const float* kernel = floats(info[4]);
  float* dPre = floats(info[5]);
  float* dKernel = floats(info[6]);
  float* dBias = floats(info[7]);
  const SequenceShape s{info[8].As<Napi::Number>().Int64Value(), info[9].As<Napi::Number>().Int64Value(), info[10].As<Napi::Number>().Int64Value()};
  const long u = s.units;
  const long rows = s.batch * s.steps;
  // carry, dRh [B, U]; then hPrev and r⊙hPrev for every row [B·T, U].
  auto& work = scratch(static_cast<size_t>(s.batch) * 2 * u + static_cast<size_t>(rows) * 2 * u);
  float* carry = work.data();
  float* dRh = carry + s.batch * u;
  float* hPrevAll = dRh + s.batch * u;
  float* rhAll = hPrevAll + rows * u;
  if (dLast) {
    std::memcpy(carry, dLast, sizeof(float) * s.batch * u);
  } else {
    std::memset(carry, 0, sizeof(float) * s.batch * u);
  }
  const float* zeros = zerosRow(u).data();
  for (long t = s.steps - 1; t >= 0; --t) {
    for (long b = 0; b < s.batch; ++b) {
      gruGradRow(dHs ? dHs + s.row(b, t, u) : zeros, gates + s.row(b, t, 3 * u), t > 0 ? hs + s.row(b, t - 1, u) : zeros, carry + b * u, dPre + s.row(b, t, 3 * u), u);
    }
    // d(r⊙h) = da_h U_hᵀ
    gemm(false, true, s.batch, u, u, dPre + s.row(0, t, 3 * u) + 2 * u, s.steps * 3 * u, kernel + 2 * u, 3 * u, 0.0f, dRh, u);
    for (long b = 0; b < s.batch; ++b) {
      gruGradResetRow(dRh + b * u, gates + s.row(b, t, 3 * u) + u, t > 0 ? hs + s.row(b, t - 1, u) : zeros, dPre + s.row(b, t, 3 * u) + u, carry + b * u, u);
    }
    if (t > 0) {
      gemm(false, true, s.batch, u, 2 * u, dPre + s.row(0, t, 3 * u), s.steps * 3 * u, kernel, 3 * u, 1.0f, carry, u);
    }
  }
  for (long b = 0; b < s.batch; ++b) {
    for (long t = 0; t < s.steps; ++t) {
      float* hp = hPrevAll + s.row(b, t, u);
      float* rh = rhAll + s.row(b, t, u);
      const float* r = gates + s.row(b, t, 3 * u) + u;
      if (t == 0) {
        std::memset(hp, 0, sizeof(float) * u);
      } else {
        std::memcpy(hp, hs + s.row(b, t - 1, u), sizeof(float) * u);
      }
      for (long j = 0; j < u; ++j) rh[j] = r[j] * hp[j];
    }
  }
  gemm(true, false, u, 2 * u, rows, hPrevAll, u, dPre, 3 * u, 0.0f, dKernel, 3 * u);
  gemm(true, false, u, u, rows, rhAll, u, dPre + 2 * u, 3 * u, 0.0f, dKernel + 2 * u, 3 * u);
  sumRows(dPre, dBias, rows, 3 * u);
  return info.Env().Undefined();
}

// ---- The LSTM over a whole sequence -----------------------------------------------------------
// The recurrent layer's LSTM (gate blocks i, f, g, o as Keras orders them) as the GRU above: all T
// steps in one call each way, one sgemm a step forward (h U) and one back (dz Uᵀ), and the gradient
// of U as one sgemm over all B·T rows. pre [B, T, 4U] = x W comes from outside; b is added here.

// One row of a step: i, f, o = σ(·), g = tanh(·) of pre + h U; c = f⊙c_prev + i⊙g; h = o⊙tanh(c).
// a keeps i, f, g, o and tanh(c) for the gradient.
WIDE void lstmSeqRow(const float* __restrict p, const float* __restrict bias, const float* __restrict inner, const float* __restrict cPrev, float* __restrict a,
                     float* __restrict c, float* __restrict h, long u) {
  for (long j = 0; j < 2 * u; ++j) a[j] = fastSigmoid((p[j] + bias[j]) + inner[j]);
  for (long j = 2 * u; j < 3 * u; ++j) a[j] = fastTanh((p[j] + bias[j]) + inner[j]);
  for (long j = 3 * u; j < 4 * u; ++j) a[j] = fastSigmoid((p[j] + bias[j]) + inner[j]);
  for (long j = 0; j < u; ++j) {
    const float cell = a[u + j] * cPrev[j] + a[j] * a[2 * u + j];
    const float tc = fastTanh(cell);
    c[j] = cell;
    a[4 * u + j] = tc;
    h[j] = a[3 * u + j] * tc;
  }
}

// lstmSequence(pre, bias, kernel, hs, cs, last, gates, batch, steps, units): pre [B, T, 4U] (x W),
// bias [4U]; hs and cs [B, T, U] (every h_t and c_t), last [B, U] (h_T), gates [B, T, 5U]. The state
// starts at zero. (x W + b) + h U, as the GRU adds its bias.
Napi::Value LstmSequence(const Napi::CallbackInfo& info) {
  const float* pre = floats(info[0]);
  const float* bias = floats(info[1]);
  const float* kernel = floats(info[2]);
  float* hs = floats(info[3]);
  float* cs = floats(info[4]);
  float* last = floats(info[5]);
  float* gates = floats(info[6]);
  const SequenceShape s{info[7].As<Napi::Number>().Int64Value(), info[8].As<Napi::Number>().Int64Value(), info[9].As<Napi::Number>().Int64Value()};
  const long u = s.units;
  auto& work = scratch(static_cast<size_t>(s.batch) * 4 * u);
  float* inner = work.data();
  const float* zeros = zerosRow(4 * u).data();
  for (long t = 0; t < s.steps; ++t) {
    if (t > 0) {
      gemm(false, false, s.batch, 4 * u, u, hs + (t - 1) * u, s.steps * u, kernel, 4 * u, 0.0f, inner, 4 * u);
    }
    for (long b = 0; b < s.batch; ++b) {
      lstmSeqRow(pre + s.row(b, t, 4 * u), bias, t > 0 ? inner + b * 4 * u : zeros, t > 0 ? cs + s.row(b, t - 1, u) : zeros, gates + s.row(b, t, 5 * u), cs + s.row(b, t, u),
                 hs + s.row(b, t, u), u);
    }
  }
  for (long b = 0; b < s.batch; ++b) std::memcpy(last + b * u, hs + s.row(b, s.steps - 1, u), sizeof(float) * u);
  return info.Env().Undefined();
}

// Back through one step, one row: dh = dy + carryH (what flowed into h_t from step t + 1), the cell's
// total gradient dc_total = carryC + dh⊙o⊙(1 − tanh²c); dz for the four blocks into d; carryC = dc_total⊙f.
WIDE void lstmSeqGradRow(const float* __restrict dy, const float* __restrict carryH, const float* __restrict a, const float* __restrict cPrev, float* __restrict carryC,
                         float* __restrict d, long u) {
  for (long j = 0; j < u; ++j) {
    const float i = a[j], f = a[u + j], g = a[2 * u + j], o = a[3 * u + j], tc = a[4 * u + j];
    const float dh = dy[j] + carryH[j];
    const float total = carryC[j] + dh * o * (1.0f - tc * tc);
    d[j] = total * g * i * (1.0f - i);
    d[u + j] = total * cPrev[j] * f * (1.0f - f);
    d[2 * u + j] = total * i * (1.0f - g * g);
    d[3 * u + j] = dh * tc * o * (1.0f - o);
    carryC[j] = total * f;
  }
}

// lstmSequenceGrad(dHs, dLast, hs, cs, gates, kernel, dPre, dKernel, dBias, batch, steps, units): the
// gradients of pre [B, T, 4U], of the recurrent kernel [U, 4U] and of the bias [4U], given those of
// hs and last.
Napi::Value LstmSequenceGrad(const Napi::CallbackInfo& info) {
  // Either gradient may be null (zeros), as for the GRU.
  const float* dHs = info[0].IsNull() ? nullptr : floats(info[0]);
  const float* dLast = info[1].IsNull() ? nullptr : floats(info[1]);
  const float* hs = floats(info[2]);
  const float* cs = floats(info[3]);
  const float* gates = floats(info[4]);
  const float* kernel = floats(info[5]);
  float* dPre = floats(info[6]);
  float* dKernel = floats(info[7]);
  float* dBias = floats(info[8]);
  const SequenceShape s{info[9].As<Napi::Number>().Int64Value(), info[10].As<Napi::Number>().Int64Value(), info[11].As<Napi::Number>().Int64Value()};
  const long u = s.units;
  const long rows = s.batch * s.steps;
  // carryH, carryC [B, U]; then h_{t−1} for every row [B·T, U].
  auto& work = scratch(static_cast<size_t>(s.batch) * 2 * u + static_cast<size_t>(rows) * u);
  float* carryH = work.data();
  float* carryC = carryH + s.batch * u;
  float* hPrevAll = carryC + s.batch * u;
  if (dLast) {
    std::memcpy(carryH, dLast, sizeof(float) * s.batch * u);
  } else {
    std::memset(carryH, 0, sizeof(float) * s.batch * u);
  }
  std::memset(carryC, 0, sizeof(float) * s.batch * u);
  const float* zeros = zerosRow(u).data();
  for (long t = s.steps - 1; t >= 0; --t) {
    for (long b = 0; b < s.batch; ++b) {
      lstmSeqGradRow(dHs ? dHs + s.row(b, t, u) : zeros, carryH + b * u, gates + s.row(b, t, 5 * u), t > 0 ? cs + s.row(b, t - 1, u) : zeros, carryC + b * u, dPre + s.row(b, t, 4 * u), u);
    }
    // What flows into h_{t−1}: dz Uᵀ.
    if (t > 0) gemm(false, true, s.batch, u, 4 * u, dPre + t * 4 * u, s.steps * 4 * u, kernel, 4 * u, 0.0f, carryH, u);
  }
  for (long b = 0; b < s.batch; ++b) {
    std::memset(hPrevAll + s.row(b, 0, u), 0, sizeof(float) * u);
    std::memcpy(hPrevAll + s.row(b, 1, u), hs + s.row(b, 0, u), sizeof(float) * (s.steps - 1) * u);
  }
  gemm(true, false, u, 4 * u, rows, hPrevAll, u, dPre, 4 * u, 0.0f, dKernel, 4 * u);
  sumRows(dPre, dBias, rows, 4 * u);
  return info.Env().Undefined();
}

// reluGrad(dy, x, out): dy · step(x), TF.js's gradient of relu in one pass instead of two kernels
// (Step, then Multiply), with the same values: step is 1 where x > 0, 0 elsewhere, NaN for NaN.
WIDE void reluGradAll(const float* __restrict dy, const float* __restrict x, float* __restrict out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = dy[i] * (x[i] != x[i] ? x[i] : (x[i] > 0.0f ? 1.0f : 0.0f));
}

Napi::Value ReluGrad(const Napi::CallbackInfo& info) {
  const auto dys = info[0].As<Napi::Float32Array>();
  const float* dy = dys.Data();
  const float* x = floats(info[1]);
  float* out = floats(info[2]);
  trainyard::overRange(static_cast<long>(dys.ElementLength()), trainyard::kElementwiseGrain,
                       [&](long begin, long end) { reluGradAll(dy + begin, x + begin, out + begin, static_cast<size_t>(end - begin)); });
  return info.Env().Undefined();
}

// ---- Dense layers, fused ----------------------------------------------------------------------
// The activations a fused dense layer applies (src/engine/layers/dense.ts), numbered as
// native-matmul-conv.ts's DENSE_ACTIVATIONS.
enum class DenseActivation { Linear, Relu, Sigmoid };

// A fused matrix product's epilogue, in place on out [rows, units]: + bias (one per unit, or one
// for all: `broadcast`), then the activation as its own kernel computes it (relu keeping NaN and −0,
// sigmoid through the same fastSigmoid as the Sigmoid kernel): the bits of Add, then Relu or Sigmoid.
WIDE void biasActivation(float* __restrict values, const float* __restrict bias, bool broadcast, int activation, long rows, long units) {
  const auto act = static_cast<DenseActivation>(activation);
  for (long i = 0; i < rows; ++i) {
    float* row = values + i * units;
    if (bias) {
      for (long c = 0; c < units; ++c) row[c] = row[c] + bias[broadcast ? 0 : c];
    }
    if (act == DenseActivation::Relu) {
      for (long c = 0; c < units; ++c) row[c] = row[c] < 0.0f ? 0.0f : row[c];
    } else if (act == DenseActivation::Sigmoid) {
      for (long c = 0; c < units; ++c) row[c] = fastSigmoid(row[c]);
    }
  }
}

// biasActivation(values, bias | null, rows, units, activation)
Napi::Value BiasActivation(const Napi::CallbackInfo& info) {
  float* values = floats(info[0]);
  const bool withBias = info[1].IsTypedArray();
  const float* bias = withBias ? floats(info[1]) : nullptr;
  const bool broadcast = withBias && info[1].As<Napi::Float32Array>().ElementLength() == 1;
  const long rows = info[2].As<Napi::Number>().Int64Value();
  const long units = info[3].As<Napi::Number>().Int64Value();
  const int activation = info[4].As<Napi::Number>().Int32Value();
  trainyard::overRange(rows, std::max(1L, trainyard::kElementwiseGrain / std::max(1L, units)),
                       [&](long r0, long r1) { biasActivation(values + r0 * units, bias, broadcast, activation, r1 - r0, units); }, 1);
  return info.Env().Undefined();
}

// The gradient at the activation's input from its output y: dy for linear, dy · step(y) for relu
// (y > 0 exactly where its input was, NaN where it was NaN; the bits of TrainyardReluGrad), and
// dy · (y · (1 − y)) for sigmoid (TF.js's gradient of Sigmoid, in its order of operations).
WIDE void denseActivationGrad(const float* __restrict dy, const float* __restrict y, float* __restrict out, size_t n, int activation) {
  if (static_cast<DenseActivation>(activation) == DenseActivation::Relu) {
    for (size_t i = 0; i < n; ++i) out[i] = dy[i] * (y[i] != y[i] ? y[i] : (y[i] > 0.0f ? 1.0f : 0.0f));
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = dy[i] * (y[i] * (1.0f - y[i]));
  }
}

// denseGrad(dy, x, w, y, dx | null, dw, db, rows, inputs, units, activation): the gradient of
// y = act(x w + b) for x [rows, inputs], w [inputs, units], in one call: g = the activation's
// gradient, dx = g wᵀ (unless null: the data batch's), dw = xᵀ g (the sgemm calls BatchMatMul's gradient makes, with the same
// arguments), db = g summed over the rows in order (as the Sum kernel). Unfused that was up to
// seven kernel calls (Step and Multiply or the relu gradient, two products, Sum, reshapes) and as
// many outputs to allocate.
Napi::Value DenseGrad(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* x = floats(info[1]);
  const float* w = floats(info[2]);
  const float* y = floats(info[3]);
  float* dx = info[4].IsNull() ? nullptr : floats(info[4]);
  float* dw = floats(info[5]);
  float* db = floats(info[6]);
  const long rows = info[7].As<Napi::Number>().Int64Value();
  const long inputs = info[8].As<Napi::Number>().Int64Value();
  const long units = info[9].As<Napi::Number>().Int64Value();
  const int activation = info[10].As<Napi::Number>().Int32Value();
  if (rows == 0) {
    std::memset(dw, 0, sizeof(float) * inputs * units);
    std::memset(db, 0, sizeof(float) * units);
    return info.Env().Undefined();
  }
  const float* g = dy;
  if (static_cast<DenseActivation>(activation) != DenseActivation::Linear) {
    auto& work = scratch(static_cast<size_t>(rows) * units);
    denseActivationGrad(dy, y, work.data(), static_cast<size_t>(rows) * units, activation);
    g = work.data();
  }
  if (dx) product(false, true, static_cast<int>(rows), static_cast<int>(inputs), static_cast<int>(units), g, w, dx, 1, 0, 0, 0);
  product(true, false, static_cast<int>(inputs), static_cast<int>(units), static_cast<int>(rows), x, g, dw, 1, 0, 0, 0);
  sumRows(g, db, rows, units);
  return info.Env().Undefined();
}

// gather(x, indices, out, outer, axisDim, innerBytes): x [outer, axisDim, inner] → out
// [outer, indices, inner], out[o, i] = x[o, indices[i]], as bytes (float32, int32 and bool alike).
// The training loop's batch gather is this with outer 1: a row copy per sample, where the stock
// wasm kernel walks four-dimensional strides element by element (30 % of a native MLP step).
Napi::Value Gather(const Napi::CallbackInfo& info) {
  const auto x = info[0].As<Napi::TypedArray>();
  const auto indices = info[1].As<Napi::Int32Array>();
  const auto out = info[2].As<Napi::TypedArray>();
  const long outer = info[3].As<Napi::Number>().Int64Value();
  const long axisDim = info[4].As<Napi::Number>().Int64Value();
  const long innerBytes = info[5].As<Napi::Number>().Int64Value();
  const auto* from = static_cast<const uint8_t*>(x.ArrayBuffer().Data()) + x.ByteOffset();
  auto* to = static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset();
  const int32_t* picked = indices.Data();
  const long n = static_cast<long>(indices.ElementLength());
  if (static_cast<size_t>(outer * axisDim * innerBytes) > x.ByteLength() || static_cast<size_t>(outer * n * innerBytes) > out.ByteLength()) {
    Napi::RangeError::New(info.Env(), "gather: shapes do not match the buffers").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  for (long i = 0; i < n; ++i) {
    if (picked[i] < 0 || picked[i] >= axisDim) {
      Napi::RangeError::New(info.Env(), "gather: index " + std::to_string(picked[i]) + " out of range").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
  }
  for (long o = 0; o < outer; ++o) {
    const uint8_t* block = from + o * axisDim * innerBytes;
    for (long i = 0; i < n; ++i) std::memcpy(to + (o * n + i) * innerBytes, block + picked[i] * innerBytes, innerBytes);
  }
  return info.Env().Undefined();
}

// ---- Depthwise convolution (NHWC, filter [fH, fW, inC, mult], output channel c·mult + q) ---------
// Direct loops over the window, the channels innermost (contiguous in x, the filter and the output):
// there is no reduction over channels to hand to sgemm, and im2col would only copy the input fH·fW
// times. A channel multiplier m > 1 is reduced to m = 1 by repeating each input channel m times
// (the image, once per call), so every inner loop is a plain vector multiply-add over C·m channels.
// One WIDE function per image: a call per tap (through target_clones' dispatch) cost more than the
// tap's arithmetic. Each output sums its taps in window order (fy, then fx), as the stock kernels do.

// x [H, W, C] → out [H, W, C·m], out[…, c·m + q] = x[…, c].
void repeatChannels(const float* x, float* out, long pixels, long channels, long mult) {
  for (long i = 0; i < pixels; ++i) {
    for (long c = 0; c < channels; ++c) std::fill(out + (i * channels + c) * mult, out + (i * channels + c + 1) * mult, x[i * channels + c]);
  }
}

// out [outH, outW, ch] = Σ_taps x [inH, inW, ch] ⊙ f [fH, fW, ch], one image.
WIDE void depthwiseImage(const ConvParams& p, long ch, const float* __restrict x, const float* __restrict f, float* __restrict out) {
  for (int oy = 0; oy < p.outH; ++oy) {
    for (int ox = 0; ox < p.outW; ++ox) {
      float* __restrict o = out + (static_cast<long>(oy) * p.outW + ox) * ch;
      for (long c = 0; c < ch; ++c) o[c] = 0.0f;
      for (int fy = 0; fy < p.fH; ++fy) {
        const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
        if (iy < 0 || iy >= p.inH) continue;
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
          if (ix < 0 || ix >= p.inW) continue;
          const float* __restrict xp = x + (static_cast<long>(iy) * p.inW + ix) * ch;
          const float* __restrict fp = f + (static_cast<long>(fy) * p.fW + fx) * ch;
          for (long c = 0; c < ch; ++c) o[c] += xp[c] * fp[c];
        }
      }
    }
  }
}

// dx [inH, inW, ch] += each output's dy ⊙ f scattered back over its window, one image (dx zeroed by the caller).
WIDE void depthwiseInputImage(const ConvParams& p, long ch, const float* __restrict dy, const float* __restrict f, float* __restrict dx) {
  for (int oy = 0; oy < p.outH; ++oy) {
    for (int ox = 0; ox < p.outW; ++ox) {
      const float* __restrict g = dy + (static_cast<long>(oy) * p.outW + ox) * ch;
      for (int fy = 0; fy < p.fH; ++fy) {
        const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
        if (iy < 0 || iy >= p.inH) continue;
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
          if (ix < 0 || ix >= p.inW) continue;
          float* __restrict d = dx + (static_cast<long>(iy) * p.inW + ix) * ch;
          const float* __restrict fp = f + (static_cast<long>(fy) * p.fW + fx) * ch;
          for (long c = 0; c < ch; ++c) d[c] += g[c] * fp[c];
        }
      }
    }
  }
}

// acc [fH, fW, ch] += Σ_positions x ⊙ dy, one image, in double (see DepthwiseConv2dBackpropFilter).
WIDE void depthwiseFilterImage(const ConvParams& p, long ch, const float* __restrict x, const float* __restrict dy, double* __restrict acc) {
  for (int oy = 0; oy < p.outH; ++oy) {
    for (int ox = 0; ox < p.outW; ++ox) {
      const float* __restrict g = dy + (static_cast<long>(oy) * p.outW + ox) * ch;
      for (int fy = 0; fy < p.fH; ++fy) {
        const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
        if (iy < 0 || iy >= p.inH) continue;
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
          if (ix < 0 || ix >= p.inW) continue;
          const float* __restrict xp = x + (static_cast<long>(iy) * p.inW + ix) * ch;
          double* __restrict a = acc + (static_cast<long>(fy) * p.fW + fx) * ch;
          for (long c = 0; c < ch; ++c) a[c] += static_cast<double>(xp[c] * g[c]);
        }
      }
    }
  }
}

// depthwiseConv2d(x, filter, out, params): out[b, oy, ox, c·m + q] = Σ_taps x[b, iy, ix, c] · f[fy, fx, c, q].
Napi::Value DepthwiseConv2d(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  const float* filter = floats(info[1]);
  float* out = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  const long mult = p.outC / p.inC;
  const long pixels = static_cast<long>(p.inH) * p.inW;
  auto& repeated = scratch(mult > 1 ? pixels * p.outC : 0);
  for (int b = 0; b < p.batch; ++b) {
    const float* xb = x + b * pixels * p.inC;
    if (mult > 1) repeatChannels(xb, repeated.data(), pixels, p.inC, mult);
    depthwiseImage(p, p.outC, mult > 1 ? repeated.data() : xb, filter, out + b * p.positions() * p.outC);
  }
  return info.Env().Undefined();
}

// depthwiseConv2dBackpropInput(dy, filter, dx, params): dx[b, iy, ix, c] = Σ_{taps, q} dy[b, oy, ox, c·m + q] · f[fy, fx, c, q].
Napi::Value DepthwiseConv2dBackpropInput(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* filter = floats(info[1]);
  float* dx = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  const long mult = p.outC / p.inC;
  const long pixels = static_cast<long>(p.inH) * p.inW;
  auto& repeated = scratch(mult > 1 ? pixels * p.outC : 0);
  for (int b = 0; b < p.batch; ++b) {
    float* dxb = dx + b * pixels * p.inC;
    float* target = mult > 1 ? repeated.data() : dxb;
    std::memset(target, 0, sizeof(float) * pixels * p.outC);
    depthwiseInputImage(p, p.outC, dy + b * p.positions() * p.outC, filter, target);
    if (mult > 1) {
      // The m copies of each input channel each got their share: added back together.
      for (long i = 0; i < pixels * p.inC; ++i) {
        float sum = 0.0f;
        for (long q = 0; q < mult; ++q) sum += target[i * mult + q];
        dxb[i] = sum;
      }
    }
  }
  return info.Env().Undefined();
}

// depthwiseConv2dBackpropFilter(x, dy, df, params): df[fy, fx, c, q] = Σ_{b, oy, ox} x[b, iy, ix, c] ·
// dy[b, oy, ox, c·m + q]. The sums run over every output position of the batch (tens of thousands
// of terms): accumulated in double, as the cpu backend's JavaScript numbers are, then rounded once.
Napi::Value DepthwiseConv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  const float* dy = floats(info[1]);
  float* df = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  const long mult = p.outC / p.inC;
  const long pixels = static_cast<long>(p.inH) * p.inW;
  const size_t total = static_cast<size_t>(p.fH) * p.fW * p.outC;
  std::vector<double> acc(total, 0.0);
  auto& repeated = scratch(mult > 1 ? pixels * p.outC : 0);
  for (int b = 0; b < p.batch; ++b) {
    const float* xb = x + b * pixels * p.inC;
    if (mult > 1) repeatChannels(xb, repeated.data(), pixels, p.inC, mult);
    depthwiseFilterImage(p, p.outC, mult > 1 ? repeated.data() : xb, dy + b * p.positions() * p.outC, acc.data());
  }
  for (size_t i = 0; i < total; ++i) df[i] = static_cast<float>(acc[i]);
  return info.Env().Undefined();
}

// ---- Layer normalization over the last axis -----------------------------------------------------
// Per row of C values: mean, variance = mean((x − mean)²) (two passes, as tf.moments computes it),
// rstd = 1/√(variance + ε); y = (x − mean)·rstd·γ + β. The row sums run in double: a row is a
// transformer's model width (hundreds to thousands of values).

WIDE void layerNormRow(const float* __restrict x, const float* __restrict gamma, const float* __restrict beta, float* __restrict y, float mean, float rstd, long c) {
  for (long j = 0; j < c; ++j) y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
}

// layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, epsilon): y [rows, cols]; mean and rstd [rows] for the gradient.
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  const float* gamma = floats(info[1]);
  const float* beta = floats(info[2]);
  float* y = floats(info[3]);
  float* means = floats(info[4]);
  float* rstds = floats(info[5]);
  const long rows = info[6].As<Napi::Number>().Int64Value();
  const long c = info[7].As<Napi::Number>().Int64Value();
  const double epsilon = info[8].As<Napi::Number>().DoubleValue();
  trainyard::overRange(rows, std::max(1L, trainyard::kElementwiseGrain / std::max(1L, c)), [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float* row = x + r * c;
      double sum = 0.0;
      for (long j = 0; j < c; ++j) sum += row[j];
      const double mean = sum / static_cast<double>(c);
      double squares = 0.0;
      for (long j = 0; j < c; ++j) {
        const double d = row[j] - mean;
        squares += d * d;
      }
      const float rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(c) + epsilon));
      means[r] = static_cast<float>(mean);
      rstds[r] = rstd;
      layerNormRow(row, gamma, beta, y + r * c, static_cast<float>(mean), rstd, c);
    }
  });
  return info.Env().Undefined();
}

// layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols): with x̂ = (x − mean)·rstd
// and g = dy·γ, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)); dγ = Σ_rows dy·x̂, dβ = Σ_rows dy (in double).
Napi::Value LayerNormGrad(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* x = floats(info[1]);
  const float* gamma = floats(info[2]);
  const float* means = floats(info[3]);
  const float* rstds = floats(info[4]);
  float* dx = floats(info[5]);
  float* dgamma = floats(info[6]);
  float* dbeta = floats(info[7]);
  const long rows = info[8].As<Napi::Number>().Int64Value();
  const long c = info[9].As<Napi::Number>().Int64Value();
  std::vector<double> sums(static_cast<size_t>(2 * c), 0.0);
  double* dg = sums.data();
  double* db = dg + c;
  for (long r = 0; r < rows; ++r) {
    const float* xr = x + r * c;
    const float* g = dy + r * c;
    const double mean = means[r];
    const double rstd = rstds[r];
    double sumG = 0.0, sumGx = 0.0;
    for (long j = 0; j < c; ++j) {
      const double xhat = (xr[j] - mean) * rstd;
      const double gj = static_cast<double>(g[j]) * gamma[j];
      sumG += gj;
      sumGx += gj * xhat;
      dg[j] += g[j] * xhat;
      db[j] += g[j];
    }
    const double meanG = sumG / static_cast<double>(c);
    const double meanGx = sumGx / static_cast<double>(c);
    float* dxr = dx + r * c;
    for (long j = 0; j < c; ++j) {
      const double xhat = (xr[j] - mean) * rstd;
      dxr[j] = static_cast<float>(rstd * (static_cast<double>(g[j]) * gamma[j] - meanG - xhat * meanGx));
    }
  }
  for (long j = 0; j < c; ++j) {
    dgamma[j] = static_cast<float>(dg[j]);
    dbeta[j] = static_cast<float>(db[j]);
  }
  return info.Env().Undefined();
}

// softmaxGrad(dy, y, dx, rows, classes): softmax's gradient over the last axis.
Napi::Value SoftmaxGrad(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* y = floats(info[1]);
  float* dx = floats(info[2]);
  const long rows = info[3].As<Napi::Number>().Int64Value();
  const long classes = info[4].As<Napi::Number>().Int64Value();
  for (long r = 0; r < rows; ++r) softmaxGradRow(dy + r * classes, y + r * classes, dx + r * classes, classes);
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  trainyard::kernelThreads() = std::max(1, info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), trainyard::kernelThreads().load()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Our pool is the only source of threads: OpenBLAS's own, woken by any product it deems large
  // enough, poll for a long while after it and took the second core from the pool's helper (an MLP
  // step on 2 threads went from 3.2 to 5.5 ms).
  openblas_set_num_threads(1);
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("optimizerStep", Napi::Function::New(env, OptimizerStep));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("unary", Napi::Function::New(env, UnaryOp));
  exports.Set("binary", Napi::Function::New(env, BinaryOp));
  exports.Set("reduceInner", Napi::Function::New(env, ReduceInner));
  exports.Set("reduceLeading", Napi::Function::New(env, ReduceLeading));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("pool", Napi::Function::New(env, Pool));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("unpack", Napi::Function::New(env, Unpack));
  exports.Set("pack", Napi::Function::New(env, Pack));
  exports.Set("lstmCell", Napi::Function::New(env, LstmCell));
  exports.Set("lstmCellGrad", Napi::Function::New(env, LstmCellGrad));
  exports.Set("gruSequence", Napi::Function::New(env, GruSequence));
  exports.Set("gruSequenceGrad", Napi::Function::New(env, GruSequenceGrad));
  exports.Set("lstmSequence", Napi::Function::New(env, LstmSequence));
  exports.Set("lstmSequenceGrad", Napi::Function::New(env, LstmSequenceGrad));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("biasActivation", Napi::Function::New(env, BiasActivation));
  exports.Set("denseGrad", Napi::Function::New(env, DenseGrad));
  exports.Set("gather", Napi::Function::New(env, Gather));
  exports.Set("depthwiseConv2d", Napi::Function::New(env, DepthwiseConv2d));
  exports.Set("depthwiseConv2dBackpropInput", Napi::Function::New(env, DepthwiseConv2dBackpropInput));
  exports.Set("depthwiseConv2dBackpropFilter", Napi::Function::New(env, DepthwiseConv2dBackpropFilter));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormGrad", Napi::Function::New(env, LayerNormGrad));
  exports.Set("softmaxGrad", Napi::Function::New(env, SoftmaxGrad));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  trainyard::registerBatchNorm(env, exports);
  trainyard::registerAttention(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(trainyard_native, Init)
