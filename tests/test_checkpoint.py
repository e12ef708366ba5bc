import pytest
import torch

from fmd_utils.autoencoder import AutoencoderConfig
from fmd_utils.checkpoint import (
    CheckpointError,
    build_config,
    default_checkpoint_dir,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from fmd_utils.denoisers import DiTConfig, LatentDiT
from fmd_utils.diffusion import LatentDiffusion
from fmd_utils.settings import SamplingSettings


def test_roundtrip_is_weights_only_loadable(tmp_path):
    state = {"w": torch.arange(4.0)}
    path = save_checkpoint(tmp_path / "m.pt", "autoencoder", {"latent_dim": 64, "channels": (16, 32)}, state,
                           {"note": "x"})
    raw = torch.load(path, weights_only=True)  # no pickled code needed
    assert raw["kind"] == "autoencoder"
    payload = load_checkpoint(path, "autoencoder")
    assert torch.equal(payload["state_dict"]["w"], state["w"]) and payload["metadata"]["note"] == "x"
    assert build_config(AutoencoderConfig, payload["config"], path).channels == (16, 32)
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"


def test_missing_corrupt_and_wrong_kind(tmp_path):
    with pytest.raises(CheckpointError, match="No autoencoder checkpoint.*make train"):
        load_checkpoint(tmp_path / "absent.pt", "autoencoder")
    path = save_checkpoint(tmp_path / "m.pt", "classifier", {}, {"w": torch.zeros(1000)})
    with pytest.raises(CheckpointError, match="'classifier' checkpoint, but a 'diffusion'"):
        load_checkpoint(path, "diffusion")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path, "classifier")
    (tmp_path / "other.pt").write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "other.pt", "classifier")


def test_incompatible_config_is_explained(tmp_path):
    with pytest.raises(CheckpointError, match="incompatible version"):
        build_config(AutoencoderConfig, {"latent_dim": 64, "colour": True}, tmp_path / "m.pt")


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", "classifier", {}, {"w": torch.ones(3)})

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, "classifier", {}, {"w": torch.zeros(3)})
    assert torch.equal(load_checkpoint(path, "classifier")["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_one_loader_for_every_kind():
    from fmd_utils.checkpoint import load_model
    from fmd_utils.diffusion import LatentDiffusion

    models = {kind: load_model(kind) for kind in ("autoencoder", "diffusion", "classifier")}
    assert all(not m.training and "history" in m.metadata for m in models.values())
    diffusion = models["diffusion"]
    assert isinstance(diffusion, LatentDiffusion) and diffusion.normalizer.std.shape == (64,)
    assert float(diffusion.normalizer.std.min()) > 0 and not torch.equal(diffusion.normalizer.std, torch.ones(64))
    with pytest.raises(ValueError, match="kind must be one of"):
        load_model("judge")


def test_convolutional_models_load_channels_last_and_compute_the_same():
    """Loaded in oneDNN's preferred layout (about twice as fast on a CPU): same weights, same outputs to rounding."""
    import copy

    from fmd_utils.checkpoint import load_model

    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for kind in ("autoencoder", "classifier"):
        model = load_model(kind)
        convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
        plain = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
        with torch.no_grad():
            torch.testing.assert_close(model(x), plain(x), rtol=1e-4, atol=1e-4)


def test_old_format_is_explained(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": "fmd-checkpoint", "format_version": 1, "kind": "autoencoder"}, path)
    with pytest.raises(CheckpointError, match=r"format version 1, this code reads versions \(2, 3\).*make train"):
        load_checkpoint(path, "autoencoder")


def test_the_architecture_is_stored_and_version_2_still_loads(tmp_path):
    """Format 3 stores which denoiser a checkpoint holds, and the one builder rebuilds it; a version-2 checkpoint
    (no "architecture": always the UNet) loads as before."""
    model = LatentDiffusion(LatentDiT(DiTConfig(width=16, depth=1, heads=2, embed_dim=16)), prediction="v")
    config = {"architecture": "dit", "denoiser": model.denoiser.config.to_dict(), "schedule": "cosine",
              "num_steps": 1000, "prediction": "v", "sampling": SamplingSettings().to_dict()}
    path = save_checkpoint(tmp_path / "diffusion-dit.pt", "diffusion", config, model.state_dict())
    assert torch.load(path, weights_only=True)["format_version"] == 3
    loaded = load_model("diffusion", path)
    assert isinstance(loaded.denoiser, LatentDiT) and loaded.denoiser.config == model.denoiser.config
    # without the key, the same weights would be rebuilt as a UNet and refused, naming the mismatch
    del config["architecture"]
    save_checkpoint(path, "diffusion", config, model.state_dict())
    with pytest.raises(CheckpointError, match="stored denoiser does not match"):
        load_model("diffusion", path)
    shipped = torch.load(default_checkpoint_dir() / "diffusion.pt", weights_only=True)
    if shipped["format_version"] == 2:  # the shipped UNet predates the registry: it still loads
        assert "architecture" not in shipped["config"]
        assert load_model("diffusion").denoiser.architecture == "unet"


def test_shipped_checkpoints_are_what_make_train_writes():
    """`make train` (the full profile) reproduces the shipped checkpoints: each was trained with the full profile's
    current settings, on the current data, the denoiser on the shipped autoencoder."""
    from dataclasses import asdict

    from fmd_utils.checkpoint import load_model, state_fingerprint
    from fmd_utils.config import get_profile

    full = get_profile("full")
    models = {kind: load_model(kind) for kind in ("autoencoder", "diffusion", "classifier")}
    for kind, model in models.items():
        meta = model.metadata
        assert meta["profile"] == "full" and meta["seed"] == 0, kind
        stored, current = meta["profile_config"][kind], asdict(getattr(full, kind))
        for key, then in ADDED_SINCE.get(kind, {}).items():  # a field added later, at the value the model had
            if key not in stored:
                assert current.pop(key) == then, f"{kind}: {key} is no longer {then!r}; retrain with make train"
        assert stored == current, f"{kind}: config.py changed since training"
        assert meta["history"]["done"] and len(meta["history"]["epochs"]) == getattr(full, kind).epochs
    assert models["diffusion"].metadata["autoencoder_sha256"] == state_fingerprint(models["autoencoder"].state_dict())
    # the second denoiser: the full profile's DiT, trained on the same autoencoder (make train-dit)
    dit = load_model("diffusion", default_checkpoint_dir() / "diffusion-dit.pt")
    assert dit.denoiser.architecture == "dit" and dit.metadata["seed"] == 0
    assert dit.metadata["profile_config"]["diffusion"] == asdict(full.with_denoiser("dit").diffusion)
    assert dit.metadata["autoencoder_sha256"] == models["diffusion"].metadata["autoencoder_sha256"]


# fields of the profile added after the shipped models were trained, and the value those models were trained with
ADDED_SINCE = {"diffusion": {"denoiser": "unet"}}


def test_load_report_finds_the_shipped_benchmark_from_any_folder(tmp_path, monkeypatch):
    from fmd_utils.checkpoint import load_report

    monkeypatch.chdir(tmp_path)  # a notebook run from another folder (a student's copy) reads the same report
    report, dit = load_report(), load_report("dit")
    assert report["settings"] and dit["settings"] and report != dit
    monkeypatch.setenv("FMD_RESULTS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make evaluate"):
        load_report()
