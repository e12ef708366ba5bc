r"""**Heun on the straight path**: the diffusion model's probability-flow ODE solved in flow matching's coordinates.

A diffusion latent :math:`z = a\tilde z_0 + s\varepsilon` (:math:`a = \sqrt{\bar\alpha_t}`, :math:`s =
\sqrt{1-\bar\alpha_t}`) divided by a + s is a point of flow matching's straight path at flow time
:math:`\tau = s/(a+s)` (:func:`fmd_utils.flow.straight_path_coordinates`):

.. math::
    u = \frac{z}{a+s} = (1-\tau)\,\tilde z_0 + \tau\,\varepsilon, \qquad
    \frac{du}{d\tau} = \hat v = \hat\varepsilon - \hat z_0 .

The same ODE as EDM's dx/dσ = ε̂ (:mod:`~.karras`), written in other coordinates: Euler's step in them is again
DDIM's, but Heun's is not EDM's Heun, because its error depends on how straight the trajectories are *in the
coordinates it steps in*; along the straight path they bend least. The grid is uniform in τ, from τ at the start
down to 0 (the clean latent), each interior τ taken to the timestep with the nearest τ_t.

Every step, the last included, is a Heun step (2 evaluations): the velocity at the clean end is asked of the network
at t = 0 (σ = 0.0064), the nearest timestep it knows (a bias no step count removes, small: about 10⁻⁴ per coordinate
on the per-class Gaussians of :mod:`fmd_utils.solver_error`, against 10⁻² for 16 evaluations). With the exact ε* this
is the flow model's Heun solver on the exact velocity, step for step (:mod:`fmd_utils.solver_error` measures both).
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

CLEAN = -1  # the grid's last point: a = 1, s = 0


def flow_times(schedule: NoiseSchedule) -> torch.Tensor:
    """τ_t = s/(a + s) for every timestep, float64 (T,): 0 is clean, 1 pure noise."""
    a = schedule.alpha_bar.double().cpu().sqrt()
    s = (1 - a**2).sqrt()
    return s / (a + s)


def straight_timesteps(schedule: NoiseSchedule, steps: int, start: int | None = None) -> list[int]:
    """``steps`` + 1 points uniform in τ from τ_start (default T − 1) to 0: the timesteps with the nearest τ_t,
    decreasing and without repeats, then :data:`CLEAN`."""
    taus = flow_times(schedule)
    start = len(taus) - 1 if start is None else start
    if not 0 <= start < len(taus):
        raise ValueError(f"start timestep must lie in [0, {len(taus) - 1}], got {start}")
    if not 1 <= steps <= start + 1:
        raise ValueError(f"steps must be between 1 and {start + 1}, got {steps}")
    grid = torch.linspace(float(taus[start]), 0.0, steps + 1, dtype=torch.float64)[:-1]
    nearest = (taus[: start + 1][None] - grid[:, None]).abs().argmin(1)
    return [*sorted(set(nearest.tolist()), reverse=True), CLEAN]


def _scales(alpha_bar: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, s) at timestep t, or (1, 0) at :data:`CLEAN`, float64."""
    if t == CLEAN:
        return torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    a = alpha_bar[t].double().cpu().sqrt()
    return a, (1 - a**2).sqrt()


def straight_heun_step(z: torch.Tensor, v: torch.Tensor, v_next: torch.Tensor | None, scales: tuple,
                       scales_next: tuple) -> torch.Tensor:
    """Standardised z at the next grid point from z, the velocity v̂ = ε̂ − ẑ_0 there and the one at Euler's end
    point (None: the Euler step itself): u = z/(a + s), u' = u + (τ' − τ) · slope, z' = (a' + s') u'."""
    (a, s), (a_next, s_next) = scales, scales_next
    tau, tau_next = s / (a + s), s_next / (a_next + s_next)  # τ = s/(a + s)
    slope = v.double() if v_next is None else 0.5 * (v.double() + v_next.double())
    u_next = z.double() / (a + s) + (tau_next - tau) * slope  # u' = u + (τ' − τ) v̄
    return ((a_next + s_next) * u_next).to(z.dtype)


@torch.no_grad()
def straight_heun_steps(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings,
    z: torch.Tensor | None = None,
    start_t: int | None = None,
    progress: bool = False,
) -> Iterator[SamplerStep]:
    """Heun in straight-path coordinates on ``settings.steps`` intervals uniform in τ (2 evaluations each);
    yields a :class:`SamplerStep` after each step."""
    y, z = start(diffusion, y, settings, generator, z)
    alpha_bar = diffusion.schedule.alpha_bar
    grid = straight_timesteps(diffusion.schedule, settings.steps, start_t)

    def velocity(z_at: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        t_net = max(t, 0)  # the clean end is asked at t = 0
        eps, z0_hat = diffusion.predict(z_at, timestep_batch(t_net, y), y, settings.guidance_at(t_net))
        return eps - z0_hat, z0_hat  # v̂ = ε̂ − ẑ_0

    pairs = list(zip(grid[:-1], grid[1:], strict=True))
    for t, t_next in progress_bar(pairs, progress, desc=f"Heun (straight)-{settings.steps}", leave=False):
        here, there = _scales(alpha_bar, t), _scales(alpha_bar, t_next)
        v, z0_hat = velocity(z, t)
        z_euler = straight_heun_step(z, v, None, here, there)
        v_next, _ = velocity(z_euler, t_next)
        z = straight_heun_step(z, v, v_next, here, there)
        yield raw_step(diffusion, t, t_next, z, z0_hat)


STRAIGHT_HEUN = register(Sampler("heun-straight", "Heun (straight path)", straight_heun_steps,
                                 evaluations_per_step=2))
