"""Shared fixtures. Tests use small synthetic tensors except where the real data or shipped models are the subject."""

from __future__ import annotations

import pytest
import torch

from fmd_utils.data import DataNotFoundError, find_data_dir


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _real_data_available() -> bool:
    try:
        find_data_dir()
    except DataNotFoundError:
        return False
    return True


requires_data = pytest.mark.skipif(not _real_data_available(), reason="Fashion-MNIST files not installed "
                                   "(run `make data` or set FMD_DATA_DIR)")
