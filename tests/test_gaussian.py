"""The per-class Gaussian model: its closed-form score against finite differences of its log-density, its posterior
mean, the mixture for the null class, the closed-form W2, and samplers recovering the class Gaussians on it."""

from __future__ import annotations

import pytest
import torch

from fmd_utils.diffusion import LatentDiffusion
from fmd_utils.gaussian import ClassGaussians, gaussian_w2
from fmd_utils.samplers import sampler_steps
from fmd_utils.schedule import NoiseSchedule
from fmd_utils.settings import SamplingSettings

D, K = 4, 3


def _data(n_per_class: int = 400, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    latents, labels = [], []
    for c in range(K):
        mix = torch.eye(D) * (0.3 + 0.2 * c) + 0.3 * torch.randn(D, D, generator=g)  # correlated, unequal spreads
        latents.append(torch.randn(n_per_class + 50 * c, D, generator=g) @ mix + 1.5 * torch.randn(D, generator=g))
        labels.append(torch.full((n_per_class + 50 * c,), c))
    return torch.cat(latents), torch.cat(labels)


@pytest.fixture(scope="module")
def model():
    latents, labels = _data()
    return ClassGaussians.fit(latents, labels, NoiseSchedule("cosine", 1000), num_classes=K, prediction="eps")


def test_fit_recovers_each_class_and_refuses_too_few_latents(model):
    latents, labels = _data()
    torch.testing.assert_close(model.means[1], latents[labels == 1].double().mean(0))
    torch.testing.assert_close(model.covariances[2], torch.cov(latents[labels == 2].double().T))
    torch.testing.assert_close(model.log_priors.exp(), torch.tensor([400, 450, 500], dtype=torch.float64) / 1350)
    assert model.null_class == K and model.latent_dim == D
    with pytest.raises(ValueError, match="more than D = 4 latents"):
        ClassGaussians.fit(latents[:6], labels[:6], num_classes=K)
    with pytest.raises(ValueError, match="prediction must be one of"):
        ClassGaussians.fit(latents, labels, num_classes=K, prediction="x0")


@pytest.mark.parametrize("t", [0, 200, 600, 999])
def test_the_score_is_the_gradient_of_the_log_density(model, t):
    """ε*/s = −∇ log p_t(z | y), by central differences along random directions, for each class and the null class
    (the mixture)."""
    g = torch.Generator().manual_seed(t)
    z = torch.randn(K + 1, D, generator=g, dtype=torch.float64) * 2
    y, ts = torch.arange(K + 1), torch.full((K + 1,), t)
    eps, _ = model.eps_and_x0(z, ts, y)
    s = (1 - model.schedule.alpha_bar.double()[t]).sqrt()
    for _ in range(3):
        u = torch.randn(K + 1, D, generator=g, dtype=torch.float64)
        h = 1e-4
        slope = (model.log_density(z + h * u, ts, y) - model.log_density(z - h * u, ts, y)) / (2 * h)
        torch.testing.assert_close(slope, -(eps / s * u).sum(1), rtol=1e-5, atol=1e-6)


def test_posterior_mean_and_mixture(model):
    """E[z_0 | z_t] = (z_t − s ε*)/a for each class; the null class's answer is the responsibility-weighted mean of
    the classes' (near the data, at small t, the nearest class dominates)."""
    g = torch.Generator().manual_seed(1)
    z, t = torch.randn(5, D, generator=g, dtype=torch.float64), torch.full((5,), 300)
    a = model.schedule.alpha_bar.double()[300].sqrt()
    for c in range(K + 1):
        eps, z0 = model.eps_and_x0(z, t, torch.full((5,), c))
        torch.testing.assert_close(z0, (z - (1 - a**2).sqrt() * eps) / a)
    near_class_1 = model.means[1][None].repeat(2, 1)
    eps_null, _ = model.eps_and_x0(near_class_1, torch.zeros(2, dtype=torch.long), torch.full((2,), K))
    eps_one, _ = model.eps_and_x0(near_class_1, torch.zeros(2, dtype=torch.long), torch.full((2,), 1))
    torch.testing.assert_close(eps_null, eps_one, atol=1e-6, rtol=1e-4)
    with pytest.raises(ValueError, match="one class in 0..3"):
        model.eps_and_x0(z, t, torch.full((5,), 7))


def test_gaussian_w2_in_closed_form():
    m, cov = torch.tensor([1.0, 2.0]), torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    assert gaussian_w2(m, cov, m, cov) == pytest.approx(0, abs=1e-9)
    assert gaussian_w2(m, cov, m + torch.tensor([3.0, 4.0]), cov) == pytest.approx(25)  # equal covariances: ‖Δμ‖²
    one_d = gaussian_w2(torch.zeros(1), torch.tensor([[4.0]]), torch.zeros(1), torch.tensor([[9.0]]))
    assert one_d == pytest.approx((2 - 3) ** 2)  # (σ_a − σ_b)² in one dimension
    other = torch.tensor([[1.0, -0.3], [-0.3, 3.0]])
    assert gaussian_w2(m, cov, m, other) == pytest.approx(gaussian_w2(m, other, m, cov))


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_samplers_on_the_exact_model_recover_each_class(prediction):
    """Run through LatentDiffusion like a trained denoiser, DDIM-100 draws each class's Gaussian: the samples' W2
    to their own class is near the sampling floor of 2,000 exact samples (about 0.006 here), far below their W2 to
    the other classes."""
    latents, labels = _data()
    schedule = NoiseSchedule("cosine", 1000)
    exact = ClassGaussians.fit(latents, labels, schedule, num_classes=K, prediction=prediction)
    diffusion = LatentDiffusion(exact, schedule, prediction)
    for c in range(K):
        settings = SamplingSettings(sampler="ddim", steps=100, guidance=1.0)
        steps = list(sampler_steps(diffusion, [c] * 2000, torch.Generator().manual_seed(c), settings))
        z = diffusion.normalizer.normalize(steps[-1].z).double()  # the identity normaliser: standardised = raw
        w2 = [gaussian_w2(z.mean(0), torch.cov(z.T), exact.means[k], exact.covariances[k]) for k in range(K)]
        assert w2[c] < 0.02 and w2[c] < 0.01 * min(w for k, w in enumerate(w2) if k != c), w2  # DDIM-10: ~0.07
