"""The exercise checkers: a right answer passes however it is written, the stub is "not attempted", and each likely
mistake — written here independently of the checker's own version — is named."""

from __future__ import annotations

import math

import pytest
import torch

from fmd_utils.exercises import EXERCISES, check, not_written
from fmd_utils.exercises.catalogue import SCHEDULE
from fmd_utils.schedule import NoiseSchedule


# independent implementations (loops and scalars, not the checker's vectorised formulas)
def alpha_bar_loop(betas, shift=False, of=lambda b: 1 - b, combine=lambda acc, x: acc * x):
    out, acc = [], 1.0
    for b in betas.tolist():
        if shift:
            out.append(acc)
        acc = combine(acc, of(b))
        if not shift:
            out.append(acc)
    return torch.tensor(out, dtype=torch.float64)


def q_sample_rows(x0, t, noise, ab, signal=math.sqrt, spread=lambda v: math.sqrt(v), sign=1, offset=0):
    rows = []
    for i, ti in enumerate(t.tolist()):
        a = 1.0 if ti - offset < 0 else float(ab[ti - offset])
        rows.append(signal(a) * x0[i] + sign * spread(1 - a) * noise[i])
    return torch.stack(rows)


def gates_rows(h, w1, b1, w2, b2, pool=lambda c: c.mean(), act=lambda x: x / (1 + math.exp(-x)),
               gate=lambda x: 1 / (1 + math.exp(-x))):
    rows = []
    for example in h:
        pooled = [float(pool(channel)) for channel in example]
        hidden = [act(sum(w * p for w, p in zip(row.tolist(), pooled, strict=True)) + b)
                  for row, b in zip(w1, b1.tolist(), strict=True)]
        rows.append([gate(sum(w * x for w, x in zip(row.tolist(), hidden, strict=True)) + b)
                     for row, b in zip(w2, b2.tolist(), strict=True)])
    return torch.tensor(rows)


def psnr_pooled(recon, images, log=math.log10, factor=10):
    mse = sum(float(d) ** 2 for d in (recon - images).flatten()) / recon.numel()
    return torch.tensor(factor * log(1 / mse))


def standardise_np(z, train, ddof=1, axis=0, dtype=torch.float32):
    z, train = z.numpy().astype("float64"), train.numpy().astype("float64")
    return torch.from_numpy((z - train.mean(axis=axis)) / train.std(axis=axis, ddof=ddof)).to(dtype)


def loss_plain(den, z_raw, y, m, s, ab, g, p, dropout=True, standardise=True, target="v"):
    n = len(z_raw)
    t = torch.randint(0, len(ab), (n,), generator=g)
    eps = torch.randn(z_raw.shape, generator=g)
    u = torch.rand(n, generator=g) if dropout else torch.ones(n)
    labels = torch.tensor([10 if ui < p else int(yi) for ui, yi in zip(u, y, strict=True)])
    z0 = (z_raw - m) / s if standardise else z_raw
    a, sigma = ab[t].sqrt()[:, None], (1 - ab[t]).sqrt()[:, None]
    goal = a * eps - sigma * z0 if target == "v" else eps
    return ((den(a * z0 + sigma * eps, t, labels) - goal) ** 2).sum() / z_raw.numel()


def ddpm_plain(z_t, z0_hat, t, xi, betas, ab, sigma2="posterior", noise_last=False, spread=math.sqrt):
    b, a_t = float(betas[t]), float(ab[t])
    a_prev = float(ab[t - 1]) if t else 1.0
    mean = (b * math.sqrt(a_prev) * z0_hat + (1 - a_prev) * math.sqrt(1 - b) * z_t) / (1 - a_t)
    var = b * (1 - a_prev) / (1 - a_t) if sigma2 == "posterior" else b
    return mean + spread(var) * xi if (t > 0 or noise_last) else mean


def ddim_loop_plain(den, z, y, taus, ab, w, interval, last=True, guide=lambda c, u, w: u + w * (c - u)):
    grid = [*taus, None] if last else list(taus)
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        tb, w_t = torch.full((len(z),), t), (w if interval[0] <= t <= interval[1] else 1.0)
        v = guide(den(z, tb, y), den(z, tb, torch.full_like(y, 10)), w_t)
        a, s = math.sqrt(float(ab[t])), math.sqrt(1 - float(ab[t]))
        z0, eps = a * z - s * v, s * z + a * v
        a_next = 1.0 if t_next is None else float(ab[t_next])
        z = math.sqrt(a_next) * z0 + math.sqrt(1 - a_next) * eps
    return z


def fid_np(a, b, rowvar=False, cross=2.0):
    import numpy as np
    from scipy import linalg

    a, b = a.numpy(), b.numpy()
    ca, cb = np.cov(a, rowvar=rowvar), np.cov(b, rowvar=rowvar)
    return torch.tensor(float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - cross * linalg.sqrtm(ca @ cb)
                                                                            .real)))


def kid_loops(a, b, diagonal=False, scale=True):
    n, d = a.shape
    k = lambda x, y: (float(x @ y) / (d if scale else 1) + 1) ** 3  # noqa: E731
    within = lambda s: sum(k(s[i], s[j]) for i in range(n) for j in range(n) if diagonal or i != j) / (  # noqa: E731
        n * n if diagonal else n * (n - 1))
    return torch.tensor(within(a) + within(b) - 2 * sum(k(x, y) for x in a for y in b) / n**2)


def pr_loops(real, gen, k, neighbour=None, swap=False):
    neighbour = k if neighbour is None else neighbour

    def radius(points, i):
        return sorted(float((points[i] - p).norm()) for p in points)[neighbour]

    def share(queries, points):
        radii = [radius(points, j) for j in range(len(points))]
        inside = [any(float((q - p).norm()) <= r for p, r in zip(points, radii, strict=True)) for q in queries]
        return sum(inside) / len(queries)

    p, r = share(gen, real), share(real, gen)
    return torch.tensor([r, p] if swap else [p, r], dtype=torch.float64)


def train_plain(model, latents, labels, loss_of_batch, steps, batch_size, g, lr, zero=True, step=True, fixed=False):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    out = []
    for _ in range(steps):
        idx = torch.arange(batch_size) if fixed else torch.randint(0, len(latents), (batch_size,), generator=g)
        loss = loss_of_batch(model, latents[idx], labels[idx], g)
        if zero:
            for p in model.parameters():
                p.grad = None
        loss.backward()
        if step:
            opt.step()
        out.append(loss.item())
    return out


def film_plain(h_in, e, block, scale_one=1.0, skip=True):
    def norm(x, weight=None, bias=None):  # layer norm by hand: (x − mean) / √(var + 1e-5), biased variance
        y = (x - x.mean(1, keepdim=True)) / (x.var(1, unbiased=False, keepdim=True) + 1e-5).sqrt()
        return y if weight is None else y * weight + bias

    h = block.linear_in(torch.nn.functional.silu(norm(h_in, block.norm_in.weight, block.norm_in.bias)))
    ab = block.scale_shift(e)
    a, b = ab[:, : h.shape[1]], ab[:, h.shape[1]:]
    out = block.linear_out(torch.nn.functional.silu(norm(h) * (scale_one + a) + b))
    return h_in + out if skip else out


def attention_loop(h, att, scale=True, residual=True):
    rows = []
    for x in h:  # one vector at a time, the tokens as rows
        tokens = att.norm(x.reshape(att.tokens, -1) + att.position[0])
        d = tokens.shape[1]
        q, k, v = tokens @ att.qkv.weight[:d].T + att.qkv.bias[:d], tokens @ att.qkv.weight[d:2 * d].T + \
            att.qkv.bias[d:2 * d], tokens @ att.qkv.weight[2 * d:].T + att.qkv.bias[2 * d:]
        scores = q @ k.T / (math.sqrt(d) if scale else 1.0)
        weights = scores.exp() / scores.exp().sum(1, keepdim=True)
        out = att.out(weights @ v).reshape(-1)
        rows.append(x + out if residual else out)
    return torch.stack(rows)


def q_step_rows(x, t, noise, betas, keep=lambda b: math.sqrt(1 - b), spread=math.sqrt):
    return torch.stack([keep(float(betas[ti])) * x[i] + spread(float(betas[ti])) * noise[i]
                        for i, ti in enumerate(t.tolist())])


def sinusoids_loop(t, dim, sign=-1, divisor=None, cos_first=False):
    half = dim // 2
    rows = []
    for ti in t.tolist():
        freqs = [10_000 ** (sign * i / (divisor or half)) for i in range(half)]
        sin, cos = [math.sin(ti * f) for f in freqs], [math.cos(ti * f) for f in freqs]
        rows.append(cos + sin if cos_first else sin + cos)
    return torch.tensor(rows)


def v_rows(z0, eps, t, ab, flip=1, swap=False):
    rows = []
    for i, ti in enumerate(t.tolist()):
        a, s = math.sqrt(float(ab[ti])), math.sqrt(1 - float(ab[ti]))
        first, second = (z0[i], eps[i]) if swap else (eps[i], z0[i])
        rows.append(flip * (a * first - s * second))
    return torch.stack(rows)


ATTEMPTS = {
    "alpha_bar": [
        (alpha_bar_loop, "passed"),
        (lambda b: alpha_bar_loop(b, of=lambda x: x), "product of the β_t"),
        (lambda b: alpha_bar_loop(b, shift=True), "ᾱ_{t−1}, one step late"),
        (lambda b: alpha_bar_loop(b, combine=lambda acc, x: acc + x) - 1, "a sum of the α_s"),  # 1 + Σ α − 1
        (lambda b: 1.1 * alpha_bar_loop(b), None),  # wrong in a way no known mistake explains
        (lambda b: 1 - alpha_bar_loop(b), "1 − ᾱ_t, the noise's variance"),
    ],
    "q_sample": [
        (q_sample_rows, "passed"),
        (lambda *a: q_sample_rows(*a, signal=lambda v: v), "scaled by ᾱ_t where √ᾱ_t belongs"),
        (lambda *a: q_sample_rows(*a, spread=lambda v: v), "its variance 1 − ᾱ_t"),
        (lambda *a: q_sample_rows(*a, offset=1), "ᾱ_{t−1} is used for ᾱ_t"),
        (lambda *a: q_sample_rows(*a, sign=-1), "the noise is subtracted"),
    ],
    "channel_gates": [
        (gates_rows, "passed"),
        (lambda *a: gates_rows(*a, pool=lambda c: c.max()), "maximum"),
        (lambda *a: gates_rows(*a, act=lambda x: max(x, 0.0)), "ReLU"),
        (lambda *a: gates_rows(*a, gate=lambda x: x), "no sigmoid"),
    ],
    "psnr": [
        (psnr_pooled, "passed"),
        (lambda r, x: psnr_pooled(r, x, factor=20), "20 log10(1 / MSE)"),
        (lambda r, x: psnr_pooled(r, x, log=math.log), "natural"),
        (lambda r, x: torch.stack([psnr_pooled(ri, xi) for ri, xi in zip(r, x, strict=True)]).mean(),
         "mean of per-image PSNRs"),
    ],
    "standardise": [
        (standardise_np, "passed"),
        (lambda z, train: standardise_np(z, train, ddof=0), "biased"),
        (lambda z, train: standardise_np(z, z), "not from the training latents"),
        (lambda z, train: (z - train.mean()) / train.std(), "one number for all coordinates"),
    ],
    "training_loss": [
        (loss_plain, "passed"),
        (lambda *a: loss_plain(*a, dropout=False), "never dropped"),
        (lambda *a: loss_plain(*a, standardise=False), "not standardised"),
        (lambda *a: loss_plain(*a, target="eps"), "ε-target"),
    ],
    "ddpm_step": [
        (ddpm_plain, "passed"),
        (lambda *a: ddpm_plain(*a, sigma2="beta"), "variance β_t"),
        (lambda *a: ddpm_plain(*a, sigma2="beta", noise_last=True), "the last step (t = 0) adds noise"),
        (lambda *a: ddpm_plain(*a, spread=lambda v: v), "standard deviation √β̃_t"),
    ],
    "ddim_loop": [
        (ddim_loop_plain, "passed"),
        (lambda *a: ddim_loop_plain(*a, last=False), "ends one step early"),
        (lambda *a: ddim_loop_plain(*a, guide=lambda c, u, w: (1 - w) * c + w * u), "mix is swapped"),
        (lambda *a: ddim_loop_plain(*a[:6], (0, 999)), "guidance is applied at every step"),
    ],
    "fid": [
        (fid_np, "passed"),
        (lambda a, b: fid_np(a, b, rowvar=True), "the covariances are N×N"),
        (lambda a, b: fid_np(a, b, cross=1.0), "lacks its factor 2"),
    ],
    "kid": [
        (kid_loops, "passed"),
        (lambda a, b: kid_loops(a, b, diagonal=True), "the diagonal i = j is included"),
        (lambda a, b: kid_loops(a, b, scale=False), "not scaled by the feature dimension"),
    ],
    "precision_recall": [
        (pr_loops, "passed"),
        (lambda r, g, k: pr_loops(r, g, k, neighbour=k - 1), "(k − 1)-th neighbour"),
        (lambda r, g, k: pr_loops(r, g, k, swap=True), "swapped"),
    ],
    "train_steps": [
        (train_plain, "passed"),
        (lambda *a: train_plain(*a, zero=False), "never zeroed"),
        (lambda *a: train_plain(*a, step=False), "never change"),
        (lambda *a: train_plain(*a, fixed=True), "same first batch"),
    ],
    "film_block": [
        (film_plain, "passed"),
        (lambda *a: film_plain(*a, scale_one=0.0), "the scale is a(e), not 1 + a(e)"),
        (lambda *a: film_plain(*a, skip=False), "the skip path is missing"),
    ],
    "attention": [
        (attention_loop, "passed"),
        (lambda *a: attention_loop(*a, scale=False), "not divided by √d"),
        (lambda *a: attention_loop(*a, residual=False), "the residual is missing"),
    ],
    "q_step": [
        (q_step_rows, "passed"),
        (lambda *a: q_step_rows(*a, spread=lambda b: b), "its variance β_t"),
        (lambda *a: q_step_rows(*a, keep=lambda b: 1.0), "the signal is not shrunk"),
        (lambda *a: q_step_rows(*a, keep=lambda b: 1 - b), "scaled by 1 − β_t where √(1 − β_t)"),
    ],
    "guidance": [
        (lambda c, u, w: w * c + (1 - w) * u, "passed"),  # the same mix, written the other way
        (lambda c, u, w: c - w * (c - u), "weights are swapped"),  # = (1 − w) c + w u
        (lambda c, u, w: (1 + w) * c - w * u, "starts from the conditional"),
        (lambda c, u, w: c * w, "only the conditional prediction"),
    ],
    "sinusoidal_embedding": [
        (sinusoids_loop, "passed"),
        (lambda t, d: sinusoids_loop(t, d, sign=1), "the frequencies grow"),
        (lambda t, d: sinusoids_loop(t, d, divisor=d), "divided by d, not d/2"),
        (lambda t, d: sinusoids_loop(t, d, cos_first=True), "the cosines come first"),
    ],
    "v_target": [
        (v_rows, "passed"),
        (lambda *a: v_rows(*a, flip=-1), "the sign is flipped"),
        (lambda *a: v_rows(*a, swap=True), "trade places"),
        (lambda z0, eps, t, ab: eps * 1.0, "the ε-target"),
    ],
    "euler_step": [
        (lambda z, v, t, tn: z - (t - tn) * v, "passed"),
        (lambda z, v, t, tn: z + abs(t - tn) * v, "goes the wrong way"),
        (lambda z, v, t, tn: z - t * v, "scaled by t"),
    ],
    "flow_loss": [
        (lambda net, z0, y, t, e: sum(((net(z, tt, y) - (e - z0)) ** 2).mean() for z, tt in
                                      [(z0 + t[:, None] * (e - z0), t)]), "passed"),  # z0 + t (ε − z0): the same path
        (lambda net, z0, y, t, e: ((net((1 - t[:, None]) * z0 + t[:, None] * e, t, y) - (z0 - e)) ** 2).mean(),
         "points the wrong way"),
        (lambda net, z0, y, t, e: ((net(t[:, None] * z0 + (1 - t[:, None]) * e, t, y) - (e - z0)) ** 2).mean(),
         "runs backwards"),
        (lambda net, z0, y, t, e: ((net((1 - t[:, None]) * z0 + t[:, None] * e, t, y) - (e - z0)) ** 2).sum(1).mean(),
         "summed over the latent's dimensions"),
    ],
    "heun_step": [
        (lambda z, v, vn, t, tn: z - (t - tn) * (v + vn) / 2, "passed"),
        (lambda z, v, vn, t, tn: z - (t - tn) * v - (t - tn) * vn, "added, not averaged"),
        (lambda z, v, vn, t, tn: z - (t - tn) * v, "this is Euler's step"),
    ],
    "score_from_eps": [
        (lambda e, ab: e.neg().div(torch.sqrt(1.0 - ab)), "passed"),
        (lambda e, ab: e * (1.0 - ab) ** -0.5, "the sign"),
        (lambda e, ab: -e / (1.0 - ab), "the noise's variance"),
    ],
    "gaussian_ode_endpoint": [
        (lambda z, a, s, m, lam: torch.stack([m[i] + (lam[i] / (a * a * lam[i] + s * s)) ** 0.5 * (z[:, i] - a * m[i])
                                              for i in range(len(m))], dim=1), "passed"),
        (lambda z, a, s, m, lam: m + (z - m) * torch.sqrt(lam / (a * a * lam + s * s)), "at time t the data's mean"),
        (lambda z, a, s, m, lam: m + (z - a * m) * lam / (a * a * lam + s * s), "not square-rooted"),
    ],
    "karras_sigmas": [
        (lambda hi, lo, n, rho: torch.tensor([(hi ** (1 / rho) + i / (n - 1) * (lo ** (1 / rho) - hi ** (1 / rho)))
                                              ** rho for i in range(n)], dtype=torch.float64), "passed"),
        (lambda hi, lo, n, rho: torch.tensor([hi + i / (n - 1) * (lo - hi) for i in range(n)], dtype=torch.float64),
         "uniform in σ"),
        (lambda hi, lo, n, rho: torch.tensor([(lo ** (1 / rho) + i / (n - 1) * (hi ** (1 / rho) - lo ** (1 / rho)))
                                              ** rho for i in range(n)], dtype=torch.float64), "they increase"),
    ],
    "edm_heun_step": [
        (lambda z, e, en, ab, abn: (z / ab.sqrt() + ((1 / abn - 1).sqrt() - (1 / ab - 1).sqrt()) * (e + en) / 2)
         * abn.sqrt(), "passed"),
        (lambda z, e, en, ab, abn: (z / ab.sqrt() + ((1 / abn - 1).sqrt() - (1 / ab - 1).sqrt()) * e) * abn.sqrt(),
         "Euler's step"),
        (lambda z, e, en, ab, abn: z / ab.sqrt() + ((1 / abn - 1).sqrt() - (1 / ab - 1).sqrt()) * (e + en) / 2,
         "returns z̄'"),
    ],
    "langevin_step": [
        (lambda z, sc, d, xi: z + sc * d + xi * (2 * d) ** 0.5, "passed"),
        (lambda z, sc, d, xi: z + sc * d, "no noise"),
        (lambda z, sc, d, xi: z + sc * d + xi * d ** 0.5, "the noise is √δ ξ"),
    ],
    "ddim_step": [
        (lambda z0, e, a, an: an ** 0.5 * z0 + (1 - an) ** 0.5 * e, "passed"),
        (lambda z0, e, a, an: an * z0 + (1 - an) * e, "scaled by ᾱ' where √ᾱ' belongs"),
        (lambda z0, e, a, an: a ** 0.5 * z0 + (1 - a) ** 0.5 * e, "re-noised to the current level"),
        (lambda z0, e, a, an: z0 + 0 * e, "jumps straight to the clean estimate"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_exercise_has_named_mistakes_that_differ_from_the_answer(name):
    exercise = EXERCISES[name]
    assert len(exercise.mistakes) >= 2 and len(ATTEMPTS[name]) >= 3
    for mistake in exercise.mistakes:  # a "mistake" the inputs cannot tell from the answer would diagnose nothing
        assert not all(exercise._agrees(mistake.compute(*args), exercise.reference(*args)) for args in exercise.cases())
    assert exercise.check(exercise.reference).passed
    for mistake in exercise.mistakes:  # fed to the checker, each mistake is named as itself (none shadows another)
        verdict = exercise.check(mistake.compute)
        assert verdict.status == "mistake" and verdict.message == mistake.message, (mistake.message, verdict)


@pytest.mark.parametrize("name, attempt, expected", [(n, a, e) for n, rows in ATTEMPTS.items() for a, e in rows])
def test_attempts_are_diagnosed_by_what_they_compute(name, attempt, expected):
    verdict = EXERCISES[name].check(attempt)
    if expected == "passed":
        assert verdict.status == "passed", verdict
    elif expected is None:
        assert verdict.status == "wrong" and "differs from the package's by up to" in verdict.message, verdict
    else:
        assert verdict.status == "mistake" and expected in verdict.message, verdict


def test_a_wrong_answer_says_where_and_right_numbers_in_another_dtype_are_refused():
    def wrong_on_images(x0, t, noise, ab):  # right for latents, 10 % off for images: the second test input
        out = q_sample_rows(x0, t, noise, ab)
        return out if x0.ndim == 2 else 1.1 * out

    verdict = EXERCISES["q_sample"].check(wrong_on_images)
    assert verdict.status == "wrong" and verdict.message.startswith("on test input 2 of 2"), verdict
    ddpm = EXERCISES["ddpm_step"].check(lambda *a: ddpm_plain(*a) * (1.5 if a[2] == 0 else 1.0))
    assert "test input 4 of 4 (t = 0)" in ddpm.message, ddpm  # the scalar arguments name the failing case
    as_float64 = EXERCISES["standardise"].check(lambda z, train: standardise_np(z, train, dtype=torch.float64))
    assert as_float64.status == "wrong" and "the result is torch.float64, the package's torch.float32" in \
        as_float64.message


def test_the_stub_is_not_attempted_and_other_failures_are_reported(capsys):
    def stub(*args):
        not_written("q_sample")

    carry_on = check("q_sample", stub)
    assert "q_sample: not attempted" in capsys.readouterr().out
    x0, noise, t = torch.randn(2, 3), torch.randn(2, 3), torch.tensor([5, 900])  # the chapter carries on with ...
    assert torch.equal(carry_on(x0, t, noise, SCHEDULE.alpha_bar), SCHEDULE.q_sample(x0, t, noise))  # the package's
    with pytest.raises(ValueError, match="alpha_bar is another table"):  # which never ignores another schedule
        carry_on(x0, t, noise, NoiseSchedule("linear", 1000).alpha_bar)
    right = EXERCISES["q_sample"].reference
    assert check("q_sample", lambda *a: right(*a)) is not right  # a passing attempt is the one carried on with
    broken = EXERCISES["guidance"].check(lambda c, u, w: c @ u)  # shapes that do not multiply
    assert broken.status == "wrong" and "raised RuntimeError" in broken.message
    shaped = EXERCISES["ddim_step"].check(lambda z0, e, a, an: z0[:1])
    assert shaped.status == "wrong" and "shape (1, 8), expected (4, 8)" in shaped.message
    with pytest.raises(ValueError, match="exercise must be one of"):
        check("no_such_exercise", stub)
