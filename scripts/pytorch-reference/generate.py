#!/usr/bin/env python3
"""Reference numbers from PyTorch for the technique tests (test/engine/pytorch-reference.test.ts).

Run with Debian's python3-torch (PyTorch 1.13), from the repository root:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/pytorch-reference/generate.py

It writes test/fixtures/pytorch/*.json. The tests read those files and never need torch. Every
case names the Trainyard spec fragment it corresponds to (`schedule`, `optimizer`, ...), so a test
runs exactly that and compares rate by rate / value by value at float32 tolerance.
"""
import json
import math
import os
import sys

import torch
from torch.optim import lr_scheduler as S

torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'pytorch')


def write(name, payload):
    payload = {'generatedBy': 'scripts/pytorch-reference/generate.py', 'torch': torch.__version__, **payload}
    with open(os.path.join(OUT, name), 'w') as f:
        json.dump(payload, f, indent=1)
        f.write('\n')
    print('wrote', name, file=sys.stderr)


def floats(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


# ---------------------------------------------------------------- schedules
def rates(make, steps_per_epoch, epochs, per, lr=0.05):
    """The rate each optimizer step trains with, the scheduler stepped once per `per` ('step' or 'epoch')."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            out.append(opt.param_groups[0]['lr'])
            opt.step()
            if per == 'step':
                sched.step()
        if per == 'epoch':
            sched.step()
    return out


def schedules():
    cases = []

    def case(name, schedule, spe, epochs, per, make, lr=0.05):
        cases.append({'name': name, 'schedule': schedule, 'stepsPerEpoch': spe, 'epochs': epochs, 'torch': make[1], 'rates': rates(make[0], spe, epochs, per, lr)})

    spe, epochs = 5, 8
    T = spe * epochs
    w = 6
    case('warm-up then cosine, per step (SequentialLR(LinearLR, CosineAnnealingLR))',
         {'type': 'cosine', 'initial': 0.05, 'warmupSteps': w}, spe, epochs, 'step',
         (lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / w, total_iters=w), S.CosineAnnealingLR(o, T_max=T - w)], milestones=[w]),
          f'SequentialLR([LinearLR(start_factor=1/{w}, total_iters={w}), CosineAnnealingLR(T_max={T - w})], milestones=[{w}])'))
    case('warm-up from 0.2 then cosine to a floor, per step',
         {'type': 'cosine', 'initial': 0.05, 'warmupSteps': w, 'warmupStartFactor': 0.2, 'floor': 0.001}, spe, epochs, 'step',
         (lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.2, total_iters=w), S.CosineAnnealingLR(o, T_max=T - w, eta_min=0.001)], milestones=[w]),
          f'SequentialLR([LinearLR(start_factor=0.2, total_iters={w}), CosineAnnealingLR(T_max={T - w}, eta_min=0.001)], milestones=[{w}])'))
    case('cosine per step over the whole run', {'type': 'cosine', 'initial': 0.05}, spe, epochs, 'step',
         (lambda o: S.CosineAnnealingLR(o, T_max=T), f'CosineAnnealingLR(T_max={T})'))
    case('cosine per epoch', {'type': 'cosine', 'initial': 0.05, 'unit': 'epoch', 'floor': 0.002}, spe, epochs, 'epoch',
         (lambda o: S.CosineAnnealingLR(o, T_max=epochs, eta_min=0.002), f'CosineAnnealingLR(T_max={epochs}, eta_min=0.002), stepped per epoch'))
    case('warm-up epochs then cosine per epoch', {'type': 'cosine', 'initial': 0.05, 'unit': 'epoch', 'warmupEpochs': 2}, spe, epochs, 'epoch',
         (lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 2, total_iters=2), S.CosineAnnealingLR(o, T_max=epochs - 2)], milestones=[2]),
          f'SequentialLR([LinearLR(start_factor=1/2, total_iters=2), CosineAnnealingLR(T_max={epochs - 2})], milestones=[2]), stepped per epoch'))
    case('step per epoch', {'type': 'step', 'initial': 0.05, 'factor': 0.5, 'everyEpochs': 3}, spe, epochs, 'epoch',
         (lambda o: S.StepLR(o, step_size=3, gamma=0.5), 'StepLR(step_size=3, gamma=0.5), stepped per epoch'))
    case('step per step', {'type': 'step', 'initial': 0.05, 'factor': 0.7, 'everySteps': 7}, spe, epochs, 'step',
         (lambda o: S.StepLR(o, step_size=7, gamma=0.7), 'StepLR(step_size=7, gamma=0.7), stepped per step'))
    case('warm-up then step, per step', {'type': 'step', 'initial': 0.05, 'factor': 0.5, 'everySteps': 10, 'warmupSteps': 4}, spe, epochs, 'step',
         (lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 4, total_iters=4), S.StepLR(o, step_size=10, gamma=0.5)], milestones=[4]),
          'SequentialLR([LinearLR(start_factor=1/4, total_iters=4), StepLR(step_size=10, gamma=0.5)], milestones=[4])'))
    case('multi-step per epoch', {'type': 'multiStep', 'initial': 0.05, 'milestones': [2, 5], 'factor': 0.1}, spe, epochs, 'epoch',
         (lambda o: S.MultiStepLR(o, milestones=[2, 5], gamma=0.1), 'MultiStepLR(milestones=[2, 5], gamma=0.1), stepped per epoch'))
    case('multi-step per step', {'type': 'multiStep', 'initial': 0.05, 'milestones': [3, 11, 30], 'factor': 0.5, 'unit': 'step'}, spe, epochs, 'step',
         (lambda o: S.MultiStepLR(o, milestones=[3, 11, 30], gamma=0.5), 'MultiStepLR(milestones=[3, 11, 30], gamma=0.5), stepped per step'))
    case('exponential per epoch', {'type': 'exponential', 'initial': 0.05, 'decay': 0.8, 'decayEpochs': 1}, spe, epochs, 'epoch',
         (lambda o: S.ExponentialLR(o, gamma=0.8), 'ExponentialLR(gamma=0.8), stepped per epoch'))
    case('exponential per step', {'type': 'exponential', 'initial': 0.05, 'decay': 0.97}, spe, epochs, 'step',
         (lambda o: S.ExponentialLR(o, gamma=0.97), 'ExponentialLR(gamma=0.97), stepped per step'))
    case('warm-up then constant', {'type': 'constant', 'initial': 0.05, 'warmupSteps': 5}, spe, epochs, 'step',
         (lambda o: S.LinearLR(o, start_factor=1 / 5, total_iters=5), 'LinearLR(start_factor=1/5, total_iters=5)'))
    case('one cycle (cos)', {'type': 'oneCycle', 'initial': 0.05}, spe, epochs, 'step',
         (lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=T, cycle_momentum=False), f'OneCycleLR(max_lr=0.05, total_steps={T}, cycle_momentum=False)'))
    case('one cycle (linear, pct_start 0.25, div 10, final div 100)', {'type': 'oneCycle', 'initial': 0.05, 'anneal': 'linear', 'pctStart': 0.25, 'divFactor': 10, 'finalDivFactor': 100}, spe, epochs, 'step',
         (lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=T, anneal_strategy='linear', pct_start=0.25, div_factor=10, final_div_factor=100, cycle_momentum=False),
          f'OneCycleLR(max_lr=0.05, total_steps={T}, anneal_strategy="linear", pct_start=0.25, div_factor=10, final_div_factor=100, cycle_momentum=False)'))
    case('one cycle, three phases', {'type': 'oneCycle', 'initial': 0.05, 'threePhase': True}, spe, epochs, 'step',
         (lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=T, three_phase=True, cycle_momentum=False), f'OneCycleLR(max_lr=0.05, total_steps={T}, three_phase=True, cycle_momentum=False)'))

    # ReduceLROnPlateau: stepped once per epoch with a given metric sequence.
    plateau = []

    def plateau_case(name, schedule, kwargs, metrics):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=schedule['initial'])
        sched = S.ReduceLROnPlateau(opt, **kwargs)
        out = []
        for m in metrics:
            out.append(opt.param_groups[0]['lr'])
            sched.step(m)
        plateau.append({'name': name, 'schedule': schedule, 'torch': f'ReduceLROnPlateau({", ".join(f"{k}={v!r}" for k, v in kwargs.items())})', 'metrics': metrics, 'rates': out})

    losses = [1.0, 0.8, 0.79995, 0.81, 0.7, 0.70001, 0.75, 0.69, 0.7, 0.71, 0.72, 0.5, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65]
    plateau_case('min, relative threshold, patience 2', {'type': 'reduceOnPlateau', 'initial': 0.1, 'monitor': 'loss', 'patience': 2, 'factor': 0.5},
                 {'mode': 'min', 'factor': 0.5, 'patience': 2}, losses)
    plateau_case('min, cooldown 2, floor 0.02, patience 0', {'type': 'reduceOnPlateau', 'initial': 0.1, 'monitor': 'loss', 'patience': 0, 'factor': 0.5, 'cooldown': 2, 'minLearningRate': 0.02},
                 {'mode': 'min', 'factor': 0.5, 'patience': 0, 'cooldown': 2, 'min_lr': 0.02}, losses)
    accuracies = [0.5, 0.6, 0.6, 0.61, 0.605, 0.7, 0.7, 0.69, 0.71, 0.705, 0.70, 0.72, 0.72]
    plateau_case('max (auto for accuracy), absolute threshold 0.01, patience 1', {'type': 'reduceOnPlateau', 'initial': 0.1, 'monitor': 'val_accuracy', 'patience': 1, 'threshold': 0.01, 'thresholdMode': 'abs'},
                 {'mode': 'max', 'patience': 1, 'threshold': 0.01, 'threshold_mode': 'abs'}, accuracies)
    plateau_case('a reduction smaller than epsilon is skipped', {'type': 'reduceOnPlateau', 'initial': 1e-6, 'monitor': 'loss', 'patience': 0, 'factor': 0.9, 'epsilon': 2e-7},
                 {'mode': 'min', 'patience': 0, 'factor': 0.9, 'eps': 2e-7}, [1.0, 1.0, 1.0, 1.0, 1.0])
    write('schedules.json', {'cases': cases, 'plateau': plateau})


# ---------------------------------------------------------------- optimizers on a fixed objective
A = [[1.0, 0.5], [2.0, 0.25]]
B = [[0.3, -0.2], [0.1, 0.4]]
A2 = [1.5, 0.75, 3.0]
B2 = [-0.5, 0.2, 0.1]
THETA0 = [[0.5, -1.2], [2.0, 0.0]], [-0.3, 1.1, 0.7]


def objective_loss(params):
    """L = Σ a (θ − b)² / 2 + 0.025 Σ θ⁴: the gradient a (θ − b) + 0.1 θ³ depends on θ, so trajectories differ per rule."""
    (p1, p2) = params
    a1, b1, a2, b2 = torch.tensor(A), torch.tensor(B), torch.tensor(A2), torch.tensor(B2)
    return (a1 * (p1 - b1) ** 2 / 2).sum() + (0.025 * p1 ** 4).sum() + (a2 * (p2 - b2) ** 2 / 2).sum() + (0.025 * p2 ** 4).sum()


def optimizers():
    cases = []

    def case(name, config, make, torch_text, lr, steps=12):
        params = [torch.nn.Parameter(torch.tensor(THETA0[0])), torch.nn.Parameter(torch.tensor(THETA0[1]))]
        opt = make(params, lr)
        trajectory = []
        for _ in range(steps):
            opt.zero_grad()
            objective_loss(params).backward()
            opt.step()
            trajectory.append(floats(params[0]) + floats(params[1]))
        cases.append({'name': name, 'optimizer': config, 'torch': torch_text, 'lr': lr, 'trajectory': trajectory})

    O = torch.optim
    case('sgd', {'type': 'sgd'}, lambda p, lr: O.SGD(p, lr=lr), 'SGD(lr)', 0.1)
    case('sgd, coupled weight decay', {'type': 'sgd', 'weightDecay': 0.05}, lambda p, lr: O.SGD(p, lr=lr, weight_decay=0.05), 'SGD(lr, weight_decay=0.05)', 0.1)
    case('momentum', {'type': 'momentum', 'momentum': 0.9}, lambda p, lr: O.SGD(p, lr=lr, momentum=0.9), 'SGD(lr, momentum=0.9)', 0.05)
    case('momentum, dampening 0.3, weight decay', {'type': 'momentum', 'momentum': 0.9, 'dampening': 0.3, 'weightDecay': 0.01},
         lambda p, lr: O.SGD(p, lr=lr, momentum=0.9, dampening=0.3, weight_decay=0.01), 'SGD(lr, momentum=0.9, dampening=0.3, weight_decay=0.01)', 0.05)
    case('nesterov, weight decay', {'type': 'nesterov', 'momentum': 0.8, 'weightDecay': 0.02},
         lambda p, lr: O.SGD(p, lr=lr, momentum=0.8, nesterov=True, weight_decay=0.02), 'SGD(lr, momentum=0.8, nesterov=True, weight_decay=0.02)', 0.05)
    case('adagrad, weight decay', {'type': 'adagrad', 'epsilon': 1e-10, 'initialAccumulator': 0.1, 'weightDecay': 0.01},
         lambda p, lr: O.Adagrad(p, lr=lr, initial_accumulator_value=0.1, eps=1e-10, weight_decay=0.01), 'Adagrad(lr, initial_accumulator_value=0.1, eps=1e-10, weight_decay=0.01)', 0.1)
    case('rmsprop', {'type': 'rmsprop', 'rho': 0.9, 'epsilon': 1e-8, 'momentum': 0},
         lambda p, lr: O.RMSprop(p, lr=lr, alpha=0.9, eps=1e-8), 'RMSprop(lr, alpha=0.9, eps=1e-8)', 0.01)
    case('rmsprop, centered', {'type': 'rmsprop', 'rho': 0.9, 'epsilon': 1e-8, 'momentum': 0, 'centered': True},
         lambda p, lr: O.RMSprop(p, lr=lr, alpha=0.9, eps=1e-8, centered=True), 'RMSprop(lr, alpha=0.9, eps=1e-8, centered=True)', 0.01)
    case('rmsprop, centered, momentum, weight decay', {'type': 'rmsprop', 'rho': 0.8, 'epsilon': 1e-6, 'momentum': 0.9, 'centered': True, 'weightDecay': 0.01},
         lambda p, lr: O.RMSprop(p, lr=lr, alpha=0.8, eps=1e-6, momentum=0.9, centered=True, weight_decay=0.01), 'RMSprop(lr, alpha=0.8, eps=1e-6, momentum=0.9, centered=True, weight_decay=0.01)', 0.01)
    case('adam', {'type': 'adam', 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8}, lambda p, lr: O.Adam(p, lr=lr), 'Adam(lr)', 0.05)
    case('adam, amsgrad', {'type': 'adam', 'beta1': 0.9, 'beta2': 0.99, 'epsilon': 1e-8, 'amsgrad': True},
         lambda p, lr: O.Adam(p, lr=lr, betas=(0.9, 0.99), amsgrad=True), 'Adam(lr, betas=(0.9, 0.99), amsgrad=True)', 0.05)
    case('adam, coupled weight decay', {'type': 'adam', 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8, 'weightDecay': 0.1},
         lambda p, lr: O.Adam(p, lr=lr, weight_decay=0.1), 'Adam(lr, weight_decay=0.1)', 0.05)
    case('adam, amsgrad and weight decay', {'type': 'adam', 'beta1': 0.8, 'beta2': 0.99, 'epsilon': 1e-8, 'amsgrad': True, 'weightDecay': 0.05},
         lambda p, lr: O.Adam(p, lr=lr, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.05), 'Adam(lr, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.05)', 0.05)
    case('adamw', {'type': 'adamw', 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8, 'weightDecay': 0.1},
         lambda p, lr: O.AdamW(p, lr=lr, weight_decay=0.1), 'AdamW(lr, weight_decay=0.1)', 0.05)
    case('adamw, amsgrad', {'type': 'adamw', 'beta1': 0.9, 'beta2': 0.99, 'epsilon': 1e-8, 'weightDecay': 0.1, 'amsgrad': True},
         lambda p, lr: O.AdamW(p, lr=lr, betas=(0.9, 0.99), weight_decay=0.1, amsgrad=True), 'AdamW(lr, betas=(0.9, 0.99), weight_decay=0.1, amsgrad=True)', 0.05)
    write('optimizers.json', {'objective': {'a': A, 'b': B, 'a2': A2, 'b2': B2, 'theta0': list(THETA0), 'quartic': 0.025}, 'cases': cases})


# ---------------------------------------------------------------- batch normalization, max-norm
def batchnorm():
    g = torch.Generator().manual_seed(3)
    cases = []

    def run(name, bn, batches, probe, to_ours, ours):
        bn.train()
        trained = []
        for x in batches:
            y = bn(x)
            trained.append({'input': floats(to_ours(x)), 'output': floats(to_ours(y)), 'runningMean': floats(bn.running_mean), 'runningVar': floats(bn.running_var)})
        bn.eval()
        shape = list(to_ours(batches[0]).shape)
        cases.append({'name': name, 'layer': ours, 'inputShape': shape[1:], 'batchRows': shape[0], 'steps': trained,
                      'probe': floats(to_ours(probe)), 'probeRows': probe.shape[0], 'eval': floats(to_ours(bn(probe)))})

    same = lambda x: x
    nhwc = lambda x: x.permute(0, 2, 3, 1)
    batches = [torch.randn(6, 3, generator=g) * 2 + 1 for _ in range(4)]
    run('BatchNorm1d, 6 rows per batch', torch.nn.BatchNorm1d(3, momentum=0.1, eps=1e-3), batches, torch.randn(5, 3, generator=g), same,
        {'type': 'batchNormalization', 'momentum': 0.9, 'epsilon': 1e-3})
    batches = [torch.randn(2, 3, generator=g) * 3 for _ in range(3)]
    run('BatchNorm1d, 2 rows per batch (m/(m−1) = 2)', torch.nn.BatchNorm1d(3, momentum=0.1, eps=1e-3), batches, torch.randn(4, 3, generator=g), same,
        {'type': 'batchNormalization', 'momentum': 0.9, 'epsilon': 1e-3})
    batches = [torch.randn(4, 2, 3, 3, generator=g) + 0.5 for _ in range(3)]
    run('BatchNorm2d (NCHW there, NHWC here)', torch.nn.BatchNorm2d(2, momentum=0.2, eps=1e-5), batches, torch.randn(2, 2, 3, 3, generator=g), nhwc,
        {'type': 'batchNormalization', 'momentum': 0.8, 'epsilon': 1e-5})
    batches = [torch.randn(5, 3, generator=g) for _ in range(3)]
    run('affine=False (center and scale false)', torch.nn.BatchNorm1d(3, momentum=0.1, eps=1e-3, affine=False), batches, torch.randn(3, 3, generator=g), same,
        {'type': 'batchNormalization', 'momentum': 0.9, 'epsilon': 1e-3, 'center': False, 'scale': False})
    write('batchnorm.json', {'cases': cases})


def maxnorm():
    g = torch.Generator().manual_seed(5)
    dense = torch.randn(3, 4, generator=g)  # torch [out, in]; ours [in, out]
    conv = torch.randn(2, 3, 2, 2, generator=g) * 0.8  # torch [cout, cin, kh, kw]; ours [kh, kw, cin, cout]
    cases = []
    for name, w, c, ours in [('dense kernel', dense, 1.5, lambda t: t.t()), ('conv2d kernel', conv, 2.0, lambda t: t.permute(2, 3, 1, 0))]:
        renormed = torch.renorm(w, p=2, dim=0, maxnorm=c)
        cases.append({'name': name, 'maxNorm': c, 'shape': list(ours(w).shape), 'kernel': floats(ours(w).contiguous()), 'renormed': floats(ours(renormed).contiguous()),
                      'torch': f'torch.renorm(weight, p=2, dim=0, maxnorm={c})'})
    write('maxnorm.json', {'cases': cases})


# ---------------------------------------------------------------- whole runs in the data set's order
def runs():
    g = torch.Generator().manual_seed(11)
    rows = 18
    x = torch.randn(rows, 3, generator=g)
    y = x @ torch.tensor([[2.0], [-3.0], [0.5]]) + 1.0 + 0.1 * torch.randn(rows, 1, generator=g)
    batch, epochs = 4, 6
    cases = []

    def case(name, spec, make_opt, lr, schedule=None, per=None, plateau=None, renorm=None, batchnorm=False, torch_text=''):
        torch.manual_seed(0)
        linear = torch.nn.Linear(3, 1)
        torch.nn.init.zeros_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
        layers = [torch.nn.BatchNorm1d(3, momentum=0.1, eps=1e-3), linear] if batchnorm else [linear]
        model = torch.nn.Sequential(*layers)
        params = list(model.parameters())
        opt = make_opt(params, lr)
        sched = schedule(opt) if schedule else None
        plat = S.ReduceLROnPlateau(opt, **plateau) if plateau else None
        epoch_losses, rates_seen = [], []
        for _ in range(epochs):
            model.train()
            total = 0.0
            for start in range(0, rows, batch):
                xb, yb = x[start:start + batch], y[start:start + batch]
                rates_seen.append(opt.param_groups[0]['lr'])
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(xb), yb)
                loss.backward()
                opt.step()
                if renorm is not None:
                    with torch.no_grad():
                        linear.weight.copy_(torch.renorm(linear.weight, p=2, dim=0, maxnorm=renorm))
                total += float(loss) * xb.shape[0]
                if sched and per == 'step':
                    sched.step()
            epoch_losses.append(total / rows)
            if sched and per == 'epoch':
                sched.step()
            if plat:
                plat.step(total / rows)
        model.eval()
        result = {'name': name, 'spec': spec, 'torch': torch_text, 'epochLosses': epoch_losses, 'rates': rates_seen,
                  'kernel': floats(linear.weight.t().contiguous()), 'bias': floats(linear.bias)}
        if batchnorm:
            bn = layers[0]
            result['batchNorm'] = {'gamma': floats(bn.weight), 'beta': floats(bn.bias), 'runningMean': floats(bn.running_mean), 'runningVar': floats(bn.running_var)}
            with torch.no_grad():
                result['evalPredictions'] = floats(model(x))
        cases.append(result)

    O = torch.optim
    case('sgd', {'optimizer': {'type': 'sgd'}, 'learningRate': 0.05}, lambda p, lr: O.SGD(p, lr=lr), 0.05, torch_text='SGD(lr=0.05)')
    case('momentum, dampening, weight decay', {'optimizer': {'type': 'momentum', 'momentum': 0.9, 'dampening': 0.5, 'weightDecay': 0.01}, 'learningRate': 0.02},
         lambda p, lr: O.SGD(p, lr=lr, momentum=0.9, dampening=0.5, weight_decay=0.01), 0.02, torch_text='SGD(lr=0.02, momentum=0.9, dampening=0.5, weight_decay=0.01)')
    case('nesterov, weight decay', {'optimizer': {'type': 'nesterov', 'momentum': 0.9, 'weightDecay': 0.01}, 'learningRate': 0.02},
         lambda p, lr: O.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=0.01), 0.02, torch_text='SGD(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01)')
    case('adam, amsgrad, weight decay', {'optimizer': {'type': 'adam', 'amsgrad': True, 'weightDecay': 0.01}, 'learningRate': 0.1},
         lambda p, lr: O.Adam(p, lr=lr, amsgrad=True, weight_decay=0.01), 0.1, torch_text='Adam(lr=0.1, amsgrad=True, weight_decay=0.01)')
    case('adamw, amsgrad', {'optimizer': {'type': 'adamw', 'amsgrad': True, 'weightDecay': 0.05}, 'learningRate': 0.1},
         lambda p, lr: O.AdamW(p, lr=lr, amsgrad=True, weight_decay=0.05), 0.1, torch_text='AdamW(lr=0.1, amsgrad=True, weight_decay=0.05)')
    case('rmsprop, centered, momentum', {'optimizer': {'type': 'rmsprop', 'rho': 0.9, 'centered': True, 'momentum': 0.5}, 'learningRate': 0.01},
         lambda p, lr: O.RMSprop(p, lr=lr, alpha=0.9, centered=True, momentum=0.5), 0.01, torch_text='RMSprop(lr=0.01, alpha=0.9, centered=True, momentum=0.5)')
    spe = math.ceil(rows / batch)
    T = spe * epochs
    case('sgd, warm-up then cosine per step', {'optimizer': 'sgd', 'learningRate': {'type': 'cosine', 'initial': 0.1, 'warmupSteps': 5}},
         lambda p, lr: O.SGD(p, lr=lr), 0.1,
         schedule=lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 5, total_iters=5), S.CosineAnnealingLR(o, T_max=T - 5)], milestones=[5]), per='step',
         torch_text=f'SGD(lr=0.1) + SequentialLR([LinearLR(start_factor=1/5, total_iters=5), CosineAnnealingLR(T_max={T - 5})], milestones=[5]) per step')
    case('sgd, multi-step per epoch', {'optimizer': 'sgd', 'learningRate': {'type': 'multiStep', 'initial': 0.1, 'milestones': [2, 4], 'factor': 0.3}},
         lambda p, lr: O.SGD(p, lr=lr), 0.1, schedule=lambda o: S.MultiStepLR(o, milestones=[2, 4], gamma=0.3), per='epoch',
         torch_text='SGD(lr=0.1) + MultiStepLR(milestones=[2, 4], gamma=0.3) per epoch')
    case('sgd, reduce on plateau of the training loss', {'optimizer': 'sgd', 'learningRate': {'type': 'reduceOnPlateau', 'initial': 0.1, 'monitor': 'loss', 'patience': 0, 'factor': 0.5, 'threshold': 0.4}},
         lambda p, lr: O.SGD(p, lr=lr), 0.1, plateau={'mode': 'min', 'patience': 0, 'factor': 0.5, 'threshold': 0.4},
         torch_text='SGD(lr=0.1) + ReduceLROnPlateau(mode="min", patience=0, factor=0.5, threshold=0.4) stepped with the epoch\'s mean loss')
    case('sgd, max-norm 1.5', {'optimizer': 'sgd', 'learningRate': 0.1, 'maxNorm': 1.5}, lambda p, lr: O.SGD(p, lr=lr), 0.1, renorm=1.5,
         torch_text='SGD(lr=0.1), then weight ← torch.renorm(weight, 2, 0, 1.5) after every step')
    case('batch norm, then linear; sgd', {'optimizer': 'sgd', 'learningRate': 0.05, 'batchNorm': {'momentum': 0.9, 'epsilon': 1e-3}},
         lambda p, lr: O.SGD(p, lr=lr), 0.05, batchnorm=True, torch_text='Sequential(BatchNorm1d(3, momentum=0.1, eps=1e-3), Linear(3, 1)), SGD(lr=0.05); predictions in eval()')
    write('runs.json', {'rows': rows, 'batchSize': batch, 'epochs': epochs, 'features': floats(x), 'targets': floats(y), 'cases': cases})


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    schedules()
    optimizers()
    batchnorm()
    maxnorm()
    runs()
