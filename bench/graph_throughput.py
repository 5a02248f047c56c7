"""Issue 23's graph bench models in PyTorch, for `npm run bench -- --only graphs`: one measurement per process.

    python3 bench/graph_throughput.py <model index> <budget ms | steps:N> <threads>

prints {"samplesPerSecond", "peakRssMb", "coresBusy", "device", "steps"} as JSON (coresBusy: CPU seconds per second
while timed). The models of bench/graph-models.ts, in the same order and with the same widths; the same work as
bench/graph-child.ts: forward, softmax cross-entropy, backward and an Adam step on a fixed synthetic batch.
"""
import json
import math
import resource
import sys
import time

import torch
from torch import nn

model_index, threads = int(sys.argv[1]), int(sys.argv[3])
fixed_steps = int(sys.argv[2][6:]) if sys.argv[2].startswith("steps:") else None
budget_ms = None if fixed_steps is not None else float(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)

VOCABULARY, D_MODEL, HEADS, FF_DIM, SEQUENCE = 1000, 64, 4, 256, 32


class Transformer(nn.Module):
    """embedding → sinusoidal positions → 2 post-LN encoder blocks (relu, no dropout) → mean over time → dense 10."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY, D_MODEL)
        position = torch.arange(SEQUENCE).unsqueeze(1)
        rate = torch.exp(torch.arange(0, D_MODEL, 2) * (-math.log(10000.0) / D_MODEL))
        table = torch.zeros(SEQUENCE, D_MODEL)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate)
        self.register_buffer("positions", table)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(D_MODEL, HEADS, dim_feedforward=FF_DIM, dropout=0.0, batch_first=True) for _ in range(2)
        )
        self.out = nn.Linear(D_MODEL, 10)

    def forward(self, tokens):
        h = self.embedding(tokens) + self.positions
        for block in self.blocks:
            h = block(h)
        return self.out(h.mean(dim=1))


def conv_bn(cin, cout, kernel, stride):
    # padding k // 2: 'same' at stride 1, and 28 → 14 → 7 at stride 2 as TF.js's 'same' (which pads 0/1, not 1/1).
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout, 3, 1)
        self.short = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b(torch.relu(self.a(x))) + self.short(x))


class ResNet8(nn.Module):
    """conv-bn-relu stem (16) → basic blocks 16, 32 (/2), 64 (/2) → global average pooling → dense 10."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 16, 3, 1)
        self.stages = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        h = self.stages(torch.relu(self.stem(x)))
        return self.out(h.mean(dim=(2, 3)))


models = [
    (64, lambda b: torch.randint(0, VOCABULARY, (b, SEQUENCE)), Transformer),
    (64, lambda b: torch.rand(b, 1, 28, 28), ResNet8),
]
batch, make_input, build = models[model_index]
model = build()
model.train()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
loss_fn = nn.CrossEntropyLoss()
x = make_input(batch)
y = torch.randint(0, 10, (batch,))


def step():
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


step()
steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
while (steps < fixed_steps) if fixed_steps is not None else ((time.perf_counter() - start) * 1000 < budget_ms or steps < 3):
    step()
    steps += 1
elapsed = time.perf_counter() - start
cores_busy = (time.process_time() - cpu_start) / elapsed
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"samplesPerSecond": steps * batch / elapsed, "peakRssMb": peak_mb, "coresBusy": cores_busy, "device": f"PyTorch {torch.__version__}, {threads} thread(s)", "steps": steps}))
