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
from .sde import gaussian_ode_endpoint

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

    def scales(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, s) = (√ᾱ_t, √(1 − ᾱ_t)) of the schedule at integer timesteps ``t``, float64 (N,)."""
        a = self.schedule.alpha_bar.double()[t.long().cpu()].sqrt()
        return a, (1 - a**2).sqrt()

    def _per_class(self, z: torch.Tensor, a: torch.Tensor, s: torch.Tensor):
        """For every row of z = a z_0 + s ε and every class: log p(z | y), ε*_y and E[z_0 | z, y] (float64), each
        (N, K[, D])."""
        a, s = a.double().to(z.device)[:, None, None], s.double().to(z.device)[:, None, None]
        lam, mu, u = self.eigenvalues[None], self.means[None], self.eigenvectors
        var = a**2 * lam + s**2  # (N, K, D): the eigenvalues of a²Σ_y + s²I
        r = torch.einsum("kde,nkd->nke", u, z.double()[:, None, :] - a * mu)  # Uᵀ(z − aμ)
        log_p = -0.5 * ((r**2 / var).sum(-1) + var.log().sum(-1) + self.latent_dim * math.log(2 * math.pi))
        eps = s * torch.einsum("kde,nke->nkd", u, r / var)  # s (a²Σ + s²I)⁻¹ (z − aμ)
        z0 = mu + a * torch.einsum("kde,nke->nkd", u, lam * r / var)  # μ + aΣ(a²Σ + s²I)⁻¹(z − aμ)
        return log_p, eps, z0

    def _own_class(self, z: torch.Tensor, a: torch.Tensor, s: torch.Tensor, y: torch.Tensor):
        """ε*_y and E[z_0 | z, y] of each row's own class ``y``, one class at a time (float64, (N, D) each)."""
        eps, z0 = torch.empty_like(z, dtype=torch.float64), torch.empty_like(z, dtype=torch.float64)
        a, s = a.double().to(z.device)[:, None], s.double().to(z.device)[:, None]
        for c in y.unique().tolist():
            rows = y == c
            u, lam, mu = self.eigenvectors[c], self.eigenvalues[c], self.means[c]
            ac, sc = a[rows], s[rows]
            var = ac**2 * lam + sc**2
            r = (z[rows].double() - ac * mu) @ u  # Uᵀ(z − aμ), row by row
            eps[rows] = sc * (r / var) @ u.T  # s (a²Σ + s²I)⁻¹ (z − aμ)
            z0[rows] = mu + ac * (lam * r / var) @ u.T  # μ + aΣ(a²Σ + s²I)⁻¹(z − aμ)
        return eps, z0

    def _mix(self, z: torch.Tensor, a: torch.Tensor, s: torch.Tensor, y) -> tuple[torch.Tensor, torch.Tensor]:
        """ε* and E[z_0 | z] for classes ``y`` at scales (a, s): the own class's for labelled rows, the
        responsibility-weighted mixture's for rows of the null class."""
        y = torch.as_tensor(y, device=z.device).long()
        if y.shape == (len(z),) and len(y) and 0 <= int(y.min()) and int(y.max()) < self.null_class:
            return self._own_class(z, a, s, y)  # all labelled: no mixture to weigh
        log_p, eps, z0 = self._per_class(z, a, s)
        w = self._weights(log_p, y)[:, :, None]
        return (w * eps).sum(1), (w * z0).sum(1)

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
        log_p, _, _ = self._per_class(z, *self.scales(t))
        y = torch.as_tensor(y, device=log_p.device).long()
        mixture = torch.logsumexp(self.log_priors[None] + log_p, dim=1)
        own = log_p.gather(1, y.clamp(max=self.null_class - 1)[:, None])[:, 0]
        return torch.where(y == self.null_class, mixture, own)

    def eps_and_x0(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact ε*(z, t, y) and E[z_0 | z_t = z, y], float64 (N, D)."""
        return self._mix(z, *self.scales(t), y)

    def ode_endpoint(self, z: torch.Tensor, a: float, s: float, y) -> torch.Tensor:
        r"""Where the probability-flow ODE of class ``y`` (labelled rows only) carries z = a z_0 + s ε at t = 0:
        :math:`\mu_y + U\,\mathrm{diag}\big(\sqrt{\lambda/(a^2\lambda + s^2)}\big)\,U^\top (z - a\mu_y)`, float64.

        In x = z/a and σ = s/a the ODE is dx/dσ = σ(Σ + σ²I)⁻¹(x − μ); along each eigenvector of Σ its solution is
        x − μ ∝ √(λ + σ²), so from σ to 0 it shrinks by √(λ/(λ + σ²)). (It is also the optimal-transport map from
        N(aμ, a²Σ + s²I) to N(μ, Σ): the two share their eigenvectors.) a = 0, s = 1 is the flow's pure noise."""
        y = torch.as_tensor(y, device=z.device).long()
        if y.shape != (len(z),) or len(y) == 0 or int(y.min()) < 0 or int(y.max()) >= self.null_class:
            raise ValueError(f"the ODE's end point is in closed form for a labelled class 0..{self.null_class - 1} "
                             f"per row (not the null class, a mixture), got {y.tolist()}")
        a, s = (float(v) for v in (a, s))
        out = torch.empty_like(z, dtype=torch.float64)
        for c in y.unique().tolist():
            rows = y == c
            u, lam, mu = self.eigenvectors[c], self.eigenvalues[c], self.means[c]
            # in the eigenbasis of Σ_y the Gaussian is diagonal: μ + U √(λ/(a²λ + s²)) Uᵀ(z − aμ)
            out[rows] = gaussian_ode_endpoint(z[rows].double() @ u, a, s, mu @ u, lam) @ u.T
        return out

    def velocity(self) -> GaussianVelocity:
        """The same Gaussians answering like the flow model's velocity network (:class:`GaussianVelocity`)."""
        return GaussianVelocity(self)

    def forward(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What a trained denoiser would output at its best: ε*, or v* = √ᾱ_t ε* − √(1 − ᾱ_t) E[z_0 | z_t]."""
        eps, z0 = self.eps_and_x0(z, t, y)
        if self.prediction == "eps":
            return eps.to(z.dtype)
        a, s = (v.to(z.device)[:, None] for v in self.scales(t))
        return (a * eps - s * z0).to(z.dtype)


class GaussianVelocity(nn.Module):
    """:class:`ClassGaussians` on flow matching's straight path z_t = (1 − t) z_0 + t ε (a = 1 − t, s = t), called
    as the flow model calls its network, ``net(z_t, 1000 t, y)``: the exact velocity v* = E[ε − z_0 | z_t] = ε* −
    E[z_0 | z_t]."""

    architecture = "exact"
    config = None

    def __init__(self, gaussians: ClassGaussians, time_scale: float = 1000.0) -> None:
        super().__init__()
        self.gaussians, self.time_scale = gaussians, time_scale

    @property
    def latent_dim(self) -> int:
        return self.gaussians.latent_dim

    @property
    def null_class(self) -> int:
        return self.gaussians.null_class

    def forward(self, z: torch.Tensor, t_scaled: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = t_scaled.double().cpu() / self.time_scale
        eps, z0 = self.gaussians._mix(z, 1 - t, t, y)
        return (eps - z0).to(z.dtype)  # v* = ε* − E[z_0 | z_t]


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
