r"""Samplers: turn Gaussian noise and a class label into a clean latent.

**DDPM, ancestral** (Ho et al., 2020), all T steps, with :math:`\hat z_0` from the model's noise estimate:

.. math::
    z_{t-1} = \tilde\mu_t(z_t, \hat z_0) + \sigma_t\,\xi, \quad
    \tilde\mu_t = \frac{\beta_t\sqrt{\bar\alpha_{t-1}}}{1-\bar\alpha_t}\hat z_0
                + \frac{(1-\bar\alpha_{t-1})\sqrt{\alpha_t}}{1-\bar\alpha_t} z_t, \quad
    \sigma_t^2 = \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t, \quad \xi\sim\mathcal N(0,I)

**DDIM** (Song et al., 2021) on any increasing sub-sequence τ of timesteps, with stochasticity η:

.. math::
    z_{\tau_{i-1}} = \sqrt{\bar\alpha_{\tau_{i-1}}}\,\hat z_0
    + \sqrt{1-\bar\alpha_{\tau_{i-1}}-\sigma_i^2}\;\hat\varepsilon + \sigma_i\,\xi, \quad
    \sigma_i = \eta\sqrt{\frac{1-\bar\alpha_{\tau_{i-1}}}{1-\bar\alpha_{\tau_i}}}
               \sqrt{1-\frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}}}

η = 0 is deterministic given the starting noise; η = 1 matches DDPM's variance on the sub-sequence.

**Guidance on an interval** (Kynkäänniemi et al., 2024). Classifier-free guidance
:math:`\tilde v = v(\varnothing) + w\,(v(y) - v(\varnothing))` costs a second network pass per step. At the
noisiest steps it pushes every sample of a class towards the same few "typical" shapes (less diversity, worse FID);
at the cleanest steps the class is long decided and it changes nothing visible. Both samplers therefore take a
``guidance_interval`` (lo, hi): the guidance weight w applies for lo ≤ t ≤ hi, and outside it w = 1 (the plain
conditional prediction, one pass):

.. math::
    w_t = w \ \text{if } t_{lo} \le t \le t_{hi}, \quad 1 \ \text{otherwise}

Each sampler is a generator of :class:`SamplerStep` (so notebooks can watch the trajectory); ``ddpm_sample`` and
``ddim_sample`` just run it to the end. All randomness comes from an explicit ``torch.Generator`` (CPU), so the same
seed gives the same samples on any device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch

from .diffusion import LatentDiffusion
from .progress import progress as progress_bar


class SamplerStep(NamedTuple):
    """State after one reverse step: the timestep just denoised, the timestep of the new z (−1: clean), the new z and
    the model's estimate of z_0 made at step t."""

    t: int
    t_next: int
    z: torch.Tensor
    z0_hat: torch.Tensor


def _check(diffusion: LatentDiffusion, y: torch.Tensor, guidance: float,
           interval: tuple[int, int] | None = None) -> None:
    if guidance < 0:
        raise ValueError(f"guidance must be >= 0 (0 = unconditional, 1 = conditional), got {guidance}")
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D tensor of class indices, got shape {tuple(y.shape)}")
    check_guidance_interval(interval, diffusion.num_steps)


def check_guidance_interval(interval: tuple[int, int] | None, num_steps: int) -> None:
    """Raise a ValueError unless ``interval`` is None or integers (lo, hi) with 0 ≤ lo ≤ hi ≤ T − 1."""
    if interval is None:
        return
    try:
        lo, hi = interval
        valid = int(lo) == lo and int(hi) == hi and 0 <= lo <= hi <= num_steps - 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"guidance_interval must be None (guide every step) or timesteps (lo, hi) with "
                         f"0 <= lo <= hi <= {num_steps - 1}, got {interval!r}")


def interval_label(interval: tuple[int, int] | list[int] | None) -> str:
    """Where guidance applies, for titles and tables: "every step" or "t ∈ [lo, hi]"."""
    return "every step" if interval is None else f"t ∈ [{interval[0]}, {interval[1]}]"


def guidance_at(t: int, guidance: float, interval: tuple[int, int] | None) -> float:
    """w_t: ``guidance`` when t lies in ``interval`` (or there is none), else 1 (conditional only, one pass)."""
    if interval is None or interval[0] <= t <= interval[1]:
        return guidance
    return 1.0


def initial_noise(n: int, dim: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """z_T ~ N(0, I), drawn on the CPU from ``generator`` and moved, so results do not depend on the device."""
    return torch.randn((n, dim), generator=generator).to(device)


def ddim_timesteps(num_steps: int, steps: int, start: int | None = None) -> list[int]:
    """``steps`` timesteps evenly spread from ``start`` (default T−1) down to 0, both ends included."""
    start = num_steps - 1 if start is None else start
    if not 0 <= start < num_steps:
        raise ValueError(f"start timestep must lie in [0, {num_steps - 1}], got {start}")
    if not 1 <= steps <= start + 1:
        raise ValueError(f"steps must be between 1 and T = {start + 1}, got {steps}")
    grid = torch.linspace(start, 0, steps).round().long().tolist()
    return sorted(set(grid), reverse=True)


@torch.no_grad()
def ddpm_steps(
    diffusion: LatentDiffusion,
    y: torch.Tensor,
    generator: torch.Generator,
    guidance: float = 1.0,
    z: torch.Tensor | None = None,
    progress: bool = False,
    guidance_interval: tuple[int, int] | None = None,
) -> Iterator[SamplerStep]:
    """Ancestral DDPM sampling over all T steps; yields a :class:`SamplerStep` after each step.

    ``guidance`` applies at timesteps inside ``guidance_interval`` (default: all); see the module docstring."""
    _check(diffusion, y, guidance, guidance_interval)
    s, device = diffusion.schedule, y.device
    z = initial_noise(len(y), diffusion.latent_dim, generator, device) if z is None else z
    for t in progress_bar(range(diffusion.num_steps - 1, -1, -1), progress, desc="DDPM", leave=False):
        t_batch = torch.full((len(y),), t, dtype=torch.long, device=device)
        _, z0_hat = diffusion.predict(z, t_batch, y, guidance_at(t, guidance, guidance_interval))
        mean = s.posterior_mean(z0_hat, z, t_batch)  # μ̃_t(z_t, ẑ_0)
        if t > 0:
            xi = torch.randn(z.shape, generator=generator).to(device)
            z = mean + s.posterior_variance[t].sqrt() * xi  # z_{t−1} = μ̃_t + σ_t ξ, σ_t² = β̃_t
        else:
            z = mean
        yield SamplerStep(t, t - 1, z, z0_hat)


@torch.no_grad()
def ddim_steps(
    diffusion: LatentDiffusion,
    y: torch.Tensor,
    generator: torch.Generator,
    steps: int = 50,
    eta: float = 0.0,
    guidance: float = 1.0,
    z: torch.Tensor | None = None,
    progress: bool = False,
    timesteps_from: int | None = None,
    guidance_interval: tuple[int, int] | None = None,
) -> Iterator[SamplerStep]:
    """DDIM sampling on ``steps`` evenly spaced timesteps; yields a :class:`SamplerStep` after each step.

    ``z`` and ``timesteps_from`` start the process from a given latent at a given timestep instead of pure noise
    at T − 1 (e.g. to denoise a partly noised real latent). ``guidance`` applies at timesteps inside
    ``guidance_interval`` (default: all); see the module docstring."""
    _check(diffusion, y, guidance, guidance_interval)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    alpha_bar, device = diffusion.schedule.alpha_bar, y.device
    taus = ddim_timesteps(diffusion.num_steps, steps, timesteps_from)
    z = initial_noise(len(y), diffusion.latent_dim, generator, device) if z is None else z
    for i, t in enumerate(progress_bar(taus, progress, desc=f"DDIM-{steps}", leave=False)):
        t_batch = torch.full((len(y),), t, dtype=torch.long, device=device)
        eps, z0_hat = diffusion.predict(z, t_batch, y, guidance_at(t, guidance, guidance_interval))
        a_t = alpha_bar[t]
        # ᾱ of the next timestep in τ; 1 after the last one (a clean sample)
        a_prev = alpha_bar[taus[i + 1]] if i + 1 < len(taus) else torch.ones_like(a_t)
        sigma = eta * ((1 - a_prev) / (1 - a_t)).sqrt() * (1 - a_t / a_prev).sqrt()
        z = a_prev.sqrt() * z0_hat + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps  # √ᾱ' ẑ0 + √(1−ᾱ'−σ²) ε̂
        if eta > 0 and i + 1 < len(taus):
            z = z + sigma * torch.randn(z.shape, generator=generator).to(device)  # + σ ξ
        yield SamplerStep(t, taus[i + 1] if i + 1 < len(taus) else -1, z, z0_hat)


def _last(steps: Iterator[SamplerStep]) -> torch.Tensor:
    last = None
    for last in steps:  # noqa: B007 - run the generator to the end, keep the final state
        pass
    return last.z


def ddpm_sample(
    diffusion: LatentDiffusion,
    y: torch.Tensor,
    generator: torch.Generator,
    guidance: float = 1.0,
    progress: bool = False,
    guidance_interval: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Clean latents (N, latent_dim) for labels ``y`` by ancestral sampling over all T steps."""
    return _last(ddpm_steps(diffusion, y, generator, guidance=guidance, progress=progress,
                            guidance_interval=guidance_interval))


def ddim_sample(
    diffusion: LatentDiffusion,
    y: torch.Tensor,
    generator: torch.Generator,
    steps: int = 50,
    eta: float = 0.0,
    guidance: float = 1.0,
    progress: bool = False,
    guidance_interval: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Clean latents (N, latent_dim) for labels ``y`` by DDIM with ``steps`` steps."""
    return _last(ddim_steps(diffusion, y, generator, steps=steps, eta=eta, guidance=guidance, progress=progress,
                            guidance_interval=guidance_interval))


def labels_tensor(classes: Sequence[int | str], device: torch.device | str = "cpu") -> torch.Tensor:
    """Class names or indices → a long tensor of indices (unknown names raise a ValueError listing valid ones)."""
    from .classes import class_index

    return torch.tensor([class_index(c) for c in classes], dtype=torch.long, device=device)
