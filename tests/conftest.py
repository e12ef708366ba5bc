"""Shared fixtures. Tests use small synthetic tensors except where the real data or shipped models are the subject."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from fmd_utils.data import DataNotFoundError, find_data_dir


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
