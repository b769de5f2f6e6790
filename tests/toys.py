"Test fixtures: a small learnable classification set and a model for it (the trainer chapter's tests use the same)"
import torch
import torch.nn as nn


def toy_data(n:int=256, d:int=8, n_classes:int=3, seed:int=0, task_seed:int=0) -> torch.utils.data.TensorDataset:
    "Gaussian clusters (fixed by `task_seed`) sampled with `seed`: a small, learnable classification set"
    centers = torch.randn(n_classes, d, generator=torch.Generator().manual_seed(task_seed)) * 2
    g = torch.Generator().manual_seed(seed + 1)
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, d, generator=g)
    return torch.utils.data.TensorDataset(x, y)


def toy_model(d:int=8, n_classes:int=3, hidden:int=32) -> nn.Module:
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
