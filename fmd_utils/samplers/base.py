r"""What every diffusion sampler shares, and the registry that names them.

**One signature** (after k-diffusion's ``sampler(model, x, sigmas, ...)``): a sampler is a generator function

.. code-block:: python

    steps(diffusion, y, generator, settings, z=None, start_t=None, progress=False) -> Iterator[SamplerStep]

that starts from fresh noise (or raw latents ``z`` at timestep ``start_t``), calls ``diffusion.predict`` for the
guided (ε̂, ẑ_0) at each of its timesteps, applies an update rule that never calls the network, and yields a
:class:`SamplerStep` in raw latent coordinates after every step. All randomness comes from the explicit CPU
``generator``, so the same seed gives the same samples on any device.

**The registry.** Each sampler module ends with one :func:`register` call: a :class:`Sampler` that owns the name the
settings and the command lines use, the title figures and tables show, how many network evaluations it spends, and
the checks specific to it. :class:`~fmd_utils.settings.SamplingSettings`, the command lines and the evaluator ask the
registry (:func:`get_sampler`, :func:`sampler_names`) for what a sampler is and does. Adding a sampler is one
module with its update rule and loop, one :func:`register` call, one import line in
:mod:`fmd_utils.samplers`, and its tests (book/appendix_package.md, "Extending").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch

from ..classes import class_labels

if TYPE_CHECKING:  # type hints only: the settings and the model import this module, not the other way round
    from ..diffusion import LatentDiffusion
    from ..settings import SamplingSettings


class SamplerStep(NamedTuple):
    """State after one reverse step: the timestep just denoised, the timestep of the new z (−1: clean), the new z and
    the model's estimate of z_0 made at step t, both as raw latents."""

    t: int
    t_next: int
    z: torch.Tensor
    z0_hat: torch.Tensor


StepsFunction = Callable[..., Iterator[SamplerStep]]


@dataclass(frozen=True)
class Sampler:
    """A registered sampler.

    ``name``: what ``SamplingSettings(sampler=...)`` and ``--sampler`` take; ``title``: how figures and tables name
    it; ``steps``: the loop (the one signature above); ``all_steps``: it always walks all T timesteps (DDPM), so
    ``settings.steps`` does not apply; ``uses_eta``: it reads ``settings.eta`` (otherwise η must be 0, so a setting
    never silently does nothing); ``evaluations_per_step``: network evaluations per step and sample (a guided one
    counts once: its two passes run as one batch); ``final_step_evaluations``: what its last step costs when that
    differs (Heun's last step, to σ = 0, is an Euler step: one evaluation, not two); ``can_start_late``: it can
    start from latents at a timestep below T − 1 (denoising a partly noised image)."""

    name: str
    title: str
    steps: StepsFunction
    all_steps: bool = False
    uses_eta: bool = False
    evaluations_per_step: int = 1
    final_step_evaluations: int | None = None
    can_start_late: bool = True

    def num_steps(self, settings: SamplingSettings, num_timesteps: int) -> int:
        """How many steps it takes for a model with T = ``num_timesteps``."""
        return num_timesteps if self.all_steps else settings.steps

    def nfe(self, settings: SamplingSettings, num_timesteps: int) -> int:
        """Network evaluations per sample."""
        steps = self.num_steps(settings, num_timesteps)
        last = self.evaluations_per_step if self.final_step_evaluations is None else self.final_step_evaluations
        return self.evaluations_per_step * (steps - 1) + last

    def label(self, settings: SamplingSettings, num_timesteps: int | None = None) -> str:
        """Its short name in titles and tables: "DDIM-50", "DDIM-50, η = 1", "DDPM-1000", "DPM-Solver++(2M)-10"."""
        steps = (num_timesteps or "T") if self.all_steps else settings.steps
        eta = f", η = {settings.eta:g}" if self.uses_eta and settings.eta else ""
        return f"{self.title}-{steps}{eta}"

    def validate(self, settings: SamplingSettings) -> None:
        """The checks that belong to this sampler (the shared ones are in ``SamplingSettings.validate``)."""
        if not self.uses_eta and settings.eta != 0:
            raise ValueError(f"eta is DDIM's stochasticity and {self.title} does not read it: use eta=0 with "
                             f"sampler={self.name!r} (or sampler='ddim' for DDIM with eta = {settings.eta:g})")


REGISTRY: dict[str, Sampler] = {}


def register(sampler: Sampler) -> Sampler:
    """Add ``sampler`` to the registry under its name (a second sampler with the same name is an error)."""
    if sampler.name in REGISTRY:
        raise ValueError(f"a sampler named {sampler.name!r} is already registered; choose another name")
    REGISTRY[sampler.name] = sampler
    return sampler


def sampler_names() -> tuple[str, ...]:
    """The registered samplers' names, in registration order."""
    return tuple(REGISTRY)


def get_sampler(name: str) -> Sampler:
    """The registered sampler called ``name``; a ValueError listing the valid names otherwise."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"sampler must be one of {sampler_names()}, got {name!r}")
    return REGISTRY[name]


# --------------------------------------------------------------------------------------------------- shared parts
def initial_noise(n: int, dim: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """z_T ~ N(0, I), drawn on the CPU from ``generator`` and moved, so results do not depend on the device."""
    return torch.randn((n, dim), generator=generator).to(device)


def fresh_noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """ξ ~ N(0, I) shaped like ``like``, drawn on the CPU from ``generator`` (device-independent, as above)."""
    return torch.randn(like.shape, generator=generator).to(like.device)


def start(diffusion: LatentDiffusion, y, settings: SamplingSettings, generator: torch.Generator,
          z: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated settings and labels, and the standardised starting latent (fresh noise, or raw ``z`` standardised)."""
    settings.validate(diffusion.num_steps)
    device = diffusion.device
    y = class_labels(y, device)
    if z is None:
        return y, initial_noise(len(y), diffusion.latent_dim, generator, device)
    if not isinstance(z, torch.Tensor) or z.shape != (len(y), diffusion.latent_dim):
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"starting latents z must be a tensor of shape ({len(y)}, {diffusion.latent_dim}), "
                         f"got {shape}")
    return y, diffusion.normalizer.normalize(z.to(device))


def timestep_batch(t: int, y: torch.Tensor) -> torch.Tensor:
    """The timestep ``t`` for every row of the batch."""
    return torch.full((len(y),), t, dtype=torch.long, device=y.device)


def raw_step(diffusion: LatentDiffusion, t: int, t_next: int, z: torch.Tensor, z0_hat: torch.Tensor) -> SamplerStep:
    """A :class:`SamplerStep` with standardised ``z`` and ``z0_hat`` turned back into raw latents."""
    raw = diffusion.normalizer.denormalize
    return SamplerStep(t, t_next, raw(z), raw(z0_hat))


# --------------------------------------------------------------------------------------------------- running one
def sampler_steps(
    diffusion: LatentDiffusion,
    y,
    generator: torch.Generator,
    settings: SamplingSettings | None = None,
    z: torch.Tensor | None = None,
    start_t: int | None = None,
    progress: bool = False,
) -> Iterator[SamplerStep]:
    """The steps of the registered sampler ``settings.sampler`` (default settings: the model's stored ones)."""
    settings = (diffusion.sampling if settings is None else settings).validate(diffusion.num_steps)
    sampler = get_sampler(settings.sampler)
    if start_t not in (None, diffusion.num_steps - 1) and not sampler.can_start_late:
        raise ValueError(f"{sampler.title} starts at T − 1 = {diffusion.num_steps - 1}; use sampler='ddim' to start "
                         f"at t = {start_t}")
    return sampler.steps(diffusion, y, generator, settings, z=z, start_t=start_t, progress=progress)


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
