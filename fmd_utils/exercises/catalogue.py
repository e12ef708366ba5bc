"""The exercises of the chapters, each with the mistakes a learner is likely to make (written as the mathematics they
amount to). Chapter 2: ᾱ from β and the forward jump q(z_t | z_0); chapter 3: the sinusoidal embedding and the
v-target; chapter 4: the guidance mix and a DDIM step; chapter 6: the flow-matching target, an Euler and a Heun step."""

from __future__ import annotations

import math

import torch

from ..embeddings import sinusoidal_embedding
from ..flow import euler_step, heun_step
from ..samplers import ddim_step
from ..schedule import NoiseSchedule
from .base import Exercise, Mistake

SCHEDULE = NoiseSchedule("cosine", 1000)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(20)


# --------------------------------------------------------------------------------------------------- chapter 2
def _betas_cases():
    g = _generator()
    return [(torch.rand(12, generator=g, dtype=torch.float64) * 0.3,), (SCHEDULE.betas.double(),)]


def _shift(alpha_bar: torch.Tensor) -> torch.Tensor:
    """ᾱ_{t−1} for every t (ᾱ_{−1} = 1)."""
    return torch.cat([torch.ones_like(alpha_bar[:1]), alpha_bar[:-1]])


ALPHA_BAR = Exercise(
    "alpha_bar",
    lambda betas: torch.cumprod(1 - betas, 0),  # ᾱ_t = ∏_{s ≤ t} (1 − β_s)
    _betas_cases,
    (
        Mistake("this is the product of the β_t themselves: ᾱ_t multiplies the α_s = 1 − β_s, the share of the signal "
                "each step keeps", lambda betas: torch.cumprod(betas, 0)),
        Mistake("this is ᾱ_{t−1}, one step late: with 0-indexed steps, ᾱ_0 = 1 − β_0 already includes the first step "
                "(the product runs over s ≤ t, not s < t)", lambda betas: _shift(torch.cumprod(1 - betas, 0))),
        Mistake("this is a sum of the α_s: the steps compose by multiplying the signal's scale, not by adding",
                lambda betas: torch.cumsum(1 - betas, 0)),
        Mistake("this is 1 − ᾱ_t, the noise's variance, not the signal's share",
                lambda betas: 1 - torch.cumprod(1 - betas, 0)),
    ),
)


def _q_sample_cases():
    g = _generator()
    x0, noise = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    t = torch.tensor([0, 1, 150, 500, 800, 999])
    images, image_noise = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    return [(x0, t, noise, SCHEDULE.alpha_bar), (images, torch.tensor([3, 400, 990]), image_noise, SCHEDULE.alpha_bar)]


def _rows(values: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """One value per example, shaped to broadcast over the rest of ``like`` (a batch of latents or of images)."""
    return values.reshape(-1, *[1] * ((like.ndim if like is not None else 2) - 1))


Q_SAMPLE = Exercise(
    "q_sample",
    lambda x0, t, noise, alpha_bar: SCHEDULE.q_sample(x0, t, noise),  # z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε
    _q_sample_cases,
    (
        Mistake("the clean latent is scaled by ᾱ_t where √ᾱ_t belongs (q(z_t | z_0) has mean √ᾱ_t z_0)",
                lambda x0, t, noise, ab: _rows(ab[t], x0) * x0 + _rows((1 - ab[t]).sqrt(), x0) * noise),
        Mistake("the noise is scaled by its variance 1 − ᾱ_t where its standard deviation √(1 − ᾱ_t) belongs",
                lambda x0, t, noise, ab: _rows(ab[t].sqrt(), x0) * x0 + _rows(1 - ab[t], x0) * noise),
        Mistake("ᾱ_{t−1} is used for ᾱ_t: the index is one step early (ᾱ[t], not ᾱ[t − 1])",
                lambda x0, t, noise, ab: _rows(_shift(ab)[t].sqrt(), x0) * x0
                + _rows((1 - _shift(ab)[t]).sqrt(), x0) * noise),
        Mistake("the noise is subtracted: z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε adds it (the sign matters once the same ε is "
                "the training target)",
                lambda x0, t, noise, ab: _rows(ab[t].sqrt(), x0) * x0 - _rows((1 - ab[t]).sqrt(), x0) * noise),
        Mistake("the two scales are swapped: the signal gets √(1 − ᾱ_t) and the noise √ᾱ_t",
                lambda x0, t, noise, ab: _rows((1 - ab[t]).sqrt(), x0) * x0 + _rows(ab[t].sqrt(), x0) * noise),
    ),
)



def _q_step_cases():
    g = _generator()
    x, noise = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    return [(x, torch.tensor([0, 10, 300, 700, 999]), noise, SCHEDULE.betas)]


Q_STEP = Exercise(
    "q_step",
    lambda x_prev, t, noise, betas: SCHEDULE.q_step(x_prev, t, noise),  # x_t = √(1 − β_t) x_{t−1} + √β_t ε
    _q_step_cases,
    (
        Mistake("the noise is scaled by its variance β_t where its standard deviation √β_t belongs",
                lambda x, t, noise, b: _rows((1 - b[t]).sqrt(), x) * x + _rows(b[t], x) * noise),
        Mistake("the signal is not shrunk: x_t = √(1 − β_t) x_{t−1} + √β_t ε keeps the variance at 1 only because the "
                "signal is scaled down as the noise comes in",
                lambda x, t, noise, b: x + _rows(b[t].sqrt(), x) * noise),
        Mistake("the signal is scaled by 1 − β_t where √(1 − β_t) belongs (its variance, not its scale)",
                lambda x, t, noise, b: _rows(1 - b[t], x) * x + _rows(b[t].sqrt(), x) * noise),
        Mistake("the two scales are swapped: the signal gets √β_t and the noise √(1 − β_t)",
                lambda x, t, noise, b: _rows(b[t].sqrt(), x) * x + _rows((1 - b[t]).sqrt(), x) * noise),
    ),
)


# --------------------------------------------------------------------------------------------------- chapter 4
def _guidance_cases():
    g = _generator()
    cond, uncond = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    return [(cond, uncond, 4.0), (cond, uncond, 2.5)]


GUIDANCE = Exercise(
    "guidance",
    lambda cond, uncond, w: uncond + w * (cond - uncond),  # f̃ = f(∅) + w (f(y) − f(∅)), as LatentModel.guided
    _guidance_cases,
    (
        Mistake("the weights are swapped: (1 − w)·cond + w·uncond pushes away from the class; the mix is "
                "uncond + w·(cond − uncond) = w·cond + (1 − w)·uncond",
                lambda cond, uncond, w: (1 - w) * cond + w * uncond),
        Mistake("the step starts from the conditional prediction: cond + w·(cond − uncond) is guidance w + 1; "
                "start from the unconditional one",
                lambda cond, uncond, w: cond + w * (cond - uncond)),
        Mistake("only the conditional prediction is scaled (w·cond): the unconditional one must enter, with weight "
                "1 − w", lambda cond, uncond, w: w * cond),
    ),
)


def _ddim_cases():
    g = _generator()
    z0_hat, eps = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    ab = SCHEDULE.alpha_bar
    return [(z0_hat, eps, ab[700], ab[600]), (z0_hat, eps, ab[300], ab[100])]


DDIM_STEP = Exercise(
    "ddim_step",
    lambda z0_hat, eps, a_t, a_next: ddim_step(z0_hat, eps, a_t, a_next),  # √ᾱ' ẑ_0 + √(1 − ᾱ') ε̂
    _ddim_cases,
    (
        Mistake("ẑ_0 is scaled by ᾱ' where √ᾱ' belongs (and ε̂ by 1 − ᾱ' where √(1 − ᾱ') does)",
                lambda z0, eps, a_t, a_next: a_next * z0 + (1 - a_next) * eps),
        Mistake("ẑ_0 and ε̂ are re-noised to the current level ᾱ_t: a DDIM step moves them to the next, smaller "
                "noise level ᾱ' = ᾱ_{t_next}", lambda z0, eps, a_t, a_next: a_t.sqrt() * z0 + (1 - a_t).sqrt() * eps),
        Mistake("the step jumps straight to the clean estimate ẑ_0: that is only the last step; before it, ẑ_0 is "
                "re-noised with ε̂ to the next level", lambda z0, eps, a_t, a_next: z0.clone()),
        Mistake("the noise keeps the current level √(1 − ᾱ_t) while the signal moves to √ᾱ': both use the next "
                "level", lambda z0, eps, a_t, a_next: a_next.sqrt() * z0 + (1 - a_t).sqrt() * eps),
    ),
)

# --------------------------------------------------------------------------------------------------- chapter 3
def _embedding_cases():
    # small t: a mistake with growing frequencies reaches angles of thousands, where float32 and float64 sines part
    # ways; within these the comparison stays meaningful at the tolerance below
    return [(torch.tensor([0, 1, 2, 3, 5]), 8), (torch.tensor([0, 1]), 16)]


def _sinusoids(t: torch.Tensor, dim: int, exponent_sign: float = -1.0, divisor: int | None = None,
               cos_first: bool = False) -> torch.Tensor:
    half = dim // 2
    omega = torch.exp(exponent_sign * math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / (divisor or half))
    angles = t.float()[:, None] * omega[None, :]
    parts = [torch.cos(angles), torch.sin(angles)] if cos_first else [torch.sin(angles), torch.cos(angles)]
    return torch.cat(parts, dim=1)


EMBEDDING = Exercise(
    "sinusoidal_embedding",
    sinusoidal_embedding,  # [sin(t ω_i), cos(t ω_i)], ω_i = 10000^(−i/(d/2))
    _embedding_cases,
    (
        Mistake("the frequencies grow, ω_i = 10000^(+i/(d/2)): they must fall from 1 to about 1/10000, so that slow "
                "sinusoids tell far-apart timesteps apart", lambda t, dim: _sinusoids(t, dim, exponent_sign=1.0)),
        Mistake("the exponent is divided by d, not d/2: the slowest frequency is then 10000^(−1/2) = 1/100, and the "
                "embedding misses the slow end", lambda t, dim: _sinusoids(t, dim, divisor=dim)),
        Mistake("the cosines come first: the package (and its checkpoints) put the sines in the first half",
                lambda t, dim: _sinusoids(t, dim, cos_first=True)),
    ),
    atol=1e-3,
)


def _v_cases():
    g = _generator()
    z0, eps = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    return [(z0, eps, torch.tensor([0, 200, 500, 800, 999]), SCHEDULE.alpha_bar)]


V_TARGET = Exercise(
    "v_target",
    lambda z0, eps, t, ab: SCHEDULE.velocity(z0, t, eps),  # v = √ᾱ_t ε − √(1 − ᾱ_t) z_0
    _v_cases,
    (
        Mistake("the sign is flipped: v = √ᾱ_t ε − √(1 − ᾱ_t) z_0, so at t ≈ T − 1 (ᾱ ≈ 0) v ≈ −z_0",
                lambda z0, eps, t, ab: _rows((1 - ab[t]).sqrt()) * z0 - _rows(ab[t].sqrt()) * eps),
        Mistake("z_0 and ε trade places: ε goes with √ᾱ_t and z_0 with √(1 − ᾱ_t)",
                lambda z0, eps, t, ab: _rows(ab[t].sqrt()) * z0 - _rows((1 - ab[t]).sqrt()) * eps),
        Mistake("this is the ε-target, the noise itself: v mixes the noise and the clean latent",
                lambda z0, eps, t, ab: eps.clone()),
    ),
)


# --------------------------------------------------------------------------------------------------- chapter 6
def _flow_target_cases():
    g = _generator()
    return [(torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g))]


FLOW_TARGET = Exercise(
    "flow_target",
    lambda z0, noise: noise - z0,  # d/dt [(1 − t) z_0 + t ε] = ε − z_0
    _flow_target_cases,
    (
        Mistake("the velocity points the wrong way: z_t = (1 − t) z_0 + t ε moves towards the noise as t grows, so "
                "dz/dt = ε − z_0", lambda z0, noise: z0 - noise),
        Mistake("this is the noise alone: the straight path's velocity is the difference ε − z_0",
                lambda z0, noise: noise.clone()),
    ),
)


def _step_cases():
    g = _generator()
    z, v, v_next = (torch.randn(4, 8, generator=g) for _ in range(3))
    return [(z, v, v_next, 1.0, 0.75), (z, v, v_next, 0.5, 0.25)]


EULER_STEP = Exercise(
    "euler_step",
    lambda z, v, v_next, t, t_next: euler_step(z, v, t, t_next),  # z + (t_next − t) v
    _step_cases,
    (
        Mistake("the step goes the wrong way: sampling runs from t = 1 to 0, so h = t_next − t is negative",
                lambda z, v, v_next, t, t_next: z + (t - t_next) * v),
        Mistake("the step is scaled by t, not by the step size t_next − t",
                lambda z, v, v_next, t, t_next: z - t * v),
        Mistake("the velocity at the end point is used: Euler's step uses the velocity where it starts",
                lambda z, v, v_next, t, t_next: z + (t_next - t) * v_next),
    ),
)

HEUN_STEP = Exercise(
    "heun_step",
    lambda z, v, v_next, t, t_next: heun_step(z, v, v_next, t, t_next),  # z + h (v + v') / 2
    _step_cases,
    (
        Mistake("the two velocities are added, not averaged: Heun moves by h (v + v') / 2",
                lambda z, v, v_next, t, t_next: z + (t_next - t) * (v + v_next)),
        Mistake("only the end point's velocity is used (an Euler step with v'): Heun averages it with the start's",
                lambda z, v, v_next, t, t_next: z + (t_next - t) * v_next),
        Mistake("this is Euler's step: the correction averages in the velocity at Euler's end point",
                lambda z, v, v_next, t, t_next: z + (t_next - t) * v),
    ),
)

EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    ALPHA_BAR, Q_SAMPLE, Q_STEP,  # chapter 2
    EMBEDDING, V_TARGET,  # chapter 3
    GUIDANCE, DDIM_STEP,  # chapter 4
    FLOW_TARGET, EULER_STEP, HEUN_STEP,  # chapter 6
)}
