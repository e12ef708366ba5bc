"""The checks chapters use to bind their prose to their outputs."""

import math

import pytest

from fmd_utils.claims import ClaimError, above, near, tie


def test_near_passes_inside_and_fails_outside_the_tolerance():
    assert near(24.16, 24.2, 0.05, "PSNR") == 24.16
    with pytest.raises(ClaimError, match=r"PSNR: measured 24\.3, the text says 24\.2 ± 0\.05"):
        near(24.3, 24.2, 0.05, "PSNR")


def test_above_names_a_tie_and_a_reversal():
    assert above(3.0, 1.0, "DDPM slower") == 3.0
    with pytest.raises(ClaimError, match="a tie within the noise"):
        above(1.05, 1.0, "FID beats", noise=0.1)
    with pytest.raises(ClaimError, match="the other way round"):
        above(1.0, 2.0, "FID beats", noise=0.1)


def test_tie_fails_when_the_difference_exceeds_the_noise():
    assert tie(1.0, 1.05, 0.1, "same") == 1.0
    with pytest.raises(ClaimError, match="differ by more than the noise"):
        tie(1.0, 1.5, 0.1, "same")


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="value must be a number"):
        near("high", 1.0, 0.1, "x")
    with pytest.raises(ValueError, match="tol must be ≥ 0"):
        near(1.0, 1.0, -1, "x")
    with pytest.raises(ValueError, match="noise must be ≥ 0"):
        above(2.0, 1.0, "x", noise=-1)
    with pytest.raises(ClaimError, match="nothing finite"):
        near(math.nan, 1.0, 0.1, "x")
