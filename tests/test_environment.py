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


def test_make_lab_starts_on_localhost_with_a_token():
    """`make lab` works as root too (the Makefile's own apt-get steps run as root) and serves on 127.0.0.1 only,
    behind a login token."""
    import os
    import shutil
    import signal
    import subprocess
    import threading
    import time

    import pytest

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {**os.environ, "BROWSER": "true"}  # no browser window from a test
    proc = subprocess.Popen(["make", "--no-print-directory", "lab"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        url = None
        while time.monotonic() < deadline and proc.poll() is None and url is None:
            time.sleep(0.5)
            url = next((m for line in lines if (m := re.search(r"http://(\S+?):\d+/lab\?token=\w+", line))), None)
        assert url is not None, "JupyterLab did not start:\n" + "".join(lines[-20:])
        assert url.group(1) == "127.0.0.1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
