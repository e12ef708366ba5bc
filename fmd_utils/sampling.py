r"""Samplers: turn Gaussian noise and a class label into a clean latent.

**DDPM, ancestral** (Ho et al., 2020), all T steps, with :math:`\hat z_0` from the model's prediction:

.. math::
    z_{t-1} = \tilde\mu_t(z_t, \hat z_0) + \sigma_t\,\xi, \quad
    \tilde\mu_t = \frac{\beta_t\sqrt{\bar\alpha_{t-1}}}{1-\bar\alpha_t}\hat z_0
                + \frac{(1-\bar\alpha_{t-1})\sqrt{\alpha_t}}{1-\bar\alpha_t} z_t, \quad
    \sigma_t^2 = \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t, \quad \xi\sim\mathcal N(0,I)

**DDIM** (Song et al., 2021) on any decreasing sub-sequence τ of timesteps, with stochasticity η:

.. math::
    z_{\tau_{i+1}} = \sqrt{\bar\alpha_{\tau_{i+1}}}\,\hat z_0
    + \sqrt{1-\bar\alpha_{\tau_{i+1}}-\sigma_i^2}\;\hat\varepsilon + \sigma_i\,\xi, \quad
    \sigma_i = \eta\sqrt{\frac{1-\bar\alpha_{\tau_{i+1}}}{1-\bar\alpha_{\tau_i}}}
               \sqrt{1-\frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i+1}}}}

η = 0 is deterministic given the starting noise; η = 1 matches DDPM's variance on the sub-sequence. Guidance, and
where it applies, come from a :class:`~fmd_utils.settings.SamplingSettings`.

The update rules (:func:`ddpm_step`, :func:`ddim_step`) work on the model's standardised latents and never call the
network; the loops (:func:`ddpm_steps`, :func:`ddim_steps`) call ``diffusion.predict`` and yield a
:class:`SamplerStep` after each step, in raw latent coordinates (so notebooks can watch and decode the trajectory);
:func:`sample` runs one to the end. All randomness comes from an explicit CPU ``torch.Generator``, so the same seed
gives the same samples on any device.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from .classes import class_labels
from .diffusion import LatentDiffusion
from .progress import progress as progress_bar
from .schedule import NoiseSchedule
from .settings import SamplingSettings


class SamplerStep(NamedTuple):
    """State after one reverse step: the timestep just denoised, the timestep of the new z (−1: clean), the new z and
    the model's estimate of z_0 made at step t, both as raw latents."""

    t: int
    t_next: int
    z: torch.Tensor
    z0_hat: torch.Tensor


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


# --------------------------------------------------------------------------------------------------- update rules
def ddpm_step(schedule: NoiseSchedule, z_t: torch.Tensor, z0_hat: torch.Tensor, t: int,
              xi: torch.Tensor | None) -> torch.Tensor:
    """z_{t−1} from z_t and the model's ẑ_0: the mean of the posterior q(z_{t−1} | z_t, ẑ_0) plus its noise."""
    t_batch = torch.full((len(z_t),), t, dtype=torch.long, device=z_t.device)
    mean = schedule.posterior_mean(z0_hat, z_t, t_batch)  # μ̃_t(z_t, ẑ_0)
    if t == 0:
        return mean  # the last step adds no noise
    return mean + schedule.posterior_variance[t].sqrt() * xi  # z_{t−1} = μ̃_t + σ_t ξ, σ_t² = β̃_t


def ddim_step(z0_hat: torch.Tensor, eps: torch.Tensor, alpha_bar_t: torch.Tensor, alpha_bar_next: torch.Tensor,
              eta: float = 0.0, xi: torch.Tensor | None = None) -> torch.Tensor:
    """z at the next (smaller) timestep from the model's ẑ_0 and ε̂: keep ẑ_0, re-noise it to the next level with
    ε̂, plus fresh noise σ ξ when η > 0."""
    a_t, a_next = alpha_bar_t, alpha_bar_next
    # σ = 0 for η = 0, also when the step goes up in noise (inversion), where the second root would be imaginary
    sigma = eta * ((1 - a_next) / (1 - a_t)).sqrt() * (1 - a_t / a_next).sqrt() if eta else 0.0
    z = a_next.sqrt() * z0_hat + (1 - a_next - sigma**2).clamp(min=0).sqrt() * eps  # √ᾱ' ẑ0 + √(1−ᾱ'−σ²) ε̂
    if xi is not None:
        z = z + sigma * xi  # + σ ξ
    return z


# --------------------------------------------------------------------------------------------------- loops
def _start(diffusion: LatentDiffusion, y, settings: SamplingSettings, generator: torch.Generator,
           z: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated labels and the standardised starting latent (fresh noise, or the raw ``z`` standardised)."""
    settings.validate(diffusion.num_steps)
    device = diffusion.device
    y = class_labels(y, device)
    if z is None:
        return y, initial_noise(len(y), diffusion.latent_dim, generator, device)
    if z.shape != (len(y), diffusion.latent_dim):
        raise ValueError(f"starting latents must have shape ({len(y)}, {diffusion.latent_dim}), got {tuple(z.shape)}")
    return y, diffusion.normalizer.normalize(z.to(device))


def _raw_step(diffusion: LatentDiffusion, t: int, t_next: int, z: torch.Tensor, z0_hat: torch.Tensor) -> SamplerStep:
    raw = diffusion.normalizer.denormalize
    return SamplerStep(t, t_next, raw(z), raw(z0_hat))


@torch.no_grad()
def ddpm_steps(
    diffusion: LatentDiffusion,
    y: torch.Tensor,
    generator: torch.Generator,
    settings: SamplingSettings,
    z: torch.Tensor | None = None,
    progress: bool = False,
) -> Iterator[SamplerStep]:
    """Ancestral DDPM sampling over all T steps from noise (or raw latents ``z`` at T − 1); yields a
    :class:`SamplerStep` after each step. ``settings.steps`` and ``settings.eta`` do not apply."""
    y, z = _start(diffusion, y, settings, generator, z)
    for t in progress_bar(range(diffusion.num_steps - 1, -1, -1), progress, desc="DDPM", leave=False):
        t_batch = torch.full((len(y),), t, dtype=torch.long, device=y.device)
        _, z0_hat = diffusion.predict(z, t_batch, y, settings.guidance_at(t))
        xi = torch.randn(z.shape, generator=generator).to(y.device) if t > 0 else None
        z = ddpm_step(diffusion.schedule, z, z0_hat, t, xi)
        yield _raw_step(diffusion, t, t - 1, z, z0_hat)


@torch.no_grad()
def ddim_steps(
    diffusion: LatentDiffusion,
    y: torch.Tensor,
    generator: torch.Generator,
    settings: SamplingSettings,
    z: torch.Tensor | None = None,
    start_t: int | None = None,
    progress: bool = False,
) -> Iterator[SamplerStep]:
    """DDIM on ``settings.steps`` evenly spaced timesteps; yields a :class:`SamplerStep` after each step.

    ``z`` (raw latents) and ``start_t`` start the process from given latents at a given timestep instead of pure
    noise at T − 1 (e.g. to denoise a partly noised real latent)."""
    y, z = _start(diffusion, y, settings, generator, z)
    alpha_bar = diffusion.schedule.alpha_bar
    taus = ddim_timesteps(diffusion.num_steps, settings.steps, start_t)
    for i, t in enumerate(progress_bar(taus, progress, desc=f"DDIM-{settings.steps}", leave=False)):
        t_batch = torch.full((len(y),), t, dtype=torch.long, device=y.device)
        eps, z0_hat = diffusion.predict(z, t_batch, y, settings.guidance_at(t))
        last = i + 1 == len(taus)
        a_next = torch.ones_like(alpha_bar[t]) if last else alpha_bar[taus[i + 1]]  # ᾱ after the last step: 1
        noisy = settings.eta > 0 and not last
        z = ddim_step(z0_hat, eps, alpha_bar[t], a_next, settings.eta,
                      torch.randn(z.shape, generator=generator).to(y.device) if noisy else None)
        yield _raw_step(diffusion, t, -1 if last else taus[i + 1], z, z0_hat)


@torch.no_grad()
def ddim_inversion(
    diffusion: LatentDiffusion,
    z0: torch.Tensor,
    y,
    settings: SamplingSettings,
    end_t: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Run deterministic DDIM *upwards*: from raw clean latents ``z0`` to the raw latents at ``end_t`` (default
    T − 1) from which DDIM with the same settings (η = 0) comes back to about ``z0``.

    Each step reuses the η = 0 update with the roles of the two timesteps swapped: at the current z and t the model
    estimates ε̂ and ẑ_0, and z at the next, *larger* timestep is √ᾱ' ẑ_0 + √(1−ᾱ') ε̂. It is exact only as far as
    ε̂ changes little between neighbouring timesteps (the ODE view of DDIM), so more steps invert better."""
    if settings.eta != 0:
        raise ValueError(f"inversion needs deterministic DDIM (eta = 0), got eta = {settings.eta}")
    y, z = _start(diffusion, y, settings, torch.Generator(), z0)  # validated labels, standardised z0
    taus = ddim_timesteps(diffusion.num_steps, settings.steps, end_t)[::-1]  # increasing: 0 … end_t
    alpha_bar = diffusion.schedule.alpha_bar
    for t, t_next in progress_bar(list(zip(taus[:-1], taus[1:], strict=True)), progress, desc="DDIM inversion"):
        t_batch = torch.full((len(y),), t, dtype=torch.long, device=y.device)
        eps, z0_hat = diffusion.predict(z, t_batch, y, settings.guidance_at(t))
        z = ddim_step(z0_hat, eps, alpha_bar[t], alpha_bar[t_next])  # the η = 0 step, towards more noise
    return diffusion.normalizer.denormalize(z)


def sampler_steps(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings | None = None,
    z: torch.Tensor | None = None,
    start_t: int | None = None,
    progress: bool = False,
) -> Iterator[SamplerStep]:
    """The steps of the sampler ``settings.sampler`` (default: the model's stored settings)."""
    settings = diffusion.sampling if settings is None else settings
    if settings.sampler == "ddpm":
        if start_t not in (None, diffusion.num_steps - 1):
            raise ValueError(f"DDPM starts at T − 1 = {diffusion.num_steps - 1}; use DDIM to start at t = {start_t}")
        return ddpm_steps(diffusion, y, generator, settings, z, progress)
    return ddim_steps(diffusion, y, generator, settings, z, start_t, progress)


def sample(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Clean raw latents (N, latent_dim) for labels ``y`` (names, indices or a tensor) with ``settings``."""
    last = None
    for last in sampler_steps(diffusion, y, generator, settings, progress=progress):  # noqa: B007 - keep the end
        pass
    return last.z
