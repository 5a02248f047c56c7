// TF.js kernels over OpenBLAS: batched sgemm and 2-D convolution (forward and both gradients) as
// im2col + sgemm. Every function works in place on Float32Arrays the caller allocated (views of
// the wasm backend's heap), so no tensor data is copied between JavaScript and here.
#include <napi.h>
#include <cblas.h>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

namespace {

float* floats(const Napi::Value& value) {
  auto array = value.As<Napi::Float32Array>();
  return array.Data();
}

int integer(const Napi::Object& params, const char* name) { return params.Get(name).As<Napi::Number>().Int32Value(); }

// gemm(transA, transB, M, N, K, a, b, c, batch, strideA, strideB, strideC): C_i = op(A_i) op(B_i), row-major.
// A stride of 0 broadcasts that operand over the batch.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  const bool transA = info[0].As<Napi::Boolean>();
  const bool transB = info[1].As<Napi::Boolean>();
  const int m = info[2].As<Napi::Number>().Int32Value();
  const int n = info[3].As<Napi::Number>().Int32Value();
  const int k = info[4].As<Napi::Number>().Int32Value();
  const float* a = floats(info[5]);
  const float* b = floats(info[6]);
  float* c = floats(info[7]);
  const int batch = info[8].As<Napi::Number>().Int32Value();
  const long strideA = info[9].As<Napi::Number>().Int64Value();
  const long strideB = info[10].As<Napi::Number>().Int64Value();
  const long strideC = info[11].As<Napi::Number>().Int64Value();
  const int lda = transA ? m : k;
  const int ldb = transB ? k : n;
  for (int i = 0; i < batch; ++i) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a + i * strideA, lda,
                b + i * strideB, ldb, 0.0f, c + i * strideC, n);
  }
  return info.Env().Undefined();
}

struct ConvParams {
  int batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, padTop, padLeft, dilH, dilW;
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

// One image (NHWC) → columns [outH·outW, fH·fW·inC]; padding reads as zero.
void im2col(const ConvParams& p, const float* image, float* cols) {
  for (int oy = 0; oy < p.outH; ++oy) {
    for (int ox = 0; ox < p.outW; ++ox) {
      float* row = cols + (static_cast<long>(oy) * p.outW + ox) * p.patch();
      for (int fy = 0; fy < p.fH; ++fy) {
        const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
          float* out = row + (static_cast<long>(fy) * p.fW + fx) * p.inC;
          if (iy < 0 || iy >= p.inH || ix < 0 || ix >= p.inW) {
            std::memset(out, 0, sizeof(float) * p.inC);
          } else {
            std::memcpy(out, image + (static_cast<long>(iy) * p.inW + ix) * p.inC, sizeof(float) * p.inC);
          }
        }
      }
    }
  }
}

// The adjoint of im2col: adds each column entry back onto the pixel it came from.
void col2im(const ConvParams& p, const float* cols, float* image) {
  for (int oy = 0; oy < p.outH; ++oy) {
    for (int ox = 0; ox < p.outW; ++ox) {
      const float* row = cols + (static_cast<long>(oy) * p.outW + ox) * p.patch();
      for (int fy = 0; fy < p.fH; ++fy) {
        const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
        if (iy < 0 || iy >= p.inH) continue;
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
          if (ix < 0 || ix >= p.inW) continue;
          const float* in = row + (static_cast<long>(fy) * p.fW + fx) * p.inC;
          float* pixel = image + (static_cast<long>(iy) * p.inW + ix) * p.inC;
          for (int c = 0; c < p.inC; ++c) pixel[c] += in[c];
        }
      }
    }
  }
}

// conv2d(x, filter, out, params): out_b [P, outC] = cols_b [P, K] · filter [K, outC].
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  const float* filter = floats(info[1]);
  float* out = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  auto& cols = scratch(p.positions() * p.patch());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  for (int b = 0; b < p.batch; ++b) {
    im2col(p, x + b * image, cols.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p.positions(), p.outC, p.patch(), 1.0f, cols.data(), p.patch(), filter, p.outC, 0.0f,
                out + b * p.positions() * p.outC, p.outC);
  }
  return info.Env().Undefined();
}

// conv2dBackpropFilter(x, dy, dw, params): dw [K, outC] = Σ_b cols_bᵀ · dy_b.
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  const float* dy = floats(info[1]);
  float* dw = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  auto& cols = scratch(p.positions() * p.patch());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  for (int b = 0; b < p.batch; ++b) {
    im2col(p, x + b * image, cols.data());
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p.patch(), p.outC, p.positions(), 1.0f, cols.data(), p.patch(), dy + b * p.positions() * p.outC,
                p.outC, b == 0 ? 0.0f : 1.0f, dw, p.outC);
  }
  if (p.batch == 0) std::memset(dw, 0, sizeof(float) * p.patch() * p.outC);
  return info.Env().Undefined();
}

// conv2dBackpropInput(dy, filter, dx, params): dcols_b [P, K] = dy_b · filterᵀ, then col2im into dx_b.
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* filter = floats(info[1]);
  float* dx = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  auto& cols = scratch(p.positions() * p.patch());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  std::memset(dx, 0, sizeof(float) * image * p.batch);
  for (int b = 0; b < p.batch; ++b) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p.positions(), p.patch(), p.outC, 1.0f, dy + b * p.positions() * p.outC, p.outC, filter, p.outC,
                0.0f, cols.data(), p.patch());
    col2im(p, cols.data(), dx + b * image);
  }
  return info.Env().Undefined();
}

// maxPoolGrad(dy, x, dx, params): each output's gradient goes to the first largest input of its
// window (strictly greater, window scanned column by column), where the stock wasm kernel routes
// it, ties included (relu leaves many); windows that overlap add up.
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  const float* dy = floats(info[0]);
  const float* x = floats(info[1]);
  float* dx = floats(info[2]);
  const ConvParams p(info[3].As<Napi::Object>());
  const long image = static_cast<long>(p.inH) * p.inW * p.inC;
  std::memset(dx, 0, sizeof(float) * image * p.batch);
  std::vector<float> best(p.inC);
  std::vector<long> where(p.inC);
  for (int b = 0; b < p.batch; ++b) {
    const float* xb = x + b * image;
    float* dxb = dx + b * image;
    for (int oy = 0; oy < p.outH; ++oy) {
      for (int ox = 0; ox < p.outW; ++ox) {
        std::fill(best.begin(), best.end(), -INFINITY);
        std::fill(where.begin(), where.end(), -1L);
        // Column by column, as tfjs-backend-wasm's MaxPoolGrad scans: it decides which of equal values wins.
        for (int fx = 0; fx < p.fW; ++fx) {
          const int ix = ox * p.strideW - p.padLeft + fx * p.dilW;
          if (ix < 0 || ix >= p.inW) continue;
          for (int fy = 0; fy < p.fH; ++fy) {
            const int iy = oy * p.strideH - p.padTop + fy * p.dilH;
            if (iy < 0 || iy >= p.inH) continue;
            const long base = (static_cast<long>(iy) * p.inW + ix) * p.inC;
            for (int c = 0; c < p.inC; ++c) {
              if (xb[base + c] > best[c]) {
                best[c] = xb[base + c];
                where[c] = base + c;
              }
            }
          }
        }
        const float* g = dy + ((static_cast<long>(b) * p.outH + oy) * p.outW + ox) * p.inC;
        for (int c = 0; c < p.inC; ++c) {
          if (where[c] >= 0) dxb[where[c]] += g[c];
        }
      }
    }
  }
  return info.Env().Undefined();
}

// sumLeading(x, out, outer, inner): out[j] = Σ_i x[i·inner + j], the sum over leading axes (a bias
// gradient: every axis but the channels).
Napi::Value SumLeading(const Napi::CallbackInfo& info) {
  const float* x = floats(info[0]);
  float* out = floats(info[1]);
  const long outer = info[2].As<Napi::Number>().Int64Value();
  const long inner = info[3].As<Napi::Number>().Int64Value();
  std::memset(out, 0, sizeof(float) * inner);
  for (long i = 0; i < outer; ++i) {
    const float* row = x + i * inner;
    for (long j = 0; j < inner; ++j) out[j] += row[j];
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
    for (size_t i = 0; i < n; ++i) thetaOut[i] = theta[i] - lr * g[i];
  } else if (rule == "momentum" || rule == "nesterov") {
    const float mu = static_cast<float>(number(params, "momentum"));
    const float* v = floats(inputs.Get(2u));
    float* vOut = floats(outputs.Get(1u));
    const bool nesterov = rule == "nesterov";
    for (size_t i = 0; i < n; ++i) {
      const float velocity = mu * v[i] + g[i];
      vOut[i] = velocity;
      const float direction = nesterov ? g[i] + mu * velocity : velocity;
      thetaOut[i] = theta[i] - lr * direction;
    }
  } else if (rule == "adagrad") {
    const float eps = static_cast<float>(number(params, "epsilon"));
    const float* acc = floats(inputs.Get(2u));
    float* accOut = floats(outputs.Get(1u));
    for (size_t i = 0; i < n; ++i) {
      const float sum = acc[i] + g[i] * g[i];
      accOut[i] = sum;
      thetaOut[i] = theta[i] - lr * (g[i] / (std::sqrt(sum) + eps));
    }
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
    for (size_t i = 0; i < n; ++i) {
      const float s = rho * sq[i] + oneMinusRho * (g[i] * g[i]);
      sqOut[i] = s;
      float direction = g[i] / (std::sqrt(s) + eps);
      if (withMomentum) {
        direction = mu * buffer[i] + direction;
        bufferOut[i] = direction;
      }
      thetaOut[i] = theta[i] - lr * direction;
    }
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
    adamUpdate(n, theta, g, m, v, thetaOut, mOut, vOut, {beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, correction1, correction2, decay, lr});
  } else {
    Napi::TypeError::New(info.Env(), "unknown optimizer rule " + rule).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  openblas_set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), openblas_get_num_threads()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("optimizerStep", Napi::Function::New(env, OptimizerStep));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("sumLeading", Napi::Function::New(env, SumLeading));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  return exports;
}

}  // namespace

NODE_API_MODULE(trainyard_native, Init)
