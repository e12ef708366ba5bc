"""End-to-end: the training CLI with the quick profile on 2048 real images, including --stop-after / --resume."""

from __future__ import annotations

import re
import shutil

import pytest
import torch

from fmd_utils import load_pretrained
from fmd_utils.checkpoint import CheckpointError, load_checkpoint
from fmd_utils.train import main

from .conftest import requires_data

pytestmark = [requires_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    assert main(["all", "--profile", "quick", "--out", str(out), "--seed", "3"]) == 0
    return out


def test_quick_run_writes_loadable_checkpoints_with_metadata(quick_run):
    for kind in ("autoencoder", "diffusion", "flow", "classifier"):
        payload = load_checkpoint(quick_run / f"{kind}.pt", kind)
        meta = payload["metadata"]
        assert meta["profile"] == "quick" and meta["seed"] == 3 and len(meta["data_sha256"]) == 64
        assert meta["versions"]["torch"] == torch.__version__
        history = meta["history"]["epochs"]
        assert len(history) == meta["profile_config"][kind]["epochs"] and all("train_loss" in h for h in history)
    diffusion = load_checkpoint(quick_run / "diffusion.pt", "diffusion")
    assert diffusion["state_dict"]["normalizer.std"].shape == (64,)  # the normaliser is part of the model
    assert diffusion["config"]["sampling"]["guidance"] > 1  # the tuned sampling settings travel with it
    assert diffusion["metadata"]["history"]["epochs"][-1]["val_loss"] < 1.0  # learned something beyond ε̂ = 0
    flow = load_checkpoint(quick_run / "flow.pt", "flow")
    # v̂ = 0 scores E‖ε − z0‖² = 2 on standardised latents; the quick flow must have learned something
    assert flow["metadata"]["history"]["epochs"][-1]["val_loss"] < 1.8
    assert flow["metadata"]["autoencoder_sha256"] == diffusion["metadata"]["autoencoder_sha256"]


def test_quick_pipeline_generates_deterministic_images(quick_run):
    pipe = load_pretrained(quick_run)
    a = pipe.generate(["Dress", 3, "sandal"], steps=5, guidance=2.0, seed=0)
    b = pipe.generate(["Dress", 3, "sandal"], steps=5, guidance=2.0, seed=0)
    assert a.shape == (3, 1, 28, 28) and torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1
    flow = load_pretrained(quick_run, model="flow")
    c = flow.generate(["Dress", 3, "sandal"], steps=5, guidance=2.0, seed=0)
    assert torch.equal(c, flow.generate(["Dress", 3, "sandal"], steps=5, guidance=2.0, seed=0))


def test_resume_continues_to_the_same_weights(quick_run, tmp_path):
    """Stop after one epoch, resume, and land on exactly the weights of the uninterrupted run."""
    args = ["autoencoder", "--profile", "quick", "--out", str(tmp_path), "--seed", "3"]
    assert main([*args, "--stop-after", "1"]) == 0
    assert not (tmp_path / "autoencoder.pt").exists() and (tmp_path / "autoencoder.state.pt").exists()
    assert main([*args, "--resume"]) == 0
    resumed = load_checkpoint(tmp_path / "autoencoder.pt", "autoencoder")
    straight = load_checkpoint(quick_run / "autoencoder.pt", "autoencoder")
    assert [e["epoch"] for e in resumed["metadata"]["history"]["epochs"]] == [1, 2]
    for name, tensor in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], tensor, msg=name)


def test_resume_with_a_different_plan_is_refused(tmp_path):
    args = ["classifier", "--profile", "quick", "--out", str(tmp_path)]
    assert main([*args, "--stop-after", "1"]) == 0
    with pytest.raises(CheckpointError, match=r"different run \(planned_epochs: 2 there, 3 now\)"):
        main([*args, "--epochs", "3", "--resume"])


def test_mismatched_autoencoder_is_detected(quick_run, tmp_path):
    for kind in ("autoencoder", "diffusion"):
        shutil.copy(quick_run / f"{kind}.pt", tmp_path / f"{kind}.pt")
    assert main(["autoencoder", "--profile", "quick", "--out", str(tmp_path), "--seed", "9"]) == 0
    with pytest.raises(CheckpointError, match="different autoencoder"):
        load_pretrained(tmp_path)


def test_stale_resume_after_a_new_autoencoder_is_refused(quick_run, tmp_path):
    """A diffusion state saved against one autoencoder must not be finished against another: the result would carry
    the new autoencoder's fingerprint and sample at chance."""
    shutil.copy(quick_run / "autoencoder.pt", tmp_path / "autoencoder.pt")
    args = ["--profile", "quick", "--out", str(tmp_path)]
    assert main(["diffusion", *args, "--stop-after", "1"]) == 0
    assert main(["autoencoder", *args, "--seed", "1"]) == 0
    with pytest.raises(CheckpointError, match="different run \\(autoencoder_sha256"):
        main(["diffusion", *args, "--resume"])
    assert not (tmp_path / "diffusion.pt").exists()


def test_resume_with_another_seed_is_refused(tmp_path):
    args = ["classifier", "--profile", "quick", "--out", str(tmp_path)]
    assert main([*args, "--stop-after", "1"]) == 0
    with pytest.raises(CheckpointError, match=r"different run \(seed: 0 there, 5 now\)"):
        main([*args, "--seed", "5", "--resume"])


@pytest.mark.parametrize("content", [b"", b"garbage", None])
def test_damaged_or_foreign_state_is_explained(tmp_path, content):
    state = tmp_path / "classifier.state.pt"
    if content is None:  # a readable file that is not a training state of this version
        torch.save({"model": {}}, state)
    else:
        state.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"{state.name} is not a (readable )?training state.*delete"):
        main(["classifier", "--profile", "quick", "--out", str(tmp_path), "--resume"])


def test_quick_run_never_writes_into_the_shipped_folder(monkeypatch, tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setenv("FMD_CHECKPOINT_DIR", str(shipped))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["autoencoder", "--profile", "quick", "--out", str(shipped)])
    assert main(["autoencoder", "--profile", "quick", "--epochs", "1"]) == 0  # default --out: build/quick
    assert (tmp_path / "build" / "quick" / "autoencoder.pt").is_file() and not list(shipped.iterdir())


def test_bad_arguments_fail_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for argv, message in [
        (["--out", str(blocker / "sub")], "--out .* is not a writable folder"),
        (["--stop-after", "0", "--out", str(tmp_path)], "--stop-after must be >= 1"),
        (["--epochs", "0", "--out", str(tmp_path)], "--epochs must be >= 1"),
    ]:
        with pytest.raises(SystemExit):
            main(["autoencoder", "--profile", "quick", *argv])
        assert re.search(message, capsys.readouterr().err)
    assert not list(tmp_path.glob("*.pt"))


def test_orphan_temporary_files_are_cleaned(tmp_path):
    """A save killed mid-write leaves `.<name>.*.tmp`; the next save of that file removes it."""
    orphan = tmp_path / ".autoencoder.pt.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    assert main(["autoencoder", "--profile", "quick", "--out", str(tmp_path), "--epochs", "1"]) == 0
    assert not list(tmp_path.glob("*.tmp")) and (tmp_path / "autoencoder.pt").is_file()
