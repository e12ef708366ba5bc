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


def check_output_file(path: str | os.PathLike, name: str, suffixes: tuple[str, ...]) -> Path:
    """Check a file about to be written: a path (not a folder) ending in one of ``suffixes`` in a folder that can be
    written (created if needed); otherwise a ValueError naming the argument ``name`` and the fix."""
    if not isinstance(path, str | os.PathLike):
        raise ValueError(f"{name} must be a file path (str or Path), got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name} {path} is a folder; give a file name ending in {suffixes[0]}")
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{name} must end in {' or '.join(suffixes)}, got {path.name!r}")
    check_writable_dir(path.parent, name)
    return path
