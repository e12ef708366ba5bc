"""The exercises of the chapters, each with the mistakes a learner is likely to make (written as the mathematics they
amount to). Chapter 1: channel attention's gates, PSNR, standardising latents; chapter 2: one forward step, ᾱ from β
and the jump q(z_t | z_0); chapter 3: the sinusoidal embedding, a scale-and-shift block, token attention, the
v-target, one training step's loss, the training loop; chapter 4: a DDPM step, a DDIM step, the guidance mix, the
guided DDIM loop; chapter 5: FID, KID, precision and recall; chapter 6: the flow matching loss, an Euler and a Heun
step; chapter 7: the score from ε̂, a Gaussian's exact ODE end point, EDM's σ grid and Heun step, a Langevin step."""

from __future__ import annotations

import math

import scipy.linalg
import torch

from ..blocks import ChannelAttention
from ..denoisers import ConditionedResidualBlock, TokenSelfAttention
from ..embeddings import sinusoidal_embedding
from ..flow import euler_step, heun_step, straight_path
from ..metrics import frechet_distance, kernel_distance, precision_recall, psnr
from ..normalizer import LatentNormalizer
from ..samplers import ddim_step, ddpm_step, karras_sigmas
from ..samplers import heun_step as edm_heun_step
from ..schedule import NoiseSchedule, cosine_betas
from ..sde import gaussian_ode_endpoint, langevin_step, score_from_eps
from .base import Exercise, Mistake

SCHEDULE = NoiseSchedule("cosine", 1000)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(20)


class _ToyDenoiser(torch.nn.Module):
    """A fixed stand-in for the network: its output depends on z_t, t and (strongly) on the class, the null class 10
    included, so that every way of getting the loss wrong changes the number."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        g = _generator()
        self.classes = torch.randn(11, dim, generator=g)
        self.mix = torch.randn(dim, dim, generator=g) / dim**0.5

    def forward(self, z, t, y):
        return z @ self.mix + (t.float()[:, None] / 1000) + self.classes[y]


# --------------------------------------------------------------------------------------------------- chapter 1
def _gates_cases():
    g = _generator()
    h = torch.randn(3, 16, 4, 4, generator=g) + torch.linspace(-1, 1, 16)[None, :, None, None]
    w1, b1 = torch.randn(4, 16, generator=g) / 2, torch.randn(4, generator=g)
    w2, b2 = torch.randn(16, 4, generator=g), torch.randn(16, generator=g)
    return [(h, w1, b1, w2, b2)]


def _package_gates(h, w1, b1, w2, b2):
    """The package's block with these weights (W_1, b_1 are excite[0]; W_2, b_2 excite[2])."""
    block = ChannelAttention(h.shape[1], reduction=h.shape[1] // w1.shape[0])
    with torch.no_grad():
        for layer, (w, b) in zip((block.excite[0], block.excite[2]), ((w1, b1), (w2, b2)), strict=True):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
        return block.channel_weights(h)


def _gates(h, w1, b1, w2, b2, squeeze=lambda h: h.mean(dim=(2, 3)), act=torch.nn.functional.silu, gate=torch.sigmoid):
    return gate(act(squeeze(h) @ w1.T + b1) @ w2.T + b2)


CHANNEL_GATES = Exercise(
    "channel_gates",
    _package_gates,  # g = σ(W_2 SiLU(W_1 h̄ + b_1) + b_2), h̄_c = mean over the pixels of channel c
    _gates_cases,
    (
        Mistake("the squeeze takes each channel's maximum: squeeze-and-excitation averages each channel over its "
                "pixels, h̄_c = (1/HW) Σ_ij h_c,ij", lambda *a: _gates(*a, squeeze=lambda h: h.amax(dim=(2, 3)))),
        Mistake("the biases b_1 and b_2 are missing: each linear layer is W h + b",
                lambda h, w1, b1, w2, b2: _gates(h, w1, 0 * b1, w2, 0 * b2)),
        Mistake("the hidden layer uses ReLU: the package's block (and its trained weights) use SiLU, which lets small "
                "negative values through", lambda *a: _gates(*a, act=torch.relu)),
        Mistake("the gates have no sigmoid: g must lie in (0, 1), a share of each channel to keep",
                lambda *a: _gates(*a, gate=lambda x: x)),
        Mistake("the gates are a softmax over the channels: each gate is its own sigmoid in (0, 1), and the gates "
                "need not sum to 1", lambda *a: _gates(*a, gate=lambda x: torch.softmax(x, dim=1))),
    ),
)


def _psnr_cases():
    g = _generator()
    images = torch.rand(4, 1, 6, 6, generator=g)
    scale = torch.tensor([0.02, 0.05, 0.1, 0.2])[:, None, None, None]  # images reconstructed unequally well
    return [(images + scale * torch.randn(4, 1, 6, 6, generator=g), images)]


def _mse(recon, images):
    return ((recon - images) ** 2).mean()


PSNR = Exercise(
    "psnr",
    lambda recon, images: torch.tensor(psnr(_mse(recon, images).item())),  # 10 log10(1 / MSE), MSE pooled
    _psnr_cases,
    (
        Mistake("this is 20 log10(1 / MSE): the 20 belongs with the root of the MSE (20 log10(1/RMSE) = "
                "10 log10(1/MSE)), not with the MSE itself", lambda r, x: 20 * torch.log10(1 / _mse(r, x))),
        Mistake("the logarithm is natural: decibels use log10", lambda r, x: 10 * torch.log(1 / _mse(r, x))),
        Mistake("the sign is flipped: PSNR = 10 log10(peak² / MSE) grows as the error shrinks",
                lambda r, x: 10 * torch.log10(_mse(r, x))),
        Mistake("this is the mean of per-image PSNRs: the chapter's convention (and the README's target) pools the "
                "MSE over all images first, then takes one logarithm",
                lambda r, x: (10 * torch.log10(1 / ((r - x) ** 2).mean(dim=(1, 2, 3)))).mean()),
    ),
    rtol=1e-5,
)


def _standardise_cases():
    g = _generator()
    scales, offsets = torch.linspace(0.5, 6, 5), torch.linspace(-3, 3, 5)
    train = torch.randn(40, 5, generator=g) * scales + offsets
    return [(torch.randn(7, 5, generator=g) * scales + offsets + 0.5, train)]


STANDARDISE = Exercise(
    "standardise",
    lambda z, train: (z - train.mean(0)) / train.std(0),  # z̃ = (z − m)/s, m and s per coordinate, training set
    _standardise_cases,
    (
        Mistake("the statistics are one number for all coordinates: m and s are per coordinate (dim 0, over the "
                "training latents), so that every coordinate gets unit variance",
                lambda z, train: (z - train.mean()) / train.std()),
        Mistake("the statistics are taken per example (over dim 1): they must be per coordinate, over the examples "
                "(dim 0)", lambda z, train: (z - train.mean(1).mean()) / train.std(1).mean()),
        Mistake("the statistics come from the latents being standardised, not from the training latents: the "
                "normaliser is fitted once, on the training set, and applied unchanged to every later latent",
                lambda z, train: (z - z.mean(0)) / z.std(0)),
        Mistake("z − m is divided by the variance s² where the standard deviation s belongs",
                lambda z, train: (z - train.mean(0)) / train.var(0)),
        Mistake("the standard deviation is the biased one (dividing by N): the package uses torch's default, "
                "dividing by N − 1 (with 55,000 training latents the two agree to 10⁻⁵; on these 40 they do not)",
                lambda z, train: (z - train.mean(0)) / train.std(0, correction=0)),
    ),
)


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
    tables={"alpha_bar": (3, SCHEDULE.alpha_bar)},
)



def _q_step_cases():
    g = _generator()
    x, noise = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    images, image_noise = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    return [(x, torch.tensor([0, 10, 300, 700, 999]), noise, SCHEDULE.betas),
            (images, torch.tensor([1, 500, 998]), image_noise, SCHEDULE.betas)]


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
        Mistake("β_{t−1} is used for β_t: the index is one step early (betas[t], not betas[t − 1])",
                lambda x, t, noise, b: _rows((1 - b[t - 1]).sqrt(), x) * x + _rows(b[t - 1].sqrt(), x) * noise),
        Mistake("the two scales are swapped: the signal gets √β_t and the noise √(1 − β_t)",
                lambda x, t, noise, b: _rows(b[t].sqrt(), x) * x + _rows((1 - b[t]).sqrt(), x) * noise),
    ),
    tables={"betas": (3, SCHEDULE.betas)},
)


def _train_cases():
    g = _generator()
    latents, labels = torch.randn(48, 8, generator=g), torch.randint(0, 10, (48,), generator=g)
    model = torch.nn.Linear(8, 8)
    with torch.no_grad():
        model.weight.copy_(torch.randn(8, 8, generator=g) / 3)
        model.bias.copy_(torch.randn(8, generator=g))
    targets = torch.randn(10, 8, generator=g)

    def loss_of_batch(model, z, y, generator):  # a stand-in for the v-loss: it draws noise from the generator too
        noise = torch.randn(z.shape, generator=generator)
        return ((model(z + 0.1 * noise) - targets[y]) ** 2).mean()

    return [(model, latents, labels, loss_of_batch, 6, 16, torch.Generator().manual_seed(3), 0.05)]


def _train(model, latents, labels, loss_of_batch, steps, batch_size, generator, lr, zero_grad=True, update=True,
           same_batch=False, backward_first=True, weight_decay=0.0, fresh_optimizer=False):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in range(steps):
        if fresh_optimizer:
            opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        idx = (torch.arange(batch_size) if same_batch else
               torch.randint(0, len(latents), (batch_size,), generator=generator))
        loss = loss_of_batch(model, latents[idx], labels[idx], generator)
        if not backward_first:  # step (the previous batch's gradients), zero them, then this batch's backward
            opt.step()
            opt.zero_grad()
            loss.backward()
            losses.append(loss.item())
            continue
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        if update:
            opt.step()
        losses.append(loss.item())
    return torch.tensor(losses)


TRAIN_STEPS = Exercise(
    "train_steps",
    _train,  # per step: a batch drawn with the generator, its loss, zero_grad, backward, an AdamW step (no decay)
    _train_cases,
    (
        Mistake("the gradients are never zeroed: backward() adds to .grad, so every step applies the sum of all the "
                "gradients so far (call optimizer.zero_grad() before loss.backward())",
                lambda *a: _train(*a, zero_grad=False)),
        Mistake("the weights never change: after loss.backward() the optimizer must take its step (optimizer.step())",
                lambda *a: _train(*a, update=False)),
        Mistake("every step sees the same first batch: draw the batch's indices anew each step, "
                "torch.randint(0, N, (batch_size,), generator=generator)", lambda *a: _train(*a, same_batch=True)),
        Mistake("optimizer.step() comes before loss.backward(): each step applies the previous batch's gradients "
                "(and with zero_grad() between them, none at all: see the weights never change)",
                lambda *a: _train(*a, backward_first=False)),
        Mistake("the weights decay: AdamW's default weight_decay is 0.01, and the recipe (the full profile) trains "
                "with weight_decay=0.0", lambda *a: _train(*a, weight_decay=0.01)),
        Mistake("a new optimizer every step: AdamW's running averages of the gradients then restart each time; make "
                "it once, before the loop", lambda *a: _train(*a, fresh_optimizer=True)),
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

def _ddpm_cases():
    # float64 tables: near t = 0, 1 − ᾱ_t ≈ 4·10⁻⁵ and float32 would cancel away three digits of the coefficients
    # (the package computes its tables in float64 too)
    g = _generator()
    z_t, z0_hat, xi = (torch.randn(4, 8, generator=g, dtype=torch.float64) for _ in range(3))
    betas = cosine_betas(SCHEDULE.num_steps).double()
    return [(z_t, z0_hat, t, xi, betas, torch.cumprod(1 - betas, 0)) for t in (700, 150, 1, 0)]


def _ddpm(z_t, z0_hat, t, xi, betas, ab, prev=lambda ab, t: ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=ab.dtype),
          variance="posterior", spread=torch.sqrt, noise_at_0=False):
    a_t, a_prev, beta = ab[t], prev(ab, t), betas[t]
    mean = beta * a_prev.sqrt() / (1 - a_t) * z0_hat + (1 - a_prev) * (1 - beta).sqrt() / (1 - a_t) * z_t
    var = beta * (1 - a_prev) / (1 - a_t) if variance == "posterior" else beta
    return mean if t == 0 and not noise_at_0 else mean + spread(var) * xi


DDPM_STEP = Exercise(
    "ddpm_step",
    lambda z_t, z0_hat, t, xi, betas, ab: ddpm_step(SCHEDULE, z_t, z0_hat, t, xi if t > 0 else None),
    _ddpm_cases,
    (
        Mistake("the last step (t = 0) adds noise: z_{−1} is the sample itself, the posterior's mean with no noise "
                "(β̃_0 = 0 there anyway in exact arithmetic, but not in the package's rounding, and not with σ² = β_t)",
                lambda *a: _ddpm(*a, variance="beta", noise_at_0=True)),
        Mistake("the noise has variance β_t: a valid choice (Ho et al. found both work), but the package samples the "
                "posterior's own variance β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)", lambda *a: _ddpm(*a, variance="beta")),
        Mistake("the noise is scaled by the variance β̃_t where its standard deviation √β̃_t belongs",
                lambda *a: _ddpm(*a, spread=lambda v: v)),
        Mistake("ᾱ_t is used where ᾱ_{t−1} belongs in the posterior's coefficients: the step goes from t to t − 1",
                lambda *a: _ddpm(*a, prev=lambda ab, t: ab[t])),
        Mistake("at t = 0, alpha_bar[t − 1] is alpha_bar[−1], Python's last element ᾱ_999, where ᾱ_{−1} = 1 belongs "
                "(the clean data: guard t = 0)", lambda *a: _ddpm(*a, prev=lambda ab, t: ab[t - 1])),
    ),
    tables={"betas": (4, SCHEDULE.betas), "alpha_bar": (5, SCHEDULE.alpha_bar)},
)


def _ddim_loop_cases():
    g = _generator()
    z, y = torch.randn(3, 8, generator=g), torch.tensor([1, 4, 7])
    taus = torch.linspace(999, 0, 8).round().long().tolist()
    edges = [999, 699, 450, 200, 0]  # a grid on the interval's ends: guidance applies at both, lo ≤ t ≤ hi
    return [(_ToyDenoiser(), z, y, taus, SCHEDULE.alpha_bar, 3.0, (200, 699)),
            (_ToyDenoiser(), z, y, edges, SCHEDULE.alpha_bar, 2.0, (200, 699))]


def _ddim_loop(denoiser, z, y, taus, ab, w, interval, final=True, everywhere=False, mix=None, swap=False,
               strict=False, next_level=None):
    lo, hi = interval
    steps = len(taus) if final else len(taus) - 1
    for i in range(steps):
        t = taus[i]
        t_batch = torch.full((len(z),), t)
        inside = lo < t < hi if strict else lo <= t <= hi
        w_t = w if everywhere or inside else 1.0
        v_cond, v_uncond = denoiser(z, t_batch, y), denoiser(z, t_batch, torch.full_like(y, 10))
        v = mix(v_cond, v_uncond, w_t) if mix else v_uncond + w_t * (v_cond - v_uncond)
        a, sigma = ab[t].sqrt(), (1 - ab[t]).sqrt()
        eps, z0 = (a * z - sigma * v, sigma * z + a * v) if swap else (sigma * z + a * v, a * z - sigma * v)
        a_next = ab[taus[i + 1]] if i + 1 < len(taus) else torch.tensor(1.0)
        if next_level:
            a_next = next_level(ab, t)
        z = ddim_step(z0, eps, ab[t], a_next)
    return z


DDIM_LOOP = Exercise(
    "ddim_loop",
    _ddim_loop,  # for t_i in the grid: guided v̂ → ε̂, ẑ_0 → z_{t_{i+1}} = √ᾱ' ẑ_0 + √(1 − ᾱ') ε̂, ᾱ' = 1 after the last
    _ddim_loop_cases,
    (
        Mistake("the grid ends one step early: after the last timestep (t = 0) one more step moves to ᾱ' = 1, the "
                "clean estimate ẑ_0; without it the sample keeps the noise of t = 0",
                lambda *a: _ddim_loop(*a, final=False)),
        Mistake("guidance is applied at every step: w applies only on its interval lo ≤ t ≤ hi, and w = 1 (the "
                "conditional prediction alone) outside it", lambda *a: _ddim_loop(*a, everywhere=True)),
        Mistake("the guidance mix is swapped, (1 − w)·cond + w·uncond: it is uncond + w·(cond − uncond)",
                lambda *a: _ddim_loop(*a, mix=lambda c, u, w: (1 - w) * c + w * u)),
        Mistake("the guidance is missing: where lo ≤ t ≤ hi the step uses uncond + w·(cond − uncond), not the "
                "conditional prediction alone", lambda *a: _ddim_loop(*a[:5], 1.0, a[6])),
        Mistake("the interval leaves out its ends: guidance applies for lo ≤ t ≤ hi, both included",
                lambda *a: _ddim_loop(*a, strict=True)),
        Mistake("each step goes to ᾱ_{t−1}, one timestep down: DDIM jumps to the next timestep of the grid, "
                "ᾱ' = ᾱ_{t_{i+1}} (and to ᾱ' = 1 after the last)",
                lambda *a: _ddim_loop(*a, next_level=lambda ab, t: ab[t - 1] if t > 0 else torch.tensor(1.0))),
        Mistake("ε̂ and ẑ_0 are swapped: from v̂, ε̂ = σ_t z_t + √ᾱ_t v̂ and ẑ_0 = √ᾱ_t z_t − σ_t v̂",
                lambda *a: _ddim_loop(*a, swap=True)),
    ),
)


# --------------------------------------------------------------------------------------------------- chapter 3
def _embedding_cases():
    # small t: a mistake with growing frequencies reaches angles of thousands, where float32 and float64 sines part
    # ways; within these the comparison stays meaningful at the tolerance below
    return [(torch.tensor([0, 1, 2, 3, 5]), 8), (torch.tensor([0, 1]), 16)]


def _sinusoids(t: torch.Tensor, dim: int, exponent_sign: float = -1.0, divisor: int | None = None,
               cos_first: bool = False, interleave: bool = False) -> torch.Tensor:
    half = dim // 2
    omega = torch.exp(exponent_sign * math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / (divisor or half))
    angles = t.float()[:, None] * omega[None, :]
    if interleave:  # sin ω_0, cos ω_0, sin ω_1, …
        return torch.stack([torch.sin(angles), torch.cos(angles)], dim=2).flatten(1)
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
        Mistake("sines and cosines alternate (the Transformer paper's layout): the package puts all the sines first, "
                "then all the cosines", lambda t, dim: _sinusoids(t, dim, interleave=True)),
        Mistake("the exponent is divided by d/2 − 1 (as in some DDPM code), which makes the slowest frequency exactly "
                "1/10000: the package's ω_i = 10000^(−i/(d/2)) stops just short of it",
                lambda t, dim: _sinusoids(t, dim, divisor=dim // 2 - 1)),
    ),
    atol=1e-3,
)


def _randomised(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with every parameter drawn at random (the zero-initialised output layers included, which would
    otherwise hide every mistake behind them)."""
    g = _generator()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g) * 0.5)
    return module


def _film_cases():
    g = _generator()
    block = _randomised(ConditionedResidualBlock(8, 8, 6))
    return [(torch.randn(4, 8, generator=g) * 2 + 1, torch.randn(4, 6, generator=g), block)]


def _film(h_in, e, block, one=1.0, swap=False, mid_norm=True, skip=True, act_out=True):
    ln_in = torch.nn.functional.layer_norm(h_in, (h_in.shape[1],), block.norm_in.weight, block.norm_in.bias)
    h = block.linear_in(torch.nn.functional.silu(ln_in))
    a, b = block.scale_shift(e).chunk(2, dim=1)
    if swap:
        a, b = b, a
    h = (torch.nn.functional.layer_norm(h, (h.shape[1],)) if mid_norm else h) * (one + a) + b
    out = block.linear_out(torch.nn.functional.silu(h) if act_out else h)
    return h_in + out if skip else out


FILM_BLOCK = Exercise(
    "film_block",
    lambda h_in, e, block: block(h_in, e),  # W_skip h_in + W_2 SiLU(LN(h)(1 + a(e)) + b(e)), h = W_1 SiLU(LN(h_in))
    _film_cases,
    (
        Mistake("the scale is a(e), not 1 + a(e): the block starts near the identity scale, and a(e) only adjusts it",
                lambda *a: _film(*a, one=0.0)),
        Mistake("a(e) and b(e) are swapped: scale_shift(e).chunk(2, dim=1) gives the scale's a first, the shift's b "
                "second", lambda *a: _film(*a, swap=True)),
        Mistake("h is not normalised before the scale and shift: LN(h)(1 + a(e)) + b(e)",
                lambda *a: _film(*a, mid_norm=False)),
        Mistake("the skip path is missing: h_out = W_skip h_in + W_2 SiLU(…), with W_skip the identity here",
                lambda *a: _film(*a, skip=False)),
        Mistake("the SiLU before W_2 is missing: h_out = h_in + W_2 SiLU(LN(h)(1 + a(e)) + b(e))",
                lambda *a: _film(*a, act_out=False)),
    ),
)


def _attention_cases():
    g = _generator()
    att = _randomised(TokenSelfAttention(32, 4, 1))
    return [(torch.randn(3, 32, generator=g) * 2, att)]


def _attention(h, att, scaled=True, axis=-1, residual=True, position_after=False):
    n, tokens = h.shape[0], att.tokens
    x = h.reshape(n, tokens, -1)
    d = x.shape[-1]
    if position_after:
        x = torch.nn.functional.layer_norm(x, (d,), att.norm.weight, att.norm.bias) + att.position
    else:
        x = torch.nn.functional.layer_norm(x + att.position, (d,), att.norm.weight, att.norm.bias)
    q, k, v = att.qkv(x).chunk(3, dim=-1)
    weights = torch.softmax(q @ k.transpose(-1, -2) / (d**0.5 if scaled else 1.0), dim=axis)
    out = att.out(weights @ v).reshape(h.shape)
    return h + out if residual else out


ATTENTION = Exercise(
    "attention",
    lambda h, att: att(h),  # h + reshape(softmax(QKᵀ/√d) V W_o), Q, K, V from H̃ = LN(reshape(h) + P)
    _attention_cases,
    (
        Mistake("the scores are not divided by √d: softmax(QKᵀ/√d) keeps them of order 1 whatever the token size",
                lambda *a: _attention(*a, scaled=False)),
        Mistake("the softmax runs over the wrong axis: row i (a query) must sum to 1 over the keys j, dim=-1",
                lambda *a: _attention(*a, axis=-2)),
        Mistake("the residual is missing: h' = h + reshape(…)", lambda *a: _attention(*a, residual=False)),
        Mistake("the positions are added after the normalisation: H̃ = LN(reshape(h) + P)",
                lambda *a: _attention(*a, position_after=True)),
    ),
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
        Mistake("z_0 is scaled by 1 − ᾱ_t, the noise's variance, where its standard deviation √(1 − ᾱ_t) belongs",
                lambda z0, eps, t, ab: _rows(ab[t].sqrt()) * eps - _rows(1 - ab[t]) * z0),
        Mistake("this is the ε-target, the noise itself: v mixes the noise and the clean latent",
                lambda z0, eps, t, ab: eps.clone()),
    ),
    tables={"alpha_bar": (3, SCHEDULE.alpha_bar)},
)


def _loss_cases():
    g = _generator()
    z_raw = torch.randn(64, 8, generator=g) * 4 + 2  # raw latents: far from unit scale
    y = torch.randint(0, 10, (64,), generator=g)
    m, std = z_raw.mean(0), z_raw.std(0)
    return [(_ToyDenoiser(), z_raw, y, m, std, SCHEDULE.alpha_bar, torch.Generator().manual_seed(7), 0.25)]


def _loss(denoiser, z_raw, y, m, std, ab, generator, p_uncond, order=("t", "eps", "drop"), t_low=0,
          keep_prob=False, standardise=True, target="v"):
    n, draws = z_raw.shape[0], {}
    for what in order:
        if what == "t":
            draws["t"] = torch.randint(t_low, len(ab), (n,), generator=generator)
        elif what == "eps":
            draws["eps"] = torch.randn(z_raw.shape, generator=generator)
        else:
            u = torch.rand(n, generator=generator)
            draws["drop"] = u >= p_uncond if keep_prob else u < p_uncond
    t, eps, drop = draws["t"], draws["eps"], draws.get("drop", torch.zeros(n, dtype=torch.bool))
    z0 = (z_raw - m) / std if standardise else z_raw
    a, sigma = _rows(ab[t].sqrt()), _rows((1 - ab[t]).sqrt())
    goal = a * eps - sigma * z0 if target == "v" else eps
    return ((denoiser(a * z0 + sigma * eps, t, torch.where(drop, 10, y)) - goal) ** 2).mean()


def _package_loss(denoiser, z_raw, y, m, std, ab, generator, p_uncond):
    """The package's loss (LatentDiffusion.loss_at, v-prediction) with the package's draws: t, then ε, then the
    dropped labels."""
    n = z_raw.shape[0]
    t = torch.randint(0, len(ab), (n,), generator=generator)
    eps = torch.randn(z_raw.shape, generator=generator)
    drop = torch.rand(n, generator=generator) < p_uncond
    normalizer = LatentNormalizer(z_raw.shape[1])
    normalizer.mean.copy_(m)
    normalizer.std.copy_(std)
    z0 = normalizer.normalize(z_raw)
    y_prime = torch.where(drop, torch.full_like(y, 10), y)
    return torch.nn.functional.mse_loss(denoiser(SCHEDULE.q_sample(z0, t, eps), t, y_prime),
                                        SCHEDULE.velocity(z0, t, eps))


TRAINING_LOSS = Exercise(
    "training_loss",
    _package_loss,  # ‖v − f_θ(z_t, t, y')‖², t ~ U{0..T−1}, ε ~ N(0, I), y' = ∅ with probability p_uncond
    _loss_cases,
    (
        Mistake("the labels are never dropped: with probability p_uncond each label must become the null class (10), "
                "or the model never learns the unconditional prediction that guidance needs",
                lambda *a: _loss(*a[:6], a[6], 0.0)),
        Mistake("labels are dropped with probability 1 − p_uncond: `rand < p_uncond` marks the dropped ones",
                lambda *a: _loss(*a, keep_prob=True)),
        Mistake("the latents are not standardised: z̃_0 = (z_0 − m)/s first, so that the schedule's noise levels mean "
                "what they say", lambda *a: _loss(*a, standardise=False)),
        Mistake("this regresses the ε-target: the shipped model predicts v = √ᾱ_t ε − √(1 − ᾱ_t) z̃_0",
                lambda *a: _loss(*a, target="eps")),
        Mistake("t is drawn from 1 … T − 1: with 0-indexed steps t ~ U{0, …, T − 1} (torch.randint(0, T, ...))",
                lambda *a: _loss(*a, t_low=1)),
        Mistake("the random draws come in another order: the package draws t, then ε, then the dropped labels (the "
                "same seed gives the same numbers only in the same order)",
                lambda *a: _loss(*a, order=("eps", "t", "drop"))),
    ),
    tables={"alpha_bar": (5, SCHEDULE.alpha_bar)},
)


# --------------------------------------------------------------------------------------------------- chapter 5
def _feature_pair(n_a: int = 60, n_b: int = 50, d: int = 6):
    """Two feature sets that differ in mean, scale and correlation (d < N, so both covariances have full rank)."""
    g = _generator()
    a = torch.randn(n_a, d, generator=g, dtype=torch.float64)
    mix = torch.eye(d, dtype=torch.float64) + 0.6 * torch.randn(d, d, generator=g, dtype=torch.float64)
    b = torch.randn(n_b, d, generator=g, dtype=torch.float64) @ mix * 1.3 + 0.4
    return a, b


def _fid(a, b, cov=lambda x: torch.cov(x.T), cross=2.0, mean_power=2, with_covariance=True, root_of_product=True):
    mean_term = ((a.mean(0) - b.mean(0)) ** 2).sum() ** (mean_power / 2)
    if not with_covariance:
        return mean_term
    ca, cb = cov(a), cov(b)
    if root_of_product:
        root = torch.from_numpy(scipy.linalg.sqrtm((ca @ cb).numpy()).real)
    else:
        root = torch.from_numpy(scipy.linalg.sqrtm(ca.numpy()).real @ scipy.linalg.sqrtm(cb.numpy()).real)
    return mean_term + torch.trace(ca + cb - cross * root)


FID = Exercise(
    "fid",
    lambda a, b: torch.tensor(frechet_distance(a, b), dtype=torch.float64),  # ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½)
    lambda: [_feature_pair(60, 60)],
    (
        Mistake("the covariances are N×N: torch.cov wants one variable per row, so the features' covariance is "
                "torch.cov(a.T) (d×d), as np.cov(a, rowvar=False)", lambda a, b: _fid(a, b, cov=torch.cov)),
        Mistake("the cross term lacks its factor 2: Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½), which is 0 for equal covariances",
                lambda a, b: _fid(a, b, cross=1.0)),
        Mistake("the distance between the means is not squared: FID adds ‖μ1 − μ2‖²",
                lambda a, b: _fid(a, b, mean_power=1)),
        Mistake("only the means are compared: FID adds the covariance term, which sees spread and shape",
                lambda a, b: _fid(a, b, with_covariance=False)),
        Mistake("the covariances are diagonal (per-feature variances): FID uses the full covariance matrices, "
                "correlations included", lambda a, b: _fid(a, b, cov=lambda x: torch.diag(x.var(0)))),
        Mistake("the covariances divide by N: the package's (np.cov, torch.cov) divide by N − 1",
                lambda a, b: _fid(a, b, cov=lambda x: torch.cov(x.T, correction=0))),
        Mistake("this is Σ1^½ Σ2^½, the product of two roots: FID needs (Σ1 Σ2)^½, the root of the product (they "
                "agree only when the covariances commute)", lambda a, b: _fid(a, b, root_of_product=False)),
    ),
    rtol=1e-6,
)


def _kid(a, b, scale=True, diagonal=False, cross=2.0, degree=3, cross_off_diagonal=False):
    d = a.shape[1]

    def kappa(x, y):
        return (x @ y.T / (d if scale else 1) + 1) ** degree

    def within_pairs(gram):
        n = len(gram)
        return (gram.sum() - gram.diagonal().sum()) / (n * (n - 1))

    def within(x):
        return kappa(x, x).mean() if diagonal else within_pairs(kappa(x, x))

    between = within_pairs(kappa(a, b)) if cross_off_diagonal else kappa(a, b).mean()
    return within(a) + within(b) - cross * between


KID = Exercise(
    "kid",
    lambda a, b: torch.tensor(kernel_distance(a, b, torch.Generator().manual_seed(0), subsets=1,
                                              subset_size=len(a))[0], dtype=torch.float64),
    lambda: [_feature_pair(40, 40)],
    (
        Mistake("the diagonal i = j is included: h(φ_i, φ_i) is no evidence of likeness, and leaving it out is what "
                "makes the estimate unbiased (sum over i ≠ j, divided by n(n − 1))",
                lambda a, b: _kid(a, b, diagonal=True)),
        Mistake("the kernel is not scaled by the feature dimension: h(φ, φ') = (φᵀφ'/d + 1)³",
                lambda a, b: _kid(a, b, scale=False)),
        Mistake("the cross term is not doubled: −2/n² Σ h(φ_i, φ'_j) counts both orders of the pair",
                lambda a, b: _kid(a, b, cross=1.0)),
        Mistake("the kernel is quadratic: KID's is the cubic (φᵀφ'/d + 1)³", lambda a, b: _kid(a, b, degree=2)),
        Mistake("the cross term leaves out i = j: also unbiased (Gretton's U-statistic), but KID, as the package and "
                "the paper compute it, averages the cross term over all n² pairs",
                lambda a, b: _kid(a, b, cross_off_diagonal=True)),
    ),
    rtol=1e-6,
)


def _coverage(queries, points, radii):
    return (torch.cdist(queries, points) <= radii[None, :]).any(dim=1).double().mean()


def _radii(x, k):
    return torch.cdist(x, x).sort(dim=1).values[:, k]


def _pr(real, generated, k, column=None, swap=False, own_radii=False):
    column = k if column is None else column
    r_real, r_gen = _radii(real, column), _radii(generated, column)
    if own_radii:  # each query set's radii on the other's points: mismatched balls
        precision = (torch.cdist(generated, real) <= _radii(generated, column)[:, None]).any(dim=1).double().mean()
        recall = (torch.cdist(real, generated) <= _radii(real, column)[:, None]).any(dim=1).double().mean()
    else:
        precision, recall = _coverage(generated, real, r_real), _coverage(real, generated, r_gen)
    return torch.stack([recall, precision] if swap else [precision, recall])


def _pr_cases():
    a, b = _feature_pair(50, 50, 4)
    return [(a, b, 3), (a, b[:30] * 0.8, 2)]


PRECISION_RECALL = Exercise(
    "precision_recall",
    lambda real, generated, k: torch.tensor(precision_recall(real, generated, k), dtype=torch.float64),
    _pr_cases,
    (
        Mistake("the radius reaches the (k − 1)-th neighbour: sorted distances start with the point itself (0), so "
                "the k-th neighbour is column k", lambda *a: _pr(*a, column=a[2] - 1)),
        Mistake("the radius reaches the (k + 1)-th neighbour: column 0 of the sorted distances is the point itself, so "
                "the k-th neighbour is column k, not k + 1", lambda *a: _pr(*a, column=a[2] + 1)),
        Mistake("precision and recall are swapped: precision is the share of *generated* points inside the real "
                "manifold", lambda *a: _pr(*a, swap=True)),
        Mistake("each query point carries its own radius: the balls belong to the reference set, B(r_j, radius of "
                "r_j), and a query counts when it falls inside any of them", lambda *a: _pr(*a, own_radii=True)),
    ),
)


# --------------------------------------------------------------------------------------------------- chapter 6
def _flow_loss_cases():
    g = _generator()
    z0, eps = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    t, y = torch.rand(16, generator=g), torch.randint(0, 10, (16,), generator=g)
    return [(_ToyDenoiser(), z0, y, t, eps)]


def _flow_loss(network, z0, y, t, eps, path=straight_path, target=lambda z0, eps: eps - z0, summed=False):
    squares = (network(path(z0, t, eps), t, y) - target(z0, eps)) ** 2
    return squares.sum(dim=1).mean() if summed else squares.mean()


FLOW_LOSS = Exercise(
    "flow_loss",
    lambda network, z0, y, t, eps: torch.nn.functional.mse_loss(network(straight_path(z0, t, eps), t, y), eps - z0),
    _flow_loss_cases,
    (
        Mistake("the target points the wrong way: along z_t = (1 − t) z_0 + t ε the velocity is dz/dt = ε − z_0",
                lambda *a: _flow_loss(*a, target=lambda z0, eps: z0 - eps)),
        Mistake("the path runs backwards: z_t = (1 − t) z_0 + t ε is the data at t = 0 and the noise at t = 1",
                lambda *a: _flow_loss(*a, path=lambda z0, t, eps: straight_path(eps, t, z0))),
        Mistake("the target is the noise alone: the straight path's velocity is ε − z_0",
                lambda *a: _flow_loss(*a, target=lambda z0, eps: eps)),
        Mistake("the network gets 1000 t: it takes t in [0, 1] and scales it itself (LatentFlow.network)",
                lambda net, z0, y, t, eps: _flow_loss(lambda z, tt, yy: net(z, 1000 * tt, yy), z0, y, t, eps)),
        Mistake("the network sees the clean latent: it must be evaluated on the point of the path, z_t",
                lambda *a: _flow_loss(*a, path=lambda z0, t, eps: z0)),
        Mistake("the squares are summed over the latent's dimensions: the package averages them (mse_loss), so the "
                "loss is per dimension (2 for a network that predicts 0)",
                lambda *a: _flow_loss(*a, summed=True)),
    ),
)


def _step_cases():
    g = _generator()
    z, v, v_next = (torch.randn(4, 8, generator=g) for _ in range(3))
    return [(z, v, v_next, 1.0, 0.75), (z, v, v_next, 0.5, 0.25)]


def _euler_cases():
    return [(z, v, t, t_next) for z, v, _, t, t_next in _step_cases()]


EULER_STEP = Exercise(
    "euler_step",
    euler_step,  # z + (t_next − t) v
    _euler_cases,
    (
        Mistake("the step goes the wrong way: sampling runs from t = 1 to 0, so h = t_next − t is negative",
                lambda z, v, t, t_next: z + (t - t_next) * v),
        Mistake("the step is scaled by t, not by the step size t_next − t",
                lambda z, v, t, t_next: z - t * v),
        Mistake("the step is scaled by t_next: the step size is the difference h = t_next − t",
                lambda z, v, t, t_next: z + t_next * v),
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

# --------------------------------------------------------------------------------------------------- chapter 7
def _score_cases():
    g = _generator()
    eps = torch.randn(4, 8, generator=g, dtype=torch.float64)
    per_row = torch.tensor([[0.05], [0.3], [0.7], [0.99]], dtype=torch.float64)
    return [(eps, torch.tensor(0.3, dtype=torch.float64)), (eps, per_row)]


SCORE = Exercise(
    "score_from_eps",
    score_from_eps,  # −ε̂ / √(1 − ᾱ)
    _score_cases,
    (
        Mistake("the sign: the score points from the noisy point back towards the data, −ε̂/√(1 − ᾱ)",
                lambda eps, ab: eps / (1 - ab).sqrt()),
        Mistake("divided by 1 − ᾱ, the noise's variance: the score divides ε̂ by its standard deviation √(1 − ᾱ)",
                lambda eps, ab: -eps / (1 - ab)),
        Mistake("divided by √ᾱ, the signal's scale: the score divides ε̂ by the noise's, √(1 − ᾱ)",
                lambda eps, ab: -eps / ab.sqrt()),
        Mistake("multiplied by √(1 − ᾱ): −ε̂ · √(1 − ᾱ) is the score times the noise's variance; divide instead",
                lambda eps, ab: -eps * (1 - ab).sqrt()),
    ),
)


def _endpoint_cases():
    g = _generator()
    z = torch.randn(5, 6, generator=g, dtype=torch.float64)
    mean = torch.randn(6, generator=g, dtype=torch.float64) * 2
    variances = torch.tensor([0.01, 0.05, 0.3, 1.0, 2.5, 6.0], dtype=torch.float64)
    return [(z, 0.6, 0.8, mean, variances), (z, 0.1, math.sqrt(0.99), mean, variances)]


ODE_ENDPOINT = Exercise(
    "gaussian_ode_endpoint",
    gaussian_ode_endpoint,  # μ + √(λ/(a²λ + s²)) (z − aμ)
    _endpoint_cases,
    (
        Mistake("the offset is z − μ: at time t the data's mean has shrunk to √ᾱ μ, so the offset is z − √ᾱ μ",
                lambda z, a, s, m, lam: m + (lam / (a**2 * lam + s**2)).sqrt() * (z - m)),
        Mistake("the ratio of variances is not square-rooted: the ODE rescales standard deviations, "
                "√(ν/(ᾱν + σ²))", lambda z, a, s, m, lam: m + lam / (a**2 * lam + s**2) * (z - a * m)),
        Mistake("σ is taken for the noise level of z̄ = z/√ᾱ, which is σ/√ᾱ: the factor on z − √ᾱ μ is "
                "√(ν/(ᾱν + σ²))",
                lambda z, a, s, m, lam: m + (lam / (lam + s**2)).sqrt() * (z - a * m)),
        Mistake("the mean is not added back: the end point is μ plus the rescaled offset",
                lambda z, a, s, m, lam: (lam / (a**2 * lam + s**2)).sqrt() * (z - a * m)),
    ),
)


def _karras_cases():
    return [(80.0, 0.002, 10, 7.0), (14.6, 0.03, 5, 7.0), (1.0, 0.01, 6, 3.0)]


def _karras_power(sigma_max, sigma_min, steps, rho, ramp_end=None, power=None):
    ramp = torch.arange(steps, dtype=torch.float64) / (steps - 1 if ramp_end is None else ramp_end)
    p = 1 / rho if power is None else power
    return (sigma_max**p + ramp * (sigma_min**p - sigma_max**p)) ** (1 / p)


KARRAS = Exercise(
    "karras_sigmas",
    karras_sigmas,  # (σ_max^{1/ρ} + i/(n−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ
    _karras_cases,
    (
        Mistake("the levels are uniform in σ: EDM's are uniform in σ^(1/ρ), dense where σ is small",
                lambda hi, lo, n, rho: torch.linspace(hi, lo, n, dtype=torch.float64)),
        Mistake("the levels are uniform in log σ (geometric, the limit ρ → ∞): EDM's are uniform in σ^(1/ρ)",
                lambda hi, lo, n, rho: torch.logspace(math.log10(hi), math.log10(lo), n, dtype=torch.float64)),
        Mistake("they increase: sampling starts at σ_max and ends at σ_min",
                lambda hi, lo, n, rho: _karras_power(hi, lo, n, rho).flip(0)),
        Mistake("the ramp is i/n, so the last level stops short of σ_min: it is i/(n − 1)",
                lambda hi, lo, n, rho: _karras_power(hi, lo, n, rho, ramp_end=n)),
        Mistake("σ^ρ is interpolated and the ρ-th root taken: interpolate σ^(1/ρ) and raise to the power ρ",
                lambda hi, lo, n, rho: _karras_power(hi, lo, n, rho, power=rho)),
    ),
)


def _edm_heun_cases():
    g = _generator()
    z, eps, eps_next = (torch.randn(4, 8, generator=g, dtype=torch.float64) for _ in range(3))
    return [(z, eps, eps_next, torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.6, dtype=torch.float64)),
            (z, eps, eps_next, torch.tensor(0.01, dtype=torch.float64), torch.tensor(0.05, dtype=torch.float64))]


def _edm_parts(ab, ab_next):
    a, a_next = ab.sqrt(), ab_next.sqrt()
    return a, a_next, (1 - ab).sqrt() / a, (1 - ab_next).sqrt() / a_next  # a, a', σ̄, σ̄'


def _edm_heun_variant(z, eps, eps_next, ab, ab_next, scale=True, step=None, slope=None, back=True):
    a, a_next, sigma, sigma_next = _edm_parts(ab, ab_next)
    h = sigma_next - sigma if step is None else step
    mean = 0.5 * (eps + eps_next) if slope is None else slope
    x = z / a if scale else z
    out = x + h * mean
    return a_next * out if back else out


EDM_HEUN = Exercise(
    "edm_heun_step",
    lambda z, eps, eps_next, ab, ab_next: edm_heun_step(z, eps, eps_next, ab, ab_next),
    _edm_heun_cases,
    (
        Mistake("the step is taken in z, not in z̄ = z/√ᾱ: EDM's ODE dz̄/dσ̄ = ε̂ holds for z̄; divide by √ᾱ, step, "
                "multiply by √ᾱ'", lambda *args: _edm_heun_variant(*args, scale=False, back=False)),
        Mistake("the step is √(1 − ᾱ') − √(1 − ᾱ), chapter 2's σ: EDM's noise level is σ̄ = √(1 − ᾱ)/√ᾱ",
                lambda z, e, en, ab, abn: _edm_heun_variant(z, e, en, ab, abn,
                                                            step=(1 - abn).sqrt() - (1 - ab).sqrt())),
        Mistake("the two slopes are added, not averaged: Heun moves by (σ̄' − σ̄)(ε̂ + ε̂')/2",
                lambda z, e, en, ab, abn: _edm_heun_variant(z, e, en, ab, abn, slope=e + en)),
        Mistake("this is Euler's step (DDIM's): Heun averages ε̂ with ε̂' at Euler's end point",
                lambda z, e, en, ab, abn: _edm_heun_variant(z, e, en, ab, abn, slope=e)),
        Mistake("it returns z̄' = z'/√ᾱ': multiply the new z̄ by √ᾱ' to return to the model's coordinates",
                lambda *args: _edm_heun_variant(*args, back=False)),
    ),
)


def _langevin_cases():
    g = _generator()
    z, score, xi = (torch.randn(4, 8, generator=g, dtype=torch.float64) for _ in range(3))
    return [(z, score, 0.01, xi), (z, score, 0.25, xi)]


LANGEVIN = Exercise(
    "langevin_step",
    langevin_step,  # z + δ score + √(2δ) ξ
    _langevin_cases,
    (
        Mistake("the noise is √δ ξ: Langevin's is √(2δ) ξ (with √δ it samples p², too narrow)",
                lambda z, sc, d, xi: z + d * sc + math.sqrt(d) * xi),
        Mistake("there is no noise: that is gradient ascent on log p, which collapses every sample onto a mode",
                lambda z, sc, d, xi: z + d * sc),
        Mistake("it moves against the score, down the density: z + δ ∇log p climbs it",
                lambda z, sc, d, xi: z - d * sc + math.sqrt(2 * d) * xi),
        Mistake("the noise is 2δ ξ: its standard deviation is √(2δ)",
                lambda z, sc, d, xi: z + d * sc + 2 * d * xi),
    ),
)

EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    CHANNEL_GATES, PSNR, STANDARDISE,  # chapter 1
    ALPHA_BAR, Q_SAMPLE, Q_STEP,  # chapter 2
    EMBEDDING, FILM_BLOCK, ATTENTION, V_TARGET, TRAINING_LOSS, TRAIN_STEPS,  # chapter 3
    GUIDANCE, DDIM_STEP, DDIM_LOOP, DDPM_STEP,  # chapter 4
    FID, KID, PRECISION_RECALL,  # chapter 5
    FLOW_LOSS, EULER_STEP, HEUN_STEP,  # chapter 6
    SCORE, ODE_ENDPOINT, KARRAS, EDM_HEUN, LANGEVIN,  # chapter 7
)}
