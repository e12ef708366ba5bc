r"""Error bars for the set metrics (FID, KID, precision, recall): repeat the measurement over sampling seeds.

A metric of N generated samples is a random number: another seed draws other samples and gives another value. We
measure it for J seeds :math:`j = 1 \dots J` (the reference set of real images fixed, as every compared model is read
against the same one) and report the mean with its standard error,

.. math::
    \bar m = \frac1J \sum_j m_j, \qquad
    \mathrm{sd} = \sqrt{\frac{1}{J-1}\sum_j (m_j - \bar m)^2}, \qquad
    \mathrm{se} = \mathrm{sd} / \sqrt J .

Two means differ beyond their noise when :math:`|\bar m_a - \bar m_b| > 2\sqrt{\mathrm{se}_a^2 + \mathrm{se}_b^2}`
(about a 95 % two-sided interval when the standard errors are well known; from 3 seeds they are themselves rough,
so a difference just beyond the line is weak evidence); inside it the comparison is a tie (:mod:`fmd_utils.claims`).
Seeds, not a bootstrap over one sample set: resampling with replacement puts copies of a point into the set, which
take its nearest-neighbour places, shrink its k-NN ball (to radius zero with k copies) and so bias recall low; new
seeds draw honest new sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .progress import progress


@dataclass(frozen=True)
class Estimate:
    """One metric measured over several seeds: ``values`` in seed order; ``mean``, ``sd`` and ``se`` from them."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) < 2:
            raise ValueError(f"an error bar needs at least 2 seeds, got {len(self.values)} value(s)")
        if not all(math.isfinite(v) for v in self.values):
            raise ValueError(f"every value must be finite, got {self.values}")

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def sd(self) -> float:
        """Sample standard deviation over seeds: the spread of one measurement."""
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (len(self.values) - 1))

    @property
    def se(self) -> float:
        """Standard error of the mean over seeds: the error bar of :attr:`mean`."""
        return self.sd / math.sqrt(len(self.values))

    def noise(self, other: Estimate, k: float = 2.0) -> float:
        """k √(se² + se_other²): how far apart two means must be to differ beyond their noise."""
        return combined_noise(self.se, other.se, k)

    def differs(self, other: Estimate, k: float = 2.0) -> bool:
        return abs(self.mean - other.mean) > self.noise(other, k)

    def ratio(self, other: Estimate) -> tuple[float, float]:
        """mean / other.mean and its standard error (relative errors added in quadrature)."""
        r = self.mean / other.mean
        return r, abs(r) * math.hypot(self.se / self.mean, other.se / other.mean)

    def __format__(self, spec: str) -> str:
        spec = spec or ".3g"
        return f"{self.mean:{spec}} ± {self.se:{spec}}"


def combined_noise(se_a: float, se_b: float, k: float = 2.0) -> float:
    """k √(se_a² + se_b²): how far apart two means with standard errors ``se_a`` and ``se_b`` must be to differ."""
    return k * math.hypot(se_a, se_b)


def noise_between(a: dict, b: dict, key: str, k: float = 2.0) -> float:
    """:func:`combined_noise` of measure ``key`` in two rows of a report (``results/metrics.json``, the evaluator),
    each holding ``key`` and its standard error ``<key>_se``."""
    missing = [name for name, row in (("a", a), ("b", b)) if f"{key}_se" not in row]
    if missing:
        raise KeyError(f"row {' and '.join(missing)} has no '{key}_se': measure it over at least 2 seeds")
    return combined_noise(a[f"{key}_se"], b[f"{key}_se"], k)


def over_seeds(measure: Callable[[int], dict[str, float]], seeds: Iterable[int], desc: str = "seeds"
               ) -> dict[str, Estimate]:
    """Run ``measure(seed)`` (a dict of metric values) for each seed; one :class:`Estimate` per metric."""
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be at least 2 distinct integers, got {seeds}")
    runs = [measure(seed) for seed in progress(seeds, desc=desc)]
    keys = runs[0].keys()
    if any(run.keys() != keys for run in runs):
        raise ValueError("measure must return the same metrics for every seed")
    return {key: Estimate(tuple(float(run[key]) for run in runs)) for key in keys}
