r"""Per-dimension standardisation of autoencoder latents before diffusion.

A noise schedule is designed for data of unit variance: SNR(t) = ᾱ_t / (1 − ᾱ_t) is the signal-to-noise ratio at
step t only if z_0 has variance 1 (data of variance v see v · SNR(t)). Raw latents have arbitrary per-coordinate
scales (variance ~34 on average here), so we standardise each coordinate with training-set statistics

.. math::
    \tilde z = (z - \mu) / \sigma, \qquad z = \tilde z\,\sigma + \mu

μ and σ belong to the pair (autoencoder, denoiser), so the normaliser is a submodule of
:class:`~fmd_utils.diffusion.LatentDiffusion`, saved in its state dict and applied at its edges: callers only ever
see raw latents.
"""

from __future__ import annotations

import torch
from torch import nn


class LatentNormalizer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @classmethod
    def fit(cls, latents: torch.Tensor) -> LatentNormalizer:
        """Statistics of a (N, dim) batch of training latents."""
        normalizer = cls(latents.shape[1])
        normalizer.mean.copy_(latents.mean(0))
        normalizer.std.copy_(latents.std(0).clamp(min=1e-6))
        return normalizer

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std  # z̃ = (z − μ)/σ

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean  # z = z̃ σ + μ
