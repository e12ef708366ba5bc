"""Mixed precision for training (PyTorch's automatic mixed precision, AMP): which floating-point type the forward
pass computes in, and the gradient scaling that float16 needs.

Under ``torch.autocast`` the matrix products and convolutions run in a 16-bit type (bfloat16 or float16: on a GPU's
tensor cores, several times the float32 rate), while the parameters, the optimiser's state, the EMA, and the losses
(autocast keeps ``mse_loss`` and ``cross_entropy`` in float32) stay in float32. Where it is applied, and where not:

* **training's forward pass** only (its backward pass follows in the same types). Validation, sampling and every
  measurement run in float32: the Fréchet distance takes square roots of covariance matrices and a sampler adds up
  hundreds of small steps, where 16-bit rounding would show in the numbers the book reports.
* **bfloat16** has float32's exponent range, so gradients cannot underflow: no scaling needed (GPUs from NVIDIA's
  Ampere generation on, and CPUs).
* **float16** has 5 exponent bits: small gradients underflow to zero unless the loss is multiplied by a scale
  ``S`` before the backward pass and the gradients divided by it before the step (``torch.amp.GradScaler``, which
  also skips a step whose gradients overflowed and lowers ``S``): ∇(S·L)/S = ∇L. For GPUs without bfloat16 (e.g.
  a T4).

``"fp32"`` (every profile but ``gpu``) leaves training exactly as it was: no autocast, no scaler.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(name: str, device: torch.device) -> str:
    """``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"auto"`` → the precision training uses on ``device``. ``"auto"``:
    bfloat16 on a CUDA GPU that computes in it natively, float16 on an older one, float32 elsewhere (a CPU gains
    little from 16 bits without matrix units, and MPS's autocast is younger). A ValueError names the valid choices,
    and refuses float16 off CUDA (no scaler worth having there) and bfloat16 on a GPU without it."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    device = torch.device(device)
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    if name == "fp16" and device.type != "cuda":
        raise ValueError(f"precision fp16 needs a CUDA device (gradient scaling); on {device.type} use bf16 or fp32")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ValueError("precision bf16: this GPU does not compute in bfloat16; use fp16 (or auto)")
    if name == "bf16" and device.type == "mps":
        raise ValueError("precision bf16 is not supported on MPS here; use fp32")
    return name


class MixedPrecision:
    """The training step's precision on ``device``: :meth:`autocast` around the forward pass, :meth:`step` for
    backward + optimiser step (with float16's gradient scaling), and the scaler's state for ``--resume``."""

    def __init__(self, precision: str = "fp32", device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.dtype = _DTYPES.get(self.precision)  # None: float32, autocast off
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> AbstractContextManager:
        """Matrix products and convolutions in the 16-bit type inside the block (nothing changes for fp32)."""
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.enabled)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``loss.backward(); optimizer.step()``, the loss scaled by S and the gradients unscaled (float16): the
        step is skipped where a gradient overflowed, and S halves; after 2000 clean steps it doubles."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scaler.load_state_dict(state)

    def __repr__(self) -> str:
        return f"MixedPrecision({self.precision!r}, device={str(self.device)!r})"
