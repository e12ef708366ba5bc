"""The GPU check (``make gpu-check``) kept working without a GPU: its command runs every step on the CPU and fills
the book's block; its comparisons (device against CPU) run CPU against CPU, where they must pass; and it refuses a
machine without CUDA in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fmd_utils import gpu_check
from fmd_utils.gpu_check import Check

from .conftest import requires_data

pytestmark = [requires_data, pytest.mark.slow]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """``python -m fmd_utils.gpu_check --device cpu`` once, with a page whose block it fills."""
    folder = tmp_path_factory.mktemp("gpu-check")
    page = folder / "page.md"
    page.write_text("before\n<!-- results:gpu-check -->\nnot run yet\n<!-- /results:gpu-check -->\nafter\n")
    out = folder / "gpu" / "check.json"
    args = ["--device", "cpu", "--precision", "bf16", "--no-profile-epochs", "--samples", "20",
            "--work", str(folder / "work"), "--out", str(out), "--readme", str(page)]
    return folder, page, out, gpu_check.main(args)


def test_the_check_runs_every_step_and_fills_the_block(checked, capsys):
    _, page, out, code = checked
    assert code == 0
    report = json.loads(out.read_text())
    steps = {row["step"] for row in report["rows"]}
    assert {"environment", "training", "mixed precision", "sampling", "evaluation", "several GPUs"} <= steps
    assert [row["passed"] for row in report["rows"] if row["step"] == "mixed precision"] == [True]  # bf16 vs fp32
    assert out.with_suffix(".md").read_text().count("\n| ") == len(report["rows"]) + 1  # the header and each row
    text = page.read_text()
    assert "not run yet" not in text and "| training | quick profile on cpu |" in text
    assert text.startswith("before\n") and text.endswith("after\n")


def test_the_comparisons_pass_for_two_runs_of_one_device(checked, tmp_path):
    """Every comparison the check makes on a GPU, made here with the CPU on both sides: they must all pass (a bound
    that fails against itself would fail every GPU), and the profile-epoch estimate adds up."""
    work = checked[0] / "work" / "quick" / "cpu"
    check = Check()
    gpu_check.compare_training(check, work, work, "cpu")
    gpu_check.check_sampling(check, CPU, compare=True)  # two runs
    gpu_check.check_profile_epochs(check, tmp_path, CPU, "fp32", profile="quick")
    compared = [row for row in check.rows if row["passed"] is not None]
    assert len(compared) == 6 and not check.failed, check.rows
    pixels = next(row for row in compared if "pixel" in row["what"])
    assert float(pixels["value"]) == 0.0  # the same device and seed: the same images
    estimate = check.rows[-1]
    assert estimate["what"].startswith("the 3 stages") and float(estimate["value"].split()[0]) > 0


@pytest.mark.parametrize("device, passed", [
    ({"accuracy": 0.961, "fid_over_floor": 13.0}, [True, True]),  # float rounding
    ({"accuracy": 0.935, "fid_over_floor": 13.0}, [False, True]),  # 2.6 points of accuracy lost
    ({"accuracy": 0.961, "fid_over_floor": 14.5}, [True, False]),  # FID / floor 11.5 % worse
])
def test_the_benchmark_comparison_tells_rounding_from_a_device_bug(monkeypatch, device, passed):
    """The benchmark's own run is the check's command above; here its two results, the GPU's and the CPU's."""
    cpu = {"accuracy": 0.96, "fid_over_floor": 13.0}
    monkeypatch.setattr(gpu_check, "measure", lambda on, n: {"seconds": 1.0, **(cpu if on.type == "cpu" else device)})
    check = Check()
    gpu_check.check_evaluation(check, torch.device("cuda"), 1000, compare=True)
    assert [row["passed"] for row in check.rows if row["passed"] is not None] == passed


def test_without_cuda_the_command_ends_in_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = subprocess.run([sys.executable, "-m", "fmd_utils.gpu_check"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no CUDA GPU is available" in result.stderr.strip().splitlines()[-1]
