"""Argument checks shared by every entry point: one rule per kind of argument, and an error that names the argument
and the fix. A bad argument fails at once, before any work, never as a traceback from deep inside torch."""

from __future__ import annotations

import math
import numbers

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
