// Scaled dot-product attention over heads as one kernel each way. TF.js composes it of a dozen
// kernels: the heads split out of the projections and merged back by transposes, the query scaled,
// two batched products, the mask, softmax, and as many again for the gradient. Here each (image,
// head) pair is four small products straight on the projections' [batch, T, heads·d] layout (a head
// is a run of columns: the leading dimension skips the others), with the probabilities kept for the
// gradient. Each product, softmax and gradient step is the composed kernels' own operation on the
// same operands, so the values are theirs to the bit.
#include <cblas.h>
#include "kernel_support.h"
#include "parallel.h"
#include <algorithm>
#include <vector>

namespace trainyard {
namespace {

struct AttentionShape {
  long batch, heads, tq, tk, dk, dv;
  float scale;
  bool causal;
  explicit AttentionShape(const Napi::Object& p)
      : batch(p.Get("batch").As<Napi::Number>().Int64Value()),
        heads(p.Get("heads").As<Napi::Number>().Int64Value()),
        tq(p.Get("tq").As<Napi::Number>().Int64Value()),
        tk(p.Get("tk").As<Napi::Number>().Int64Value()),
        dk(p.Get("dk").As<Napi::Number>().Int64Value()),
        dv(p.Get("dv").As<Napi::Number>().Int64Value()),
        scale(p.Get("scale").As<Napi::Number>().FloatValue()),
        causal(p.Get("causal").As<Napi::Boolean>().Value()) {}
  // Row strides of the query/key and value/output layouts.
  long keyRow() const { return heads * dk; }
  long valueRow() const { return heads * dv; }
  // Offsets of pair (b, h)'s first element in each layout.
  long query(long b, long h) const { return b * tq * keyRow() + h * dk; }
  long key(long b, long h) const { return b * tk * keyRow() + h * dk; }
  long value(long b, long h) const { return b * tk * valueRow() + h * dv; }
  long output(long b, long h) const { return b * tq * valueRow() + h * dv; }
  long probabilities(long b, long h) const { return (b * heads + h) * tq * tk; }
};

std::vector<float>& buffer(int which, size_t size) {
  static thread_local std::vector<float> buffers[4];
  if (buffers[which].size() < size) buffers[which].resize(size);
  return buffers[which];
}

// q·scale for pair (b, h), as the Mul kernel scales the query before the product: [tq, dk], contiguous.
void scaledQuery(const AttentionShape& s, const float* q, long b, long h, float* out) {
  const float* from = q + s.query(b, h);
  for (long i = 0; i < s.tq; ++i)
    for (long j = 0; j < s.dk; ++j) out[i * s.dk + j] = from[i * s.keyRow() + j] * s.scale;
}

// fn(b, h) for every pair, split over the kernel threads.
void overPairs(const AttentionShape& s, const std::function<void(long, long)>& fn) {
  overRange(s.batch * s.heads, 1, [&](long first, long end) {
    for (long pair = first; pair < end; ++pair) fn(pair / s.heads, pair % s.heads);
  }, 1);
}

// attention(q, k, v, out, probabilities, shape): out = softmax(q·scale · kᵀ [+ causal mask]) · v per head.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  const float* q = floats(info[0]);
  const float* k = floats(info[1]);
  const float* v = floats(info[2]);
  float* out = floats(info[3]);
  float* probabilities = floats(info[4]);
  const AttentionShape s(info[5].As<Napi::Object>());
  overPairs(s, [&](long b, long h) {
    float* qs = buffer(0, s.tq * s.dk).data();
    float* scores = buffer(1, s.tq * s.tk).data();
    float* p = probabilities + s.probabilities(b, h);
    scaledQuery(s, q, b, h, qs);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.tq, s.tk, s.dk, 1.0f, qs, s.dk, k + s.key(b, h), s.keyRow(), 0.0f, scores, s.tk);
    for (long i = 0; i < s.tq; ++i) {
      float* row = scores + i * s.tk;
      // The causal mask is an Add of −1e9 after the diagonal, and of 0 elsewhere (which turns −0 into +0).
      if (s.causal)
        for (long j = 0; j < s.tk; ++j) row[j] = row[j] + (j > i ? -1e9f : 0.0f);
      float max = row[0];
      for (long j = 1; j < s.tk; ++j) max = row[j] > max ? row[j] : max;
      softmaxRow(row, p + i * s.tk, max, s.tk);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.tq, s.dv, s.tk, 1.0f, p, s.tk, v + s.value(b, h), s.valueRow(), 0.0f, out + s.output(b, h),
                s.valueRow());
  });
  return info.Env().Undefined();
}

// attentionGrad(dOut, q, k, v, probabilities, dq, dk, dv, shape), with BatchMatMul's gradient formulas:
// dP = dO·vᵀ, dv = Pᵀ·dO, dS = softmax's gradient, d(q·scale) = dS·k, dk = dSᵀ·(q·scale), dq = d(q·scale)·scale.
Napi::Value AttentionGrad(const Napi::CallbackInfo& info) {
  const float* dOut = floats(info[0]);
  const float* q = floats(info[1]);
  const float* k = floats(info[2]);
  const float* v = floats(info[3]);
  const float* probabilities = floats(info[4]);
  float* dq = floats(info[5]);
  float* dk = floats(info[6]);
  float* dv = floats(info[7]);
  const AttentionShape s(info[8].As<Napi::Object>());
  overPairs(s, [&](long b, long h) {
    float* qs = buffer(0, s.tq * s.dk).data();
    float* dScores = buffer(1, s.tq * s.tk).data();
    float* dQs = buffer(2, s.tq * s.dk).data();
    const float* p = probabilities + s.probabilities(b, h);
    const float* dO = dOut + s.output(b, h);
    float* dP = buffer(3, s.tq * s.tk).data();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.tq, s.tk, s.dv, 1.0f, dO, s.valueRow(), v + s.value(b, h), s.valueRow(), 0.0f, dP, s.tk);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.tk, s.dv, s.tq, 1.0f, p, s.tk, dO, s.valueRow(), 0.0f, dv + s.value(b, h), s.valueRow());
    for (long i = 0; i < s.tq; ++i) softmaxGradRow(dP + i * s.tk, p + i * s.tk, dScores + i * s.tk, s.tk);
    scaledQuery(s, q, b, h, qs);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.tq, s.dk, s.tk, 1.0f, dScores, s.tk, k + s.key(b, h), s.keyRow(), 0.0f, dQs, s.dk);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.tk, s.dk, s.tq, 1.0f, dScores, s.tk, qs, s.dk, 0.0f, dk + s.key(b, h), s.keyRow());
    float* dqRows = dq + s.query(b, h);
    for (long i = 0; i < s.tq; ++i)
      for (long j = 0; j < s.dk; ++j) dqRows[i * s.keyRow() + j] = dQs[i * s.dk + j] * s.scale;
  });
  return info.Env().Undefined();
}

}  // namespace

void registerAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionGrad", Napi::Function::New(env, AttentionGrad));
}

}  // namespace trainyard
