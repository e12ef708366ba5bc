r"""Sample-quality metrics in the judge's feature space: FID, KID, precision and recall, accuracy, nearest-neighbour
distances.

Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017):

.. math::
    \mathrm{FID} = \lVert \mu_1 - \mu_2 \rVert^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big)

Kernel Inception Distance (Bińkowski et al., 2018): the unbiased MMD² with the cubic kernel
:math:`k(a, b) = (a^\top b / d + 1)^3`, averaged over random subsets. FID is biased upwards at small N, so a number
only means something beside the *real-vs-real floor* (two real sets of the same size), which we always report.

Precision and recall (Kynkäänniemi et al., 2019) split what FID mixes. Each set's *manifold* is the union of balls
around its points, each ball reaching the point's k-th nearest neighbour in the same set:

.. math::
    \mathrm{precision} = \frac{1}{|G|}\sum_{g \in G} \mathbb{1}\big[g \in \mathcal{M}(R)\big], \qquad
    \mathrm{recall} = \frac{1}{|R|}\sum_{r \in R} \mathbb{1}\big[r \in \mathcal{M}(G)\big], \qquad
    \mathcal{M}(S) = \bigcup_{s \in S} B\big(s, \lVert s - \mathrm{NN}_k(s, S) \rVert\big)

Precision: what share of the samples look like some real image (quality); recall: what share of the real images
some sample comes close to (diversity). Both depend on N and k, so they too are read beside their real-vs-real values.
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


def knn_radii(features: torch.Tensor, k: int = 3, batch_size: int = 1000) -> torch.Tensor:
    """Distance from each of the (N, d) ``features`` to its k-th nearest neighbour in the same set (itself excluded):
    the radii of the balls whose union is the set's manifold."""
    if not 1 <= k < len(features):
        raise ValueError(f"k must be between 1 and N - 1 = {len(features) - 1}, got {k}")
    x = features.double().cpu()
    out = [torch.cdist(x[i : i + batch_size], x).topk(k + 1, largest=False).values[:, k]  # [:, 0] is the point
           for i in range(0, len(x), batch_size)]
    return torch.cat(out)


def in_manifold(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, batch_size: int = 1000
                ) -> torch.Tensor:
    """Boolean (M,): whether each query lies inside at least one ball B(points[j], radii[j])."""
    if len(radii) != len(points):
        raise ValueError(f"one radius per point: got {len(radii)} radii for {len(points)} points")
    q, p = queries.double().cpu(), points.double().cpu()
    out = [(torch.cdist(q[i : i + batch_size], p) <= radii[None, :]).any(dim=1) for i in range(0, len(q), batch_size)]
    return torch.cat(out)


def precision_recall(real: torch.Tensor, generated: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) of ``generated`` against ``real`` features:
    precision = share of generated points inside the real manifold, recall = share of real points inside the
    generated manifold (each manifold: balls reaching every point's k-th nearest neighbour in its own set)."""
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
        raise ValueError(f"expected two (N, d) feature sets of equal d, got {tuple(real.shape)} and "
                         f"{tuple(generated.shape)}")
    precision = in_manifold(generated, real, knn_radii(real, k)).double().mean().item()  # g ∈ M(R)
    recall = in_manifold(real, generated, knn_radii(generated, k)).double().mean().item()  # r ∈ M(G)
    return precision, recall


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
