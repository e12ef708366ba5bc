"""Device selection: CPU unless asked otherwise; CUDA or MPS when requested and available."""

from __future__ import annotations

import torch

VALID = "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"


def resolve_device(name: str | torch.device | None = "cpu") -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"`` (best available) → ``torch.device``; anything
    else, or a device this machine does not have, is a ValueError that names the valid ones."""
    if isinstance(name, torch.device):
        name = str(name)  # through the same availability checks as a string
    if name is None:
        return torch.device("cpu")
    if not isinstance(name, str):
        raise ValueError(f"device must be {VALID} (a string) or a torch.device, got {type(name).__name__} {name!r}")
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device must be {VALID}, got {name!r}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be {VALID}, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was requested but MPS is not available; use --device cpu")
    return device
