"""The public API on the shipped checkpoints in checkpoints/."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from fmd_utils import generate_class_samples, generate_samples_grid, load_diffusion, load_pretrained
from fmd_utils.checkpoint import CheckpointError, default_checkpoint_dir
from fmd_utils.config import get_profile

REFERENCE = Path(__file__).parent / "data" / "reference_samples.pt"


@pytest.fixture(scope="module")
def pipe():
    return load_pretrained()


def test_shipped_samples_are_unchanged(pipe):
    """The shipped checkpoints give, seed for seed, the samples recorded when they were shipped
    (tests/data/reference_samples.pt: the stored settings (Heun on the straight path, 8 steps; recorded when it
    became the default), DDIM-50 with the stored guidance, DDIM-20 with η = 0.5, DDPM): a code change
    that alters sampling fails here. Record it again only together with new checkpoints. The tolerance, 1e-4 of a
    pixel, admits the float rounding of another CPU's kernels (AMD EPYC against the Intel Xeon that recorded it:
    7e-6) and nothing a real change to a sampler does (1e-2 and more)."""
    reference = torch.load(REFERENCE, weights_only=True)
    labels = [c for c in range(10) for _ in range(3)]
    torch.testing.assert_close(pipe.generate(labels, seed=0), reference["heun_straight8"], rtol=0, atol=1e-4)
    torch.testing.assert_close(pipe.generate(labels, seed=0, sampler="ddim", steps=50), reference["ddim50"], rtol=0,
                               atol=1e-4)
    torch.testing.assert_close(pipe.generate(labels, seed=5, sampler="ddim", steps=20, eta=0.5, guidance=2.0,
                                             guidance_interval=None),
                               reference["eta"], rtol=0, atol=1e-4)
    torch.testing.assert_close(pipe.generate(labels[:10], seed=1, sampler="ddpm", guidance=3.0), reference["ddpm"],
                               rtol=0, atol=1e-4)


def test_generate_shapes_range_and_determinism(pipe):
    a = pipe.generate(["Dress", 3, "sandal"], steps=20, guidance=2.0, seed=0)
    assert a.shape == (3, 1, 28, 28) and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, pipe.generate(["Dress", 3, "sandal"], steps=20, guidance=2.0, seed=0))
    assert not torch.equal(a, pipe.generate(["Dress", 3, "sandal"], steps=20, guidance=2.0, seed=1))
    assert a.std() > 0.1  # images, not a flat grey


def test_stored_sampling_settings_are_the_default(pipe):
    stored = pipe.diffusion.sampling
    assert stored == get_profile("full").diffusion.sampling  # config.py's choice is what the checkpoint holds
    assert torch.equal(pipe.generate([1, 2], seed=4), pipe.generate([1, 2], seed=4, settings=stored))
    assert torch.equal(pipe.generate([1, 2], seed=4, guidance=2.0),
                       pipe.generate([1, 2], seed=4, settings=stored.replace(guidance=2.0)))


def test_bad_arguments_are_explained(pipe):
    with pytest.raises(ValueError, match="Unknown class 'Jacket'.*Valid classes"):
        pipe.generate(["Jacket"])
    with pytest.raises(ValueError, match="steps must be an integer between 1 and T = 1000"):
        pipe.generate([1], steps=0)
    with pytest.raises(ValueError, match="steps must be an integer between 1 and T = 1000"):
        pipe.generate([1], steps=1001)
    with pytest.raises(ValueError, match="guidance must be a finite number >= 0"):
        pipe.generate([1], guidance=-0.5)
    with pytest.raises(TypeError, match="unknown sampling setting"):
        pipe.generate([1], guidence=2.0)


@pytest.mark.parametrize("field, value", [("guidance", math.nan), ("guidance", math.inf), ("eta", math.nan)])
def test_non_finite_settings_are_refused_not_turned_into_nan_images(pipe, field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        pipe.generate([1], **{field: value})


def test_the_null_class_is_not_a_label(pipe):
    """A tensor [10] used to sample unconditionally while [10] raised: both are refused, with the way to do it."""
    for labels in (torch.tensor([10]), [10]):
        with pytest.raises(ValueError, match="out of range 0-9"):
            pipe.generate(labels)


def test_empty_and_bare_classes(pipe):
    with pytest.raises(ValueError, match="no classes given"):
        pipe.generate([])
    one = pipe.generate("Dress", steps=5)  # a bare name is one class, not the letters D, r, e, s, s
    assert one.shape == (1, 1, 28, 28) and torch.equal(one, pipe.generate(["Dress"], steps=5))


def test_guidance_interval_in_the_api(pipe):
    labels = ["Shirt", "Coat", "T-shirt/top"]
    every = pipe.generate(labels, steps=10, guidance=3.0, seed=0, guidance_interval=None)
    assert torch.equal(every, pipe.generate(labels, steps=10, guidance=3.0, seed=0, guidance_interval=(0, 999)))
    assert not torch.equal(every, pipe.generate(labels, steps=10, guidance=3.0, seed=0, guidance_interval=(0, 499)))
    with pytest.raises(ValueError, match=r"guidance_interval must be .* 0 <= lo <= hi <= 999"):
        pipe.generate([1], guidance_interval=(800, 100))


def test_latents_are_raw_at_the_boundary(pipe):
    """sample_latents returns autoencoder latents: decoding them is generate, and they have the data's statistics,
    not unit variance."""
    latents = pipe.sample_latents(list(range(10)) * 20, seed=0, steps=10)
    torch.testing.assert_close(latents.std(0).mean(), pipe.diffusion.normalizer.std.mean(), rtol=0.3, atol=0)
    torch.testing.assert_close(pipe.decode(latents), pipe.generate(list(range(10)) * 20, seed=0, steps=10))


def test_seed_project_functions(pipe, tmp_path):
    diffusion = load_diffusion()
    images = generate_class_samples(pipe.autoencoder, diffusion, "Sandal", num_samples=4,
                                    save_path=tmp_path / "s.png", steps=10)
    assert images.shape == (4, 1, 28, 28) and (tmp_path / "s.png").stat().st_size > 0
    assert torch.equal(images, generate_class_samples(pipe.autoencoder, diffusion, 5, num_samples=4, steps=10))
    grid = generate_samples_grid(pipe.autoencoder, diffusion, n_per_class=2, save_dir=tmp_path, steps=10)
    assert grid.shape == (20, 1, 28, 28) and (tmp_path / "samples_grid.png").is_file()
    with pytest.raises(ValueError, match="Unknown class"):
        generate_class_samples(pipe.autoencoder, diffusion, "hat")


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="No autoencoder checkpoint.*make train"):
        load_pretrained(tmp_path)
    for name in ("autoencoder.pt", "diffusion.pt"):
        shutil.copy(default_checkpoint_dir() / name, tmp_path / name)
    data = (tmp_path / "diffusion.pt").read_bytes()
    (tmp_path / "diffusion.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_pretrained(tmp_path)
