"""The exercise checkers: a right answer passes however it is written, the stub is "not attempted", and each likely
mistake — written here independently of the checker's own version — is named."""

from __future__ import annotations

import math

import pytest
import torch

from fmd_utils.exercises import EXERCISES, check, not_written


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
    "flow_target": [
        (lambda z0, e: -(z0 - e), "passed"),
        (lambda z0, e: -(e - z0), "points the wrong way"),
        (lambda z0, e: e + 0 * z0, "the noise alone"),
    ],
    "euler_step": [
        (lambda z, v, vn, t, tn: z - (t - tn) * v, "passed"),
        (lambda z, v, vn, t, tn: z + abs(t - tn) * v, "goes the wrong way"),
        (lambda z, v, vn, t, tn: z - t * v, "scaled by t"),
        (lambda z, v, vn, t, tn: z - (t - tn) * vn, "velocity at the end point"),
    ],
    "heun_step": [
        (lambda z, v, vn, t, tn: z - (t - tn) * (v + vn) / 2, "passed"),
        (lambda z, v, vn, t, tn: z - (t - tn) * v - (t - tn) * vn, "added, not averaged"),
        (lambda z, v, vn, t, tn: z - (t - tn) * v, "this is Euler's step"),
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


@pytest.mark.parametrize("name, attempt, expected", [(n, a, e) for n, rows in ATTEMPTS.items() for a, e in rows])
def test_attempts_are_diagnosed_by_what_they_compute(name, attempt, expected):
    verdict = EXERCISES[name].check(attempt)
    if expected == "passed":
        assert verdict.status == "passed", verdict
    elif expected is None:
        assert verdict.status == "wrong" and "differs from the package's by up to" in verdict.message, verdict
    else:
        assert verdict.status == "mistake" and expected in verdict.message, verdict


def test_the_stub_is_not_attempted_and_other_failures_are_reported(capsys):
    def stub(*args):
        not_written("q_sample")

    carry_on = check("q_sample", stub)
    assert "q_sample: not attempted" in capsys.readouterr().out
    assert carry_on is EXERCISES["q_sample"].reference  # the chapter carries on with the package's version
    right = EXERCISES["q_sample"].reference
    assert check("q_sample", lambda *a: right(*a)) is not right  # a passing attempt is the one carried on with
    broken = EXERCISES["guidance"].check(lambda c, u, w: c @ u)  # shapes that do not multiply
    assert broken.status == "wrong" and "raised RuntimeError" in broken.message
    shaped = EXERCISES["ddim_step"].check(lambda z0, e, a, an: z0[:1])
    assert shaped.status == "wrong" and "shape (1, 8), expected (4, 8)" in shaped.message
    with pytest.raises(ValueError, match="exercise must be one of"):
        check("no_such_exercise", stub)
