"""Check an output folder before the work that fills it: a run that can only fail at the end fails at the start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def check_writable_dir(folder: str | os.PathLike, name: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written there; otherwise raise a ValueError naming the
    argument ``name`` (e.g. ``"--out"``) and what to do."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"{name} {folder} is not a writable folder ({error.strerror or error}); "
                         f"choose another {name} or fix its permissions") from None
    return folder
