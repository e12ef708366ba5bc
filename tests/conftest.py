"""Shared fixtures. Tests use small synthetic tensors except where the real data or shipped models are the subject."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from fmd_utils.data import DataNotFoundError, find_data_dir

ROOT = Path(__file__).resolve().parents[1]


def clone_files() -> list[str]:
    """The files a fresh clone has (relative paths): git's list where there is one, else the folders the package is
    built from. Tests that build or set up the project work on a copy of these, never in the clone itself."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode().split("\0")
        return [name for name in listed if name and (ROOT / name).is_file() and not (ROOT / name).is_symlink()]
    keep = ("pyproject.toml", "README.md", "Makefile", "requirements.txt", "fmd_utils/", "checkpoints/", "results/",
            "notebooks/")
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and str(p.relative_to(ROOT)).startswith(keep) and p.name != "diffusion-dit.state.pt"]


def copy_clone(target: Path) -> Path:
    """Copy :func:`clone_files` into ``target``."""
    for name in clone_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _real_data_available() -> bool:
    try:
        find_data_dir(download=False)  # collecting the tests never downloads: `make data` does that
    except DataNotFoundError:
        return False
    return True


requires_data = pytest.mark.skipif(not _real_data_available(), reason="Fashion-MNIST files not installed "
                                   "(run `make data` or set FMD_DATA_DIR)")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright (its own browser download cannot work offline)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium not found: install Debian's chromium (make test-book does this when run as root)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()
