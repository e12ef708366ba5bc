"""Mixed precision for training (fmd_utils.precision): which precision each device gets, that float32 leaves a
training step exactly as it was, that bfloat16 really computes the forward pass in 16 bits with a float32 loss, and
that a mixed-precision run resumes only as one. (float16 needs CUDA: the GPU check covers it, fmd_utils.gpu_check.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fmd_utils.checkpoint import CheckpointError, load_checkpoint
from fmd_utils.config import get_profile
from fmd_utils.precision import MixedPrecision, resolve_precision

from .conftest import requires_data

CPU = torch.device("cpu")


def test_each_device_gets_a_precision_it_can_run():
    assert resolve_precision("auto", CPU) == "fp32"  # no 16-bit gain without matrix units
    assert resolve_precision("bf16", CPU) == "bf16" and resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA device.*use bf16 or fp32"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16, auto, got 'half'"):
        resolve_precision("half", CPU)
    assert get_profile("gpu").precision == "auto" and get_profile("full").precision == "fp32"


def _step(precision: MixedPrecision) -> tuple[torch.Tensor, dict]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.SiLU(), nn.Linear(16, 8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    with precision.autocast():
        hidden = model[0](x)
        loss = nn.functional.mse_loss(model[2](model[1](hidden)), x)
    precision.step(loss, optimizer)
    return loss, {"hidden": hidden.dtype, **{k: v.detach().clone() for k, v in model.state_dict().items()}}


def test_float32_is_the_plain_step_and_bfloat16_computes_in_16_bits():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.SiLU(), nn.Linear(16, 8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    nn.functional.mse_loss(model(x), x).backward()
    optimizer.step()
    loss32, after32 = _step(MixedPrecision("fp32", CPU))
    for key, value in model.state_dict().items():
        assert torch.equal(after32[key], value), f"fp32 changed the plain step ({key})"
    assert after32["hidden"] == torch.float32
    loss16, after16 = _step(MixedPrecision("bf16", CPU))
    assert after16["hidden"] == torch.bfloat16 and loss16.dtype == torch.float32  # the loss stays in float32
    assert not torch.equal(after16["0.weight"], after32["0.weight"])  # rounding to 8 bits of mantissa shows
    torch.testing.assert_close(after16["0.weight"], after32["0.weight"], atol=1e-3, rtol=0)  # ... but only there
    assert not MixedPrecision("bf16", CPU).scaler.is_enabled()  # bfloat16's range needs no loss scaling


@requires_data
@pytest.mark.slow
def test_a_mixed_precision_run_is_recorded_and_resumes_only_as_one(tmp_path):
    import shutil

    from fmd_utils.checkpoint import default_checkpoint_dir
    from fmd_utils.train import main

    shutil.copy2(default_checkpoint_dir() / "autoencoder.pt", tmp_path)  # the diffusion stage encodes with it
    base = ["diffusion", "--profile", "quick", "--out", str(tmp_path), "--epochs", "2"]
    assert main([*base, "--precision", "bf16", "--stop-after", "1"]) == 0
    with pytest.raises(CheckpointError, match=r"precision: 'bf16' there, None now"):
        main([*base, "--resume"])  # float32 would silently continue a bfloat16 run
    assert main([*base, "--precision", "bf16", "--resume"]) == 0
    meta = load_checkpoint(tmp_path / "diffusion.pt", "diffusion")["metadata"]
    assert meta["precision"] == "bf16" and meta["profile_config"]["precision"] == "bf16"
    assert [e["epoch"] for e in meta["history"]["epochs"]] == [1, 2]
