"""Flow matching: the straight path, its loss, the Euler and Heun samplers, guidance, the settings, diffusion seen as
a flow, and the shipped flow model."""

from __future__ import annotations

import math

import pytest
import torch

from fmd_utils import load_pretrained
from fmd_utils.checkpoint import CheckpointError, load_model, save_checkpoint
from fmd_utils.denoisers import ConditionalLatentUNet, DenoiserConfig
from fmd_utils.diffusion import LatentDiffusion
from fmd_utils.flow import (
    TIME_SCALE,
    FlowSettings,
    LatentFlow,
    clean_estimate,
    euler_step,
    flow_sample,
    flow_steps,
    heun_step,
    path_straightness,
    straight_path,
    straight_path_coordinates,
    time_grid,
)
from fmd_utils.normalizer import LatentNormalizer
from fmd_utils.samplers import ddim_step, initial_noise
from fmd_utils.schedule import NoiseSchedule

SMALL = DenoiserConfig(widths=(32, 64), embed_dim=32)


def small_flow(seed: int = 0, live_output: bool = True) -> LatentFlow:
    """A small random flow whose zero-initialised layers are made random (a fresh denoiser predicts exactly 0 and
    ignores its condition)."""
    torch.manual_seed(seed)
    normalizer = LatentNormalizer(64)
    normalizer.mean.normal_()
    normalizer.std.uniform_(0.5, 2.0)
    flow = LatentFlow(ConditionalLatentUNet(SMALL), normalizer, FlowSettings(steps=4))
    if live_output:
        with torch.no_grad():
            for parameter in flow.denoiser.parameters():
                if not parameter.any():
                    parameter.normal_(0.0, 0.1)
    return flow.eval()


def test_straight_path_runs_from_data_to_noise(generator):
    z0, eps = torch.randn(5, 64, generator=generator), torch.randn(5, 64, generator=generator)
    torch.testing.assert_close(straight_path(z0, torch.zeros(5), eps), z0)
    torch.testing.assert_close(straight_path(z0, torch.ones(5), eps), eps)
    t = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    # its velocity is ε − z0 everywhere: a finite difference along t recovers it
    h = 1e-3
    velocity = (straight_path(z0, t + h, eps) - straight_path(z0, t - h, eps)) / (2 * h)
    torch.testing.assert_close(velocity, eps - z0, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="noise shape"):
        straight_path(z0, t, eps[:, :3])


def test_clean_and_noise_estimates_invert_the_path(generator):
    z0, eps, t = torch.randn(4, 64, generator=generator), torch.randn(4, 64, generator=generator), torch.rand(4)
    z_t = straight_path(z0, t, eps)
    torch.testing.assert_close(clean_estimate(z_t, t[:, None], eps - z0), z0)


def test_loss_is_the_velocity_regression(generator):
    flow = small_flow()
    z0, y = torch.randn(8, 64, generator=generator) * 3, torch.arange(8)
    t, eps = torch.rand(8, generator=generator), torch.randn(8, 64, generator=generator)
    z = flow.normalizer.normalize(z0)
    z_t = (1 - t[:, None]) * z + t[:, None] * eps
    expected = ((flow.denoiser(z_t, TIME_SCALE * t, y) - (eps - z)) ** 2).mean()
    torch.testing.assert_close(flow.loss_at(z0, y, t, eps), expected)
    drop = torch.tensor([True] * 4 + [False] * 4)
    y_dropped = torch.where(drop, torch.full_like(y, flow.null_class), y)
    expected_drop = ((flow.denoiser(z_t, TIME_SCALE * t, y_dropped) - (eps - z)) ** 2).mean()
    torch.testing.assert_close(flow.loss_at(z0, y, t, eps, drop), expected_drop)
    loss = flow.loss(z0, y, torch.Generator().manual_seed(0), p_uncond=0.1)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in flow.parameters() if p.grad is not None)


def test_guided_velocity_mixes_conditional_and_unconditional(generator):
    flow = small_flow()
    z, t, y = torch.randn(6, 64, generator=generator), torch.full((6,), 0.4), torch.arange(6)
    cond, uncond = flow.velocity(z, t, y, 1.0), flow.velocity(z, t, y, 0.0)
    assert not torch.allclose(cond, uncond)
    torch.testing.assert_close(flow.velocity(z, t, y, 3.0), uncond + 3.0 * (cond - uncond), atol=1e-5, rtol=1e-5)


def test_a_shared_real_time_embeds_each_class_once(generator):
    """Sampling steps share one real-valued t; the denoiser then computes each class's condition once, and the
    result equals the per-row computation."""
    net = small_flow().denoiser
    t, y = torch.full((7,), 412.5), torch.tensor([0, 3, 3, 10, 0, 5, 3])
    emb, index = net.conditions(t, y)
    assert emb.shape[0] == 4 and index is not None  # the distinct classes 0, 3, 5, 10
    per_row = net.time_embedding(t) + net.class_embedding(y)
    torch.testing.assert_close(emb[index], per_row)
    z = torch.randn(7, 64, generator=generator)
    t_varied = t.clone()
    t_varied[0] += 1e-3  # not shared any more: the per-row path
    torch.testing.assert_close(net(z, t, y), net(z, t_varied, y), atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="class labels"):
        net.conditions(torch.full((2,), 1.5), torch.tensor([0, 11]))


def test_euler_and_heun_steps_are_exact_where_they_should_be():
    z = torch.tensor([[1.0, -2.0]])
    v = torch.tensor([[0.5, 0.25]])
    torch.testing.assert_close(euler_step(z, v, 1.0, 0.75), z - 0.25 * v)  # constant field: exact
    # dz/dt = a + b t is linear in t: Heun (the trapezoid rule) integrates it exactly in one step
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[-3.0, 0.5]])
    exact = z + a * (0.0 - 1.0) + b * (0.0**2 - 1.0**2) / 2
    torch.testing.assert_close(heun_step(z, a + b * 1.0, a + b * 0.0, 1.0, 0.0), exact)


def test_solver_orders_on_a_known_ode():
    """dz/dt = z from t = 1 to 0 has z(0) = z(1)/e: Euler's error halves with the step, Heun's quarters."""
    def solve(step, n):
        z, grid = torch.tensor([1.0], dtype=torch.float64), time_grid(n)
        for t, t_next in zip(grid[:-1], grid[1:], strict=True):
            z = euler_step(z, z, t, t_next) if step == "euler" else heun_step(z, z, euler_step(z, z, t, t_next),
                                                                                t, t_next)
        return abs(z.item() - math.exp(-1))
    for n in (8, 16, 32):
        assert 1.8 < solve("euler", n) / solve("euler", 2 * n) < 2.2
        assert 3.6 < solve("heun", n) / solve("heun", 2 * n) < 4.4


def test_time_grid():
    assert time_grid(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        time_grid(0)


def test_sampler_starts_from_diffusions_noise_and_is_deterministic():
    """A fresh flow predicts v = 0, so its sampler returns its starting point: the same noise a diffusion sampler
    draws from the same seed, in raw coordinates."""
    still = small_flow(live_output=False)
    out = flow_sample(still, [0, 1, 2], torch.Generator().manual_seed(5), FlowSettings(steps=3, guidance=2.0))
    noise = initial_noise(3, 64, torch.Generator().manual_seed(5), "cpu")
    torch.testing.assert_close(out, still.normalizer.denormalize(noise))
    flow = small_flow()
    for sampler in ("euler", "heun"):
        settings = FlowSettings(sampler=sampler, steps=4, guidance=3.0, guidance_interval=(0.2, 0.7))
        a = flow_sample(flow, ["Dress", 3], torch.Generator().manual_seed(1), settings)
        b = flow_sample(flow, ["Dress", 3], torch.Generator().manual_seed(1), settings)
        c = flow_sample(flow, ["Dress", 3], torch.Generator().manual_seed(2), settings)
        assert torch.equal(a, b) and not torch.allclose(a, c)


def test_sampler_loop_matches_the_update_rules():
    """flow_steps = the Euler/Heun rules with the guided velocity and w_t from the settings, step by step."""
    flow = small_flow()
    y = torch.tensor([1, 4])
    settings = FlowSettings(sampler="heun", steps=3, guidance=2.5, guidance_interval=(0.3, 0.8))
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    grid = time_grid(3)
    steps = flow_steps(flow, y, torch.Generator().manual_seed(0), settings)
    for (t, t_next), step in zip(zip(grid[:-1], grid[1:], strict=True), steps, strict=True):
        v = flow.velocity(z, torch.full((2,), t), y, settings.guidance_at(t))
        z_euler = euler_step(z, v, t, t_next)
        v_next = flow.velocity(z_euler, torch.full((2,), t_next), y, settings.guidance_at(t_next))
        assert (step.t, step.t_next) == (t, t_next)
        torch.testing.assert_close(step.z0_hat, flow.normalizer.denormalize(clean_estimate(z, t, v)))
        z = heun_step(z, v, v_next, t, t_next)
        torch.testing.assert_close(step.z, flow.normalizer.denormalize(z))


def test_settings_are_validated_with_the_field_named():
    assert FlowSettings(sampler="heun", steps=8).nfe == 16 and FlowSettings(steps=8).nfe == 8
    settings = FlowSettings(guidance=4.0, guidance_interval=[0.25, 0.66])  # as stored: a list
    assert settings.guidance_interval == (0.25, 0.66)
    assert settings.guidance_at(0.5) == 4.0 and settings.guidance_at(0.1) == 1.0 and settings.guidance_at(0.9) == 1.0
    assert FlowSettings.from_dict(settings.to_dict()) == settings
    assert "Euler-50, guidance 4 on t ∈ [0.25, 0.66]" == settings.describe()
    for bad, message in [({"sampler": "ddim"}, "sampler must be one of"), ({"steps": 0}, "steps must be"),
                         ({"steps": 2.0}, "steps must be"), ({"guidance": -1.0}, "guidance must be"),
                         ({"guidance": float("nan")}, "guidance must be"),
                         ({"guidance_interval": (0.7, 0.2)}, "guidance_interval"),
                         ({"guidance_interval": (0, 999)}, "guidance_interval")]:
        with pytest.raises(ValueError, match=message):
            FlowSettings(**bad).validate()
    with pytest.raises(TypeError, match="unknown flow setting"):
        settings.replace(eta=1.0)


def test_ddim_step_is_an_euler_step_on_the_straight_path(generator):
    """The chapter's claim, on a random diffusion model: map z to the straight path, Euler-step ε̂ − ẑ0, and land
    where DDIM (η = 0) went."""
    torch.manual_seed(0)
    diffusion = LatentDiffusion(small_flow().denoiser, NoiseSchedule("cosine", 1000), "v").eval()
    z, y = torch.randn(5, 64, generator=generator), torch.arange(5)
    ab = diffusion.schedule.alpha_bar
    for t, t_next in [(999, 700), (700, 350), (350, 20)]:
        eps, z0 = diffusion.predict(z, torch.full((5,), t), y, 2.0)
        z_ddim = ddim_step(z0, eps, ab[t], ab[t_next])
        x, s = straight_path_coordinates(z, ab[t])
        x_next, s_next = straight_path_coordinates(z_ddim, ab[t_next])
        torch.testing.assert_close(euler_step(x, eps - z0, s, s_next), x_next, atol=1e-5, rtol=1e-5)
        z = z_ddim
    # and the conversion puts α z0 + σ ε on the straight line between z0 and ε
    z0, eps = torch.randn(3, 64, generator=generator), torch.randn(3, 64, generator=generator)
    x, s = straight_path_coordinates(ab[500].sqrt() * z0 + (1 - ab[500]).sqrt() * eps, ab[500])
    torch.testing.assert_close(x, (1 - s) * z0 + s * eps)


def test_path_straightness():
    line = torch.linspace(0, 1, 11)[:, None, None] * torch.tensor([[[3.0, 4.0]]])
    corner = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 1.0]]])
    torch.testing.assert_close(path_straightness(line), torch.tensor([1.0]))
    torch.testing.assert_close(path_straightness(corner), torch.tensor([math.sqrt(2)]))


def test_flow_checkpoint_round_trip_and_pairing(tmp_path):
    flow = small_flow()
    flow.sampling = FlowSettings(sampler="heun", steps=6, guidance=3.0, guidance_interval=(0.2, 0.6))
    config = {"denoiser": SMALL.to_dict(), "sampling": flow.sampling.to_dict()}
    path = save_checkpoint(tmp_path / "flow.pt", "flow", config, flow.state_dict(), {"autoencoder_sha256": "x" * 64})
    loaded = load_model("flow", path)
    assert isinstance(loaded, LatentFlow) and loaded.sampling == flow.sampling
    for name, tensor in flow.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)
    with pytest.raises(CheckpointError, match="'flow' checkpoint, but a 'diffusion'"):
        load_model("diffusion", path)
    from fmd_utils.pipeline import LatentFlowPipeline, load_autoencoder

    with pytest.raises(CheckpointError, match="flow model was trained on a different autoencoder"):
        LatentFlowPipeline(load_autoencoder(), loaded)


def test_shipped_flow_generates_from_the_same_noise_as_diffusion():
    fpipe, dpipe = load_pretrained(model="flow"), load_pretrained()
    # the first latent each network is asked about, for the same seed: the same standardised noise, bit for bit
    seen = {}

    def spy(name, method):
        def first_input_kept(z, *args):
            seen.setdefault(name, z.clone())
            return method(z, *args)
        return first_input_kept

    fpipe.flow.velocity = spy("flow", fpipe.flow.velocity)
    dpipe.diffusion.predict = spy("diffusion", dpipe.diffusion.predict)
    fpipe.sample_latents(["Dress", "Sandal"], seed=5, steps=1)
    dpipe.sample_latents(["Dress", "Sandal"], seed=5, steps=1)
    del fpipe.flow.velocity, dpipe.diffusion.predict
    assert torch.equal(seen["flow"], seen["diffusion"])
    assert torch.equal(seen["flow"], torch.randn(2, 64, generator=torch.Generator().manual_seed(5)))
    images = fpipe.generate(["Dress", "Sandal", "Bag"], seed=0)
    assert images.shape == (3, 1, 28, 28) and torch.isfinite(images).all()
    assert torch.equal(images, fpipe.generate(["Dress", "Sandal", "Bag"], seed=0))
    assert fpipe.settings(steps=8).steps == 8 and fpipe.settings().sampler in ("euler", "heun")
    # same standardised latents: both models' normalisers were fitted to the same training latents
    torch.testing.assert_close(fpipe.flow.normalizer.std, dpipe.diffusion.normalizer.std)
    with pytest.raises(ValueError, match="model must be 'diffusion' or 'flow'"):
        load_pretrained(model="gan")
