// TF.js kernels over OpenBLAS: batched sgemm and 2-D convolution (forward and both gradients) as
// im2col + sgemm. Every function works in place on Float32Arrays the caller allocated (views of
// the wasm backend's heap), so no tensor data is copied between JavaScript and here.
#include <napi.h>
#include <cblas.h>
#include <cstring>
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
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  return exports;
}

}  // namespace

NODE_API_MODULE(trainyard_native, Init)
