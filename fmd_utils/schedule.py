r"""Noise schedules and the forward (noising) process of DDPM (Ho et al., 2020).

The forward process adds Gaussian noise in T small steps, and composes into one closed-form jump:

.. math::
    q(x_t \mid x_{t-1}) = \mathcal{N}\big(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big), \qquad
    q(x_t \mid x_0) = \mathcal{N}\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big), \qquad
    \bar\alpha_t = \prod_{s\le t} (1-\beta_s)

Timesteps are 0-indexed here: ``t = 0`` is the first noising step (the paper's t = 1) and ``t = T - 1`` the last.
Every derived term is precomputed in float64 and stored in float32 buffers, so the schedule moves with ``.to(device)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """β_t evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al., 2020)."""
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def cosine_betas(num_steps: int, offset: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    r"""Cosine schedule (Nichol & Dhariwal, 2021): :math:`\bar\alpha(t) = f(t)/f(0)`,
    :math:`f(t) = \cos^2\!\big(\tfrac{t/T + s}{1+s}\cdot\tfrac{\pi}{2}\big)`,
    :math:`\beta_t = 1 - \bar\alpha_t/\bar\alpha_{t-1}` clipped at ``max_beta`` so the last step stays finite."""
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """β_t and every quantity derived from it, indexed by integer timesteps ``t`` in ``[0, T)``."""

    def __init__(self, kind: str = "cosine", num_steps: int = 1000) -> None:
        super().__init__()
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if kind == "linear":
            betas = linear_betas(num_steps)
        elif kind == "cosine":
            betas = cosine_betas(num_steps)
        else:
            raise ValueError(f"Unknown schedule {kind!r}; use 'linear' or 'cosine'.")
        self.kind = kind
        self.num_steps = num_steps

        alphas = 1.0 - betas  # α_t = 1 − β_t
        alpha_bar = torch.cumprod(alphas, dim=0)  # ᾱ_t = Π_{s≤t} α_s
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])  # ᾱ_{t−1}, with ᾱ_{−1} = 1
        # Posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I):
        # β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
        posterior_variance = betas * (1 - alpha_bar_prev) / (1 - alpha_bar)
        # μ̃_t = [β_t √ᾱ_{t−1} / (1 − ᾱ_t)] x_0 + [(1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t)] x_t
        posterior_mean_coef_x0 = betas * alpha_bar_prev.sqrt() / (1 - alpha_bar)
        posterior_mean_coef_xt = (1 - alpha_bar_prev) * alphas.sqrt() / (1 - alpha_bar)

        terms = {
            "betas": betas,
            "alphas": alphas,
            "alpha_bar": alpha_bar,
            "alpha_bar_prev": alpha_bar_prev,
            "sqrt_alpha_bar": alpha_bar.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
            "posterior_variance": posterior_variance,
            "posterior_mean_coef_x0": posterior_mean_coef_x0,
            "posterior_mean_coef_xt": posterior_mean_coef_xt,
            "snr": alpha_bar / (1 - alpha_bar),  # SNR(t) = ᾱ_t / (1 − ᾱ_t)
        }
        for name, value in terms.items():
            self.register_buffer(name, value.float(), persistent=False)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, num_steps={self.num_steps}"

    def _check_t(self, t: torch.Tensor) -> None:
        if t.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"timesteps must be an integer tensor, got {t.dtype}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_steps):
            raise ValueError(f"timesteps must lie in [0, {self.num_steps - 1}], got {int(t.min())}..{int(t.max())}")

    def gather(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``self.<name>[t]`` reshaped to broadcast against ``like`` (batch first)."""
        self._check_t(t)
        values = getattr(self, name).to(like.device)[t.to(like.device)]
        return values.reshape(-1, *([1] * (like.ndim - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        r"""Jump straight to step t: :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`."""
        if noise.shape != x0.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} must match x0 shape {tuple(x0.shape)}")
        return self.gather("sqrt_alpha_bar", t, x0) * x0 + self.gather("sqrt_one_minus_alpha_bar", t, x0) * noise

    def q_step(self, x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        r"""One forward step: :math:`x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon`."""
        return self.gather("alphas", t, x_prev).sqrt() * x_prev + self.gather("betas", t, x_prev).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        r"""Invert q_sample given the noise:
        :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}`."""
        return (x_t - self.gather("sqrt_one_minus_alpha_bar", t, x_t) * eps) / self.gather("sqrt_alpha_bar", t, x_t)

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        r""":math:`\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,x_0)/\sqrt{1-\bar\alpha_t}`."""
        return (x_t - self.gather("sqrt_alpha_bar", t, x_t) * x0) / self.gather("sqrt_one_minus_alpha_bar", t, x_t)

    def velocity(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        r"""v-prediction target (Salimans & Ho, 2022):
        :math:`v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0`."""
        return self.gather("sqrt_alpha_bar", t, x0) * noise - self.gather("sqrt_one_minus_alpha_bar", t, x0) * x0

    def posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        r""":math:`\tilde\mu_t(x_t, x_0)`, the mean of :math:`q(x_{t-1}\mid x_t, x_0)`."""
        return self.gather("posterior_mean_coef_x0", t, x_t) * x0 + self.gather("posterior_mean_coef_xt", t, x_t) * x_t
