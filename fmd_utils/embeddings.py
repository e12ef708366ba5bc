r"""Conditioning inputs of the denoiser: a sinusoidal embedding of the timestep and a class embedding.

Sinusoidal embedding (Vaswani et al., 2017; used for timesteps by Ho et al., 2020), for dimension d = 2k:

.. math::
    \mathrm{PE}(t) = \big[\sin(t\,\omega_0), \ldots, \sin(t\,\omega_{k-1}),\ \cos(t\,\omega_0), \ldots,
    \cos(t\,\omega_{k-1})\big], \qquad \omega_i = 10000^{-i/k}

Nearby timesteps get nearby vectors at every scale, from the fast-spinning ω_0 to the slow ω_{k-1}.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Embed integer or real timesteps ``t`` (shape (N,)) as (N, dim) sinusoids; ``dim`` must be even."""
    if dim % 2:
        raise ValueError(f"sinusoidal embedding needs an even dimension, got {dim}")
    half = dim // 2
    omega = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * omega[None, :]  # t ω_i
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class TimeEmbedding(nn.Module):
    """PE(t) followed by a small MLP, so the network can reshape the fixed sinusoids into what it needs."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))


class ClassEmbedding(nn.Module):
    """A learned vector per class plus one for the *null* class (index ``num_classes``), which stands for
    "no label" and is what classifier-free guidance uses for the unconditional prediction."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)

    @property
    def null_class(self) -> int:
        return self.num_classes

    def check(self, y: torch.Tensor) -> None:
        """Raise a ValueError unless every label lies in 0..num_classes (num_classes = the null class)."""
        if y.numel() and (int(y.min()) < 0 or int(y.max()) > self.num_classes):
            raise ValueError(
                f"class labels must lie in 0..{self.num_classes} ({self.num_classes} = null class), "
                f"got {int(y.min())}..{int(y.max())}"
            )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        self.check(y)
        return self.table(y)


def distinct_conditions(time_embedding: TimeEmbedding, class_embedding: ClassEmbedding, t: torch.Tensor,
                        y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """e = MLP(PE(t)) + E[y] for each distinct (t, y) pair in the batch, shape (P, E), and the index (N,) of each
    row's pair (gather with ``e.index_select(0, index)``). The conditioning depends on (t, y) only, and a sampling
    step has one t and at most 11 classes, so computing it per pair saves most of its cost. Real-valued t (flow
    matching): one row per sample and no index, unless the whole batch shares one t (a sampling step), where the
    pairs are the distinct classes."""
    if torch.is_floating_point(t):
        if len(t) > 1 and bool((t == t[0]).all()):
            class_embedding.check(y)
            y_d, index = torch.unique(y, return_inverse=True)
            return time_embedding(t[:1].expand(len(y_d))) + class_embedding(y_d), index
        return time_embedding(t) + class_embedding(y), None
    class_embedding.check(y)  # before combining, so a bad label cannot pass as another pair
    null = class_embedding.null_class
    key = t * (null + 1) + y  # one integer per (t, y) pair
    distinct, index = torch.unique(key, return_inverse=True)
    t_d, y_d = distinct // (null + 1), distinct % (null + 1)
    return time_embedding(t_d) + class_embedding(y_d), index  # e = MLP(PE(t)) + E[y]
