"""What the prose of a chapter states, checked against what the notebook measured.

A chapter never types in a measured number or a comparison on trust: the cell just before the sentence checks it,
so a retrained model or another machine that changes the number fails ``pytest --nbval`` instead of leaving the text
wrong. Three checks cover what prose says:

- :func:`near`: "the PSNR is about 24.2 dB" — the measured value lies within a stated tolerance of the stated one;
- :func:`above`: "A beats B", "rises", "slower" — the difference exceeds the noise of the measurement;
- :func:`tie`: "about the same", "within the noise" — the difference does not exceed that noise.

``noise`` is the combined uncertainty of the two values (e.g. ``2 * sqrt(se_a**2 + se_b**2)`` from
:mod:`fmd_utils.uncertainty`); a comparison inside it is a tie, never a win. Each check returns its first value, so it
can stand inside an expression, and fails with a message that names the sentence to rewrite.
"""

from __future__ import annotations

import math


class ClaimError(AssertionError):
    """The notebook measured something other than what its prose says."""


def _number(value, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ClaimError(f"{name} is {out}: nothing finite to state")
    return out


def near(value, stated: float, tol: float, what: str) -> float:
    """Check |value − stated| ≤ tol: the prose says ``what`` is ``stated`` (± ``tol``)."""
    v, s, t = _number(value, "value"), _number(stated, "stated"), _number(tol, "tol")
    if t < 0:
        raise ValueError(f"tol must be ≥ 0, got {tol}")
    if abs(v - s) > t:
        raise ClaimError(f"{what}: measured {v:.6g}, the text says {s:g} ± {t:g}; rewrite the sentence after this cell")
    return v


def above(larger, smaller, what: str, noise: float = 0.0) -> float:
    """Check larger − smaller > noise: the prose says the first exceeds the second by more than the noise."""
    a, b, n = _number(larger, "larger"), _number(smaller, "smaller"), _number(noise, "noise")
    if n < 0:
        raise ValueError(f"noise must be ≥ 0, got {noise}")
    if not a - b > n:
        verdict = "a tie within the noise" if abs(a - b) <= n else "the other way round"
        raise ClaimError(f"{what}: {a:.6g} against {b:.6g} (noise {n:g}) is {verdict}; rewrite the sentence after "
                         "this cell")
    return a


def tie(a, b, noise: float, what: str) -> float:
    """Check |a − b| ≤ noise: the prose calls the two values the same within the noise of the measurement."""
    x, y, n = _number(a, "a"), _number(b, "b"), _number(noise, "noise")
    if n < 0:
        raise ValueError(f"noise must be ≥ 0, got {noise}")
    if abs(x - y) > n:
        raise ClaimError(f"{what}: {x:.6g} against {y:.6g} differ by more than the noise {n:g}; the text calls "
                         "them a tie: rewrite the sentence after this cell")
    return x
