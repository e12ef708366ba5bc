"""The source listings the chapters show come from the package itself."""

import inspect
import textwrap

import pytest

from fmd_utils.diffusion import LatentDiffusion
from fmd_utils.schedule import NoiseSchedule
from fmd_utils.views import show_source


def test_listing_is_the_real_source_with_its_place():
    listing = show_source(NoiseSchedule.q_sample)
    lines, first = inspect.getsourcelines(NoiseSchedule.q_sample)
    assert listing.code == textwrap.dedent("".join(lines))  # a method: dedented, otherwise verbatim
    assert listing.code.startswith("def q_sample(self, x0: torch.Tensor")
    assert listing.first_line == first and listing.last_line == first + len(lines) - 1
    assert listing.path == "fmd_utils/schedule.py" and "NoiseSchedule.q_sample" in listing.caption
    html = listing._repr_html_()
    assert "sqrt_alpha_bar" in html and "<link" not in html and "style=" in html  # self-contained
    assert repr(listing).startswith("# fmd_utils.schedule.NoiseSchedule.q_sample")


def test_a_slice_of_lines_and_properties():
    part = show_source(LatentDiffusion.loss_at, lines=(1, 2))
    assert len(part.code.splitlines()) == 2 and part.code.startswith("def loss_at")
    assert show_source(LatentDiffusion.num_steps).code.startswith("@property")
    with pytest.raises(ValueError, match="lines must satisfy"):
        show_source(LatentDiffusion.loss_at, lines=(3, 1))
