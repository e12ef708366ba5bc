"""Error bars over sampling seeds, tested on synthetic feature sets whose true distances are known."""

import math

import pytest
import torch

from fmd_utils.metrics import frechet_distance, precision_recall
from fmd_utils.uncertainty import Estimate, noise_between, over_seeds


def test_estimate_mean_sd_se_and_format():
    e = Estimate((1.0, 2.0, 3.0, 4.0))
    assert e.mean == 2.5 and e.sd == pytest.approx(math.sqrt(5 / 3)) and e.se == pytest.approx(e.sd / 2)
    assert format(e, ".2f") == f"2.50 ± {e.se:.2f}"
    r, r_se = e.ratio(Estimate((1.0, 1.0)))
    assert r == 2.5 and r_se == pytest.approx(e.se)


def test_estimate_refuses_what_cannot_carry_an_error_bar():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        Estimate((1.0,))
    with pytest.raises(ValueError, match="finite"):
        Estimate((1.0, math.inf))
    with pytest.raises(ValueError, match="at least 2 distinct"):
        over_seeds(lambda s: {"x": s}, [3, 3])
    with pytest.raises(ValueError, match="same metrics"):
        over_seeds(lambda s: {"x": 1.0} if s else {"y": 1.0}, [0, 1])


def _fid_over_seeds(shift: float, n: int, seeds, d: int = 8) -> Estimate:
    reference = torch.randn(n, d, generator=torch.Generator().manual_seed(10_000))

    def measure(seed: int) -> dict:
        samples = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift
        return {"fid": frechet_distance(samples, reference)}

    return over_seeds(measure, seeds)["fid"]


def test_the_error_bar_matches_the_spread_of_independent_repetitions():
    # N(shift, I) against N(0, I) in 8-d: true FID = 8 shift². Five seeds give a mean and its standard error; forty
    # more seeds show how means of five actually scatter: the standard error must predict that scatter.
    n, shift = 500, 0.3
    five = _fid_over_seeds(shift, n, range(5))
    many = _fid_over_seeds(shift, n, range(100, 140))
    assert 0.4 < five.sd / many.sd < 2.5  # the spread of one measurement, estimated from five seeds
    true_fid = 8 * shift**2
    assert true_fid < many.mean < true_fid + 0.15  # FID is biased upwards at finite N (here by about 0.08)
    assert abs(five.mean - many.mean) < 4 * five.se + 4 * many.se


def test_a_real_difference_is_resolved_and_no_difference_is_a_tie():
    n = 500
    near_, far = _fid_over_seeds(0.3, n, range(5)), _fid_over_seeds(0.4, n, range(5, 10))
    assert far.differs(near_) and far.mean > near_.mean
    same = _fid_over_seeds(0.3, n, range(10, 15))
    assert not same.differs(near_)


def test_precision_and_recall_seeds_spread_shrinks_with_n():
    def spread(n: int) -> Estimate:
        reference = torch.randn(n, 4, generator=torch.Generator().manual_seed(99))

        def measure(seed: int) -> dict:
            p, r = precision_recall(reference, torch.randn(n, 4, generator=torch.Generator().manual_seed(seed)))
            return {"precision": p, "recall": r}

        return over_seeds(measure, range(6))["precision"]

    small, large = spread(200), spread(2000)
    assert large.sd < small.sd  # ~1/√N: more samples, a tighter measurement
    assert 0.6 < large.mean < 1.0 and 0.6 < small.mean < 1.0  # same distribution: most samples inside the manifold


def test_the_noise_between_two_report_rows_is_their_combined_error_bar():
    a, b = {"fid": 1.0, "fid_se": 0.03}, {"fid": 1.2, "fid_se": 0.04}
    assert noise_between(a, b, "fid") == pytest.approx(2 * 0.05)
    same_as_estimates = Estimate((0.97, 1.03)).noise(Estimate((1.16, 1.24)))  # standard errors 0.03 and 0.04
    assert noise_between(a, b, "fid") == pytest.approx(same_as_estimates)
    with pytest.raises(KeyError, match="row b has no 'recall_se'"):
        noise_between({"recall_se": 0.01}, {"recall": 0.5}, "recall")
