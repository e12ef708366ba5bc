"""The ten Fashion-MNIST classes and a forgiving name/index lookup.

Readers type class names by hand ("dress", "Ankle boot", "t-shirt"), so the lookup ignores case, spaces,
hyphens and underscores, accepts either half of "T-shirt/top", and otherwise fails with the list of valid names.
"""

from __future__ import annotations

import numbers
import operator
import re
from collections.abc import Sequence

import numpy as np
import torch

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _aliases() -> dict[str, int]:
    table: dict[str, int] = {}
    for index, name in enumerate(CLASS_NAMES):
        table[_normalise(name)] = index
        for part in name.split("/"):  # "T-shirt/top" -> "tshirt", "top"
            table[_normalise(part)] = index
    table["trousers"] = CLASS_NAMES.index("Trouser")
    table["boot"] = CLASS_NAMES.index("Ankle boot")
    return table


_ALIASES = _aliases()


def class_index(target: int | str) -> int:
    """Return the class index (0-9) for an index or a class name such as "Dress", "sandal" or "T-shirt".

    Raises ``ValueError`` naming the valid classes when ``target`` is unknown or out of range.
    """
    if isinstance(target, str):
        key = _normalise(target)
        if key in _ALIASES:
            return _ALIASES[key]
        raise ValueError(f"Unknown class {target!r}. Valid classes (name or index): {_valid_list()}.")
    if isinstance(target, bool):
        raise ValueError(f"Class must be a name or an index 0-{NUM_CLASSES - 1}, got the boolean {target!r}.")
    try:
        index = operator.index(target)
    except TypeError:
        raise ValueError(
            f"Class must be a name or an index 0-{NUM_CLASSES - 1}, got {type(target).__name__} {target!r}. "
            f"Valid classes: {_valid_list()}."
        ) from None
    if not 0 <= index < NUM_CLASSES:
        raise ValueError(f"Class index {index} is out of range 0-{NUM_CLASSES - 1}. Valid classes: {_valid_list()}.")
    return index


def class_name(target: int | str) -> str:
    """Canonical name of a class given by index or (forgiving) name."""
    return CLASS_NAMES[class_index(target)]


def class_labels(classes: int | str | Sequence[int | str] | torch.Tensor,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """The labels to sample: one class (a name or an index) or several (a list, or a 1-D integer tensor) → a long
    tensor of indices 0-9 on ``device``. The null class (10) is not a label: unconditional sampling is guidance 0.
    Raises a ValueError saying what was wrong and what is accepted."""
    if isinstance(classes, np.ndarray):  # numpy labels, as a data loader or sklearn hands them over
        if classes.ndim != 1 and classes.ndim != 0:
            raise ValueError(f"class labels as an array must be 1-D, got shape {classes.shape}")
        if classes.dtype.kind in "US":  # names
            classes = [str(c) for c in classes.tolist()] if classes.ndim else str(classes)
        elif classes.dtype.kind not in "iu":
            raise ValueError(f"class labels as an array must be integers or names, got dtype {classes.dtype}")
        elif classes.size and (int(classes.min()) < 0 or int(classes.max()) >= NUM_CLASSES):
            raise ValueError(f"Class index {int(classes.max() if classes.max() >= NUM_CLASSES else classes.min())} "
                             f"is out of range 0-{NUM_CLASSES - 1}. Valid classes: {_valid_list()}.")
        else:
            classes = torch.from_numpy(classes.astype(np.int64))
    if isinstance(classes, str | numbers.Integral) or (isinstance(classes, torch.Tensor) and classes.ndim == 0):
        classes = [classes.item() if isinstance(classes, torch.Tensor) else classes]  # a bare class: one sample
    if isinstance(classes, bytes | bytearray) or not isinstance(classes, Sequence | torch.Tensor):
        raise ValueError(f"classes must be a class (a name or an index 0-{NUM_CLASSES - 1}), a list of them, or a 1-D "
                         f"integer tensor or array; got {type(classes).__name__}")
    if isinstance(classes, torch.Tensor):
        if classes.ndim != 1 or torch.is_floating_point(classes) or classes.dtype == torch.bool:
            raise ValueError(f"class labels as a tensor must be 1-D integers, got shape {tuple(classes.shape)} "
                             f"and dtype {classes.dtype}")
        bad = classes[(classes < 0) | (classes >= NUM_CLASSES)]
        if len(bad):
            raise ValueError(f"Class index {int(bad[0])} is out of range 0-{NUM_CLASSES - 1} (for unconditional "
                             f"samples use guidance=0). Valid classes: {_valid_list()}.")
        labels = classes.long()
    else:
        labels = torch.tensor([class_index(c) for c in classes], dtype=torch.long)
    if len(labels) == 0:
        raise ValueError("no classes given: pass one class or a list of them, e.g. ['Dress', 'Sandal']")
    return labels.to(device)


def _valid_list() -> str:
    return ", ".join(f"{i}={name!r}" for i, name in enumerate(CLASS_NAMES))
