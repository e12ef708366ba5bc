"""The new samplers and the solver-error study on per-class Gaussians whose ODE end point is in closed form: each
solver converges to the exact end point at its order, trailing DDIM never evaluates at t = 0, every sampler spends
the evaluations the registry says, and the samples are determined by the seed."""

from __future__ import annotations

import math

import pytest
import torch

from fmd_utils.diffusion import LatentDiffusion
from fmd_utils.gaussian import ClassGaussians
from fmd_utils.samplers import (
    ddim_step,
    ddim_timesteps,
    get_sampler,
    heun_step,
    karras_sigmas,
    karras_timesteps,
    sample,
    sampler_names,
    straight_timesteps,
)
from fmd_utils.schedule import NoiseSchedule
from fmd_utils.settings import SamplingSettings
from fmd_utils.solver_error import (
    Solver,
    class_w2,
    exact_diffusion,
    exact_flow,
    exact_samples,
    fitted_order,
    solve,
    solver_study,
)

D, K = 6, 3


@pytest.fixture(scope="module")
def gaussians() -> ClassGaussians:
    """Three correlated Gaussians, spreads from 0.05 to 2 along their axes (a little stiff, as real latents are)."""
    g = torch.Generator().manual_seed(0)
    latents, labels = [], []
    for c in range(K):
        scales = torch.logspace(math.log10(0.05), math.log10(2.0), D)
        rotation, _ = torch.linalg.qr(torch.randn(D, D, generator=g))
        x = (torch.randn(3000, D, generator=g) * scales) @ rotation.T + torch.randn(D, generator=g)
        latents.append(x)
        labels.append(torch.full((3000,), c))
    return ClassGaussians.fit(torch.cat(latents), torch.cat(labels), NoiseSchedule("cosine", 1000), num_classes=K)


@pytest.fixture(scope="module")
def noise() -> torch.Tensor:
    return torch.randn(60, D, generator=torch.Generator().manual_seed(1))


LABELS = torch.arange(K).repeat_interleave(20)


def endpoint_error(gaussians, solver: Solver, steps: int, noise) -> float:
    model = exact_flow(gaussians) if solver.model == "flow" else exact_diffusion(gaussians)
    end, a, s = solve(model, solver, steps, LABELS, noise)
    exact = gaussians.ode_endpoint(noise.double(), a, s, LABELS)
    return float(((end.double() - exact) ** 2).mean().sqrt())


# --------------------------------------------------------------------------------------------------- orders
@pytest.mark.parametrize(("solver", "steps", "order"), [
    (Solver("diffusion", "ddim"), (16, 32, 64), 1),
    (Solver("diffusion", "ddim-trailing"), (16, 32, 64), 1),
    (Solver("flow", "euler"), (16, 32, 64), 1),
    (Solver("diffusion", "heun-straight"), (8, 16, 32), 2),
    (Solver("diffusion", "heun"), (16, 32, 64), 2),
    (Solver("flow", "heun"), (8, 16, 32), 2),
    (Solver("diffusion", "dpm++2m-karras"), (32, 64, 128), 2),
])
def test_each_solver_reaches_the_exact_end_point_at_its_order(gaussians, noise, solver, steps, order):
    """Doubling the steps divides the error by about 2^order: the first-order solvers (DDIM on either spacing, the
    flow's Euler) by about 2, the second-order ones (Heun in either coordinates, DPM-Solver++(2M) once its steps are
    short) by about 4."""
    errors = [endpoint_error(gaussians, solver, k, noise) for k in steps]
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    low, high = (1.6, 2.6) if order == 1 else (3.0, 8.0)  # Heun on a Gaussian does a little better than 4
    assert all(low < r < high for r in ratios), (solver.title, errors)
    assert errors[-1] < (0.03 if order == 1 else 0.003), (solver.title, errors)


def test_the_closed_form_end_point_is_where_a_fine_solver_lands(gaussians, noise):
    """The closed form and Heun on the straight path with 400 steps agree, from T − 1 and from t = 500, to what the
    sampler's last velocity, asked at t = 0 instead of the clean end, leaves (a bias of order σ̄_0²/ν)."""
    assert endpoint_error(gaussians, Solver("diffusion", "heun-straight"), 400, noise) < 5e-4
    diffusion = exact_diffusion(gaussians)
    settings = SamplingSettings(sampler="heun-straight", steps=300)
    from fmd_utils.samplers import sampler_steps

    late = list(sampler_steps(diffusion, LABELS, torch.Generator(), settings, z=noise, start_t=500))
    a = float(gaussians.schedule.alpha_bar.double()[500].sqrt())
    exact = gaussians.ode_endpoint(noise.double(), a, math.sqrt(1 - a * a), LABELS)
    assert late[0].t == 500 and (late[-1].z.double() - exact).pow(2).mean().sqrt() < 5e-4
    with pytest.raises(ValueError, match="labelled class"):
        gaussians.ode_endpoint(noise.double(), 0.0, 1.0, torch.full((60,), K))


def test_exact_samples_and_w2_reach_the_floor(gaussians):
    """W2 of exact samples is the sampling floor (small, shrinking with N); the stochastic sampler (DDIM η = 1, the
    reverse SDE on a sub-grid) approaches it as its steps grow."""
    labels = torch.arange(K).repeat_interleave(2000)
    floor = class_w2(gaussians, exact_samples(gaussians, labels, torch.Generator().manual_seed(0)), labels)
    assert 0 < floor < 0.01
    rows = solver_study(gaussians, (Solver("diffusion", "ddim", eta=1.0),), budgets=(4, 16, 64), per_class=2000)
    w2 = [row["w2"] for row in rows]
    assert w2[0] > w2[1] > w2[2] and w2[2] < 5 * floor + 0.01, w2
    assert all(row["endpoint"] is None for row in rows)  # a stochastic solver has no end point to compare


def test_solver_study_spends_at_most_its_budget(gaussians):
    rows = solver_study(gaussians, (Solver("diffusion", "heun"), Solver("flow", "heun"), Solver("diffusion", "ddim")),
                        budgets=(4, 8), per_class=100, endpoint_rows=30)
    got = [(row["solver"], row["steps"], row["nfe"]) for row in rows]
    assert got == [("Heun (Karras σ)", 2, 3), ("Heun (Karras σ)", 4, 7), ("flow Heun", 2, 4), ("flow Heun", 4, 8),
                   ("DDIM", 4, 4), ("DDIM", 8, 8)]
    assert all(row["endpoint"] > 0 and row["w2"] > 0 for row in rows)


def test_fitted_order_recovers_a_power_law():
    nfes = [4, 8, 16, 32]
    assert fitted_order(nfes, [3.0 * n**-2 for n in nfes]) == pytest.approx(2.0)
    assert fitted_order(nfes, [0.5 * n**-1 for n in nfes]) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------- grids
def test_trailing_ddim_never_evaluates_at_t0(gaussians):
    """Trailing DDIM starts at T − 1 and ends at round(T/n) − 1, above 0 for n up to 2T/3; DDIM's even grid spends
    its last evaluation at t = 0."""
    for steps in (1, 4, 8, 50, 500, 666):
        grid = ddim_timesteps(1000, steps, spacing="trailing")
        assert grid[0] == 999 and min(grid) > 0 and len(grid) == steps, (steps, grid[-3:])
    assert ddim_timesteps(1000, 4, spacing="trailing") == [999, 749, 499, 249]
    assert ddim_timesteps(1000, 1000, spacing="trailing")[-1] == 0
    assert ddim_timesteps(1000, 4)[-1] == 0
    seen = []
    diffusion = exact_diffusion(gaussians)
    original = gaussians.forward
    gaussians.forward = lambda z, t, y: seen.extend(t.unique().tolist()) or original(z, t, y)
    try:
        sample(diffusion, [0, 1], torch.Generator().manual_seed(0), SamplingSettings(sampler="ddim-trailing", steps=8))
    finally:
        del gaussians.forward
    assert seen == ddim_timesteps(1000, 8, spacing="trailing") and 0 not in seen
    with pytest.raises(ValueError, match="spacing must be one of"):
        ddim_timesteps(1000, 4, spacing="leading")


def test_karras_grid():
    """Uniform in σ^(1/ρ) between its ends; on the model's timesteps it starts where σ is nearest 80 and ends at 0,
    decreasing, one timestep per level up to 50 levels."""
    levels = karras_sigmas(80.0, 0.002, 10)
    assert levels[0] == pytest.approx(80.0) and levels[-1] == pytest.approx(0.002)
    roots = levels ** (1 / 7)
    torch.testing.assert_close(roots.diff(), torch.full((9,), float(roots[1] - roots[0]), dtype=torch.float64))
    schedule = NoiseSchedule("cosine", 1000)
    for steps in (2, 4, 8, 16, 32, 50):
        grid = karras_timesteps(schedule, steps)
        assert grid[0] == 991 and grid[-1] == 0 and len(grid) == steps and grid == sorted(grid, reverse=True)
    assert karras_timesteps(schedule, 4, start=400)[0] == 400
    with pytest.raises(ValueError, match="sigma_min"):
        karras_sigmas(1.0, 2.0, 4)


def test_straight_grid_is_uniform_in_flow_time():
    schedule = NoiseSchedule("cosine", 1000)
    grid = straight_timesteps(schedule, 4)
    assert grid == [999, 793, 495, 198, -1]  # τ = s/(a + s) ≈ 1, 3/4, 1/2, 1/4, then the clean end


def test_euler_in_edm_coordinates_is_ddim():
    """x' = x + (σ' − σ) ε̂ with x = z/a is DDIM's η = 0 step: the same ODE, the same first-order step."""
    g = torch.Generator().manual_seed(3)
    z, eps = torch.randn(5, D, generator=g, dtype=torch.float64), torch.randn(5, D, generator=g, dtype=torch.float64)
    a_t, a_next = torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)
    z0_hat = (z - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    torch.testing.assert_close(heun_step(z, eps, None, a_t, a_next), ddim_step(z0_hat, eps, a_t, a_next))


# --------------------------------------------------------------------------------------------------- every sampler
def test_every_sampler_spends_the_evaluations_the_registry_says(gaussians):
    """Count the network's calls: the registry's nfe (what the tables print) is what the loop spends."""
    diffusion = exact_diffusion(gaussians)
    calls = []
    original = gaussians.forward
    gaussians.forward = lambda z, t, y: calls.append(1) or original(z, t, y)
    try:
        for name in sampler_names():
            settings = SamplingSettings(sampler=name, steps=6)
            calls.clear()
            sample(diffusion, [0, 2], torch.Generator().manual_seed(0), settings)
            assert len(calls) == get_sampler(name).nfe(settings, 1000), name
    finally:
        del gaussians.forward
    assert get_sampler("heun").nfe(SamplingSettings(sampler="heun", steps=6), 1000) == 11
    assert get_sampler("heun-straight").nfe(SamplingSettings(sampler="heun-straight", steps=6), 1000) == 12


@pytest.mark.parametrize("name", ["ddim-trailing", "dpm++2m-karras", "heun", "heun-straight"])
def test_new_samplers_are_determined_by_the_seed(gaussians, name):
    diffusion = exact_diffusion(gaussians)
    settings = SamplingSettings(sampler=name, steps=5, guidance=2.0)  # guided: the mixture as the null class
    first = sample(diffusion, [0, 1, 2], torch.Generator().manual_seed(7), settings)
    assert torch.equal(first, sample(diffusion, [0, 1, 2], torch.Generator().manual_seed(7), settings))
    assert not torch.equal(first, sample(diffusion, [0, 1, 2], torch.Generator().manual_seed(8), settings))
    assert torch.isfinite(first).all()


def test_solve_refuses_the_wrong_model(gaussians, noise):
    with pytest.raises(ValueError, match="solves a flow model"):
        solve(exact_diffusion(gaussians), Solver("flow", "heun"), 4, LABELS, noise)
    with pytest.raises(ValueError, match="samples a diffusion model"):
        solve(exact_flow(gaussians), Solver("diffusion", "ddim"), 4, LABELS, noise)
    assert isinstance(exact_diffusion(gaussians), LatentDiffusion)
