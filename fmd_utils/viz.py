"""Figures shared by the notebooks, the CLI and the book. Every function takes explicit data (and a seed where it
samples); none touches global random state."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .classes import CLASS_NAMES


def _plt():
    import matplotlib.pyplot as plt

    return plt


def show_images(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int | None = None,
                scale: float = 1.2, suptitle: str | None = None):
    """A grid of (N, 1, 28, 28) images in [0, 1] with optional per-image titles; returns the figure."""
    plt = _plt()
    n = len(images)
    ncols = ncols or min(n, 10)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows + (0.3 if titles else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def class_grid(
    images: torch.Tensor, n_per_class: int, title: str | None = None, row_labels: Sequence[str] = CLASS_NAMES
):
    """Rows = classes (in ``CLASS_NAMES`` order), ``n_per_class`` columns, class name at the left of each row."""
    plt = _plt()
    rows = len(images) // n_per_class
    fig, axes = plt.subplots(rows, n_per_class, figsize=(0.9 * n_per_class + 1.4, 0.9 * rows + 0.4), squeeze=False)
    for r in range(rows):
        for c in range(n_per_class):
            ax = axes[r, c]
            ax.imshow(images[r * n_per_class + c, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r, 0].set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def close(fig) -> None:
    _plt().close(fig)


def save_class_grid(images: torch.Tensor, n_per_class: int, path: str | os.PathLike, title: str | None = None,
                    dpi: int = 100) -> Path:
    """:func:`class_grid` written to ``path`` (a PNG), the figure closed: the one writer of ``samples_grid.png``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = class_grid(images, n_per_class, title=title)
    fig.savefig(path, dpi=dpi)
    close(fig)
    return path


def save_image_grid(images: torch.Tensor, path: str | os.PathLike, ncols: int) -> Path:
    """(N, 1, H, W) images in [0, 1] as one unlabelled PNG grid, ``ncols`` per row, 2-pixel white gaps."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=ncols, padding=2, pad_value=1.0)
    return path


def plot_history(history: dict, keys: Sequence[str] = ("train_loss",), title: str = "", log: bool = False):
    """Per-epoch curves from a checkpoint's ``metadata["history"]`` (or a :func:`fmd_utils.train.fit` history)."""
    plt = _plt()
    epochs = [e["epoch"] for e in history["epochs"]]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for key in keys:
        ax.plot(epochs, [e[key] for e in history["epochs"]], marker="o", ms=3, label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    if log:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def scatter_by_class(points, labels, title: str = "", ax=None, s: float = 4, alpha: float = 0.6):
    """2-D points coloured by class with a legend of class names."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.2, 5))
    else:
        fig = ax.figure
    points, labels = torch.as_tensor(points), torch.as_tensor(labels)
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(CLASS_NAMES):
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=s, alpha=alpha, color=cmap(c), label=name)
    ax.legend(markerscale=3, fontsize=7, loc="best", framealpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_confusion(matrix, title: str = "", normalise: bool = True):
    """Confusion matrix: rows = requested class, columns = judged class."""
    plt = _plt()
    m = torch.as_tensor(matrix, dtype=torch.float64)
    if normalise:
        m = m / m.sum(1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    im = ax.imshow(m.numpy(), cmap="Blues", vmin=0, vmax=1 if normalise else None)
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES, fontsize=8)
    ax.set_xlabel("judged as")
    ax.set_ylabel("requested class")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j] >= 0.01:
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if m[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def visualize_denoising_steps(pipe, target_class: int | str = "Dress", n_columns: int = 8, seed: int = 0,
                              **overrides):
    """One true sampler trajectory for one sample, from pure noise (left) to the image (right): top row the decoded
    z_t, bottom row the model's clean estimate ẑ_0 at that step. Columns are labelled with t and σ = √(1−ᾱ_t).
    ``overrides``: sampling settings (default: the model's own)."""
    from .classes import class_name
    from .trajectory import reverse_trajectory

    settings = pipe.settings(**overrides)
    traj = reverse_trajectory(pipe, target_class, seed=seed, settings=settings)
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
    fig.suptitle(f"{settings.describe(pipe.diffusion.num_steps)}: one '{class_name(target_class)}', seed {seed}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def create_diffusion_animation(pipe, image: torch.Tensor, target_class: int | str, frames_each_way: int = 25,
                               seed: int = 0, save_path=None, interval_ms: int = 120, **overrides):
    """Forward diffusion of a real ``image`` (1, 28, 28) to pure noise, then the *model* denoising that noise back
    (DDIM, conditioned on ``target_class``): the reverse half is generated, not the forward frames replayed.
    Returns a matplotlib ``FuncAnimation``; ``save_path`` (``.gif``) also writes it with Pillow. ``overrides``:
    sampling settings (guidance, ...; the reverse half takes ``frames_each_way`` DDIM steps)."""
    from matplotlib.animation import PillowWriter

    from .trajectory import forward_trajectory, reverse_trajectory
    from .widgets import TimestepPlayer

    T = pipe.diffusion.num_steps  # noqa: N806
    ts = [-1, *torch.linspace(0, T - 1, frames_each_way).round().long().tolist()]
    forward = forward_trajectory(pipe, image, ts, seed=seed)
    reverse = reverse_trajectory(pipe, target_class, seed=seed, start=forward.latents[-1:], start_t=T - 1,
                                 **{"sampler": "ddim", "steps": frames_each_way, **overrides})
    frames = torch.cat([forward.images, reverse.images[1:]])
    labels = [f"forward: {lab}" for lab in forward.labels()] + [f"reverse (model): {lab}"
                                                               for lab in reverse.labels()[1:]]
    animation = TimestepPlayer(frames, labels, scale=12, interval_ms=interval_ms).animation(fontsize=8)
    if save_path is not None:
        animation.save(str(save_path), writer=PillowWriter(fps=max(1, 1000 // interval_ms)))
    animation.frames_data, animation.frame_labels = frames, labels
    return animation
