"""The public API on the shipped checkpoints in checkpoints/."""

from __future__ import annotations

import shutil

import pytest
import torch

from fmd_utils import generate_class_samples, generate_samples_grid, load_diffusion, load_pretrained
from fmd_utils.checkpoint import CheckpointError
from fmd_utils.pipeline import default_checkpoint_dir


@pytest.fixture(scope="module")
def pipe():
    return load_pretrained()


def test_generate_shapes_range_and_determinism(pipe):
    a = pipe.generate(["Dress", 3, "sandal"], steps=20, guidance=2.0, seed=0)
    assert a.shape == (3, 1, 28, 28) and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, pipe.generate(["Dress", 3, "sandal"], steps=20, guidance=2.0, seed=0))
    assert not torch.equal(a, pipe.generate(["Dress", 3, "sandal"], steps=20, guidance=2.0, seed=1))
    assert a.std() > 0.1  # images, not a flat grey


def test_bad_arguments_are_explained(pipe):
    with pytest.raises(ValueError, match="Unknown class 'Jacket'.*Valid classes"):
        pipe.generate(["Jacket"])
    with pytest.raises(ValueError, match="steps must be between 1 and T = 1000"):
        pipe.generate([1], steps=0)
    with pytest.raises(ValueError, match="steps must be between 1 and T = 1000"):
        pipe.generate([1], steps=1001)
    with pytest.raises(ValueError, match="guidance must be >= 0"):
        pipe.generate([1], guidance=-0.5)


def test_guidance_interval_in_the_api(pipe):
    labels = ["Shirt", "Coat", "T-shirt/top"]
    every = pipe.generate(labels, steps=10, guidance=3.0, seed=0, guidance_interval=None)
    assert torch.equal(every, pipe.generate(labels, steps=10, guidance=3.0, seed=0, guidance_interval=(0, 999)))
    assert not torch.equal(every, pipe.generate(labels, steps=10, guidance=3.0, seed=0, guidance_interval=(0, 499)))
    with pytest.raises(ValueError, match=r"guidance_interval must be .* 0 <= lo <= hi <= 999"):
        pipe.generate([1], guidance_interval=(800, 100))


def test_seed_project_functions(pipe, tmp_path):
    pair = load_diffusion()
    images = generate_class_samples(pipe.autoencoder, pair, "Sandal", num_samples=4, save_path=tmp_path / "s.png",
                                    steps=10)
    assert images.shape == (4, 1, 28, 28) and (tmp_path / "s.png").stat().st_size > 0
    assert torch.equal(images, generate_class_samples(pipe.autoencoder, pair, 5, num_samples=4, steps=10))
    grid = generate_samples_grid(pipe.autoencoder, pair, n_per_class=2, save_dir=tmp_path, steps=10)
    assert grid.shape == (20, 1, 28, 28) and (tmp_path / "samples_grid.png").is_file()
    with pytest.raises(ValueError, match="Unknown class"):
        generate_class_samples(pipe.autoencoder, pair, "hat")


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="No autoencoder checkpoint.*make train"):
        load_pretrained(tmp_path)
    for name in ("autoencoder.pt", "diffusion.pt"):
        shutil.copy(default_checkpoint_dir() / name, tmp_path / name)
    data = (tmp_path / "diffusion.pt").read_bytes()
    (tmp_path / "diffusion.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_pretrained(tmp_path)
