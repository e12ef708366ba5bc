r"""Diffusion as a sequence of frames: the forward process applied to a real latent, and the reverse process as the
model actually runs it, decoded to images at every step. Notebooks, scrubbers and animations are built on these.

Noise level is reported as :math:`\sqrt{1-\bar\alpha_t}`, the standard deviation of the noise in
:math:`z_t = \sqrt{\bar\alpha_t}\,z_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`, which is what the eye sees, rather than
t/T (the cosine schedule spends many steps at low and at high noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .classes import class_index
from .pipeline import DEFAULT_GUIDANCE, DEFAULT_GUIDANCE_INTERVAL, LatentDiffusionPipeline
from .sampling import ddim_steps, initial_noise


@dataclass
class Trajectory:
    """``timesteps[i]`` with the (standardised) latent ``latents[i]`` and its decoded image ``images[i]``; for a
    reverse trajectory also the model's clean estimate ``x0_images[i]`` and ``x0_latents[i]``. Entry 0 is the start."""

    timesteps: list[int]
    noise_levels: list[float]
    latents: torch.Tensor
    images: torch.Tensor
    x0_latents: torch.Tensor | None = None
    x0_images: torch.Tensor | None = None

    def labels(self, prefix: str = "") -> list[str]:
        return [f"{prefix}t = {t}, noise σ = {s:.2f}" if t >= 0 else f"{prefix}clean (σ = 0)"
                for t, s in zip(self.timesteps, self.noise_levels, strict=True)]


def _decode(pipe: LatentDiffusionPipeline, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return pipe.decode(pipe.normalizer.denormalize(z.to(pipe.device))).cpu()


def noise_level(pipe: LatentDiffusionPipeline, t: int) -> float:
    """√(1 − ᾱ_t); 0 for t = −1 (the clean sample)."""
    return 0.0 if t < 0 else float(pipe.diffusion.schedule.sqrt_one_minus_alpha_bar[t])


@torch.no_grad()
def forward_trajectory(
    pipe: LatentDiffusionPipeline, image: torch.Tensor, timesteps: Sequence[int], seed: int = 0
) -> Trajectory:
    """Noise the latent of one real ``image`` (1, 28, 28) to each of ``timesteps`` with one shared ε (so frames
    differ only in the noise level), decoding every z_t. Timestep −1 means the clean latent."""
    z0 = pipe.normalizer.normalize(pipe.autoencoder.encode(image[None].to(pipe.device))).cpu()
    eps = torch.randn(z0.shape, generator=torch.Generator().manual_seed(seed))
    schedule = pipe.diffusion.schedule  # gather() follows z0's device; the pipeline itself is not moved
    latents = torch.cat([
        z0 if t < 0 else schedule.q_sample(z0, torch.tensor([t]), eps) for t in timesteps
    ])
    return Trajectory(list(timesteps), [noise_level(pipe, t) for t in timesteps], latents, _decode(pipe, latents))


@torch.no_grad()
def reverse_trajectory(
    pipe: LatentDiffusionPipeline,
    target_class: int | str,
    steps: int = 50,
    guidance: float = DEFAULT_GUIDANCE,
    seed: int = 0,
    start: torch.Tensor | None = None,
    start_t: int | None = None,
    guidance_interval: tuple[int, int] | None = DEFAULT_GUIDANCE_INTERVAL,
) -> Trajectory:
    """Run DDIM for one sample of ``target_class`` and keep every step: z_t and the model's x̂_0, both decoded.

    ``start`` (1, 64) standardised latent at timestep ``start_t`` replaces the fresh noise (used to continue a forward
    trajectory backwards); by default the process starts from pure noise at t = T − 1.
    """
    y = torch.tensor([class_index(target_class)], device=pipe.device)
    generator = torch.Generator().manual_seed(seed)
    T = pipe.diffusion.num_steps  # noqa: N806 - the paper's name
    z = initial_noise(1, pipe.diffusion.latent_dim, generator, pipe.device) if start is None else start.to(pipe.device)
    first_t = T - 1 if start_t is None else start_t
    latents, x0s, ts = [z.cpu()], [torch.full_like(z.cpu(), float("nan"))], [first_t]
    for step in ddim_steps(pipe.diffusion, y, generator, steps=steps, guidance=guidance, z=z,
                           timesteps_from=first_t, guidance_interval=guidance_interval):
        latents.append(step.z.cpu())
        x0s.append(step.z0_hat.cpu())
        ts.append(step.t_next)
    latents, x0s = torch.cat(latents), torch.cat(x0s)
    x0_images = _decode(pipe, torch.nan_to_num(x0s))
    x0_images[0] = 0.0  # no estimate before the first step
    return Trajectory(ts, [noise_level(pipe, t) for t in ts], latents, _decode(pipe, latents), x0s, x0_images)
