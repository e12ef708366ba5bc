"""Progress bars: ``tqdm.auto`` (a widget bar in notebooks, text in a terminal) that also honours ``TQDM_DISABLE``.

tqdm reads ``TQDM_DISABLE`` for its terminal bars, but its notebook bar overrides it; ``make book`` sets it so that
pages built from executed notebooks carry no (state-less, invisible) progress-bar widgets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm.auto import tqdm


def disabled_by_environment() -> bool:
    """True when ``TQDM_DISABLE`` is set to anything but empty, 0 or false."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")


def progress(iterable: Iterable, enabled: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, shown only if ``enabled`` and not switched off by ``TQDM_DISABLE``."""
    return tqdm(iterable, disable=not enabled or disabled_by_environment(), **kwargs)


def progress_bytes(total: int | None, desc: str, enabled: bool = True) -> tqdm:
    """A bar counting bytes (KB, MB as it goes) towards ``total`` (None: unknown) for a download; a context
    manager."""
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                disable=not enabled or disabled_by_environment())
