"""Where the files that ship with the package are: the models, their benchmark reports and the chapters' sources.

A clone of the repository keeps them in its own folders (``checkpoints/``, ``results/``, ``notebooks/``); a
``pip install`` puts copies of the same files inside the package, under ``fmd_utils/_shipped/`` (``pyproject.toml``
maps the folders there). Both read the same bytes, so every caller asks here and never guesses a path.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FOLDERS = {"checkpoints": "checkpoints", "results": "results", "chapters": "notebooks"}  # name -> clone's folder


def shipped_dir(name: str) -> Path:
    """The folder of shipped ``name`` files (``"checkpoints"``, ``"results"`` or ``"chapters"``): the installed
    package's copy when there is one, else the clone's folder beside the package (which may not exist yet)."""
    if name not in FOLDERS:
        raise ValueError(f"name must be one of {sorted(FOLDERS)}, got {name!r}")
    installed = PACKAGE / "_shipped" / name
    return installed if installed.is_dir() else PACKAGE.parent / FOLDERS[name]


def chapter_sources() -> list[Path]:
    """The chapters' MyST sources (``01_autoencoder.md`` ...), in order."""
    folder = shipped_dir("chapters")
    chapters = sorted(folder.glob("[0-9][0-9]_*.md"))
    if not chapters:
        raise FileNotFoundError(f"no chapter sources (NN_name.md) in {folder}: reinstall the package (pip install "
                                "--force-reinstall fmd_utils) or restore them with `git checkout notebooks/`")
    return chapters
