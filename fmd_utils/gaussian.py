r"""A model whose exact answer we know: one Gaussian per class in the latent space.

Fit :math:`\mathcal N(\mu_y, \Sigma_y)` to the standardised training latents of each class :math:`y`. The forward
process :math:`z_t = a z_0 + s\varepsilon` (:math:`a = \sqrt{\bar\alpha_t}`, :math:`s = \sqrt{1-\bar\alpha_t}`) keeps
each class Gaussian, :math:`p_t(z \mid y) = \mathcal N(a\mu_y,\ a^2\Sigma_y + s^2 I)`, so the score and the ideal
denoiser are in closed form:

.. math::
    \nabla_z \log p_t(z \mid y) = -(a^2\Sigma_y + s^2 I)^{-1}(z - a\mu_y), \qquad
    \varepsilon^*(z, t, y) = -s\,\nabla_z \log p_t(z \mid y), \qquad
    \mathbb E[z_0 \mid z_t = z, y] = \mu_y + a\Sigma_y(a^2\Sigma_y + s^2 I)^{-1}(z - a\mu_y).

The null class (``null_class`` = 10, no label) is the mixture of the classes with their frequencies :math:`\pi_y`; a
mixture's score is its components' scores weighted by their responsibilities :math:`w_y(z) \propto \pi_y\,p_t(z
\mid y)`, and so are :math:`\varepsilon^*` and the posterior mean. With :math:`\Sigma_y = U\,\mathrm{diag}(\lambda)
\,U^\top` decomposed once, :math:`(a^2\Sigma_y + s^2 I)^{-1} = U\,\mathrm{diag}\big(1/(a^2\lambda + s^2)\big)U^\top`.

:class:`ClassGaussians` answers like a denoiser (``model(z_t, t, y)``, ε or v), so every sampler runs on it unchanged
and only the solver errs; :func:`gaussian_w2` is the closed-form Wasserstein-2 distance between two Gaussians, to
score samples against their class's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .schedule import NoiseSchedule

PREDICTIONS = ("eps", "v")


class ClassGaussians(nn.Module):
    """One Gaussian per class (``means`` (K, D), ``covariances`` (K, D, D), class frequencies ``priors`` (K,)) on the
    timesteps of ``schedule``; called as ``model(z_t, t, y)`` it returns the exact ε* or v* (``prediction``)."""

    architecture = "exact"
    config = None

    def __init__(self, means: torch.Tensor, covariances: torch.Tensor, priors: torch.Tensor,
                 schedule: NoiseSchedule | None = None, prediction: str = "v") -> None:
        super().__init__()
        k, d = means.shape
        if covariances.shape != (k, d, d) or priors.shape != (k,):
            raise ValueError(f"expected means (K, D), covariances (K, D, D) and priors (K,), got {tuple(means.shape)}, "
                             f"{tuple(covariances.shape)} and {tuple(priors.shape)}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        eigenvalues, eigenvectors = torch.linalg.eigh(covariances.double())  # Σ_y = U diag(λ) Uᵀ
        if eigenvalues.min() <= 0:
            raise ValueError("every covariance must be positive definite (more samples per class than dimensions)")
        self.register_buffer("means", means.double())
        self.register_buffer("covariances", covariances.double())
        self.register_buffer("log_priors", (priors.double() / priors.sum()).log())
        self.register_buffer("eigenvalues", eigenvalues)
        self.register_buffer("eigenvectors", eigenvectors)
        self.schedule = schedule or NoiseSchedule("cosine", 1000)
        self.prediction = prediction

    @classmethod
    def fit(cls, latents: torch.Tensor, labels: torch.Tensor, schedule: NoiseSchedule | None = None,
            num_classes: int = 10, prediction: str = "v") -> ClassGaussians:
        """Mean, covariance (N − 1) and frequency of each class's (standardised) ``latents`` (N, D)."""
        labels = torch.as_tensor(labels)
        if latents.ndim != 2 or labels.shape != (len(latents),):
            raise ValueError(f"expected latents (N, D) and labels (N,), got {tuple(latents.shape)} and "
                             f"{tuple(labels.shape)}")
        counts = torch.bincount(labels, minlength=num_classes)
        if len(counts) > num_classes or counts.min() <= latents.shape[1]:
            raise ValueError(f"every class 0..{num_classes - 1} needs more than D = {latents.shape[1]} latents for a "
                             f"full covariance; got counts {counts.tolist()}")
        x = latents.double()
        means = torch.stack([x[labels == c].mean(0) for c in range(num_classes)])
        covariances = torch.stack([torch.cov(x[labels == c].T) for c in range(num_classes)])
        return cls(means, covariances, counts.double(), schedule, prediction)

    @property
    def latent_dim(self) -> int:
        return self.means.shape[1]

    @property
    def null_class(self) -> int:
        return self.means.shape[0]

    def _per_class(self, z: torch.Tensor, t: torch.Tensor):
        """For every row and class: log p_t(z | y), ε*_y and E[z_0 | z, y] (float64), each (N, K[, D])."""
        a = self.schedule.alpha_bar.double()[t.long().cpu()].sqrt().to(z.device)[:, None, None]  # √ᾱ_t, (N, 1, 1)
        s = (1 - a**2).sqrt()
        var = a**2 * self.eigenvalues[None] + s**2  # (N, K, D): the eigenvalues of a²Σ_y + s²I
        r = torch.einsum("kde,nkd->nke", self.eigenvectors, z.double()[:, None, :] - a * self.means[None])  # Uᵀ(z − aμ)
        log_p = -0.5 * ((r**2 / var).sum(-1) + var.log().sum(-1) + self.latent_dim * math.log(2 * math.pi))
        eps = s * torch.einsum("kde,nke->nkd", self.eigenvectors, r / var)  # s (a²Σ + s²I)⁻¹ (z − aμ)
        z0 = self.means[None] + a * torch.einsum("kde,nke->nkd", self.eigenvectors, self.eigenvalues[None] * r / var)
        return log_p, eps, z0

    def _weights(self, log_p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One-hot for a labelled row; the responsibilities π_y p_t(z | y) / Σ for a row of the null class."""
        y = torch.as_tensor(y, device=log_p.device).long()
        if y.shape != log_p.shape[:1] or y.min() < 0 or y.max() > self.null_class:
            raise ValueError(f"y must hold one class in 0..{self.null_class} per row, got {y.tolist()}")
        mixture = (self.log_priors[None] + log_p).softmax(dim=1)
        labelled = nn.functional.one_hot(y.clamp(max=self.null_class - 1), self.null_class).double()
        return torch.where((y == self.null_class)[:, None], mixture, labelled)

    def log_density(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p_t(z | y) for each row (the mixture's for the null class), float64 (N,)."""
        log_p, _, _ = self._per_class(z, t)
        y = torch.as_tensor(y, device=log_p.device).long()
        mixture = torch.logsumexp(self.log_priors[None] + log_p, dim=1)
        own = log_p.gather(1, y.clamp(max=self.null_class - 1)[:, None])[:, 0]
        return torch.where(y == self.null_class, mixture, own)

    def eps_and_x0(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact ε*(z, t, y) and E[z_0 | z_t = z, y], float64 (N, D)."""
        log_p, eps, z0 = self._per_class(z, t)
        w = self._weights(log_p, y)[:, :, None]
        return (w * eps).sum(1), (w * z0).sum(1)

    def forward(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What a trained denoiser would output at its best: ε*, or v* = √ᾱ_t ε* − √(1 − ᾱ_t) E[z_0 | z_t]."""
        eps, z0 = self.eps_and_x0(z, t, y)
        if self.prediction == "eps":
            return eps.to(z.dtype)
        a = self.schedule.alpha_bar.double()[t.long().cpu()].sqrt().to(z.device)[:, None]
        return (a * eps - (1 - a**2).sqrt() * z0).to(z.dtype)


def gaussian_w2(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor) -> float:
    r"""The squared Wasserstein-2 distance between two Gaussians:
    :math:`\lVert\mu_a - \mu_b\rVert^2 + \mathrm{Tr}\big(\Sigma_a + \Sigma_b - 2(\Sigma_b^{1/2}\Sigma_a
    \Sigma_b^{1/2})^{1/2}\big)` (FID is this on a classifier's features)."""
    mean_a, cov_a, mean_b, cov_b = (x.double() for x in (mean_a, cov_a, mean_b, cov_b))

    def sqrt_psd(m: torch.Tensor) -> torch.Tensor:
        values, vectors = torch.linalg.eigh((m + m.T) / 2)
        return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T

    root_b = sqrt_psd(cov_b)
    cross = sqrt_psd(root_b @ cov_a @ root_b)
    return float(((mean_a - mean_b) ** 2).sum() + torch.trace(cov_a + cov_b - 2 * cross))
