"""The seed project's four calls, as its README writes them, beside the pipeline-based forms the chapters use.

The project this course started from documented::

    generate_class_samples(autoencoder, diffusion, target_class="Dress", num_samples=5, save_path="dresses.png")
    generate_samples_grid(autoencoder, diffusion, n_per_class=5, save_dir="samples")
    visualize_denoising_steps(autoencoder, diffusion, class_idx=5, save_path="sandal_generation_process.png")
    create_diffusion_animation(autoencoder, diffusion, class_idx=5, save_path="sandal_generation.gif")

(``autoencoder`` and ``diffusion`` as :func:`~fmd_utils.pipeline.load_autoencoder` and
:func:`~fmd_utils.pipeline.load_diffusion` return them). Each of these runs as written, and the two visual ones also
take a pipeline first (``visualize_denoising_steps(pipe, "Sandal")``). A class is a name or an index everywhere
(``class_idx`` or ``target_class``); a figure is written to ``save_path`` (PNG, or GIF for the animation) when given.
README "The seed project's calls"; tests/test_classic.py runs each one.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..autoencoder import Autoencoder
from ..checks import check_count
from ..classes import NUM_CLASSES, class_index, class_name
from ..diffusion import LatentDiffusion
from ..pipeline import LatentDiffusionPipeline
from ..settings import SamplingSettings
from ..trajectory import forward_trajectory, reverse_trajectory
from ..writable import check_output_file, check_writable_dir
from .figures import FIGURE_SUFFIXES, IMAGE_SUFFIXES, _plt, save_class_grid, save_image_grid
from .players import TimestepPlayer


def as_pipeline(first, diffusion=None) -> LatentDiffusionPipeline:
    """A pipeline from either calling form: ``(pipe)`` or the seed's ``(autoencoder, diffusion)``."""
    if isinstance(first, LatentDiffusionPipeline):
        if diffusion is not None:
            raise TypeError("pass either a pipeline or (autoencoder, diffusion), not both")
        return first
    if isinstance(first, Autoencoder) and isinstance(diffusion, LatentDiffusion):
        return LatentDiffusionPipeline(first, diffusion)
    raise TypeError("expected a LatentDiffusionPipeline (load_pretrained()) or an autoencoder and a diffusion model "
                    "(load_autoencoder(), load_diffusion()), got "
                    f"{type(first).__name__}" + (f" and {type(diffusion).__name__}" if diffusion is not None else ""))


def _class(target_class, class_idx) -> int:
    """The class asked for as ``target_class`` or as the seed's ``class_idx`` (one of them)."""
    if class_idx is not None and target_class is not None:
        raise TypeError("give the class once: target_class or class_idx")
    chosen = class_idx if class_idx is not None else target_class
    if chosen is None:
        raise TypeError("which class? pass target_class (a name or an index) or class_idx")
    return class_index(chosen)


def _save_figure(fig, save_path: str | os.PathLike | None) -> None:
    if save_path is not None:
        fig.savefig(check_output_file(save_path, "save_path", FIGURE_SUFFIXES), dpi=100)


# --------------------------------------------------------------------------------------------------- samples
def generate_class_samples(
    autoencoder: Autoencoder,
    diffusion: LatentDiffusion,
    target_class: int | str,
    num_samples: int = 5,
    save_path: str | os.PathLike | None = None,
    seed: int = 0,
    settings: SamplingSettings | None = None,
    **overrides,
) -> torch.Tensor:
    """``num_samples`` images of one class (name or index), optionally saved as a one-row PNG grid. ``settings``
    and ``overrides`` as in ``pipe.generate``."""
    index = class_index(target_class)
    num_samples = check_count(num_samples, "num_samples")
    if save_path is not None:
        check_output_file(save_path, "save_path", IMAGE_SUFFIXES)  # before sampling, not after
    pipe = LatentDiffusionPipeline(autoencoder, diffusion)
    images = pipe.generate([index] * num_samples, seed, settings=settings, **overrides)
    if save_path is not None:
        save_image_grid(images, save_path, ncols=num_samples)
    return images


def generate_samples_grid(
    autoencoder: Autoencoder,
    diffusion: LatentDiffusion,
    n_per_class: int = 5,
    save_dir: str | os.PathLike | None = None,
    seed: int = 0,
    settings: SamplingSettings | None = None,
    **overrides,
) -> torch.Tensor:
    """(10 * n_per_class, 1, 28, 28) images, one row per class in ``CLASS_NAMES`` order; saved as a labelled
    ``save_dir/samples_grid.png`` when ``save_dir`` is given (``python -m fmd_utils.grids`` writes it this way)."""
    n_per_class = check_count(n_per_class, "n_per_class")
    if save_dir is not None:
        check_writable_dir(save_dir, "save_dir")
    pipe = LatentDiffusionPipeline(autoencoder, diffusion)
    settings = pipe.settings(settings, **overrides)
    labels = [c for c in range(NUM_CLASSES) for _ in range(n_per_class)]
    images = pipe.generate(labels, seed, settings=settings)
    if save_dir is not None:
        save_class_grid(images, n_per_class, Path(save_dir) / "samples_grid.png",
                        title=f"Generated: {settings.describe(diffusion.num_steps)}, seed {seed}")
    return images


# --------------------------------------------------------------------------------------------------- figures
def visualize_denoising_steps(pipe, diffusion: LatentDiffusion | None = None, target_class: int | str | None = None,
                              n_columns: int = 8, seed: int = 0, *, class_idx: int | str | None = None,
                              save_path: str | os.PathLike | None = None, **overrides):
    """One true sampler trajectory for one sample, from pure noise (left) to the image (right): top row the decoded
    z_t, bottom row the model's clean estimate ẑ_0 at that step. Columns are labelled with t and σ = √(1−ᾱ_t).
    Called as ``(pipe, "Dress")`` or as the seed's ``(autoencoder, diffusion, class_idx=5, save_path=...)``;
    ``overrides``: sampling settings (default: the model's own). Returns the figure (also written to
    ``save_path``)."""
    if diffusion is not None and not isinstance(diffusion, LatentDiffusion) and target_class is None:
        diffusion, target_class = None, diffusion  # the pipeline form: (pipe, "Dress", ...)
    pipe = as_pipeline(pipe, diffusion)
    target = _class(target_class if target_class is not None or class_idx is not None else "Dress", class_idx)
    n_columns = check_count(n_columns, "n_columns", 2)
    if save_path is not None:
        save_path = check_output_file(save_path, "save_path", FIGURE_SUFFIXES)  # before the sampling, not after
    settings = pipe.settings(**overrides)
    traj = reverse_trajectory(pipe, target, seed=seed, settings=settings)
    picks = torch.linspace(0, len(traj.timesteps) - 1, n_columns).round().long().tolist()
    plt = _plt()
    fig, axes = plt.subplots(2, n_columns, figsize=(1.35 * n_columns, 3.3))
    for col, i in enumerate(picks):
        for row, images in enumerate((traj.images, traj.x0_images)):
            ax = axes[row, col]
            ax.imshow(images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        t = traj.timesteps[i]
        axes[0, col].set_title("clean" if t < 0 else f"t={t}\nσ={traj.noise_levels[i]:.2f}", fontsize=8)
    axes[1, 0].text(14, 14, "no estimate\nbefore step 1", color="white", ha="center", va="center", fontsize=7)
    axes[0, 0].set_ylabel("decoded $z_t$", fontsize=9)
    axes[1, 0].set_ylabel(r"estimate $\hat z_0$", fontsize=9)
    fig.suptitle(f"{settings.describe(pipe.diffusion.num_steps)}: one '{class_name(target)}', seed {seed}",
                 fontsize=10)
    fig.tight_layout()
    _save_figure(fig, save_path)
    return fig


def create_diffusion_animation(pipe, image=None, target_class: int | str | None = None, frames_each_way: int = 25,
                               seed: int = 0, save_path: str | os.PathLike | None = None, interval_ms: int = 120,
                               *, class_idx: int | str | None = None, num_frames: int | None = None, **overrides):
    """An animation of the model at work. Pipeline form ``(pipe, image, "Coat")``: forward diffusion of a real
    ``image`` (1, 28, 28) to pure noise, then the *model* denoising that noise back (DDIM, conditioned on the class):
    the reverse half is generated, not the forward frames replayed. The seed's form ``(autoencoder, diffusion,
    class_idx=5, save_path=...)``: the model generating one garment of the class from fresh noise (``num_frames``
    DDIM steps, default ``frames_each_way``). Returns a matplotlib ``FuncAnimation``; ``save_path`` (``.gif``) also
    writes it with Pillow. ``overrides``: sampling settings (guidance, ...)."""
    from matplotlib.animation import PillowWriter  # matplotlib's animation machinery only when animating

    if save_path is not None:
        save_path = check_output_file(save_path, "save_path", (".gif",))
    seed_form = isinstance(image, LatentDiffusion)
    pipe = as_pipeline(pipe, image if seed_form else None)
    if seed_form and isinstance(target_class, int | str) and class_idx is None:
        class_idx, target_class = target_class, None  # the seed's third positional argument is the class
    target = _class(target_class, class_idx)
    frames_each_way = check_count(num_frames if num_frames is not None else frames_each_way, "frames_each_way", 2)
    settings = {"sampler": "ddim", "steps": frames_each_way, **overrides}
    if seed_form or image is None:
        reverse = reverse_trajectory(pipe, target, seed=seed, **settings)
        frames, labels = reverse.images, [f"generating '{class_name(target)}': {lab}" for lab in reverse.labels()]
    else:
        T = pipe.diffusion.num_steps  # noqa: N806
        ts = [-1, *torch.linspace(0, T - 1, frames_each_way).round().long().tolist()]
        forward = forward_trajectory(pipe, image, ts, seed=seed)
        reverse = reverse_trajectory(pipe, target, seed=seed, start=forward.latents[-1:], start_t=T - 1, **settings)
        frames = torch.cat([forward.images, reverse.images[1:]])
        labels = [f"forward: {lab}" for lab in forward.labels()] + [f"reverse (model): {lab}"
                                                                   for lab in reverse.labels()[1:]]
    animation = TimestepPlayer(frames, labels, scale=12, interval_ms=interval_ms).animation(fontsize=8)
    if save_path is not None:
        animation.save(str(save_path), writer=PillowWriter(fps=max(1, 1000 // interval_ms)))
    animation.frames_data, animation.frame_labels = frames, labels
    return animation
