"""Samplers on a small random denoiser: determinism, guidance and its interval, the update rules on an oracle."""

import pytest
import torch

from fmd_utils.denoiser import ConditionalLatentUNet, DenoiserConfig
from fmd_utils.diffusion import LatentDiffusion
from fmd_utils.normalizer import LatentNormalizer
from fmd_utils.sampling import ddim_inversion, ddim_step, ddim_steps, ddim_timesteps, ddpm_step, sample, sampler_steps
from fmd_utils.schedule import NoiseSchedule
from fmd_utils.settings import SamplingSettings

DDIM10 = SamplingSettings(steps=10)


@pytest.fixture
def diffusion():
    torch.manual_seed(0)
    model = ConditionalLatentUNet(DenoiserConfig(widths=(64, 128), embed_dim=32))
    gen = torch.Generator().manual_seed(1)
    for p in model.parameters():  # non-trivial weights, so conditional and unconditional predictions differ
        torch.nn.init.normal_(p, std=0.05, generator=gen)
    normalizer = LatentNormalizer.fit(torch.randn(500, 64, generator=gen) * 3 + 1)
    return LatentDiffusion(model, NoiseSchedule("cosine", 100), "v", normalizer).eval()


def run(diffusion, y, seed, settings, **kwargs):
    return sample(diffusion, y, torch.Generator().manual_seed(seed), settings, **kwargs)


def test_loss_is_a_scalar_with_gradients(diffusion, generator):
    diffusion.train()
    loss = diffusion.loss(torch.randn(16, 64), torch.randint(0, 10, (16,)), generator, p_uncond=0.2)
    loss.backward()
    assert loss.ndim == 0 and loss.item() > 0
    assert diffusion.denoiser.input.weight.grad is not None


def test_loss_standardises_raw_latents_at_its_edge(diffusion):
    """loss_at takes raw latents: it equals the hand-written loss on (z − μ)/σ with the v-target."""
    z0, y = torch.randn(8, 64) * 3 + 1, torch.arange(8)
    t, noise = torch.randint(0, 100, (8,)), torch.randn(8, 64)
    z0n = (z0 - diffusion.normalizer.mean) / diffusion.normalizer.std
    s = diffusion.schedule
    a, b = s.sqrt_alpha_bar[t, None], s.sqrt_one_minus_alpha_bar[t, None]
    expected = ((diffusion.denoiser(a * z0n + b * noise, t, y) - (a * noise - b * z0n)) ** 2).mean()
    torch.testing.assert_close(diffusion.loss_at(z0, y, t, noise), expected)


def test_label_dropout_uses_the_null_class(diffusion, monkeypatch, generator):
    seen = []
    original = diffusion.denoiser.forward
    monkeypatch.setattr(diffusion.denoiser, "forward", lambda z, t, y: seen.append(y.clone()) or original(z, t, y))
    diffusion.loss(torch.randn(1000, 64), torch.zeros(1000, dtype=torch.long), generator, p_uncond=0.3)
    dropped = (seen[0] == diffusion.null_class).float().mean().item()
    assert 0.25 < dropped < 0.35


def test_guidance_one_is_conditional_and_zero_is_unconditional(diffusion, generator):
    z = torch.randn(4, 64, generator=generator)
    t = torch.tensor([10, 50, 80, 99])
    y = torch.tensor([0, 3, 5, 9])
    out = {w: diffusion.denoiser(z, t, y if w == 1 else torch.full_like(y, 10)) for w in (0, 1)}
    eps_1, _ = diffusion.predict(z, t, y, guidance=1.0)
    torch.testing.assert_close(eps_1, diffusion.eps_and_x0(z, t, out[1])[0])
    eps_0, _ = diffusion.predict(z, t, y, guidance=0.0)
    torch.testing.assert_close(eps_0, diffusion.eps_and_x0(z, t, out[0])[0])
    eps_3, _ = diffusion.predict(z, t, y, guidance=3.0)
    torch.testing.assert_close(eps_3, eps_0 + 3.0 * (eps_1 - eps_0), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(eps_1, eps_0)


def test_ddim_eta0_is_deterministic_per_generator_and_returns_raw_latents(diffusion):
    y = ["Dress", "sandal", 3]
    a, b, c = run(diffusion, y, 7, DDIM10), run(diffusion, y, 7, DDIM10), run(diffusion, y, 8, DDIM10)
    assert a.shape == (3, 64) and torch.equal(a, b) and not torch.allclose(a, c)
    steps = list(ddim_steps(diffusion, y, torch.Generator().manual_seed(7), DDIM10))
    assert torch.equal(steps[-1].z, a)
    # raw coordinates: the last step's z is the denormalised standardised state the update rule produced
    standardised = diffusion.normalizer.normalize(a)
    torch.testing.assert_close(diffusion.normalizer.denormalize(standardised), a)


def test_ddim_with_all_steps_and_eta_one_and_ddpm_run(diffusion):
    y = torch.tensor([1, 2])
    steps = list(ddim_steps(diffusion, y, torch.Generator().manual_seed(0), SamplingSettings(steps=100, eta=1.0)))
    assert [s.t for s in steps] == list(range(99, -1, -1))
    assert torch.isfinite(steps[-1].z).all()
    z = run(diffusion, y, 0, SamplingSettings(sampler="ddpm"))
    assert z.shape == (2, 64) and torch.isfinite(z).all()


def test_start_from_a_raw_latent_at_a_timestep(diffusion):
    """Denoising from t = 0 barely moves a latent; starting from noise at T − 1 equals plain sampling."""
    z = torch.randn(2, 64) * 3 + 1
    steps = list(sampler_steps(diffusion, [0, 1], torch.Generator(), DDIM10.replace(steps=1), z=z, start_t=0))
    assert [s.t for s in steps] == [0]
    noise = torch.randn(2, 64, generator=torch.Generator().manual_seed(4))
    from_noise = list(sampler_steps(diffusion, [0, 1], torch.Generator(), DDIM10,
                                    z=diffusion.normalizer.denormalize(noise)))[-1].z
    torch.testing.assert_close(from_noise, run(diffusion, [0, 1], 4, DDIM10), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="starting latents must have shape"):
        list(sampler_steps(diffusion, [0, 1], torch.Generator(), DDIM10, z=torch.zeros(3, 64)))


def test_ddim_timesteps():
    assert ddim_timesteps(1000, 1) == [999]
    taus = ddim_timesteps(1000, 50)
    assert len(taus) == 50 and taus[0] == 999 and taus[-1] == 0 and taus == sorted(taus, reverse=True)
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="between 1 and T = 1000"):
            ddim_timesteps(1000, bad)


def test_guidance_interval_selects_where_guidance_applies(diffusion, monkeypatch):
    """Inside the interval the sampler asks for w, outside for 1 (one conditional pass); the ends are inclusive."""
    settings = SamplingSettings(steps=10, guidance=3.0, guidance_interval=(20, 60))
    assert [settings.guidance_at(t) for t in (19, 20, 60, 61)] == [1.0, 3.0, 3.0, 1.0]
    assert settings.replace(guidance_interval=None).guidance_at(99) == 3.0
    asked = []
    original = diffusion.predict
    monkeypatch.setattr(diffusion, "predict", lambda z, t, y, w: asked.append((int(t[0]), w)) or original(z, t, y, w))
    run(diffusion, [0, 1], 0, settings)
    assert asked == [(t, 3.0 if 20 <= t <= 60 else 1.0) for t in ddim_timesteps(100, 10)]
    asked.clear()
    run(diffusion, [0], 0, SamplingSettings(sampler="ddpm", guidance=2.0, guidance_interval=(0, 9)))
    assert [w for _, w in asked] == [1.0] * 90 + [2.0] * 10


def test_guidance_interval_matches_plain_sampling_at_its_extremes(diffusion):
    y = [0, 4, 9]
    guided = DDIM10.replace(guidance=3.0)
    full = run(diffusion, y, 3, guided)
    covering = run(diffusion, y, 3, guided.replace(guidance_interval=(0, 99)))
    plain = run(diffusion, y, 3, DDIM10)
    empty = run(diffusion, y, 3, guided.replace(guidance_interval=(50, 54)))  # no DDIM-10 timestep in 50..54
    torch.testing.assert_close(covering, full)
    torch.testing.assert_close(empty, plain)
    assert not torch.allclose(full, plain)


@pytest.mark.parametrize("labels, message", [
    (torch.tensor([10]), "out of range 0-9"),  # the null class is not a label
    (torch.tensor([[1, 2]]), "1-D integers"),
    (torch.tensor([1.0]), "1-D integers"),
    ([], "no classes given"),
    (["Jacket"], "Unknown class 'Jacket'"),
])
def test_bad_labels_are_refused_before_sampling(diffusion, labels, message):
    with pytest.raises(ValueError, match=message):
        run(diffusion, labels, 0, DDIM10)


def test_a_bare_class_is_one_sample(diffusion):
    assert torch.equal(run(diffusion, "Dress", 0, DDIM10), run(diffusion, [3], 0, DDIM10))
    assert torch.equal(run(diffusion, 3, 0, DDIM10), run(diffusion, torch.tensor(3), 0, DDIM10))


def test_a_perfect_denoiser_recovers_the_data(generator):
    """With the true ε for a single known z0, DDIM and DDPM land on z0: checks the update rules, not just shapes."""
    schedule = NoiseSchedule("cosine", 1000)
    target = torch.randn(1, 64, generator=generator)

    class Oracle(torch.nn.Module):
        null_class = 10
        config = DenoiserConfig()

        def forward(self, z, t, y):
            return schedule.predict_eps(z, t, target.expand_as(z))

    diffusion = LatentDiffusion(Oracle(), schedule)
    z = sample(diffusion, [0, 1], torch.Generator().manual_seed(0), SamplingSettings(steps=20))
    torch.testing.assert_close(z, target.expand(2, -1), atol=1e-3, rtol=1e-3)
    z = sample(diffusion, [0], torch.Generator().manual_seed(0), SamplingSettings(sampler="ddpm"))
    torch.testing.assert_close(z, target, atol=1e-3, rtol=1e-3)


def test_ddim_step_going_up_in_noise_is_finite():
    """Inversion uses the η = 0 step with ᾱ decreasing; σ must be 0 there, not 0 · NaN."""
    z0_hat, eps = torch.randn(3, 64), torch.randn(3, 64)
    up = ddim_step(z0_hat, eps, torch.tensor(0.9), torch.tensor(0.5))
    torch.testing.assert_close(up, 0.5**0.5 * z0_hat + 0.5**0.5 * eps)


def test_ddpm_step_is_the_posterior_mean_plus_its_noise():
    s = NoiseSchedule("cosine", 100)
    z_t, z0_hat, xi = torch.randn(2, 64), torch.randn(2, 64), torch.randn(2, 64)
    t = 40
    mean = s.posterior_mean_coef_x0[t] * z0_hat + s.posterior_mean_coef_xt[t] * z_t
    torch.testing.assert_close(ddpm_step(s, z_t, z0_hat, t, xi), mean + s.posterior_variance[t].sqrt() * xi)
    torch.testing.assert_close(ddpm_step(s, z_t, z0_hat, 0, None),
                               s.posterior_mean_coef_x0[0] * z0_hat + s.posterior_mean_coef_xt[0] * z_t)


def test_ddim_inversion_round_trip(diffusion):
    """Invert latents to noise and sample back with the same deterministic settings: close to the start, closer with
    more steps (both are Euler solvers of one ODE)."""
    z0 = sample(diffusion, [0, 5], torch.Generator().manual_seed(0), DDIM10)
    errors = []
    for steps in (20, 80):
        settings = SamplingSettings(steps=steps)
        noise = ddim_inversion(diffusion, z0, [0, 5], settings)
        back = list(sampler_steps(diffusion, [0, 5], torch.Generator(), settings, z=noise))[-1].z
        errors.append(((back - z0).norm() / z0.norm()).item())
    assert errors[1] < errors[0] < 0.5 and torch.isfinite(noise).all()
    with pytest.raises(ValueError, match="eta = 0"):
        ddim_inversion(diffusion, z0, [0, 5], SamplingSettings(eta=0.5))
