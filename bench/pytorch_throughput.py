"""The bench models in PyTorch, for `npm run bench -- --only pytorch`: one measurement per process.

    python3 bench/pytorch_throughput.py <model index> <budget ms | steps:N> <threads>

prints {"samplesPerSecond", "peakRssMb", "coresBusy", "device"} as JSON (coresBusy: CPU seconds per second while timed). The same work as bench/training-throughput.ts:
forward, softmax cross-entropy, backward and an Adam step on a fixed synthetic batch.
"""
import json
import resource
import sys
import time

import torch
from torch import nn

model_index, threads = int(sys.argv[1]), int(sys.argv[3])
# steps:N runs exactly N timed steps (for instruction counts); otherwise the steps that fit the budget.
fixed_steps = int(sys.argv[2][6:]) if sys.argv[2].startswith("steps:") else None
budget_ms = None if fixed_steps is not None else float(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.out(h[-1])


class Gru(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(32, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        _, h = self.gru(x)
        return self.out(h[-1])


models = [
    (128, (784,), lambda: nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))),
    (64, (1, 28, 28), lambda: nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(12 * 12 * 64, 128), nn.ReLU(), nn.Linear(128, 10))),
    (64, (50, 32), Lstm),
    (64, (50, 32), Gru),
]
batch, shape, build = models[model_index]
model = build()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
loss_fn = nn.CrossEntropyLoss()
x = torch.rand(batch, *shape)
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
print(json.dumps({"samplesPerSecond": steps * batch / elapsed, "peakRssMb": peak_mb, "coresBusy": cores_busy, "device": f"PyTorch {torch.__version__}, {threads} thread(s)"}))
