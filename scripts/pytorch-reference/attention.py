#!/usr/bin/env python3
"""Reference numbers from PyTorch for the attention-family layers (test/engine/attention-layers.test.ts).

Run with Debian's python3-torch (PyTorch 1.13), from the repository root:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/pytorch-reference/attention.py

It writes test/fixtures/pytorch/attention.json: for each case the layer's arguments, the inputs,
the weights under the TF.js layer's names (kernels are PyTorch's weights transposed), an upstream
gradient R, and PyTorch's output y and the gradients of sum(y * R) with respect to every input
and every weight. Weights and inputs are drawn in float32; the modules then run in float64, so the
reference carries no rounding of its own and the tests measure the TF.js float32 error alone.
Every parameter is drawn at random (biases, layer-norm gains and shifts too), so a weight that is
mapped to the wrong place cannot hide behind a zero or a one.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'pytorch')
gen = torch.Generator().manual_seed(20230)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale).double()


def tensor_json(t):
    return {'shape': list(t.shape), 'values': [float(v) for v in t.detach().reshape(-1).tolist()]}


def randomize(module):
    """Every parameter from N(0, 0.3²), layer-norm gains around 1; rounded to float32 (then float64 for the run)."""
    module.double()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'norm' in name and name.endswith('weight'):
                p.copy_(1 + randn(*p.shape, scale=0.2))
            else:
                p.copy_(randn(*p.shape, scale=0.3))
    return module


def attention_map(prefix, mha):
    """Our names → the torch tensor (parameter or its gradient) of one nn.MultiheadAttention, kernels transposed."""
    e = mha.embed_dim

    def of(get):
        if mha._qkv_same_embed_dim:
            w = get(mha.in_proj_weight)
            ws = [w[:e], w[e:2 * e], w[2 * e:]]
        else:
            ws = [get(mha.q_proj_weight), get(mha.k_proj_weight), get(mha.v_proj_weight)]
        out = {}
        for name, w in zip(['query', 'key', 'value'], ws):
            out[f'{prefix}{name}/kernel'] = w.t()
        if mha.in_proj_bias is not None:
            b = get(mha.in_proj_bias)
            for i, name in enumerate(['query', 'key', 'value']):
                out[f'{prefix}{name}/bias'] = b[i * e:(i + 1) * e]
        out[f'{prefix}output/kernel'] = get(mha.out_proj.weight).t()
        if mha.out_proj.bias is not None:
            out[f'{prefix}output/bias'] = get(mha.out_proj.bias)
        return out
    return of


def block_map(layer, decoder):
    def of(get):
        out = {}
        out.update(attention_map('self_attention/', layer.self_attn)(get))
        out['self_attention_norm/gamma'] = get(layer.norm1.weight)
        out['self_attention_norm/beta'] = get(layer.norm1.bias)
        if decoder:
            out.update(attention_map('cross_attention/', layer.multihead_attn)(get))
            out['cross_attention_norm/gamma'] = get(layer.norm2.weight)
            out['cross_attention_norm/beta'] = get(layer.norm2.bias)
        ff_norm = layer.norm3 if decoder else layer.norm2
        out['feedforward_intermediate/kernel'] = get(layer.linear1.weight).t()
        out['feedforward_intermediate/bias'] = get(layer.linear1.bias)
        out['feedforward_output/kernel'] = get(layer.linear2.weight).t()
        out['feedforward_output/bias'] = get(layer.linear2.bias)
        out['feedforward_norm/gamma'] = get(ff_norm.weight)
        out['feedforward_norm/beta'] = get(ff_norm.bias)
        return out
    return of


def causal(tq, tk):
    return torch.triu(torch.ones(tq, tk, dtype=torch.bool), diagonal=1)


def manual_attention(q_in, k_in, v_in, w, heads, is_causal):
    """Multi-head attention written out (for head widths nn.MultiheadAttention cannot have)."""
    def proj(x, name):
        y = x @ w[f'{name}/kernel']
        return y + w[f'{name}/bias'] if f'{name}/bias' in w else y

    def split(x):
        b, t, width = x.shape
        return x.reshape(b, t, heads, width // heads).transpose(1, 2)

    q, k, v = split(proj(q_in, 'query')), split(proj(k_in, 'key')), split(proj(v_in, 'value'))
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)
    if is_causal:
        scores = scores.masked_fill(causal(q.shape[2], k.shape[2]), float('-inf'))
    attended = torch.softmax(scores, dim=-1) @ v
    b, _, tq, dv = attended.shape
    return proj(attended.transpose(1, 2).reshape(b, tq, heads * dv), 'output')


def run_case(name, kind, config, inputs, weights, forward):
    """Forward, then the gradients of sum(y * R) w.r.t. the inputs and every weight (weights: name → leaf tensor)."""
    for t in inputs + list(weights.values()):
        t.requires_grad_(True)
    y = forward()
    upstream = randn(*y.shape)
    (y * upstream).sum().backward()
    return {
        'name': name,
        'kind': kind,
        'config': config,
        'inputs': [tensor_json(t) for t in inputs],
        'weights': {k: tensor_json(v) for k, v in weights.items()},
        'upstream': tensor_json(upstream),
        'output': tensor_json(y),
        'inputGradients': [tensor_json(t.grad) for t in inputs],
        'weightGradients': {k: tensor_json(v.grad) for k, v in weights.items()},
    }


def module_case(name, kind, config, module, weight_map, inputs, call):
    """A case run through a torch module: the weights and their gradients read back under our names."""
    randomize(module).train()
    for t in inputs:
        t.requires_grad_(True)
    y = call(module, inputs)
    upstream = randn(*y.shape)
    (y * upstream).sum().backward()
    return {
        'name': name,
        'kind': kind,
        'config': config,
        'inputs': [tensor_json(t) for t in inputs],
        'weights': {k: tensor_json(v) for k, v in weight_map(lambda p: p.detach()).items()},
        'upstream': tensor_json(upstream),
        'output': tensor_json(y),
        'inputGradients': [tensor_json(t.grad) for t in inputs],
        'weightGradients': {k: tensor_json(v) for k, v in weight_map(lambda p: p.grad).items()},
    }


def attention_cases():
    cases = []
    b = 2

    def torch_mha(name, config, mha, inputs, is_causal):
        def call(m, xs):
            # apply(x), apply([query, value]) or apply([query, key, value]), as the TF.js layer is called.
            q, k, v = [xs[0], xs[-1], xs[-1]] if len(xs) < 3 else xs
            mask = causal(q.shape[1], k.shape[1]) if is_causal else None
            y, _ = m(q, k, v, attn_mask=mask, need_weights=False)
            # The written-out attention must agree with the module: it is what the other cases use.
            w = {k_: v_.detach() for k_, v_ in attention_map('', m)(lambda p: p).items()}
            manual = manual_attention(q.detach(), k.detach(), v.detach(), w, m.num_heads, is_causal)
            assert torch.allclose(manual, y.detach(), rtol=0, atol=1e-12), name
            return y
        cases.append(module_case(name, 'multiHeadAttention', config, mha, attention_map('', mha), inputs, call))

    torch_mha('self-attention, 2 heads (nn.MultiheadAttention(8, 2))', {'numHeads': 2, 'keyDim': 4},
              torch.nn.MultiheadAttention(8, 2, batch_first=True), [randn(b, 5, 8)], False)
    torch_mha('causal self-attention, 2 heads', {'numHeads': 2, 'keyDim': 4, 'causal': True},
              torch.nn.MultiheadAttention(8, 2, batch_first=True), [randn(b, 5, 8)], True)
    torch_mha('self-attention without biases, 4 heads (bias=False)', {'numHeads': 4, 'keyDim': 2, 'useBias': False},
              torch.nn.MultiheadAttention(8, 4, bias=False, batch_first=True), [randn(b, 5, 8)], False)
    torch_mha('cross-attention [query, value], key = value', {'numHeads': 2, 'keyDim': 4},
              torch.nn.MultiheadAttention(8, 2, batch_first=True), [randn(b, 4, 8), randn(b, 6, 8)], False)
    torch_mha('cross-attention [query, key, value] of widths 8, 6, 5, causal over Tq 4 < Tk 6 (kdim=6, vdim=5)',
              {'numHeads': 2, 'keyDim': 4, 'causal': True},
              torch.nn.MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=True), [randn(b, 4, 8), randn(b, 6, 6), randn(b, 6, 5)], True)

    # Head widths nn.MultiheadAttention cannot express: keyDim 3, valueDim 5, outputDim 6, 3 heads.
    def manual_case(name, config, q_in, k_in, v_in, input_list, dims, use_bias, is_causal):
        weights = {}
        for proj, (din, dout) in dims.items():
            weights[f'{proj}/kernel'] = randn(din, dout, scale=0.3)
            if use_bias:
                weights[f'{proj}/bias'] = randn(dout, scale=0.3)
        cases.append(run_case(name, 'multiHeadAttention', config, input_list, weights,
                              lambda: manual_attention(q_in, k_in, v_in, weights, config['numHeads'], is_causal)))

    x = randn(b, 5, 7)
    manual_case('3 heads, keyDim 3, valueDim 5, outputDim 6, causal self-attention (written out)',
                {'numHeads': 3, 'keyDim': 3, 'valueDim': 5, 'outputDim': 6, 'causal': True}, x, x, x, [x],
                {'query': (7, 9), 'key': (7, 9), 'value': (7, 15), 'output': (15, 6)}, True, True)
    q, k, v = randn(b, 3, 4), randn(b, 7, 6), randn(b, 7, 2)
    manual_case('3 heads, keyDim 2, valueDim 4, no bias, cross-attention [query, key, value] (written out)',
                {'numHeads': 3, 'keyDim': 2, 'valueDim': 4, 'useBias': False}, q, k, v, [q, k, v],
                {'query': (4, 6), 'key': (6, 6), 'value': (2, 12), 'output': (12, 4)}, False, False)
    return cases


def block_cases():
    cases = []
    b = 2

    def encoder(name, d, heads, ff, activation, norm_first, is_causal, epsilon=1e-5):
        layer = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation=activation, layer_norm_eps=epsilon, batch_first=True, norm_first=norm_first)
        config = {'numHeads': heads, 'ffDim': ff, 'activation': activation, 'normFirst': norm_first, 'causal': is_causal, 'epsilon': epsilon}

        def call(m, xs):
            return m(xs[0], src_mask=causal(xs[0].shape[1], xs[0].shape[1]) if is_causal else None)
        cases.append(module_case(name, 'transformerEncoderBlock', config, layer, block_map(layer, False), [randn(b, 5, d)], call))

    encoder('encoder, post-LN, relu (TransformerEncoderLayer(8, 2, 16))', 8, 2, 16, 'relu', False, False)
    encoder('encoder, pre-LN, gelu (norm_first=True)', 8, 2, 16, 'gelu', True, False)
    encoder('encoder, post-LN, gelu, causal src_mask, epsilon 1e-3', 8, 2, 12, 'gelu', False, True, 1e-3)
    encoder('encoder, pre-LN, relu, causal, 4 heads', 8, 4, 16, 'relu', True, True)

    def decoder(name, d, heads, ff, activation, norm_first, tgt_len=5, mem_len=6):
        layer = torch.nn.TransformerDecoderLayer(d, heads, ff, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first)
        config = {'numHeads': heads, 'ffDim': ff, 'activation': activation, 'normFirst': norm_first}

        def call(m, xs):
            return m(xs[0], xs[1], tgt_mask=causal(tgt_len, tgt_len))
        cases.append(module_case(name, 'transformerDecoderBlock', config, layer, block_map(layer, True), [randn(b, tgt_len, d), randn(b, mem_len, d)], call))

    decoder('decoder, post-LN, relu, causal tgt_mask (TransformerDecoderLayer(8, 2, 16))', 8, 2, 16, 'relu', False)
    decoder('decoder, pre-LN, gelu (norm_first=True)', 8, 2, 16, 'gelu', True)
    decoder('decoder, post-LN, gelu, 4 heads, memory shorter than the target', 8, 4, 12, 'gelu', False, tgt_len=6, mem_len=3)
    return cases


def sinusoidal(length, d):
    """Vaswani et al. 2017, §3.5, in float64: sin at even features, cos at odd, frequency 1/10000^(2i/d)."""
    pos = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(0, d, 2, dtype=torch.float64)
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), i / d)
    pe = torch.zeros(length, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe


def positional_cases():
    cases = []
    b = 2
    for d, length, max_length in [(8, 5, 7), (7, 6, 6)]:
        x = randn(b, length, d)
        cases.append(run_case(f'sinusoidal, d={d}, T={length}', 'positionalEmbedding', {'mode': 'sinusoidal', 'maxLength': max_length}, [x], {},
                              lambda x=x, length=length, d=d: x + sinusoidal(length, d)))
    x = randn(b, 4, 6)
    table = randn(9, 6, scale=0.3)
    cases.append(run_case('learned, T=4 of maxLength 9', 'positionalEmbedding', {'mode': 'learned', 'maxLength': 9}, [x], {'embeddings': table},
                          lambda: x + table[:4]))
    return cases


def main():
    cases = attention_cases() + block_cases() + positional_cases()
    payload = {'generatedBy': 'scripts/pytorch-reference/attention.py', 'torch': torch.__version__, 'loss': 'sum(output * upstream)', 'cases': cases}
    with open(os.path.join(OUT, 'attention.json'), 'w') as f:
        json.dump(payload, f)
        f.write('\n')
    print('wrote attention.json,', len(cases), 'cases', file=sys.stderr)


if __name__ == '__main__':
    main()
