r"""The judge: a small CNN Fashion-MNIST classifier used to evaluate generated images.

It answers two questions about samples: *is this recognisably the class we asked for?* (conditional accuracy) and
*do samples look like real images in a space where a trained eye separates the classes?* (FID/KID on the
penultimate-layer features, :mod:`fmd_utils.metrics`). Inception features need a download, so this is our judge.

.. math::
    p(y \mid x) = \mathrm{softmax}(W\,\phi(x) + b), \qquad \phi(x) \in \mathbb{R}^{128}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .classes import NUM_CLASSES


@dataclass(frozen=True)
class ClassifierConfig:
    channels: tuple[int, int, int] = (32, 64, 64)  # widths at 28×28, 14×14 and 7×7
    feature_dim: int = 128
    dropout: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class FashionClassifier(nn.Module):
    """(N, 1, 28, 28) images in [0, 1] → (N, 10) logits; ``features`` gives the 128-d embedding φ(x)."""

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ClassifierConfig()
        c1, c2, c3 = c.channels
        self.body = nn.Sequential(
            _conv(1, c1), nn.MaxPool2d(2),  # 28 -> 14
            _conv(c1, c2), nn.MaxPool2d(2),  # 14 -> 7
            _conv(c2, c3),
            nn.Flatten(),
            nn.Dropout(c.dropout),
            nn.Linear(c3 * 7 * 7, c.feature_dim),
            nn.BatchNorm1d(c.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.feature_dim, NUM_CLASSES))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): the penultimate-layer embedding in which FID and KID are measured."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"classifier expects images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted class indices, evaluated in batches in eval mode."""
        was_training = self.training
        self.eval()
        out = torch.cat([self(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
        self.train(was_training)
        return out
