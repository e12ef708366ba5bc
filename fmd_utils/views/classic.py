"""The seed project's four calls, as its README writes them, beside the pipeline-based forms the chapters use.

The project this course started from documented::

    generate_class_samples(autoencoder, diffusion, target_class="Dress", num_samples=5, save_path="dress_samples.png")
    generate_samples_grid(autoencoder, diffusion, n_per_class=5, save_dir="samples")
    visualize_denoising_steps(autoencoder, diffusion, class_idx=5, save_path="sandal_generation_process.png")
    create_diffusion_animation(autoencoder, diffusion, class_idx=5, save_path="sandal_generation.gif")

(``autoencoder`` and ``diffusion`` as :func:`~fmd_utils.pipeline.load_autoencoder` and
:func:`~fmd_utils.pipeline.load_diffusion` return them). Each of these runs as written, and the two visual ones also
take a pipeline first (``visualize_denoising_steps(pipe, "Sandal")``); after the model(s) only the class (and the
animation's image) go by position. A class is a name or an index everywhere
(``class_idx`` or ``target_class``); a figure is written to ``save_path`` (PNG, or GIF for the animation) when given.
book/appendix_package.md, "The seed project's calls"; tests/test_classic.py runs each one.
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


def _split(first, rest: tuple, what: str) -> tuple[LatentDiffusionPipeline, tuple]:
    """The pipeline and the remaining positional arguments, from ``(pipe, *rest)`` or ``(autoencoder, diffusion,
    *rest)``; at most ``len(what)`` of them, named in ``what`` for the error."""
    if rest and isinstance(rest[0], LatentDiffusion):
        pipe, rest = as_pipeline(first, rest[0]), rest[1:]
    else:
        pipe = as_pipeline(first)
    if len(rest) > len(what):
        raise TypeError(f"after the model(s) give at most {', '.join(what)} by position; the others are keyword "
                        f"arguments (got {len(rest)} positional)")
    return pipe, rest


def _class(target_class, class_idx) -> int:
    """The class asked for as ``target_class`` or as the seed's ``class_idx`` (one of them)."""
    if class_idx is not None and target_class is not None:
        raise TypeError("give the class once: target_class or class_idx")
    chosen = class_idx if class_idx is not None else target_class
    if chosen is None:
        raise TypeError("which class? pass target_class (a name or an index) or class_idx")
    return class_index(chosen)


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
    pipe = as_pipeline(autoencoder, diffusion)
    index = class_index(target_class)
    num_samples = check_count(num_samples, "num_samples")
    if save_path is not None:
        check_output_file(save_path, "save_path", IMAGE_SUFFIXES)  # before sampling, not after
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
    pipe = as_pipeline(autoencoder, diffusion)
    n_per_class = check_count(n_per_class, "n_per_class")
    if save_dir is not None:
        check_writable_dir(save_dir, "save_dir")
    settings = pipe.settings(settings, **overrides)
    labels = [c for c in range(NUM_CLASSES) for _ in range(n_per_class)]
    images = pipe.generate(labels, seed, settings=settings)
    if save_dir is not None:
        save_class_grid(images, n_per_class, Path(save_dir) / "samples_grid.png",
                        title=f"Generated: {settings.describe(diffusion.num_steps)}, seed {seed}")
    return images


# --------------------------------------------------------------------------------------------------- figures
def visualize_denoising_steps(first, *args, target_class: int | str | None = None, n_columns: int = 8, seed: int = 0,
                              class_idx: int | str | None = None, save_path: str | os.PathLike | None = None,
                              **overrides):
    """One true sampler trajectory for one sample, from pure noise (left) to the image (right): top row the decoded
    z_t, bottom row the model's clean estimate ẑ_0 at that step. Columns are labelled with t and σ = √(1−ᾱ_t).
    Called as ``(pipe, "Dress")`` or as the seed's ``(autoencoder, diffusion, class_idx=5, save_path=...)``; the class
    may be given by position after the model(s), everything else by keyword. ``overrides``: sampling settings
    (default: the model's own). Returns the figure (also written to ``save_path``)."""
    pipe, rest = _split(first, args, ("the class",))
    target = _class(rest[0] if rest else target_class, class_idx) if rest or target_class is not None \
        or class_idx is not None else class_index("Dress")
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
    if save_path is not None:
        fig.savefig(save_path, dpi=100)
    return fig


def create_diffusion_animation(first, *args, target_class: int | str | None = None, frames_each_way: int = 25,
                               seed: int = 0, save_path: str | os.PathLike | None = None, interval_ms: int = 120,
                               class_idx: int | str | None = None, num_frames: int | None = None, **overrides):
    """An animation of the model at work. Pipeline form ``(pipe, image, "Coat")``: forward diffusion of a real
    ``image`` (1, 28, 28) to pure noise, then the *model* denoising that noise back (DDIM, conditioned on the class):
    the reverse half is generated, not the forward frames replayed. The seed's form ``(autoencoder, diffusion,
    class_idx=5, save_path=...)`` (the class may also come third, by position): the model generating one garment of
    the class from fresh noise (``num_frames`` DDIM steps, default ``frames_each_way``). Returns a matplotlib
    ``FuncAnimation``; ``save_path`` (``.gif``) also writes it with Pillow. ``overrides``: sampling settings."""
    from matplotlib.animation import PillowWriter  # matplotlib's animation machinery only when animating

    seed_form = len(args) > 0 and isinstance(args[0], LatentDiffusion)
    pipe, rest = _split(first, args, ("the class",) if seed_form else ("image", "the class"))
    image = None if seed_form or not rest else rest[0]
    positional_class = (rest[0] if seed_form else rest[1]) if len(rest) > (0 if seed_form else 1) else None
    target = _class(positional_class if positional_class is not None else target_class, class_idx)
    frames_each_way = check_count(num_frames if num_frames is not None else frames_each_way, "frames_each_way", 2)
    interval_ms = check_count(interval_ms, "interval_ms", 1)
    if image is not None and (not isinstance(image, torch.Tensor) or tuple(image.shape) != (1, 28, 28)):
        shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
        raise ValueError(f"image must be a tensor of shape (1, 28, 28) with values in [0, 1], got {shape}")
    if save_path is not None:
        save_path = check_output_file(save_path, "save_path", (".gif",))
    settings = {"sampler": "ddim", "steps": frames_each_way, **overrides}
    if image is None:
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
