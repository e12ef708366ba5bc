"""SamplingSettings: the one place sampling arguments are checked; its command-line parsing."""

import argparse
import math

import pytest

from fmd_utils.cli import add_sampling_arguments, settings_from_args
from fmd_utils.settings import SamplingSettings


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
    ({"sampler": "euler"}, r"sampler must be one of \('ddim', 'ddim-trailing', 'ddpm', .*'heun-straight'\)"),
    ({"sampler": None}, "sampler must be one of"),
    ({"sampler": "dpm++2m", "eta": 1.0}, "eta is DDIM's stochasticity and DPM-Solver\\+\\+\\(2M\\) does not read it"),
    ({"sampler": "ddpm", "eta": 0.5}, "eta is DDIM's stochasticity and DDPM does not read it: use eta=0"),
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
    # each registered sampler names itself: the title and steps the registry gives, never "DDPM" for a stranger
    assert s.replace(eta=1.0).describe() == "DDIM-50, η = 1, guidance 4 on t ∈ [100, 799]"
    assert s.replace(sampler="ddpm").describe(1000) == "DDPM-1000, guidance 4 on t ∈ [100, 799]"
    assert s.replace(sampler="dpm++2m", steps=10).describe() == "DPM-Solver++(2M)-10, guidance 4 on t ∈ [100, 799]"
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
    # the sampler's choices are the registry's
    assert settings_from_args(parser.parse_args(["--sampler", "dpm++2m"]), stored, 1000).sampler == "dpm++2m"
    with pytest.raises(SystemExit):
        parser.parse_args(["--sampler", "euler"])
