"""The bench models in PyTorch, for `npm run bench -- --only pytorch`: one measurement per process.

    python3 bench/pytorch_throughput.py <model index> <budget ms | steps:N> <threads> [cpu|cuda]

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
# The GPU kit (bench/gpu/) measures the same models on CUDA; the CPU comparison stays the default.
device = torch.device(sys.argv[4] if len(sys.argv) > 4 else "cpu")
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
model = build().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
loss_fn = nn.CrossEntropyLoss()
x = torch.rand(batch, *shape, device=device)
y = torch.randint(0, 10, (batch,), device=device)


def step():
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    # .item() waits for the step to finish on the device, as TF.js's `await loss.data()` does.
    return loss.item()


# The first steps pay set-up (on CUDA: context, cuDNN's algorithm choice); they are not timed.
for _ in range(3 if device.type == "cuda" else 1):
    step()
steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
while (steps < fixed_steps) if fixed_steps is not None else ((time.perf_counter() - start) * 1000 < budget_ms or steps < 3):
    step()
    steps += 1
elapsed = time.perf_counter() - start


def describe():
    if device.type == "cuda":
        return f"PyTorch {torch.__version__} CUDA {torch.version.cuda}: {torch.cuda.get_device_name(device)}"
    return f"PyTorch {torch.__version__}, {threads} thread(s)"


cores_busy = (time.process_time() - cpu_start) / elapsed
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"samplesPerSecond": steps * batch / elapsed, "peakRssMb": peak_mb, "coresBusy": cores_busy, "device": describe()}))
