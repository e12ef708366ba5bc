"""The export for the in-browser generator (fmd_utils.views.export) and the generator panel's Python side
(fmd_utils.views.panel).

The page itself is checked against the package in tests/test_generator.py (make test-book)."""

from __future__ import annotations

import base64
import io
import json
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fmd_utils.autoencoder import AutoencoderConfig, Decoder
from fmd_utils.pipeline import load_pretrained
from fmd_utils.samplers import ddim_timesteps
from fmd_utils.samplers.straight import CLEAN, straight_timesteps
from fmd_utils.views import generator_panel
from fmd_utils.views.export import (
    FULL_PRECISION_BELOW,
    PAGE_SAMPLERS,
    batchnorm_affine,
    conv_channels_last,
    decoder_tensors,
    export,
    model_document,
    round_to_24_bits,
    transposed_conv_rows,
)


@pytest.fixture(scope="module")
def pipe():
    return load_pretrained()


def unpack(document: dict) -> dict[str, np.ndarray]:
    """What the page's loadModel does, in numpy: inflate, un-shuffle the bytes, rebuild each float32."""
    raw = np.frombuffer(zlib.decompress(base64.b64decode(document["data"])), dtype=np.uint8)
    out = {}
    for spec in document["tensors"]:
        kept, n = (4 if spec["dtype"] == "float32" else 3), spec["length"]
        planes = raw[spec["offset"]: spec["offset"] + kept * n].reshape(kept, n).T
        full = np.zeros((n, 4), dtype=np.uint8)
        full[:, 4 - kept:] = planes
        out[spec["name"]] = full.view(np.float32).reshape(spec["shape"])
    return out


def test_rounding_to_24_bits_keeps_16_significant_bits():
    x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32) * 10.0 ** np.arange(-5, 5).repeat(1000)
    rounded = round_to_24_bits(x)
    assert np.all(rounded.view(np.uint32) & 0xFF == 0)  # the low byte is gone
    assert np.abs(rounded / x - 1).max() <= 2.0**-16  # to nearest: half a unit of the 16th significant bit


def test_export_holds_every_weight_at_the_promised_precision(pipe):
    document = model_document(pipe)
    tensors = unpack(document)
    for name, value in pipe.diffusion.denoiser.state_dict().items():
        got, exact = tensors[f"denoiser.{name}"], value.numpy()
        if value.numel() < FULL_PRECISION_BELOW:
            assert np.array_equal(got, exact), name
        else:
            np.testing.assert_allclose(got, exact, rtol=2.0**-16, atol=0, err_msg=name)
    np.testing.assert_array_equal(tensors["schedule.alpha_bar"], pipe.diffusion.schedule.alpha_bar.numpy())
    np.testing.assert_array_equal(tensors["normalizer.std"], pipe.diffusion.normalizer.std.numpy())
    samplers = document["samplers"]
    assert samplers["ddim"]["grids"] == {str(s): ddim_timesteps(1000, s) for s in PAGE_SAMPLERS["ddim"][0]}
    straight = samplers["heun-straight"]["grids"]
    schedule = pipe.diffusion.schedule
    assert straight == {str(s): straight_timesteps(schedule, s) for s in PAGE_SAMPLERS["heun-straight"][0]}
    assert all(len(grid) == int(s) + 1 and grid[0] == 999 and grid[-1] == CLEAN for s, grid in straight.items())
    assert samplers["heun-straight"]["evaluations_per_step"] == 2 and samplers["ddim"]["evaluations_per_step"] == 1
    stored = pipe.diffusion.sampling
    assert document["sampling"] == {"sampler": stored.sampler, "steps": stored.steps, "guidance": stored.guidance,
                                    "guidance_interval": list(stored.guidance_interval)}
    assert list(samplers)[0] == stored.sampler and samplers[stored.sampler]["first_steps"] == stored.steps
    assert samplers["ddim"]["first_steps"] == 50  # another sampler opens at its own usual count


def run_exported_decoder(t: dict[str, torch.Tensor], z: torch.Tensor, channels: tuple[int, int], blocks: int):
    """The page's decoder (channels-last, BatchNorm as scale and shift), written with torch ops: proves the
    layouts of decoder_tensors are what fmd-generator.js assumes."""
    c14, c7 = channels
    n = len(z)
    silu = nn.functional.silu

    def conv3(x, weight, bias, size):  # x (n, size, size, C) channels-last; weight (O, 3·3·C)
        patches = nn.functional.unfold(x.permute(0, 3, 1, 2), 3, padding=1)  # (n, C·9, P), C-major
        c = x.shape[-1]
        patches = patches.reshape(n, c, 9, -1).permute(0, 3, 2, 1).reshape(n, size * size, 9 * c)  # (ky, kx, c)
        y = patches @ weight.T + (0 if bias is None else bias)
        return y.reshape(n, size, size, -1)

    h = (z @ t["from_latent.weight"].T + t["from_latent.bias"]).reshape(n, 7, 7, c7)
    for b in range(blocks):
        p = f"block{b}."
        r = conv3(silu(h * t[p + "bn1.scale"] + t[p + "bn1.shift"]), t[p + "conv1.weight"], None, 7)
        r = conv3(silu(r * t[p + "bn2.scale"] + t[p + "bn2.shift"]), t[p + "conv2.weight"], t[p + "conv2.bias"], 7)
        s = silu(r.mean((1, 2)) @ t[p + "excite1.weight"].T + t[p + "excite1.bias"])
        gates = torch.sigmoid(s @ t[p + "excite2.weight"].T + t[p + "excite2.bias"])
        h = h + r * gates[:, None, None, :]
    h = silu(h * t["norm.scale"] + t["norm.shift"])
    parts = (h.reshape(n, 49, c7) @ t["up.weight"].T).reshape(n, 7, 7, 4, 4, c14)
    up = torch.zeros(n, 16, 16, c14)  # one pixel of margin on each side, cropped below
    for ky in range(4):
        for kx in range(4):
            up[:, ky:ky + 14:2, kx:kx + 14:2] += parts[:, :, :, ky, kx]  # output 2i − 1 + k, shifted by the margin
    up = silu((up[:, 1:15, 1:15] + t["up.bias"]) * t["up.bn.scale"] + t["up.bn.shift"])
    a = silu(conv3(up, t["conv_a.weight"], t["conv_a.bias"], 14))
    out = conv3(a, t["conv_b.weight"], t["conv_b.bias"], 14)  # (n, 14, 14, 4)
    return torch.sigmoid(out.reshape(n, 14, 14, 2, 2).permute(0, 1, 3, 2, 4).reshape(n, 1, 28, 28))


@pytest.mark.parametrize("channels,blocks", [((48, 96), 1), ((8, 16), 2)])
def test_decoder_layouts_compute_the_decoder(channels, blocks):
    torch.manual_seed(0)
    decoder = Decoder(AutoencoderConfig(channels=channels, blocks=blocks))
    for module in decoder.modules():  # non-trivial BatchNorm statistics, so folding them is tested
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    decoder.eval()
    z = torch.randn(3, 64)
    with torch.no_grad():
        expected = decoder(z)
        got = run_exported_decoder(decoder_tensors(decoder), z, channels, blocks)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_layout_helpers_by_hand():
    bn = nn.BatchNorm2d(2).eval()
    bn.running_mean.copy_(torch.tensor([1.0, -2.0]))
    bn.running_var.copy_(torch.tensor([4.0, 0.25]))
    scale, shift = batchnorm_affine(bn)
    x = torch.randn(5, 2, 3, 3)
    torch.testing.assert_close(bn(x), x * scale[:, None, None] + shift[:, None, None])
    weight = torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 3)  # (O, I, kh, kw)
    assert conv_channels_last(weight)[1, (2 * 3 + 1) * 3 + 0] == weight[1, 0, 2, 1]  # row o, column (ky, kx, c)
    transposed = torch.arange(3 * 2 * 4 * 4, dtype=torch.float32).reshape(3, 2, 4, 4)  # (I, O, kh, kw)
    assert transposed_conv_rows(transposed)[(1 * 4 + 3) * 2 + 1, 2] == transposed[2, 1, 1, 3]


def test_export_writes_one_script_and_refuses_an_unwritable_folder(pipe, tmp_path):
    path = export(tmp_path / "out")
    text = path.read_text()
    assert text.startswith("// Generated by") and "window.FMD_MODEL = {" in text and text.rstrip().endswith("};")
    document = json.loads(text[text.index("{"):text.rindex("}") + 1])
    assert document["classes"][5] == "Sandal" and document["format"] == 2
    assert not list((tmp_path / "out").glob("*.partial"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="--out"):
        export(blocker / "inside")


# ------------------------------------------------------------------------------------------ the panel, in a kernel
def test_panel_shows_the_package_images_and_the_call_that_makes_them(pipe):
    panel = generator_panel(pipe, "sandal", seed=3)
    assert panel.class_name == "Sandal"
    box = panel.widget()
    shown = np.asarray(Image.open(io.BytesIO(box.image.value)).convert("L"), dtype=np.float32) / 255
    expected = pipe.generate(["Sandal"] * 16, 3)[:, 0].numpy()
    assert shown.shape == (342, 342)
    np.testing.assert_allclose(shown[:84:3, :84:3], expected[0], atol=1 / 255)  # first cell, back at 28 × 28
    np.testing.assert_allclose(shown[86:170:3, 258:342:3], expected[7], atol=1 / 255)  # row 2, column 4

    controls = box.controls
    assert controls["sampler"].value == pipe.diffusion.sampling.sampler
    assert controls["steps"].value == pipe.diffusion.sampling.steps
    assert f"seed=3, sampler=\"{pipe.diffusion.sampling.sampler}\"" in box.status.value.replace("&quot;", '"')
    controls["class"].value, controls["guidance"].value, controls["interval"].value = "Bag", 2.0, False
    controls["sampler"].value = "ddim"
    assert controls["steps"].value == 50 and 20 in [value for _, value in controls["steps"].options]
    controls["steps"].value, controls["seed"].value = 20, 5
    box.button.click()
    settings = panel.settings_for(2.0, False, 20, "ddim")
    assert settings.guidance_interval is None and settings.steps == 20 and settings.sampler == "ddim"
    call = panel.python_call("Bag", 5, settings)
    assert call in box.status.value.replace("&quot;", '"')
    bags = eval(call, {"pipe": pipe})  # the printed call is real Python that draws the same images
    shown = np.asarray(Image.open(io.BytesIO(box.image.value)).convert("L"), dtype=np.float32) / 255
    np.testing.assert_allclose(shown[:84:3, :84:3], bags[0, 0].numpy(), atol=1 / 255)


def test_panel_bundle_is_the_page_div_when_building_the_book(pipe, monkeypatch):
    monkeypatch.setenv("FMD_STATIC_PLAYERS", "1")
    bundle = generator_panel(pipe)._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert '<div class="fmd-generator" data-class="Sandal">' in bundle["text/html"]
    with pytest.raises(ValueError, match="class"):
        generator_panel(pipe, "Spaceship")


def test_the_page_refuses_a_design_it_cannot_run():
    """The page's generator ports the UNet, Heun on the straight path and DDIM; the DiT, another stored sampler or
    stored steps the page does not offer are refused, saying so."""
    dit = load_pretrained(denoiser="dit")
    with pytest.raises(ValueError, match="runs the UNet denoiser only; this model's is 'dit'"):
        model_document(dit)
    unet = load_pretrained()
    unet.diffusion.sampling = unet.diffusion.sampling.replace(sampler="dpm++2m")
    with pytest.raises(ValueError, match="runs the samplers .* only; this model's stored sampler is 'dpm\\+\\+2m'"):
        model_document(unet)
    unet.diffusion.sampling = unet.diffusion.sampling.replace(sampler="heun-straight", steps=7)
    with pytest.raises(ValueError, match="offers heun-straight with steps .*stored steps are 7"):
        model_document(unet)
