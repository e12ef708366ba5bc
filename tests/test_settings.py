"""SamplingSettings: the one place sampling arguments are checked; its command-line parsing."""

import argparse
import math

import pytest

from fmd_utils.settings import SamplingSettings, add_sampling_arguments, settings_from_args


@pytest.mark.parametrize("changes, message", [
    ({"guidance": math.nan}, "guidance must be a finite number >= 0"),
    ({"guidance": math.inf}, "guidance must be a finite number >= 0"),
    ({"guidance": -0.5}, "guidance must be a finite number >= 0"),
    ({"guidance": "4"}, "guidance must be a finite number >= 0"),
    ({"eta": math.nan}, "eta must be a finite number >= 0"),
    ({"eta": -1.0}, "eta must be a finite number >= 0"),
    ({"steps": 0}, "steps must be an integer between 1 and T = 1000"),
    ({"steps": 1001}, "steps must be an integer between 1 and T = 1000"),
    ({"steps": 2.5}, "steps must be an integer between 1 and T = 1000"),
    ({"steps": True}, "steps must be an integer between 1 and T = 1000"),
    ({"sampler": "euler"}, "sampler must be 'ddim' or 'ddpm'"),
    ({"guidance_interval": (800, 100)}, r"guidance_interval must be None .* 0 <= lo <= hi <= 999"),
    ({"guidance_interval": (0, 1000)}, r"guidance_interval must be None .* 0 <= lo <= hi <= 999"),
    ({"guidance_interval": (1.5, 3)}, r"guidance_interval must be None .* 0 <= lo <= hi <= 999"),
    ({"guidance_interval": (5,)}, r"guidance_interval must be None .* 0 <= lo <= hi <= 999"),
    ({"guidance_interval": "0,10"}, r"guidance_interval must be None .* 0 <= lo <= hi <= 999"),
])
def test_every_field_is_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        SamplingSettings().replace(**changes).validate(1000)


def test_valid_settings_pass_and_describe_themselves():
    s = SamplingSettings(steps=50, guidance=4.0, guidance_interval=[100, 799]).validate(1000)  # a list is fine too
    assert s.guidance_interval == (100, 799)
    assert s.describe() == "DDIM-50, guidance 4 on t ∈ [100, 799]"
    assert SamplingSettings.from_dict(s.to_dict()) == s
    with pytest.raises(TypeError, match="unknown sampling setting"):
        s.replace(stepz=3)


def test_command_line_fields_override_the_stored_default():
    parser = argparse.ArgumentParser()
    add_sampling_arguments(parser)
    stored = SamplingSettings(steps=50, guidance=4.0, guidance_interval=(100, 799))
    assert settings_from_args(parser.parse_args([]), stored, 1000) == stored
    got = settings_from_args(parser.parse_args(["--guidance", "2", "--guidance-interval", "all"]), stored, 1000)
    assert got == stored.replace(guidance=2.0, guidance_interval=None)
    with pytest.raises(ValueError, match="guidance must be a finite number"):
        settings_from_args(parser.parse_args(["--guidance", "nan"]), stored, 1000)
    with pytest.raises(SystemExit):
        parser.parse_args(["--guidance-interval", "150"])
