"""Figures shared by the notebooks, the CLI and the book. Every function takes explicit data (and a seed where it
samples); none touches global random state."""

from __future__ import annotations

from collections.abc import Sequence

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


__all__ = ["show_images", "class_grid", "close"]
