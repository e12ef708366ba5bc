import pytest
import torch

from fmd_utils.schedule import NoiseSchedule


def test_linear_schedule_matches_ddpm_paper():
    s = NoiseSchedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert s.alpha_bar[-1].item() == pytest.approx(4.04e-5, rel=0.01)


def test_cosine_schedule_is_monotone_and_starts_clean():
    s = NoiseSchedule("cosine", 1000)
    assert s.alpha_bar[0].item() == pytest.approx(1.0, abs=1e-3)
    assert bool((s.alpha_bar[1:] < s.alpha_bar[:-1]).all())
    assert s.alpha_bar[-1].item() < 1e-4
    assert bool((s.snr[1:] < s.snr[:-1]).all())


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_derived_terms_are_consistent(kind):
    s = NoiseSchedule(kind, 200)
    torch.testing.assert_close(s.alpha_bar, torch.cumprod(1 - s.betas.double(), 0).float())
    torch.testing.assert_close(s.snr, s.alpha_bar / (1 - s.alpha_bar), rtol=1e-3, atol=1e-6)
    assert bool((s.posterior_variance <= s.betas + 1e-7).all()) and s.posterior_variance[0].item() == 0
    # the posterior q(x_{t−1} | x_t, x0) by Bayes, independently: the prior N(√ᾱ_{t−1} x0, 1 − ᾱ_{t−1}) times the
    # likelihood N(x_t; √α_t x_{t−1}, β_t) is Gaussian with precision 1/(1 − ᾱ_{t−1}) + α_t/β_t and mean
    # var · (√ᾱ_{t−1} x0 / (1 − ᾱ_{t−1}) + √α_t x_t / β_t): the schedule's β̃_t and its two mean coefficients
    betas = s.betas.double()[1:]
    prev = torch.cumprod(1 - s.betas.double(), 0)[:-1]  # ᾱ_{t−1} for t = 1 … T−1
    var = 1 / (1 / (1 - prev) + (1 - betas) / betas)
    torch.testing.assert_close(s.posterior_variance[1:].double(), var, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(s.posterior_mean_coef_x0[1:].double(), var * prev.sqrt() / (1 - prev), rtol=1e-4,
                               atol=1e-7)
    torch.testing.assert_close(s.posterior_mean_coef_xt[1:].double(), var * (1 - betas).sqrt() / betas, rtol=1e-4,
                               atol=1e-7)


def test_q_sample_closed_form_matches_iterated_steps():
    """Composing t single steps q(x_t|x_{t−1}) gives the closed form N(√ᾱ_t x0, (1−ᾱ_t) I) in mean and variance."""
    s = NoiseSchedule("linear", 1000)
    gen = torch.Generator().manual_seed(0)
    n, t_end = 20_000, 300
    x0 = torch.full((n, 1), 1.5)
    x = x0.clone()
    for t in range(t_end + 1):
        x = s.q_step(x, torch.full((n,), t), torch.randn(x.shape, generator=gen))
    closed = s.q_sample(x0, torch.full((n,), t_end), torch.randn(x0.shape, generator=gen))
    a = s.alpha_bar[t_end].item()
    for sample in (x, closed):
        assert sample.mean().item() == pytest.approx(1.5 * a**0.5, abs=0.02)
        assert sample.var().item() == pytest.approx(1 - a, rel=0.03)


def test_predict_x0_inverts_q_sample(generator):
    s = NoiseSchedule("cosine", 1000)
    x0, eps = torch.randn(2, 8, 64, generator=generator)
    t = torch.randint(0, 1000, (8,), generator=generator)
    torch.testing.assert_close(s.predict_x0(s.q_sample(x0, t, eps), t, eps), x0, atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(s.predict_eps(s.q_sample(x0, t, eps), t, x0), eps, atol=2e-3, rtol=1e-3)


def test_bad_inputs():
    with pytest.raises(ValueError, match="linear.*cosine"):
        NoiseSchedule("sigmoid")
    s = NoiseSchedule("linear", 10)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        s.q_sample(torch.zeros(1, 4), torch.tensor([10]), torch.zeros(1, 4))
