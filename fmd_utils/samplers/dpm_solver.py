r"""**DPM-Solver++(2M)** (Lu et al., 2022): a second-order multistep solver of the probability-flow ODE in log-SNR.

With :math:`\alpha_t = \sqrt{\bar\alpha_t}`, :math:`\sigma_t = \sqrt{1-\bar\alpha_t}` and the half log-SNR
:math:`\lambda_t = \log(\alpha_t/\sigma_t)`, which grows as t falls, the ODE written for the model's clean estimate
:math:`\hat z_0` is solved exactly except for :math:`\hat z_0` itself, which the solver holds at a linear
extrapolation of its last two values over the step :math:`h_i = \lambda_{t_{i+1}} - \lambda_{t_i}`:

.. math::
    \begin{aligned}
    z_{t_{i+1}} &= \frac{\sigma_{t_{i+1}}}{\sigma_{t_i}}\,z_{t_i} - \alpha_{t_{i+1}}\big(e^{-h_i} - 1\big)\,D_i,\\
    D_i &= \Big(1 + \frac{1}{2r_i}\Big)\hat z_0^{(i)} - \frac{1}{2r_i}\,\hat z_0^{(i-1)}, \qquad
    r_i = \frac{h_{i-1}}{h_i}
    \end{aligned}

The first step has no previous estimate and uses :math:`D_0 = \hat z_0^{(0)}`: it is exactly DDIM's η = 0 step. So is
the last one, to the clean latent (σ = 0, where h is infinite). One network evaluation per step, the same timesteps as
DDIM (:func:`~fmd_utils.samplers.ddim.ddim_timesteps`): the two differ only in how they use the estimates, which
makes them comparable at equal network evaluations. Deterministic (no η).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from ..progress import progress as progress_bar
from ..sde import log_snr
from .base import Sampler, SamplerStep, raw_step, register, start, timestep_batch
from .ddim import ddim_timesteps
from .karras import karras_timesteps

if TYPE_CHECKING:
    from ..diffusion import LatentDiffusion
    from ..settings import SamplingSettings


def dpm_solver_2m_step(z: torch.Tensor, z0_hat: torch.Tensor, z0_prev: torch.Tensor | None, alpha_bar_t: torch.Tensor,
                       alpha_bar_next: torch.Tensor, h_prev: float | None) -> tuple[torch.Tensor, float]:
    """z at the next (smaller) timestep from z at t, the estimate ẑ_0 made there and the previous one (None: first
    order). Returns the new z and this step's h (the next step's h_prev). ``alpha_bar_next`` = 1 is the final step
    to the clean latent, always first order."""
    sigma_t, sigma_next = (1 - alpha_bar_t).sqrt(), (1 - alpha_bar_next).sqrt()
    if float(alpha_bar_next) >= 1.0:  # σ' = 0: z' = ẑ_0, the end of the ODE
        return z0_hat.clone(), float("inf")
    h = float(0.5 * (log_snr(alpha_bar_next) - log_snr(alpha_bar_t)))  # h_i = λ_{i+1} − λ_i > 0 (half log-SNR)
    if z0_prev is None or h_prev is None or not h_prev < float("inf"):
        d = z0_hat  # first order: D = ẑ_0 (DDIM, η = 0)
    else:
        r = h_prev / h  # r_i = h_{i−1} / h_i
        d = (1 + 1 / (2 * r)) * z0_hat - (1 / (2 * r)) * z0_prev  # D_i = (1 + 1/2r) ẑ_0^(i) − (1/2r) ẑ_0^(i−1)
    z_next = (sigma_next / sigma_t) * z - alpha_bar_next.sqrt() * torch.expm1(torch.tensor(-h)).to(z) * d
    return z_next, h  # z' = (σ'/σ) z − α' (e^{−h} − 1) D


@torch.no_grad()
def dpm_solver_2m_steps(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings,
    z: torch.Tensor | None = None,
    start_t: int | None = None,
    progress: bool = False,
    grid: str = "linspace",
) -> Iterator[SamplerStep]:
    """DPM-Solver++(2M) on ``settings.steps`` timesteps (DDIM's grid, or ``grid="karras"``: EDM's σ grid,
    :func:`~fmd_utils.samplers.karras.karras_timesteps`); yields a :class:`SamplerStep` after each step. Like DDIM
    it can start from raw latents ``z`` at ``start_t``."""
    y, z = start(diffusion, y, settings, generator, z)
    alpha_bar = diffusion.schedule.alpha_bar
    if grid == "karras":
        taus = karras_timesteps(diffusion.schedule, settings.steps, start_t)
    else:
        taus = ddim_timesteps(diffusion.num_steps, settings.steps, start_t, grid)
    z0_prev, h_prev = None, None
    for i, t in enumerate(progress_bar(taus, progress, desc=f"DPM-Solver++(2M)-{settings.steps}", leave=False)):
        _, z0_hat = diffusion.predict(z, timestep_batch(t, y), y, settings.guidance_at(t))
        last = i + 1 == len(taus)
        a_next = torch.ones_like(alpha_bar[t]) if last else alpha_bar[taus[i + 1]]
        z, h_prev = dpm_solver_2m_step(z, z0_hat, z0_prev, alpha_bar[t], a_next, h_prev)
        z0_prev = z0_hat
        yield raw_step(diffusion, t, -1 if last else taus[i + 1], z, z0_hat)


def dpm_solver_2m_karras_steps(diffusion: LatentDiffusion, y, generator: torch.Generator,
                               settings: SamplingSettings, z: torch.Tensor | None = None, start_t: int | None = None,
                               progress: bool = False) -> Iterator[SamplerStep]:
    """DPM-Solver++(2M) on the Karras σ grid ("DPM++ 2M Karras")."""
    return dpm_solver_2m_steps(diffusion, y, generator, settings, z, start_t, progress, grid="karras")


DPM_SOLVER_2M = register(Sampler("dpm++2m", "DPM-Solver++(2M)", dpm_solver_2m_steps))
DPM_SOLVER_2M_KARRAS = register(Sampler("dpm++2m-karras", "DPM-Solver++(2M), Karras σ", dpm_solver_2m_karras_steps))
