"""End-to-end: the training CLI with the quick profile on 2048 real images, including --stop-after / --resume."""

from __future__ import annotations

import pytest
import torch

from fmd_utils import load_pretrained
from fmd_utils.checkpoint import CheckpointError, load_checkpoint
from fmd_utils.train import main

from .conftest import requires_data

pytestmark = requires_data


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    assert main(["all", "--profile", "quick", "--out", str(out), "--seed", "3"]) == 0
    return out


def test_quick_run_writes_loadable_checkpoints_with_metadata(quick_run):
    for kind in ("autoencoder", "diffusion", "classifier"):
        payload = load_checkpoint(quick_run / f"{kind}.pt", kind)
        meta = payload["metadata"]
        assert meta["profile"] == "quick" and meta["seed"] == 3 and len(meta["data_sha256"]) == 64
        assert meta["versions"]["torch"] == torch.__version__
        history = meta["history"]["epochs"]
        assert len(history) == meta["profile_config"][kind]["epochs"] and all("train_loss" in h for h in history)
    diffusion = load_checkpoint(quick_run / "diffusion.pt", "diffusion")
    assert diffusion["extra"]["latent_std"].shape == (64,)
    assert diffusion["metadata"]["history"]["epochs"][-1]["val_loss"] < 1.0  # learned something beyond ε̂ = 0


def test_quick_pipeline_generates_deterministic_images(quick_run):
    pipe = load_pretrained(quick_run)
    a = pipe.generate(["Dress", 3, "sandal"], steps=5, guidance=2.0, seed=0)
    b = pipe.generate(["Dress", 3, "sandal"], steps=5, guidance=2.0, seed=0)
    assert a.shape == (3, 1, 28, 28) and torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1


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
    with pytest.raises(CheckpointError, match="planned for 2 epochs, not 3"):
        main([*args, "--epochs", "3", "--resume"])


def test_mismatched_autoencoder_is_detected(quick_run, tmp_path):
    import shutil

    for kind in ("autoencoder", "diffusion"):
        shutil.copy(quick_run / f"{kind}.pt", tmp_path / f"{kind}.pt")
    assert main(["autoencoder", "--profile", "quick", "--out", str(tmp_path), "--seed", "9"]) == 0
    with pytest.raises(CheckpointError, match="different autoencoder"):
        load_pretrained(tmp_path)
