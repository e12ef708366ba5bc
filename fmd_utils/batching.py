"""Run a model over a large tensor a slice at a time: bounded memory, results gathered on the CPU."""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def map_batches(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 1000,
                device: torch.device | str | None = None) -> torch.Tensor:
    """``fn`` applied to consecutive slices of ``x`` of ``batch_size`` rows (moved to ``device`` if given), the
    results concatenated on the CPU: ``torch.cat([fn(b) for b in x.split(batch_size)])`` without the memory peak."""
    return torch.cat([fn(b if device is None else b.to(device)).cpu() for b in x.split(batch_size)])
