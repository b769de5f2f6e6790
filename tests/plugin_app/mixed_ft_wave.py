"""A third-party mixed_ft application: regression of y = sin(3x) + noise.

A small MLP student and a wider MLP teacher trained once; DA jitters the inputs, KD matches the teacher's outputs
(MSE on the outputs, since there are no classes to soften); scored by R². One module and one entry point."""
from __future__ import annotations
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from mixed_ft.core import Strategy, data_fingerprint
from mixed_ft.metrics import Metric
from mixed_ft.train import Trainer
from mixed_ft.app import Application, Mix, StrategiesConfig
from mixed_ft.distill import KD, Teacher, kd_weights


@dataclass
class WaveData:
    n_train:int = 48 # labelled points
    noise:float = 0.2 # standard deviation of the label noise
    batch_size:int = 16

@dataclass
class WaveModel:
    hidden:int = 16 # width of the student MLP

@dataclass
class WaveTeacher:
    hidden:int = 64 # width of the teacher MLP
    n_train:int = 2048 # the teacher's own (larger) labelled set
    epochs:int = 20 # the teacher's epochs, trained once and kept in the work folder

@dataclass
class WaveStrategies(StrategiesConfig):
    jitter:float = 0.05 # DA: standard deviation of the noise added to the inputs
    alpha:float = 0.5 # KD: weight of the distillation term; the label term gets 1 - alpha


def wave(n:int, noise:float, seed:int) -> TensorDataset:
    "`n` points x in [-1, 1] with y = sin(3x) + Gaussian noise, drawn under `seed`"
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 2 - 1
    return TensorDataset(x, torch.sin(3 * x[:, 0]) + noise * torch.randn(n, generator=g))

def mlp(hidden:int) -> nn.Module:
    "Two tanh layers and one output"
    return nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))


class SquaredError(Strategy):
    "The label term of a regression: the mean squared error between the output and `y`"
    def __init__(self, name:str='mse'): self.name, self.terms = name, (name,)
    def loss_terms(self, out, batch, ctx): return {self.name: F.mse_loss(out.logits[:, 0], batch['y'].float())}

class Jitter(Strategy):
    "DA: Gaussian noise on the training inputs (a live teacher reads the jittered inputs and relabels them)"
    terms = ()
    def __init__(self, std:float): self.std = std
    def before_batch(self, batch, ctx):
        if not ctx.training: return batch
        return {**batch, 'x': batch['x'] + self.std * torch.randn_like(batch['x']), '_augmented': ('x',)}
    def loss_terms(self, out, batch, ctx): return {}

class R2(Metric):
    "The coefficient of determination of the outputs, their RMSE and mean squared error (the loss), streamed over batches"
    reports_loss = True   # the evaluation's loss is the squared error, not a cross-entropy
    def update(self, logits, targets):
        p, y = logits[:, 0].double(), targets.double()
        for k, v in dict(n=len(y), sy=y.sum(), syy=(y * y).sum(), sse=((p - y) ** 2).sum()).items():
            self.add(k, torch.as_tensor(v, dtype=torch.float64))
    def compute(self):
        n, sy, syy, sse = (self.state[k].item() for k in ('n', 'sy', 'syy', 'sse'))
        return {'r2': 1 - sse / (syy - sy * sy / n), 'rmse': (sse / n) ** 0.5, 'loss': sse / n}


class Wave(Application):
    "regression of y = sin(3x) + noise: MLP student and teacher; DA input jitter, KD (MSE on outputs); R^2"
    name = 'wave'
    Data, Model, Teacher, Strategies = WaveData, WaveModel, WaveTeacher, WaveStrategies
    defaults = {'trainer': {'epochs': 40, 'lr': 1e-2}, 'ablate': {'sets': ['plain', 'DA', 'KD', 'DA+KD']}}
    metric, percent, select = 'r2', False, 'valid_r2'

    def splits(self) -> tuple:
        d = self.cfg.data
        return self.memo('splits', lambda: (wave(d.n_train, d.noise, 0), wave(256, d.noise, 1), wave(512, d.noise, 2)))
    def loaders(self, parts):
        train, valid, _ = self.splits()
        return DataLoader(train, self.cfg.data.batch_size, shuffle=True), DataLoader(valid, 256)
    def report_loader(self): return DataLoader(self.splits()[2], 512)
    def student(self): return mlp(self.cfg.model.hidden)

    def teacher(self):
        t, noise = self.cfg.teacher, self.cfg.data.noise
        def fit(m):
            dl = DataLoader(wave(t.n_train, noise, 3), 64, shuffle=True)
            Trainer(m, [SquaredError()], dl, epochs=t.epochs, lr=1e-2, seed=0, progress=self.progress).fit()
        name = f"wave_teacher_{data_fingerprint(t.hidden, t.n_train, t.epochs, noise)[:12]}"
        return self.memo('teacher', lambda: self.teacher_once(mlp(t.hidden), name, fit))

    def strategies(self, parts, model) -> Mix:
        s = self.cfg.strategies
        strategies, weights = [SquaredError()], {}
        if 'DA' in parts: strategies.append(Jitter(s.jitter))
        if 'KD' in parts:
            strategies.append(KD(Teacher(self.teacher()), 'mse'))
            weights.update(kd_weights(s.alpha, label_term='mse'))
        return Mix(strategies, weights)

    def metrics(self): return [R2()]
    def extra_metrics(self): return []
