r"""Diffusion as a sequence of frames: the forward process applied to a real latent, and the reverse process as the
model actually runs it, decoded to images at every step. Notebooks, scrubbers and animations are built on these.

Noise level is reported as :math:`\sqrt{1-\bar\alpha_t}`, the standard deviation of the noise in
:math:`z_t = \sqrt{\bar\alpha_t}\,z_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`, which is what the eye sees, rather than
t/T (the cosine schedule spends many steps at low and at high noise). Latents are raw autoencoder latents, as
everywhere in the public API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .checks import seeded_generator
from .classes import class_index
from .flow import FlowSettings, flow_steps
from .pipeline import LatentDiffusionPipeline, LatentFlowPipeline
from .samplers import initial_noise, sampler_steps
from .settings import SamplingSettings


@dataclass
class Trajectory:
    """``timesteps[i]`` with the raw latent ``latents[i]`` and its decoded image ``images[i]``; for a reverse
    trajectory also the model's clean estimate ``x0_latents[i]`` (ẑ_0) and its image ``x0_images[i]``. Entry 0 is
    the start (no estimate yet: NaN latents, a black image)."""

    timesteps: list[int] | list[float]  # diffusion: integer timesteps (−1 = clean); flow: times t ∈ [0, 1]
    noise_levels: list[float]
    latents: torch.Tensor
    images: torch.Tensor
    x0_latents: torch.Tensor | None = None
    x0_images: torch.Tensor | None = None

    def labels(self, prefix: str = "") -> list[str]:
        if self.timesteps and isinstance(self.timesteps[0], float):  # a flow: the time is the noise level
            return [f"{prefix}t = {t:.3f}" if t > 0 else f"{prefix}clean (t = 0)" for t in self.timesteps]
        return [f"{prefix}t = {t}, noise σ = {s:.2f}" if t >= 0 else f"{prefix}clean (σ = 0)"
                for t, s in zip(self.timesteps, self.noise_levels, strict=True)]


def noise_level(pipe: LatentDiffusionPipeline, t: int) -> float:
    """√(1 − ᾱ_t); 0 for t = −1 (the clean sample)."""
    return 0.0 if t < 0 else float(pipe.diffusion.schedule.sqrt_one_minus_alpha_bar[t])


@torch.no_grad()
def forward_trajectory(
    pipe: LatentDiffusionPipeline, image: torch.Tensor, timesteps: Sequence[int], seed: int = 0
) -> Trajectory:
    """Noise the latent of one real ``image`` (1, 28, 28) to each of ``timesteps`` with one shared ε (so frames
    differ only in the noise level), decoding every z_t. Timestep −1 means the clean latent."""
    z0 = pipe.autoencoder.encode(image[None].to(pipe.device))
    eps = torch.randn(z0.shape, generator=seeded_generator(seed)).to(pipe.device)
    latents = torch.cat([z0 if t < 0 else pipe.diffusion.add_noise(z0, torch.tensor([t], device=pipe.device), eps)
                         for t in timesteps]).cpu()
    return Trajectory(list(timesteps), [noise_level(pipe, t) for t in timesteps], latents, pipe.decode(latents).cpu())


@torch.no_grad()
def reverse_trajectory(
    pipe: LatentDiffusionPipeline,
    target_class: int | str,
    seed: int = 0,
    start: torch.Tensor | None = None,
    start_t: int | None = None,
    settings: SamplingSettings | None = None,
    **overrides,
) -> Trajectory:
    """Run the sampler for one sample of ``target_class`` and keep every step: z_t and the model's ẑ_0, decoded.

    ``start`` (1, 64), a raw latent at timestep ``start_t``, replaces the fresh noise (e.g. to continue a forward
    trajectory backwards); by default the process starts from pure noise at t = T − 1. ``settings`` and
    ``overrides`` as in :meth:`LatentDiffusionPipeline.generate`.
    """
    settings = pipe.settings(settings, **overrides)
    generator = seeded_generator(seed)
    first_t = pipe.diffusion.num_steps - 1 if start_t is None else start_t
    steps = list(sampler_steps(pipe.diffusion, [class_index(target_class)], generator, settings, z=start,
                               start_t=start_t))
    if start is None:  # z_T as the sampler drew it (the generator's first draw), shown in raw coordinates
        noise = initial_noise(1, pipe.diffusion.latent_dim, seeded_generator(seed), pipe.device)
        start = pipe.diffusion.normalizer.denormalize(noise)
    latents = torch.cat([start.cpu(), *(s.z.cpu() for s in steps)])
    x0s = torch.cat([torch.full_like(latents[:1], float("nan")), *(s.z0_hat.cpu() for s in steps)])
    x0_images = pipe.decode(torch.nan_to_num(x0s)).cpu()
    x0_images[0] = 0.0  # no estimate before the first step
    timesteps = [first_t, *(s.t_next for s in steps)]
    return Trajectory(timesteps, [noise_level(pipe, t) for t in timesteps], latents, pipe.decode(latents).cpu(),
                      x0s, x0_images)


@torch.no_grad()
def flow_trajectory(
    pipe: LatentFlowPipeline, target_class: int | str, seed: int = 0, settings: FlowSettings | None = None,
    **overrides,
) -> Trajectory:
    """The flow model's sampler for one sample of ``target_class``, every step kept and decoded: z_t and
    ẑ_0 = z_t − t v̂. Seed k starts from the same noise as :func:`reverse_trajectory` with seed k, so the two can be
    played side by side. The noise level of the straight path is t itself."""
    settings = pipe.settings(settings, **overrides)
    steps = list(flow_steps(pipe.flow, [class_index(target_class)], seeded_generator(seed), settings))
    start = initial_noise(1, pipe.flow.latent_dim, seeded_generator(seed), pipe.device)
    latents = torch.cat([pipe.flow.normalizer.denormalize(start).cpu(), *(s.z.cpu() for s in steps)])
    x0s = torch.cat([torch.full_like(latents[:1], float("nan")), *(s.z0_hat.cpu() for s in steps)])
    x0_images = pipe.decode(torch.nan_to_num(x0s)).cpu()
    x0_images[0] = 0.0  # no estimate before the first step
    times = [1.0, *(s.t_next for s in steps)]
    return Trajectory(times, times, latents, pipe.decode(latents).cpu(), x0s, x0_images)
