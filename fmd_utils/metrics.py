r"""Sample-quality metrics in the judge's feature space: FID, KID, accuracy, nearest-neighbour distances.

Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017):

.. math::
    \mathrm{FID} = \lVert \mu_1 - \mu_2 \rVert^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big)

Kernel Inception Distance (Bińkowski et al., 2018): the unbiased MMD² with the cubic kernel
:math:`k(a, b) = (a^\top b / d + 1)^3`, averaged over random subsets. FID is biased upwards at small N, so a number
only means something beside the *real-vs-real floor* (two real sets of the same size), which we always report.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """FID between two (N, d) feature sets."""
    a, b = features_a.double().cpu().numpy(), features_b.double().cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)  # (Σ1 Σ2)^{1/2}
    if not np.isfinite(covmean).all():  # near-singular product: regularise as in the reference implementation
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def kernel_distance(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    generator: torch.Generator,
    subsets: int = 20,
    subset_size: int = 1000,
) -> tuple[float, float]:
    """KID: mean and standard deviation of the unbiased MMD² (cubic kernel) over random subsets."""
    a, b = features_a.double().cpu(), features_b.double().cpu()
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=generator)[:m]]
        y = b[torch.randperm(len(b), generator=generator)[:m]]
        k_xx = (x @ x.T / d + 1) ** 3  # k(a, b) = (aᵀb/d + 1)³
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        mmd = (
            (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
            + (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
            - 2 * k_xy.mean()
        )
        values.append(float(mmd))
    return float(np.mean(values)), float(np.std(values))


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``predicted`` class indices equal to ``labels``."""
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and labels {tuple(labels.shape)} must match")
    return (predicted.cpu() == labels.cpu()).float().mean().item()


def psnr(mse: float, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(peak² / MSE)."""
    return float(10 * np.log10(peak**2 / mse))


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """(num_classes, num_classes) counts, rows = requested/true class, columns = judged class."""
    index = true.long() * num_classes + predicted.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def nearest_neighbour_distance(queries: torch.Tensor, reference: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Euclidean pixel distance from each query image to its nearest image in ``reference`` (both (N, ...))."""
    q, r = queries.flatten(1).float(), reference.flatten(1).float()
    out = [torch.cdist(q[i : i + batch_size], r).min(dim=1).values for i in range(0, len(q), batch_size)]
    return torch.cat(out)
