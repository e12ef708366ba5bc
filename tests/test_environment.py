"""The two descriptions of the environment must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_pins_the_same_versions_as_requirements():
    requirements = _pins((ROOT / "requirements.txt").read_text().splitlines())
    conda = _pins((ROOT / "environment.yml").read_text().splitlines())
    assert requirements["torch"] == "2.14.1" and requirements["torchvision"] == "0.29.1"
    assert conda == requirements


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    requirements = _pins((ROOT / "requirements.txt").read_text().splitlines())
    for name in ("torch", "torchvision", "numpy", "scikit-learn", "nbval", "jupytext"):
        assert version(name).split("+")[0] == requirements[name], name
