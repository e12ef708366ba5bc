"""Samplers: turn Gaussian noise and a class label into a clean latent, each in its own module, all behind one
signature and one registry (:mod:`fmd_utils.samplers.base`).

================= =================== =====================================================================
name              module              what it is
================= =================== =====================================================================
``ddim``          :mod:`~.ddim`       DDIM on a sub-grid of timesteps, stochasticity η (``SamplingSettings``'
                                      class default)
``ddim-trailing`` :mod:`~.ddim`       DDIM on the trailing sub-grid: no evaluation at t = 0 (up to 2T/3 steps)
``ddpm``          :mod:`~.ddpm`       ancestral DDPM over all T steps
``dpm++2m``       :mod:`~.dpm_solver` DPM-Solver++(2M): second order, multistep, in log-SNR, on DDIM's grid
``dpm++2m-karras``:mod:`~.dpm_solver` the same on EDM's Karras σ grid
``heun``          :mod:`~.karras`     Heun's second-order step on EDM's Karras σ grid (Karras et al., 2022)
``heun-straight`` :mod:`~.straight`   Heun in flow matching's straight-path coordinates, uniform in flow time
                                      (what the shipped model stores: 8 steps, 16 evaluations)
================= =================== =====================================================================

A new sampler is a new module here ending in ``register(Sampler(...))`` and one import line below.
"""

from .base import (
    REGISTRY,
    Sampler,
    SamplerStep,
    get_sampler,
    initial_noise,
    register,
    sample,
    sampler_names,
    sampler_steps,
)
from .ddim import ddim_inversion, ddim_step, ddim_steps, ddim_timesteps, ddim_trailing_steps
from .ddpm import ddpm_step, ddpm_steps
from .dpm_solver import dpm_solver_2m_step, dpm_solver_2m_steps
from .karras import heun_step, heun_steps, karras_sigmas, karras_timesteps
from .straight import straight_heun_step, straight_heun_steps, straight_timesteps

__all__ = [
    "REGISTRY", "Sampler", "SamplerStep", "get_sampler", "initial_noise", "register", "sample", "sampler_names",
    "sampler_steps", "ddim_inversion", "ddim_step", "ddim_steps", "ddim_timesteps", "ddpm_step", "ddpm_steps",
    "dpm_solver_2m_step", "dpm_solver_2m_steps", "ddim_trailing_steps", "heun_step", "heun_steps", "karras_sigmas",
    "karras_timesteps", "straight_heun_step", "straight_heun_steps", "straight_timesteps",
]
