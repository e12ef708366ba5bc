"""The seed project's four calls: the block in the book's package appendix run exactly as written, and both calling
forms."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from fmd_utils import load_pretrained  # noqa: E402
from fmd_utils.views.classic import (  # noqa: E402
    as_pipeline,
    create_diffusion_animation,
    generate_class_samples,
    visualize_denoising_steps,
)

SEED_CALLS = Path(__file__).resolve().parents[1] / "book" / "appendix_package.md"  # its "The seed project's calls"


def seed_block() -> str:
    match = re.search(r"<!-- seed-calls -->\n```python\n(.*?)```\n<!-- /seed-calls -->", SEED_CALLS.read_text(), re.S)
    assert match, "book/appendix_package.md lost its <!-- seed-calls --> block"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_block_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(seed_block(), "book/appendix_package.md (seed calls)", "exec"), namespace)  # noqa: S102 - the page's own code
    assert namespace["samples"].shape == (5, 1, 28, 28) and namespace["grid"].shape == (50, 1, 28, 28)
    assert Image.open("dress_samples.png").size == (5 * 30 + 2, 32)  # five 28-pixel images with 2-pixel gaps
    assert Image.open("samples/samples_grid.png").format == "PNG"
    assert Image.open("sandal_generation_process.png").format == "PNG"
    gif = Image.open("sandal_generation.gif")
    assert gif.format == "GIF" and gif.n_frames == 26  # z_T and 25 DDIM steps


@pytest.fixture(scope="module")
def pipe():
    return load_pretrained()


def test_both_calling_forms_draw_the_same_trajectory(pipe):
    a = visualize_denoising_steps(pipe, "Sandal", n_columns=3, steps=6)
    b = visualize_denoising_steps(pipe.autoencoder, pipe.diffusion, class_idx=np.int64(5), n_columns=3, steps=6)
    pixels = [np.asarray(fig.axes[-1].images[0].get_array()) for fig in (a, b)]
    np.testing.assert_array_equal(*pixels)
    assert "one 'Sandal'" in a._suptitle.get_text() and a._suptitle.get_text() == b._suptitle.get_text()
    animation = create_diffusion_animation(pipe.autoencoder, pipe.diffusion, 5, num_frames=4)
    assert len(animation.frames_data) == 5 and "generating 'Sandal'" in animation.frame_labels[0]


@pytest.mark.parametrize("call, error, message", [
    (lambda p: as_pipeline("checkpoints/"), TypeError, "expected a LatentDiffusionPipeline"),
    (lambda p: visualize_denoising_steps(p, target_class="Sandal", class_idx=5), TypeError, "give the class once"),
    (lambda p: visualize_denoising_steps(p, "Sandal", n_columns=1), ValueError, "n_columns must be an integer >= 2"),
    (lambda p: visualize_denoising_steps(p, "Sandal", save_path="x.txt"), ValueError, r"save_path must end in \.png"),
    (lambda p: create_diffusion_animation(p.autoencoder, p.diffusion, 5, save_path="x.png"), ValueError,
     r"save_path must end in \.gif"),
    (lambda p: create_diffusion_animation(p, None), TypeError, "which class"),
    (lambda p: generate_class_samples(p.autoencoder, p.diffusion, "Dress", num_samples=0), ValueError,
     "num_samples must be an integer >= 1"),
    (lambda p: generate_class_samples(p.autoencoder, p.diffusion, "Dress", save_path=Path(".")), ValueError,
     "is a folder"),
    (lambda p: generate_class_samples(p.autoencoder, p.diffusion, "Gown"), ValueError, "Unknown class 'Gown'"),
    (lambda p: generate_class_samples(p.diffusion, p.autoencoder, "Dress"), TypeError, "expected a LatentDiffusion"),
    (lambda p: visualize_denoising_steps(p, "Sandal", 10), TypeError, "the others are keyword arguments"),
    (lambda p: create_diffusion_animation(p, torch.zeros(28, 28), "Coat"), ValueError,
     r"image must be a tensor of shape \(1, 28, 28\)"),
    (lambda p: create_diffusion_animation(p.autoencoder, p.diffusion, 5, interval_ms=0), ValueError,
     "interval_ms must be an integer >= 1"),
])
def test_mistakes_name_the_argument(pipe, call, error, message):
    with pytest.raises(error, match=message):
        call(pipe)


def test_a_failed_check_writes_nothing(pipe, tmp_path):
    with pytest.raises(ValueError):
        generate_class_samples(pipe.autoencoder, pipe.diffusion, "Dress", num_samples=2,
                               save_path=tmp_path / "out.bmp")
    assert list(tmp_path.iterdir()) == []
    assert torch.equal(generate_class_samples(pipe.autoencoder, pipe.diffusion, "Dress", num_samples=2, seed=3),
                       pipe.generate(["Dress"] * 2, 3))
