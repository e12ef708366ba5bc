"""The sample-grid command line on the shipped checkpoints."""

from __future__ import annotations

import pytest

from fmd_utils.grids import main


def test_writes_a_labelled_grid(tmp_path):
    assert main(["--out", str(tmp_path), "--per-class", "2", "--steps", "5", "--device", "auto"]) == 0
    assert (tmp_path / "samples_grid.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["--guidance", "nan"], "guidance must be a finite number"),
    (["--eta", "inf"], "eta must be a finite number"),
    (["--steps", "0"], "steps must be an integer between 1 and T"),
    (["--per-class", "0"], "--per-class must be >= 1"),
    (["--device", "tpu"], "device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got 'tpu'"),
])
def test_bad_settings_exit_with_an_error_and_no_png(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path), *argv])
    assert exit_info.value.code != 0 and message in capsys.readouterr().err
    assert not (tmp_path / "samples_grid.png").exists()
