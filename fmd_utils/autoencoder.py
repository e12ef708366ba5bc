r"""Convolutional autoencoder: 28×28 image → 64-d latent vector → 28×28 image.

.. math::
    z = E(x) \in \mathbb{R}^{64}, \qquad \hat x = D(z) \in [0, 1]^{28\times 28}, \qquad
    \mathcal{L}_{AE} = \lVert \hat x - x \rVert_2^2

The full 28×28 resolution is never convolved: a pixel (un)shuffle trades each 2×2 patch for 4 channels at 14×14
(lossless, free, and what makes the model fast on a CPU, where convolutions with one input or output channel are
slow). A strided convolution goes from 14×14 to 7×7, where the residual + channel-attention blocks
(:mod:`fmd_utils.blocks`) work: there they cost little and see most of the image. A dense layer maps the 7×7
feature map to a flat 64-d code: the code is global (any coordinate may describe any part of the garment), which is
what lets 64 numbers reconstruct an image well, and is why the denoiser treats it as a vector, not an image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .blocks import ResidualBlock


@dataclass(frozen=True)
class AutoencoderConfig:
    """Architecture of :class:`Autoencoder`."""

    latent_dim: int = 64
    channels: tuple[int, int] = (48, 96)  # widths at 14×14 and 7×7
    blocks: int = 1  # residual + CAL blocks at 7×7, in the encoder and again in the decoder

    def to_dict(self) -> dict:
        return asdict(self)


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.SiLU())


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.SiLU())


class Encoder(nn.Module):
    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        c14, c7 = config.channels
        self.features = nn.Sequential(
            nn.PixelUnshuffle(2),  # (1, 28, 28) -> (4, 14, 14)
            nn.Conv2d(4, c14, 3, padding=1),
            nn.SiLU(),
            _down(c14, c7),  # 14 -> 7
            *[ResidualBlock(c7) for _ in range(config.blocks)],
            nn.BatchNorm2d(c7),
            nn.SiLU(),
        )
        self.to_latent = nn.Linear(c7 * 7 * 7, config.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x).flatten(1))


class Decoder(nn.Module):
    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        c14, c7 = config.channels
        self.from_latent = nn.Linear(config.latent_dim, c7 * 7 * 7)
        self.features = nn.Sequential(
            nn.Unflatten(1, (c7, 7, 7)),
            *[ResidualBlock(c7) for _ in range(config.blocks)],
            nn.BatchNorm2d(c7),
            nn.SiLU(),
            _up(c7, c14),  # 7 -> 14
            nn.Conv2d(c14, c14, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(c14, 4, 3, padding=1),
            nn.PixelShuffle(2),  # (4, 14, 14) -> (1, 28, 28)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.features(self.from_latent(z)))  # pixels in [0, 1]


class Autoencoder(nn.Module):
    """``encode`` (N,1,28,28) in [0,1] → (N, latent_dim); ``decode`` back; ``forward`` = decode(encode(x))."""

    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or AutoencoderConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"decode expects latents of shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def _check_images(x: torch.Tensor) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        hint = " Add the channel axis with x.unsqueeze(1)." if tuple(x.shape[-2:]) == (28, 28) and x.ndim == 3 else ""
        raise ValueError(f"expected images of shape (N, 1, 28, 28), got {tuple(x.shape)}.{hint}")
    if not torch.is_floating_point(x):
        raise TypeError(f"expected float images in [0, 1], got {x.dtype}; convert with fmd_utils.data.to_float.")
