"""The ten Fashion-MNIST classes and a forgiving name/index lookup.

Readers type class names by hand ("dress", "Ankle boot", "t-shirt"), so the lookup ignores case, spaces,
hyphens and underscores, accepts either half of "T-shirt/top", and otherwise fails with the list of valid names.
"""

from __future__ import annotations

import operator
import re

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


def _valid_list() -> str:
    return ", ".join(f"{i}={name!r}" for i, name in enumerate(CLASS_NAMES))
