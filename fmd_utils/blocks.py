"""Building blocks of the autoencoder: channel attention (squeeze-and-excitation) and a residual block.

Channel attention ("CAL", Hu et al., *Squeeze-and-Excitation Networks*, 2018) lets the network re-weight its feature
channels per image: a global summary of every channel decides how much each one should count.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    r"""Squeeze-and-excitation channel attention.

    .. math::
        z_c = \frac{1}{HW}\sum_{i,j} x_{c,i,j} \quad\text{(squeeze)}, \qquad
        s = \sigma\big(W_2\,\delta(W_1 z)\big) \quad\text{(excite)}, \qquad
        y_c = s_c\, x_c

    with :math:`W_1 \in \mathbb{R}^{C/r \times C}`, :math:`W_2 \in \mathbb{R}^{C \times C/r}`, δ = SiLU, σ = sigmoid.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.excite = nn.Sequential(nn.Linear(channels, hidden), nn.SiLU(), nn.Linear(hidden, channels))

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel gates s ∈ (0, 1), shape (N, C): what the block multiplies each channel by."""
        z = x.mean(dim=(2, 3))  # z_c = mean over H, W (squeeze)
        return torch.sigmoid(self.excite(z))  # s = σ(W2 δ(W1 z)) (excite)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel_weights(x)[:, :, None, None]  # y_c = s_c x_c


class ResidualBlock(nn.Module):
    r"""Pre-activation residual block with channel attention on the residual branch.

    .. math::
        y = x + \mathrm{CAL}\big(F(x)\big), \qquad
        F(x) = \mathrm{conv}\big(\mathrm{SiLU}(\mathrm{BN}(\mathrm{conv}(\mathrm{SiLU}(\mathrm{BN}(x)))))\big)

    The identity path keeps gradients flowing through deep stacks; CAL decides per image which of the residual's
    channels to add. Resolution and channel count are unchanged.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.attention = ChannelAttention(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attention(self.residual(x))  # y = x + CAL(F(x))
