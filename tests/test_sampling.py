import pytest
import torch

from fmd_utils.denoiser import ConditionalLatentUNet, DenoiserConfig
from fmd_utils.diffusion import LatentDiffusion
from fmd_utils.sampling import (
    ddim_sample,
    ddim_steps,
    ddim_timesteps,
    ddpm_sample,
    guidance_at,
    labels_tensor,
)
from fmd_utils.schedule import NoiseSchedule


@pytest.fixture
def diffusion():
    torch.manual_seed(0)
    model = ConditionalLatentUNet(DenoiserConfig(widths=(64, 128), embed_dim=32))
    gen = torch.Generator().manual_seed(1)
    for p in model.parameters():  # non-trivial weights, so conditional and unconditional predictions differ
        torch.nn.init.normal_(p, std=0.05, generator=gen)
    return LatentDiffusion(model, NoiseSchedule("cosine", 100)).eval()


def test_loss_is_a_scalar_with_gradients(diffusion, generator):
    diffusion.train()
    loss = diffusion.loss(torch.randn(16, 64), torch.randint(0, 10, (16,)), generator, p_uncond=0.2)
    loss.backward()
    assert loss.ndim == 0 and loss.item() > 0
    assert diffusion.denoiser.input.weight.grad is not None


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
    eps_1, _ = diffusion.predict(z, t, y, guidance=1.0)
    torch.testing.assert_close(eps_1, diffusion.denoiser(z, t, y))
    eps_0, _ = diffusion.predict(z, t, y, guidance=0.0)
    torch.testing.assert_close(eps_0, diffusion.denoiser(z, t, torch.full_like(y, diffusion.null_class)))
    eps_3, _ = diffusion.predict(z, t, y, guidance=3.0)
    torch.testing.assert_close(eps_3, eps_0 + 3.0 * (eps_1 - eps_0), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(eps_1, eps_0)


def test_ddim_eta0_is_deterministic_per_generator(diffusion):
    y = labels_tensor(["Dress", "sandal", 3])
    a = ddim_sample(diffusion, y, torch.Generator().manual_seed(7), steps=10, guidance=2.0)
    b = ddim_sample(diffusion, y, torch.Generator().manual_seed(7), steps=10, guidance=2.0)
    c = ddim_sample(diffusion, y, torch.Generator().manual_seed(8), steps=10, guidance=2.0)
    assert a.shape == (3, 64) and torch.equal(a, b) and not torch.allclose(a, c)


def test_ddim_with_all_steps_and_eta_one_and_ddpm_run(diffusion):
    y = torch.tensor([1, 2])
    steps = list(ddim_steps(diffusion, y, torch.Generator().manual_seed(0), steps=100, eta=1.0))
    assert [s.t for s in steps] == list(range(99, -1, -1))
    assert torch.isfinite(steps[-1].z).all()
    z = ddpm_sample(diffusion, y, torch.Generator().manual_seed(0))
    assert z.shape == (2, 64) and torch.isfinite(z).all()


def test_ddim_timesteps():
    assert ddim_timesteps(1000, 1) == [999]
    taus = ddim_timesteps(1000, 50)
    assert len(taus) == 50 and taus[0] == 999 and taus[-1] == 0 and taus == sorted(taus, reverse=True)
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="between 1 and T = 1000"):
            ddim_timesteps(1000, bad)


def test_negative_guidance_is_rejected(diffusion):
    with pytest.raises(ValueError, match="guidance must be >= 0"):
        ddim_sample(diffusion, torch.tensor([0]), torch.Generator(), steps=2, guidance=-1.0)


def test_guidance_interval_selects_where_guidance_applies(diffusion, monkeypatch):
    """Inside the interval the sampler asks for w, outside for 1 (one conditional pass); the ends are inclusive."""
    assert [guidance_at(t, 3.0, (20, 60)) for t in (19, 20, 60, 61)] == [1.0, 3.0, 3.0, 1.0]
    assert guidance_at(99, 3.0, None) == 3.0
    asked = []
    original = diffusion.predict
    monkeypatch.setattr(diffusion, "predict", lambda z, t, y, w: asked.append((int(t[0]), w)) or original(z, t, y, w))
    list(ddim_steps(diffusion, torch.tensor([0, 1]), torch.Generator().manual_seed(0), steps=10, guidance=3.0,
                    guidance_interval=(20, 60)))
    assert asked == [(t, 3.0 if 20 <= t <= 60 else 1.0) for t in ddim_timesteps(100, 10)]
    asked.clear()
    ddpm_sample(diffusion, torch.tensor([0]), torch.Generator().manual_seed(0), guidance=2.0, guidance_interval=(0, 9))
    assert [w for _, w in asked] == [1.0] * 90 + [2.0] * 10


def test_guidance_interval_matches_plain_sampling_at_its_extremes(diffusion):
    y = torch.tensor([0, 4, 9])
    full = ddim_sample(diffusion, y, torch.Generator().manual_seed(3), steps=10, guidance=3.0)
    covering = ddim_sample(diffusion, y, torch.Generator().manual_seed(3), steps=10, guidance=3.0,
                           guidance_interval=(0, 99))
    plain = ddim_sample(diffusion, y, torch.Generator().manual_seed(3), steps=10, guidance=1.0)
    empty = ddim_sample(diffusion, y, torch.Generator().manual_seed(3), steps=10, guidance=3.0,
                        guidance_interval=(50, 54))  # no DDIM-10 timestep lies in 50..54
    torch.testing.assert_close(covering, full)
    torch.testing.assert_close(empty, plain)
    assert not torch.allclose(full, plain)


@pytest.mark.parametrize("bad", [(60, 20), (0, 100), (-1, 5), (1.5, 3), (5,), "0,10"])
def test_bad_guidance_interval_is_rejected(diffusion, bad):
    with pytest.raises(ValueError, match=r"guidance_interval must be None .* 0 <= lo <= hi <= 99"):
        ddim_sample(diffusion, torch.tensor([0]), torch.Generator(), steps=2, guidance=2.0, guidance_interval=bad)


def test_a_perfect_denoiser_recovers_the_data(generator):
    """With the true ε for a single known z0, DDIM lands on z0: checks the update rule, not just shapes."""
    schedule = NoiseSchedule("cosine", 1000)
    target = torch.randn(1, 64, generator=generator)

    class Oracle(torch.nn.Module):
        null_class = 10
        config = DenoiserConfig()

        def forward(self, z, t, y):
            return schedule.predict_eps(z, t, target.expand_as(z))

    diffusion = LatentDiffusion(Oracle(), schedule)
    z = ddim_sample(diffusion, torch.tensor([0, 1]), torch.Generator().manual_seed(0), steps=20)
    torch.testing.assert_close(z, target.expand(2, -1), atol=1e-3, rtol=1e-3)
    z = ddpm_sample(diffusion, torch.tensor([0]), torch.Generator().manual_seed(0))
    torch.testing.assert_close(z, target, atol=1e-3, rtol=1e-3)
