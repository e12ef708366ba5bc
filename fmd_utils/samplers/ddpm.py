r"""**DDPM, ancestral** (Ho et al., 2020): all T steps, with :math:`\hat z_0` from the model's prediction.

.. math::
    z_{t-1} = \tilde\mu_t(z_t, \hat z_0) + \sigma_t\,\xi, \quad
    \tilde\mu_t = \frac{\beta_t\sqrt{\bar\alpha_{t-1}}}{1-\bar\alpha_t}\hat z_0
                + \frac{(1-\bar\alpha_{t-1})\sqrt{\alpha_t}}{1-\bar\alpha_t} z_t, \quad
    \sigma_t^2 = \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t, \quad \xi\sim\mathcal N(0,I)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from ..progress import progress as progress_bar
from ..schedule import NoiseSchedule
from .base import Sampler, SamplerStep, fresh_noise, raw_step, register, start, timestep_batch

if TYPE_CHECKING:
    from ..diffusion import LatentDiffusion
    from ..settings import SamplingSettings


def ddpm_step(schedule: NoiseSchedule, z_t: torch.Tensor, z0_hat: torch.Tensor, t: int,
              xi: torch.Tensor | None) -> torch.Tensor:
    """z_{t−1} from z_t and the model's ẑ_0: the mean of the posterior q(z_{t−1} | z_t, ẑ_0) plus its noise."""
    t_batch = torch.full((len(z_t),), t, dtype=torch.long, device=z_t.device)
    mean = schedule.posterior_mean(z0_hat, z_t, t_batch)  # μ̃_t(z_t, ẑ_0)
    if t == 0:
        return mean  # the last step adds no noise
    return mean + schedule.posterior_variance[t].sqrt() * xi  # z_{t−1} = μ̃_t + σ_t ξ, σ_t² = β̃_t


@torch.no_grad()
def ddpm_steps(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings,
    z: torch.Tensor | None = None,
    start_t: int | None = None,  # noqa: ARG001 - the one signature; DDPM always starts at T − 1 (can_start_late)
    progress: bool = False,
) -> Iterator[SamplerStep]:
    """Ancestral DDPM sampling over all T steps from noise (or raw latents ``z`` at T − 1); yields a
    :class:`SamplerStep` after each step. ``settings.steps`` does not apply."""
    y, z = start(diffusion, y, settings, generator, z)
    for t in progress_bar(range(diffusion.num_steps - 1, -1, -1), progress, desc="DDPM", leave=False):
        _, z0_hat = diffusion.predict(z, timestep_batch(t, y), y, settings.guidance_at(t))
        z = ddpm_step(diffusion.schedule, z, z0_hat, t, fresh_noise(z, generator) if t > 0 else None)
        yield raw_step(diffusion, t, t - 1, z, z0_hat)


DDPM = register(Sampler("ddpm", "DDPM", ddpm_steps, all_steps=True, uses_eta=False, can_start_late=False))
