r"""Flow matching (rectified flow) on the same standardised latents, with the same denoiser network.

**The path.** Instead of a noise schedule, a straight line from a clean latent to noise, for t ∈ [0, 1]
(t = 0: data, t = 1: noise, the direction of diffusion's timesteps; Liu et al., 2023; Lipman et al., 2023):

.. math::
    z_t = (1 - t)\,\tilde z_0 + t\,\varepsilon, \qquad
    u_t = \frac{dz_t}{dt} = \varepsilon - \tilde z_0

**Training** regresses the network onto that velocity, at t ~ U(0, 1), with the same label dropout as diffusion:

.. math::
    \mathcal L = \tfrac{1}{d}\lVert v_\theta(z_t, t, y') - (\varepsilon - \tilde z_0) \rVert^2
    \quad \text{(mean over the } d = 64 \text{ dimensions)}

The minimiser is the *conditional mean* :math:`v^*(z, t, y') = E[\varepsilon - \tilde z_0 \mid z_t = z, y']`, and that
averaged field carries the noise distribution at t = 1 to the data at t = 0 (it satisfies the same continuity
equation :math:`\partial_t p_t + \nabla\!\cdot(p_t v^*) = 0` as the straight lines it averages).

**Sampling** integrates :math:`dz/dt = v_\theta(z, t, y)` from t = 1 down to 0 on a grid :math:`1 = t_0 > \ldots >
t_N = 0`, with step :math:`h = t_{i+1} - t_i < 0`:

.. math::
    \text{Euler:}\quad z_{i+1} = z_i + h\,v(z_i, t_i) \qquad
    \text{Heun:}\quad z' = z_i + h\,v(z_i, t_i),\ \ z_{i+1} = z_i + \tfrac{h}{2}\big(v(z_i, t_i) + v(z', t_{i+1})\big)

Euler costs one network evaluation (NFE) per step, Heun two. **Guidance** mixes velocities exactly as diffusion
mixes its predictions, on an interval of t: :math:`\tilde v = v(\varnothing) + w_t\,(v(y) - v(\varnothing))`.

**Diffusion is a flow too.** A diffusion latent :math:`z = \alpha\tilde z_0 + \sigma\varepsilon`
(:math:`\alpha = \sqrt{\bar\alpha}, \sigma = \sqrt{1-\bar\alpha}`) divided by α + σ is a point of the straight path,

.. math::
    \frac{z}{\alpha + \sigma} = (1 - t)\,\tilde z_0 + t\,\varepsilon, \qquad t = \frac{\sigma}{\alpha + \sigma},

so a diffusion model's (ε̂, ẑ_0) give a velocity :math:`\hat v = \hat\varepsilon - \hat z_0` in those coordinates,
and one DDIM step with η = 0 *is* one Euler step of that velocity field (:func:`straight_path_coordinates`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .checks import is_int, is_real
from .classes import class_labels
from .denoisers import Denoiser, build_denoiser
from .diffusion import LatentModel
from .distributed import part
from .normalizer import LatentNormalizer
from .progress import progress as progress_bar
from .settings import GuidedSettings

TIME_SCALE = 1000.0  # the network sees 1000 t: chapter 3's sinusoidal embedding was made for timesteps 0 … 999
FLOW_SAMPLERS = ("euler", "heun")


# --------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class FlowSettings(GuidedSettings):
    """How to sample a flow model: ``sampler`` "euler" or "heun", ``steps`` on a uniform grid from t = 1 to 0,
    guidance weight ``guidance`` applied for lo ≤ t ≤ hi of ``guidance_interval`` (t ∈ [0, 1]), or on every step
    when it is None. The same role, and the same rules, as :class:`~fmd_utils.settings.SamplingSettings`."""

    sampler: str = "euler"
    steps: int = 50
    guidance: float = 1.0
    guidance_interval: tuple[float, float] | None = None

    _kind = "flow"

    @property
    def nfe(self) -> int:
        """Network evaluations per sample (guided ones count once: their two passes run as one batch)."""
        return self.steps * (2 if self.sampler == "heun" else 1)

    def validate(self) -> FlowSettings:
        """Check every field; raise a ValueError naming the field and its valid range. Returns ``self``."""
        if self.sampler not in FLOW_SAMPLERS:
            raise ValueError(f"sampler must be one of {FLOW_SAMPLERS} for a flow model, got {self.sampler!r}")
        if not is_int(self.steps) or self.steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        self._check_guidance()
        interval = self.guidance_interval
        if interval is not None:
            valid = (isinstance(interval, tuple) and len(interval) == 2 and all(is_real(v) for v in interval)
                     and 0 <= interval[0] <= interval[1] <= 1)
            if not valid:
                raise ValueError(f"guidance_interval must be None (guide every step) or times (lo, hi) with "
                                 f"0 <= lo <= hi <= 1, got {interval!r}")
        return self

    def describe(self) -> str:
        """One line for a figure title, e.g. "Euler-16, guidance 3 on t ∈ [0.2, 0.7]"."""
        return f"{self.sampler.capitalize()}-{self.steps}, guidance {self.guidance:g} on {self.interval_label()}"


# --------------------------------------------------------------------------------------------------- the model
class LatentFlow(LatentModel):
    """A velocity network (the diffusion model's denoiser architecture), the latent normaliser and the sampling
    settings it was tuned for. Like :class:`~fmd_utils.diffusion.LatentDiffusion`, it takes and returns raw
    latents in its public methods and works on standardised ones inside."""

    def __init__(self, denoiser: Denoiser | None = None, normalizer: LatentNormalizer | None = None,
                 sampling: FlowSettings | None = None) -> None:
        super().__init__()
        self.denoiser = denoiser or build_denoiser()
        self.normalizer = normalizer or LatentNormalizer(self.latent_dim)
        self.sampling = (sampling or FlowSettings()).validate()

    # ------------------------------------------------------------------------------------------- training
    def loss(self, z0: torch.Tensor, y: torch.Tensor, generator: torch.Generator, p_uncond: float = 0.0,
             shard: tuple[int, int] = (0, 1)) -> torch.Tensor:
        """Flow matching loss on raw latents ``z0`` with labels ``y``, at random t, ε and label dropout, all drawn
        from ``generator`` on its own device and moved to z0's; ``shard``: as in
        :meth:`~fmd_utils.diffusion.LatentDiffusion.loss`."""
        n, at = z0.shape[0] * shard[1], generator.device  # the global batch: this is part shard[0] of shard[1]
        t = torch.rand(n, generator=generator, device=at)  # t ~ U(0, 1)
        noise = torch.randn((n, *z0.shape[1:]), generator=generator, device=at)  # ε ~ N(0, I)
        drop = torch.rand(n, generator=generator, device=at) < p_uncond  # y' = ∅ with prob. p_uncond
        return self.loss_at(z0, y, *(part(v, shard).to(z0.device) for v in (t, noise, drop)))

    def loss_at(self, z0: torch.Tensor, y: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        """The same loss at given times ``t`` (N,), noise and dropped labels ``drop`` (bool, optional)."""
        z0 = self.normalizer.normalize(z0)  # z̃_0 = (z_0 − μ)/σ
        z_t = straight_path(z0, t, noise)  # z_t = (1 − t) z̃_0 + t ε
        if drop is not None:
            y = torch.where(drop, torch.full_like(y, self.null_class), y)  # y' = ∅ where dropped
        return nn.functional.mse_loss(self.network(z_t, t, y), noise - z0)  # ‖v_θ(z_t, t, y') − (ε − z̃_0)‖² / d

    def network(self, z_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """v_θ(z_t, t, y) for standardised ``z_t``, times ``t`` ∈ [0, 1] (N,) and classes ``y``."""
        return self.denoiser(z_t, TIME_SCALE * t.float(), y)

    # ------------------------------------------------------------------------------------------- sampling
    def velocity(self, z_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, guidance: float = 1.0) -> torch.Tensor:
        """Guided velocity ṽ = v(∅) + w (v(y) − v(∅)) at standardised ``z_t``, times ``t`` and classes ``y``: the
        guidance diffusion uses (:meth:`~fmd_utils.diffusion.LatentModel.guided`), on the velocity network."""
        return self.guided(z_t, t, y, guidance)

    def add_noise(self, z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The straight path for raw latents: standardise, move to time t, return raw coordinates."""
        return self.normalizer.denormalize(straight_path(self.normalizer.normalize(z0), t, noise))


def straight_path(z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z_t = (1 − t) z_0 + t ε, with ``t`` (N,) broadcast over the latent dimensions."""
    if noise.shape != z0.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} must match z0 shape {tuple(z0.shape)}")
    t = t.reshape(-1, *([1] * (z0.ndim - 1))).to(z0)
    return (1 - t) * z0 + t * noise  # z_t = (1 − t) z_0 + t ε


def clean_estimate(z_t: torch.Tensor, t: float | torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """ẑ_0 = z_t − t v̂: where the current velocity would land at t = 0 (the straight line's start)."""
    return z_t - t * v


# --------------------------------------------------------------------------------------------------- update rules
def euler_step(z: torch.Tensor, v: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    """z at t_next from z at t, moving along the velocity v evaluated at (z, t): z + h v with h = t_next − t."""
    return z + (t_next - t) * v  # z_{i+1} = z_i + h v(z_i, t_i)


def heun_step(z: torch.Tensor, v: torch.Tensor, v_next: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    """Heun's correction: the mean of the velocity at the start (v) and at Euler's end point (v_next)."""
    return z + (t_next - t) * 0.5 * (v + v_next)  # z_{i+1} = z_i + h (v(z_i, t_i) + v(z', t_{i+1})) / 2


def time_grid(steps: int) -> list[float]:
    """``steps`` + 1 evenly spaced times from 1 (noise) down to 0 (data), both ends included."""
    if not is_int(steps) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64).tolist()


# --------------------------------------------------------------------------------------------------- loops
class FlowStep(NamedTuple):
    """State after one step, as raw latents: the time integrated from, the time reached, the new z and the clean
    estimate ẑ_0 = z_t − t v̂ made at time t."""

    t: float
    t_next: float
    z: torch.Tensor
    z0_hat: torch.Tensor


@torch.no_grad()
def flow_steps(flow: LatentFlow, y, generator: torch.Generator, settings: FlowSettings | None = None,
               z: torch.Tensor | None = None, progress: bool = False) -> Iterator[FlowStep]:
    """Integrate dz/dt = v̂ from t = 1 (fresh noise, or raw latents ``z``) to t = 0 with ``settings`` (default: the
    model's); yield a :class:`FlowStep` after each step. The noise is drawn on the CPU from ``generator``, exactly
    as diffusion's samplers draw theirs, so the same seed starts both models from the same point."""
    settings = (flow.sampling if settings is None else settings).validate()
    device = flow.device
    y = class_labels(y, device)
    if z is None:
        z = torch.randn((len(y), flow.latent_dim), generator=generator).to(device)  # z_1 ~ N(0, I)
    elif z.shape != (len(y), flow.latent_dim):
        raise ValueError(f"starting latents must have shape ({len(y)}, {flow.latent_dim}), got {tuple(z.shape)}")
    else:
        z = flow.normalizer.normalize(z.to(device))
    grid = time_grid(settings.steps)
    raw = flow.normalizer.denormalize
    for t, t_next in progress_bar(list(zip(grid[:-1], grid[1:], strict=True)), progress,
                                  desc=settings.describe().split(",")[0], leave=False):
        t_batch = torch.full((len(y),), t, device=device)
        v = flow.velocity(z, t_batch, y, settings.guidance_at(t))
        z0_hat = clean_estimate(z, t, v)
        z_euler = euler_step(z, v, t, t_next)
        if settings.sampler == "heun":
            v_next = flow.velocity(z_euler, torch.full_like(t_batch, t_next), y, settings.guidance_at(t_next))
            z = heun_step(z, v, v_next, t, t_next)
        else:
            z = z_euler
        yield FlowStep(t, t_next, raw(z), raw(z0_hat))


def flow_sample(flow: LatentFlow, y, generator: torch.Generator, settings: FlowSettings | None = None,
                progress: bool = False) -> torch.Tensor:
    """Clean raw latents (N, latent_dim) for labels ``y`` (names, indices or a tensor)."""
    last = None
    for last in flow_steps(flow, y, generator, settings, progress=progress):  # noqa: B007 - keep the end
        pass
    return last.z


# ------------------------------------------------------------------------------------------- diffusion as a flow
def straight_path_coordinates(z: torch.Tensor, alpha_bar: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """A diffusion latent z = α z_0 + σ ε (α = √ᾱ, σ = √(1 − ᾱ)) as a point of the straight path:
    (z / (α + σ), t = σ / (α + σ)). Standardised coordinates in, standardised out."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=z.dtype, device=z.device)
    a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    return z / (a + s), s / (a + s)  # z / (α + σ) = (1 − t) z_0 + t ε with t = σ / (α + σ)


def path_straightness(path: torch.Tensor) -> torch.Tensor:
    """Length of a polyline over its end-to-end distance, per trajectory: ``path`` (S + 1, N, D) → (N,);
    1 for a straight path, larger the more it bends."""
    length = (path[1:] - path[:-1]).norm(dim=-1).sum(0)  # Σ ‖z_{i+1} − z_i‖
    return length / (path[-1] - path[0]).norm(dim=-1)  # ÷ ‖z_end − z_start‖
