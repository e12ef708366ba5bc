"""Figures shared by the notebooks, the command lines and the book: image grids (on screen and as PNG files),
training curves, class scatters, confusion matrices. Every function takes explicit data; none samples, none touches
global random state."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..classes import CLASS_NAMES
from ..writable import check_output_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # image grids, written pixel for pixel
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg")  # matplotlib figures


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
    path = check_output_file(path, "path", FIGURE_SUFFIXES)
    fig = class_grid(images, n_per_class, title=title)
    fig.savefig(path, dpi=dpi)
    close(fig)
    return path


def save_image_grid(images: torch.Tensor, path: str | os.PathLike, ncols: int) -> Path:
    """(N, 1, H, W) images in [0, 1] as one unlabelled PNG grid, ``ncols`` per row, 2-pixel white gaps."""
    from torchvision.utils import save_image

    path = check_output_file(path, "save_path", IMAGE_SUFFIXES)
    save_image(images, path, nrow=ncols, padding=2, pad_value=1.0)
    return path


def plot_history(history: dict, keys: Sequence[str] = ("train_loss",), title: str = "", log: bool = False):
    """Per-epoch curves from a checkpoint's ``metadata["history"]`` (or a :func:`fmd_utils.training.fit` history)."""
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
