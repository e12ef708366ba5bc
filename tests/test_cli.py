"""Every command line ends a user's mistake in one line, never a traceback: exit code 2 for a bad argument (naming
it), 1 for a missing or damaged input file. Run as a user runs them, in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "TQDM_DISABLE": "1"})


@pytest.mark.parametrize("argv, code, message", [
    (("fmd_utils.grids", "--checkpoints", "{tmp}/none"), 1, "No autoencoder checkpoint at"),
    (("fmd_utils.evaluate", "--checkpoints", "{tmp}/none", "--out", "{tmp}/m.json"), 1, "No diffusion checkpoint at"),
    (("fmd_utils.web", "--out", "{tmp}/web", "--checkpoints", "{tmp}/none"), 1, "No autoencoder checkpoint at"),
    (("fmd_utils.train", "diffusion", "--profile", "quick", "--out", "{tmp}/empty"), 1, "No autoencoder checkpoint"),
    (("fmd_utils.evaluate", "--device", "cudax", "--out", "{tmp}/m.json"), 2, "device must be 'cpu', 'cuda'"),
    (("fmd_utils.train", "all", "--seed", "-1", "--out", "{tmp}/t"), 2, "--seed must lie in 0"),
    (("fmd_utils.grids", "--seed", str(2**32), "--out", "{tmp}/g"), 2, "--seed must lie in 0"),
    (("fmd_utils.grids", "--sampler", "dpm++2m", "--eta", "1", "--out", "{tmp}/g"), 2, "eta is DDIM's stochasticity"),
    (("fmd_utils.train", "autoencoder", "--denoiser", "dit", "--out", "{tmp}/t"), 2, "--denoiser applies to"),
    (("fmd_utils.evaluate", "--denoiser", "dit", "--checkpoints", "{tmp}/none", "--out", "{tmp}/m.json"), 1,
     "diffusion-dit.pt"),
])
def test_a_mistake_ends_in_one_line(tmp_path, argv, code, message):
    result = run(*(a.format(tmp=tmp_path) for a in argv))
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(("error:", f"{argv[0].replace('fmd_utils.', 'python -m fmd_utils.')}: error:")), last
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "g" / "samples_grid.png").exists()
