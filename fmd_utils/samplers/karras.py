r"""**Heun on a Karras σ grid** (Karras et al., 2022, "Elucidating the design space…", EDM, Algorithm 1): the
probability-flow ODE solved with a second-order step on noise levels spaced for it.

**The ODE in EDM's coordinates.** Divide a latent by its signal scale: with :math:`a = \sqrt{\bar\alpha_t}`,
:math:`s = \sqrt{1-\bar\alpha_t}`, the point :math:`x = z/a = \tilde z_0 + \sigma\varepsilon` has noise level
:math:`\sigma = s/a`, and the probability-flow ODE of every Gaussian diffusion becomes

.. math::
    \frac{dx}{d\sigma} = -\sigma\,\nabla_x \log p_\sigma(x) = \frac{x - D(x; \sigma)}{\sigma} = \hat\varepsilon,

the model's noise estimate. One Euler step of it, :math:`x' = x + (\sigma' - \sigma)\hat\varepsilon`, is exactly
DDIM's η = 0 step. **Heun** evaluates ε̂ again at Euler's end point and takes the mean of the two slopes:

.. math::
    x_e = x + (\sigma' - \sigma)\,\hat\varepsilon(x, \sigma), \qquad
    x' = x + (\sigma' - \sigma)\,\tfrac12\big(\hat\varepsilon(x, \sigma) + \hat\varepsilon(x_e, \sigma')\big),

second order (its error per step falls like h³, over a path like h²) for two evaluations; the last step, to
σ = 0, where ε̂ is not defined, is Euler's (so n steps cost 2n − 1 evaluations).

**The grid.** EDM spaces n noise levels as uniform steps of :math:`\sigma^{1/\rho}`, ρ = 7:

.. math::
    \sigma_i = \Big(\sigma_\max^{1/\rho}
               + \tfrac{i}{n-1}\big(\sigma_\min^{1/\rho} - \sigma_\max^{1/\rho}\big)\Big)^\rho,
    \quad i = 0 … n-1, \qquad \sigma_n = 0,

dense at low noise, where the ODE bends. Our model knows 1000 timesteps, so each σ_i is taken to the timestep whose
σ_t is nearest in log σ (as k-diffusion's discrete wrappers do); the step uses that timestep's exact σ_t, so
rounding changes the grid, not the ODE. σ_min is σ at t = 0 (0.0064). σ_max is EDM's 80 (t = 991), not σ at T − 1:
the cosine schedule's clipped last step puts σ_999 at 20,000, and a ρ = 7 grid from there would spend half its steps
above σ = 600, where nothing changes. Starting from N(0, I) at σ = 80 is the start EDM makes (the true marginal
there is N(aμ, a²Σ + s²I) with a = 0.012).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from ..progress import progress as progress_bar
from .base import Sampler, SamplerStep, raw_step, register, start, timestep_batch

if TYPE_CHECKING:
    from ..diffusion import LatentDiffusion
    from ..schedule import NoiseSchedule
    from ..settings import SamplingSettings

RHO = 7.0
SIGMA_MAX = 80.0


def sigmas(schedule: NoiseSchedule) -> torch.Tensor:
    """σ_t = √((1 − ᾱ_t)/ᾱ_t) for every timestep, float64 (T,)."""
    alpha_bar = schedule.alpha_bar.double().cpu()
    return ((1 - alpha_bar) / alpha_bar).sqrt()


def karras_sigmas(sigma_max: float, sigma_min: float, steps: int, rho: float = RHO) -> torch.Tensor:
    """``steps`` noise levels from ``sigma_max`` down to ``sigma_min``, uniform in σ^(1/ρ), float64."""
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min} and {sigma_max}")
    ramp = torch.arange(steps, dtype=torch.float64) / max(steps - 1, 1)
    hi, lo = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho  # σ_i = (σ_max^{1/ρ} + i/(n−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ


def karras_timesteps(schedule: NoiseSchedule, steps: int, start: int | None = None, sigma_max: float = SIGMA_MAX,
                     rho: float = RHO) -> list[int]:
    """The Karras grid of ``steps`` levels between min(σ_max, σ_start) and σ_0, each taken to the timestep with the
    nearest σ_t (in log σ); decreasing, without repeats (so at most ``steps``; fewer only beyond about 90)."""
    table = sigmas(schedule)
    num_steps = len(table)
    if start is None:
        start = int((table.log() - torch.tensor(sigma_max, dtype=torch.float64).log()).abs().argmin())
    if not 0 <= start < num_steps:
        raise ValueError(f"start timestep must lie in [0, {num_steps - 1}], got {start}")
    if not 1 <= steps <= start + 1:
        raise ValueError(f"steps must be between 1 and {start + 1}, got {steps}")
    if steps == 1:
        return [start]
    levels = karras_sigmas(float(table[start]), float(table[0]), steps, rho)
    nearest = (table[: start + 1].log()[None] - levels.log()[:, None]).abs().argmin(1)
    return sorted(set(nearest.tolist()), reverse=True)


def heun_step(z: torch.Tensor, eps: torch.Tensor, eps_next: torch.Tensor | None, alpha_bar_t: torch.Tensor,
              alpha_bar_next: torch.Tensor) -> torch.Tensor:
    """Standardised z at the next timestep from z at t, ε̂ there and ε̂ at Euler's end point (None: the Euler step
    itself). In x = z/a: x' = x + (σ' − σ) · slope, with slope ε̂ (Euler) or (ε̂ + ε̂_e)/2 (Heun); computed in float64
    and returned as z' = a' x'."""
    a, a_next = alpha_bar_t.double().sqrt(), alpha_bar_next.double().sqrt()
    sigma, sigma_next = (1 - a**2).sqrt() / a, (1 - a_next**2).sqrt() / a_next  # σ = s/a
    slope = eps.double() if eps_next is None else 0.5 * (eps.double() + eps_next.double())
    x_next = z.double() / a + (sigma_next - sigma) * slope  # x' = x + (σ' − σ) ε̄
    return (a_next * x_next).to(z.dtype)  # z' = a' x'


@torch.no_grad()
def heun_steps(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings,
    z: torch.Tensor | None = None,
    start_t: int | None = None,
    progress: bool = False,
) -> Iterator[SamplerStep]:
    """Heun on the Karras grid of ``settings.steps`` levels (from σ = 80, or from ``start_t`` with raw latents
    ``z``), the last step Euler's to the clean latent; yields a :class:`SamplerStep` after each step."""
    y, z = start(diffusion, y, settings, generator, z)
    alpha_bar = diffusion.schedule.alpha_bar
    taus = karras_timesteps(diffusion.schedule, settings.steps, start_t)
    for i, t in enumerate(progress_bar(taus, progress, desc=f"Heun-{settings.steps}", leave=False)):
        eps, z0_hat = diffusion.predict(z, timestep_batch(t, y), y, settings.guidance_at(t))
        last = i + 1 == len(taus)
        if last:  # σ' = 0: the Euler step, x' = x − σ ε̂ = ẑ_0
            z = z0_hat
        else:
            t_next = taus[i + 1]
            z_euler = heun_step(z, eps, None, alpha_bar[t], alpha_bar[t_next])
            eps_next, _ = diffusion.predict(z_euler, timestep_batch(t_next, y), y, settings.guidance_at(t_next))
            z = heun_step(z, eps, eps_next, alpha_bar[t], alpha_bar[t_next])
        yield raw_step(diffusion, t, -1 if last else taus[i + 1], z, z0_hat)


HEUN = register(Sampler("heun", "Heun (Karras σ)", heun_steps, evaluations_per_step=2, final_step_evaluations=1))

