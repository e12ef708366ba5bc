r"""**DDIM** (Song et al., 2021) on any decreasing sub-sequence τ of timesteps, with stochasticity η:

.. math::
    z_{\tau_{i+1}} = \sqrt{\bar\alpha_{\tau_{i+1}}}\,\hat z_0
    + \sqrt{1-\bar\alpha_{\tau_{i+1}}-\rho_i^2}\;\hat\varepsilon + \rho_i\,\xi, \quad
    \rho_i = \eta\sqrt{\frac{1-\bar\alpha_{\tau_{i+1}}}{1-\bar\alpha_{\tau_i}}}
               \sqrt{1-\frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i+1}}}}

η = 0 is deterministic given the starting noise; η = 1 matches DDPM's variance on the sub-sequence. Run upwards
(:func:`ddim_inversion`), the η = 0 step maps a clean latent to the noise DDIM would bring back to it.

**Spacing.** ``ddim`` spreads its timesteps evenly from T − 1 down to 0, both ends included, so its last network
evaluation is at t = 0, where ᾱ_0 ≈ 1 and the step to the clean latent barely moves the sample. ``ddim-trailing``
(Lin et al., 2024, "Common diffusion noise schedules and sample steps are flawed"; diffusers' ``"trailing"``) takes
τ_i = round(T − i T/n) − 1, i = 0 … n − 1: it starts at T − 1 as well but ends at round(T/n) − 1, so (for n up to
2T/3) every evaluation falls where the sample still changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from ..progress import progress as progress_bar
from .base import Sampler, SamplerStep, fresh_noise, raw_step, register, start, timestep_batch

if TYPE_CHECKING:
    from ..diffusion import LatentDiffusion
    from ..settings import SamplingSettings


SPACINGS = ("linspace", "trailing")


def ddim_timesteps(num_steps: int, steps: int, start: int | None = None, spacing: str = "linspace") -> list[int]:
    """``steps`` decreasing timesteps from ``start`` (default T−1): evenly spread down to 0, both ends included
    (``"linspace"``), or τ_i = round((start + 1)(1 − i/steps)) − 1, which ends at round((start + 1)/steps) − 1,
    above 0 for up to 2/3 of the timesteps (``"trailing"``)."""
    start = num_steps - 1 if start is None else start
    if not 0 <= start < num_steps:
        raise ValueError(f"start timestep must lie in [0, {num_steps - 1}], got {start}")
    if not 1 <= steps <= start + 1:
        raise ValueError(f"steps must be between 1 and T = {start + 1}, got {steps}")
    if spacing == "linspace":
        grid = torch.linspace(start, 0, steps).round().long().tolist()
    elif spacing == "trailing":
        grid = ((start + 1) * (1 - torch.arange(steps, dtype=torch.float64) / steps)).round().long().sub(1).tolist()
    else:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    return sorted(set(grid), reverse=True)


def ddim_step(z0_hat: torch.Tensor, eps: torch.Tensor, alpha_bar_t: torch.Tensor, alpha_bar_next: torch.Tensor,
              eta: float = 0.0, xi: torch.Tensor | None = None) -> torch.Tensor:
    """z at the next (smaller) timestep from the model's ẑ_0 and ε̂: keep ẑ_0, re-noise it to the next level with
    ε̂, plus fresh noise ρ ξ when η > 0."""
    a_t, a_next = alpha_bar_t, alpha_bar_next
    # ρ = 0 for η = 0, also when the step goes up in noise (inversion), where the second root would be imaginary
    rho = eta * ((1 - a_next) / (1 - a_t)).sqrt() * (1 - a_t / a_next).sqrt() if eta else 0.0
    z = a_next.sqrt() * z0_hat + (1 - a_next - rho**2).clamp(min=0).sqrt() * eps  # √ᾱ' ẑ0 + √(1−ᾱ'−ρ²) ε̂
    if xi is not None:
        z = z + rho * xi  # + ρ ξ
    return z


@torch.no_grad()
def ddim_steps(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings,
    z: torch.Tensor | None = None,
    start_t: int | None = None,
    progress: bool = False,
    spacing: str = "linspace",
) -> Iterator[SamplerStep]:
    """DDIM on ``settings.steps`` timesteps spaced by ``spacing``; yields a :class:`SamplerStep` after each step.

    ``z`` (raw latents) and ``start_t`` start the process from given latents at a given timestep instead of pure
    noise at T − 1 (e.g. to denoise a partly noised real latent)."""
    y, z = start(diffusion, y, settings, generator, z)
    alpha_bar = diffusion.schedule.alpha_bar
    taus = ddim_timesteps(diffusion.num_steps, settings.steps, start_t, spacing)
    for i, t in enumerate(progress_bar(taus, progress, desc=f"DDIM-{settings.steps}", leave=False)):
        eps, z0_hat = diffusion.predict(z, timestep_batch(t, y), y, settings.guidance_at(t))
        last = i + 1 == len(taus)
        a_next = torch.ones_like(alpha_bar[t]) if last else alpha_bar[taus[i + 1]]  # ᾱ after the last step: 1
        noisy = settings.eta > 0 and not last
        z = ddim_step(z0_hat, eps, alpha_bar[t], a_next, settings.eta, fresh_noise(z, generator) if noisy else None)
        yield raw_step(diffusion, t, -1 if last else taus[i + 1], z, z0_hat)


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
    y, z = start(diffusion, y, settings, torch.Generator(), z0)  # validated labels, standardised z0
    taus = ddim_timesteps(diffusion.num_steps, settings.steps, end_t)[::-1]  # increasing: 0 … end_t
    alpha_bar = diffusion.schedule.alpha_bar
    for t, t_next in progress_bar(list(zip(taus[:-1], taus[1:], strict=True)), progress, desc="DDIM inversion"):
        eps, z0_hat = diffusion.predict(z, timestep_batch(t, y), y, settings.guidance_at(t))
        z = ddim_step(z0_hat, eps, alpha_bar[t], alpha_bar[t_next])  # the η = 0 step, towards more noise
    return diffusion.normalizer.denormalize(z)


def ddim_trailing_steps(diffusion: LatentDiffusion, y, generator: torch.Generator, settings: SamplingSettings,
                        z: torch.Tensor | None = None, start_t: int | None = None,
                        progress: bool = False) -> Iterator[SamplerStep]:
    """DDIM on the trailing timesteps (no evaluation at t = 0 unless every timestep is taken)."""
    return ddim_steps(diffusion, y, generator, settings, z, start_t, progress, spacing="trailing")


DDIM = register(Sampler("ddim", "DDIM", ddim_steps, uses_eta=True))
DDIM_TRAILING = register(Sampler("ddim-trailing", "DDIM (trailing)", ddim_trailing_steps, uses_eta=True))
