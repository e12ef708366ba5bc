"""The exercises of the chapters, each with the mistakes a learner is likely to make (written as the mathematics they
amount to). Chapter 2: ᾱ from β and the forward jump q(z_t | z_0); chapter 4: the guidance mix and a DDIM step."""

from __future__ import annotations

import torch

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
    return [(x0, t, noise, SCHEDULE.alpha_bar)]


def _rows(values: torch.Tensor) -> torch.Tensor:
    return values[:, None]


Q_SAMPLE = Exercise(
    "q_sample",
    lambda x0, t, noise, alpha_bar: SCHEDULE.q_sample(x0, t, noise),  # z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε
    _q_sample_cases,
    (
        Mistake("the clean latent is scaled by ᾱ_t where √ᾱ_t belongs (q(z_t | z_0) has mean √ᾱ_t z_0)",
                lambda x0, t, noise, ab: _rows(ab[t]) * x0 + _rows((1 - ab[t]).sqrt()) * noise),
        Mistake("the noise is scaled by its variance 1 − ᾱ_t where its standard deviation √(1 − ᾱ_t) belongs",
                lambda x0, t, noise, ab: _rows(ab[t].sqrt()) * x0 + _rows(1 - ab[t]) * noise),
        Mistake("ᾱ_{t−1} is used for ᾱ_t: the index is one step early (ᾱ[t], not ᾱ[t − 1])",
                lambda x0, t, noise, ab: _rows(_shift(ab)[t].sqrt()) * x0 + _rows((1 - _shift(ab)[t]).sqrt()) * noise),
        Mistake("the noise is subtracted: z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε adds it (the sign matters once the same ε is "
                "the training target)",
                lambda x0, t, noise, ab: _rows(ab[t].sqrt()) * x0 - _rows((1 - ab[t]).sqrt()) * noise),
        Mistake("the two scales are swapped: the signal gets √(1 − ᾱ_t) and the noise √ᾱ_t",
                lambda x0, t, noise, ab: _rows((1 - ab[t]).sqrt()) * x0 + _rows(ab[t].sqrt()) * noise),
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

EXERCISES: dict[str, Exercise] = {e.name: e for e in (ALPHA_BAR, Q_SAMPLE, GUIDANCE, DDIM_STEP)}
