"""Argument checks shared by every entry point: one rule per kind of argument, and an error that names the argument
and the fix. A bad argument fails at once, before any work, never as a traceback from deep inside torch."""

from __future__ import annotations

import math
import numbers

import torch

# torch's CPU generator (mt19937) keeps only the low 32 bits of a seed: 5 and 5 + 2**32 draw the same numbers. So a
# seed is an integer in 0 … 2**32 − 1, the same rule as the page's generator (book/_generator/fmd-generator.js).
MAX_SEED = 2**32 - 1


def is_int(value) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A real number (int, float, numpy scalar), not a bool and not NaN."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as a Python int in 0 … 2³² − 1; a TypeError or ValueError naming ``name`` otherwise."""
    if not is_int(seed):
        raise TypeError(f"{name} must be an integer in 0 … 2**32 - 1 (or a torch.Generator where a generator is "
                        f"accepted), got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"{name} must lie in 0 … 2**32 - 1 (torch keeps only a seed's low 32 bits), got {seed}")
    return int(seed)


def check_count(value, name: str, minimum: int = 1) -> int:
    """``value`` as a Python int ≥ ``minimum``; an error naming ``name`` otherwise."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def seeded_generator(seed: int | torch.Generator) -> torch.Generator:
    """``seed`` (checked by :func:`check_seed`) as a fresh CPU generator; a CPU generator passed in is used as it is
    (and advanced). All noise is drawn on the CPU, so samples do not depend on the device."""
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ValueError(f"seed: a generator must live on the CPU (all noise is drawn there, so that samples do "
                             f"not depend on the device), got one on {seed.device}")
        return seed
    return torch.Generator().manual_seed(check_seed(seed))
