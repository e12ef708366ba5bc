r"""The continuous view of diffusion: the score, a Langevin step, the exact ODE of a Gaussian, EDM's
preconditioning and the weight a loss puts on each noise level.

**The score is the noise prediction.** For :math:`z_t = a z_0 + s\varepsilon` (:math:`a = \sqrt{\bar\alpha_t}`,
:math:`s = \sqrt{1-\bar\alpha_t}`), :math:`\nabla_{z_t}\log q(z_t \mid z_0) = -\varepsilon/s`, and the network that
minimises the ε-loss predicts :math:`\mathbb E[\varepsilon \mid z_t]`, so (Vincent, 2011; Song & Ermon, 2019)

.. math::
    \nabla_z \log p_t(z) = -\,\mathbb E[\varepsilon \mid z_t = z]\,/\,s \approx -\hat\varepsilon(z, t)/s .

**Langevin dynamics** with step δ, :math:`z \leftarrow z + \delta\,\nabla\log p(z) + \sqrt{2\delta}\,\xi`, leaves p
invariant as δ → 0: a *corrector* that pulls samples back towards :math:`p_t` at a fixed noise level (Song et al.,
2021, predictor–corrector sampling).

**EDM's preconditioning is v-prediction.** Karras et al. (2022) write the denoiser of
:math:`\bar z = z_0 + \bar\sigma\varepsilon` as
:math:`D = c_\text{skip}\,\bar z + c_\text{out}\,F(c_\text{in}\,\bar z)`.
Our model's :math:`\hat z_0 = a z_t - s\hat v` with :math:`z_t = a\bar z` is that form with :math:`c_\text{in} = a =
1/\sqrt{1+\bar\sigma^2}`, :math:`c_\text{skip} = a^2 = 1/(1+\bar\sigma^2)`, :math:`c_\text{out} = s =
\bar\sigma/\sqrt{1+\bar\sigma^2}`: EDM's choices for data of unit variance (σ_data = 1), with F = −v̂.

**Loss weights over the log-SNR** λ = log(ᾱ/(1−ᾱ)). Every loss here is a weighted error of the clean estimate:
:math:`\lVert\varepsilon - \hat\varepsilon\rVert^2 = \mathrm{SNR}\,\lVert z_0 - \hat z_0\rVert^2` and
:math:`\lVert v - \hat v\rVert^2 = (1 + \mathrm{SNR})\,\lVert z_0 - \hat z_0\rVert^2`; sampling t uniformly multiplies
by the density of λ under the schedule (Kingma & Gao, 2023).
"""

from __future__ import annotations

import torch


def score_from_eps(eps: torch.Tensor, alpha_bar_t: torch.Tensor) -> torch.Tensor:
    """∇ log p_t(z) ≈ −ε̂ / √(1 − ᾱ_t) (``alpha_bar_t`` broadcast against ``eps``)."""
    return -eps / (1 - alpha_bar_t).sqrt()  # −ε̂ / s


def langevin_step(z: torch.Tensor, score: torch.Tensor, step_size: float | torch.Tensor,
                  xi: torch.Tensor) -> torch.Tensor:
    """One step of unadjusted Langevin dynamics: z + δ ∇log p(z) + √(2δ) ξ, step size δ, ξ ~ N(0, I) given."""
    h = torch.as_tensor(step_size, dtype=z.dtype, device=z.device)
    return z + h * score + (2 * h).sqrt() * xi  # z + δ score + √(2δ) ξ


def gaussian_ode_endpoint(z: torch.Tensor, a: float | torch.Tensor, s: float | torch.Tensor, mean: torch.Tensor,
                          variances: torch.Tensor) -> torch.Tensor:
    r"""Where the probability-flow ODE carries z = a z_0 + s ε to t = 0 for data N(``mean``, diag(``variances``)):
    :math:`\mu + \sqrt{\lambda/(a^2\lambda + s^2)}\,(z - a\mu)`, coordinate by coordinate.

    In :math:`\bar z = z/a`, :math:`\bar\sigma = s/a` the ODE is :math:`d\bar z/d\bar\sigma =
    \bar\sigma(\bar z - \mu)/(\lambda + \bar\sigma^2)`, whose solution keeps :math:`(\bar z - \mu)/\sqrt{\lambda +
    \bar\sigma^2}` constant; at :math:`\bar\sigma = 0` that leaves :math:`\sqrt{\lambda}` times it."""
    return mean + (variances / (a**2 * variances + s**2)).sqrt() * (z - a * mean)  # μ + √(λ/(a²λ + s²)) (z − aμ)


def edm_preconditioning(sigma_bar: torch.Tensor) -> dict[str, torch.Tensor]:
    """EDM's c_in, c_skip, c_out for data of unit variance at noise levels σ̄ (Karras et al., 2022, Table 1)."""
    sigma_bar = torch.as_tensor(sigma_bar, dtype=torch.float64)
    return {"c_in": 1 / (1 + sigma_bar**2).sqrt(), "c_skip": 1 / (1 + sigma_bar**2),
            "c_out": sigma_bar / (1 + sigma_bar**2).sqrt()}


def log_snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    """λ = log(ᾱ / (1 − ᾱ)), float64."""
    alpha_bar = alpha_bar.double()
    return alpha_bar.log() - (-alpha_bar).log1p()


def clean_error_weights(alpha_bar: torch.Tensor, min_snr_gamma: float = 5.0) -> dict[str, torch.Tensor]:
    """The weight each loss puts on the clean estimate's squared error at every timestep (uniform t): the ε-loss
    SNR, the v-loss 1 + SNR, min-SNR-γ (Hang et al., 2023) min(SNR, γ)."""
    snr = alpha_bar.double() / (1 - alpha_bar.double())
    return {"eps": snr, "v": 1 + snr, f"min-SNR-{min_snr_gamma:g}": snr.clamp(max=min_snr_gamma)}


def per_log_snr(weights: torch.Tensor, alpha_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight per timestep, as a density over λ when t is drawn uniformly: (λ, w(t) · |dt/dλ| / T) at the midpoints
    between neighbouring timesteps (finite differences of λ(t))."""
    lam = log_snr(alpha_bar)
    mid = (lam[1:] + lam[:-1]) / 2
    density = 1 / (lam[:-1] - lam[1:]).abs() / len(lam)  # |dt/dλ| / T
    return mid, (weights[1:] + weights[:-1]) / 2 * density


def snr_step_size(score: torch.Tensor, xi: torch.Tensor, snr: float = 0.16) -> torch.Tensor:
    """The corrector's step of Song et al. (2021): h = 2 (r ‖ξ‖ / ‖score‖)², per row, with target ratio r."""
    ratio = snr * xi.flatten(1).norm(dim=1) / score.flatten(1).norm(dim=1).clamp(min=1e-12)
    return (2 * ratio**2).reshape(-1, *([1] * (score.ndim - 1)))

