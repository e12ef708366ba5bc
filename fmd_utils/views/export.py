r"""The shipped denoiser and decoder, exported for the in-browser generator of the static book.

:func:`export` (command line: ``python -m fmd_utils.web --out DIR [--checkpoints DIR]``) writes
``DIR/fmd-model.js``: one classic script that sets ``window.FMD_MODEL`` (a script, not a ``.bin`` fetched
at run time: a page opened from disk may not ``fetch`` files next to it). ``book/_generator/fmd-generator.js`` reads it
and runs the same computation as the package's samplers — Heun on the straight path (:mod:`fmd_utils.samplers.straight`,
the stored default) or DDIM with η = 0 (:mod:`fmd_utils.samplers.ddim`), classifier-free guidance on an interval —
then the decoder, in plain JavaScript. ``make book`` calls this; ``tests/test_generator.py`` checks the
page against the package pixel for pixel.

What the file holds, and why each choice (measured on the shipped models, 16 samples, DDIM-50, w = 4, when the
format was chosen):

* **Weights**: float32 rounded to 24 bits (sign, exponent and 15 of the 23 fraction bits: relative error ≤ 2⁻¹⁶),
  stored as the top three bytes of each float, for every tensor of 10,000 numbers or more; smaller ones whole. On
  160 samples (w = 4 and w = 6) that costs at most 1.2e-4 in pixels, against a promised 1e-3; float16 would cost
  4e-3 (the denoiser's error grows over 50 steps). The bytes are shuffled (byte k of every value together: the
  exponent bytes of similar floats repeat), deflated and base64-encoded: 2.2 MB binary, 2.9 MB of text, against
  2.9 MB (3.9 MB as text) for plain float32.
* **Layouts the JavaScript can run directly**: images channels-last (pixel-major, channels contiguous), so a 3×3
  convolution is one matrix product over 3×3×C patches; BatchNorm (evaluation mode) as a per-channel scale and
  shift :math:`\gamma/\sqrt{\sigma^2+\epsilon}` and :math:`\beta - \mu\,\gamma/\sqrt{\sigma^2+\epsilon}`.
* **The schedule's tables and each sampler's grid** for every step count the page offers
  (:data:`PAGE_SAMPLERS`), from :mod:`fmd_utils.schedule`, :func:`fmd_utils.samplers.ddim_timesteps` and
  :func:`fmd_utils.samplers.straight.straight_timesteps` (the page never re-derives them; the straight path's
  clean end is the timestep −1).

The page implements one design: the UNet denoiser, v-prediction, one bottleneck attention head, and the samplers of
:data:`PAGE_SAMPLERS`. A model of another design (the DiT, a stored default sampler the page lacks) is refused with a
message that says so.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..autoencoder import Decoder
from ..blocks import ResidualBlock
from ..checkpoint import default_checkpoint_dir
from ..classes import CLASS_NAMES
from ..pipeline import LatentDiffusionPipeline, load_pretrained
from ..samplers import ddim_timesteps, get_sampler
from ..samplers.straight import straight_timesteps
from ..settings import SamplingSettings
from ..writable import check_writable_dir

FORMAT = 2  # 2: a grid per sampler ("samplers"); 1 had DDIM's timesteps only
# the samplers the page runs: name → (the step counts it offers, the steps it shows first when another sampler is
# stored); the straight path's counts are Heun steps (2 evaluations each: 4 … 50)
PAGE_SAMPLERS: dict[str, tuple[tuple[int, ...], int]] = {
    "heun-straight": ((2, 4, 8, 16, 25), 8),
    "ddim": ((5, 10, 20, 50, 100, 200), 50),
}
FILENAME = "fmd-model.js"
FULL_PRECISION_BELOW = 10_000  # tensors with fewer numbers are stored as float32, larger ones rounded to 24 bits


def batchnorm_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation-mode BatchNorm as y = x·scale + shift: scale = γ/√(σ² + ε), shift = β − μ·scale."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def conv_channels_last(weight: torch.Tensor) -> torch.Tensor:
    """Conv2d weight (O, I, kh, kw) → (O, kh·kw·I): row o dotted with a channels-last kh×kw patch gives output o."""
    return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)


def transposed_conv_rows(weight: torch.Tensor) -> torch.Tensor:
    """ConvTranspose2d weight (I, O, kh, kw) → (kh·kw·O, I): row (ky, kx, o) dotted with an input pixel's channels is
    what that pixel adds to output channel o at offset (ky, kx) of its 2-strided footprint."""
    return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0])


def decoder_tensors(decoder: Decoder) -> dict[str, torch.Tensor]:
    """The decoder's weights in the page's layouts (see the module docstring), by the names the page uses."""
    c7 = decoder.from_latent.out_features // 49
    out: dict[str, torch.Tensor] = {}
    # from_latent's rows come in (c, y, x) order (Unflatten to C×7×7); reorder them to (y, x, c): channels-last
    order = torch.arange(c7 * 49).reshape(c7, 49).T.reshape(-1)
    out["from_latent.weight"] = decoder.from_latent.weight[order]
    out["from_latent.bias"] = decoder.from_latent.bias[order]
    layers = list(decoder.features)
    blocks = [layer for layer in layers if isinstance(layer, ResidualBlock)]
    for i, block in enumerate(blocks):
        bn1, _, conv1, bn2, _, conv2 = block.residual
        for name, bn in (("bn1", bn1), ("bn2", bn2)):
            out[f"block{i}.{name}.scale"], out[f"block{i}.{name}.shift"] = batchnorm_affine(bn)
        out[f"block{i}.conv1.weight"] = conv_channels_last(conv1.weight)  # no bias: a BatchNorm follows
        out[f"block{i}.conv2.weight"] = conv_channels_last(conv2.weight)
        out[f"block{i}.conv2.bias"] = conv2.bias
        excite_in, _, excite_out = block.attention.excite
        out[f"block{i}.excite1.weight"], out[f"block{i}.excite1.bias"] = excite_in.weight, excite_in.bias
        out[f"block{i}.excite2.weight"], out[f"block{i}.excite2.bias"] = excite_out.weight, excite_out.bias
    norm = layers[len(blocks) + 1]  # Unflatten, the blocks, then BatchNorm, SiLU, the up-sampling, ...
    up_conv, up_bn = layers[len(blocks) + 3][0], layers[len(blocks) + 3][1]
    conv_a, conv_b = layers[len(blocks) + 4], layers[len(blocks) + 6]
    out["norm.scale"], out["norm.shift"] = batchnorm_affine(norm)
    out["up.weight"], out["up.bias"] = transposed_conv_rows(up_conv.weight), up_conv.bias
    out["up.bn.scale"], out["up.bn.shift"] = batchnorm_affine(up_bn)
    out["conv_a.weight"], out["conv_a.bias"] = conv_channels_last(conv_a.weight), conv_a.bias
    out["conv_b.weight"], out["conv_b.bias"] = conv_channels_last(conv_b.weight), conv_b.bias
    return {name: value.detach() for name, value in out.items()}


def round_to_24_bits(array: np.ndarray) -> np.ndarray:
    """float32 values rounded to their top 24 bits (to nearest; the low byte becomes 0)."""
    bits = array.astype(np.float32).view(np.uint32).astype(np.uint64)
    return (((bits + 0x80) >> 8) << 8).astype(np.uint32).view(np.float32)


def _pack(tensors: dict[str, torch.Tensor | np.ndarray]) -> tuple[list[dict], str]:
    """Each tensor's bytes (float32, or its top 3 bytes if it has ``FULL_PRECISION_BELOW`` numbers or more),
    byte-shuffled, then all of them deflated and base64-encoded; the index to find them."""
    index, chunks, offset = [], [], 0
    for name, tensor in tensors.items():
        array = np.asarray(tensor.detach().cpu() if isinstance(tensor, torch.Tensor) else tensor, np.float32).ravel()
        kept = 4 if array.size < FULL_PRECISION_BELOW else 3
        if kept == 3:
            array = round_to_24_bits(array)
        planes = array.view(np.uint8).reshape(-1, 4)[:, 4 - kept:]  # little-endian: the top bytes come last
        index.append({"name": name, "dtype": "float32" if kept == 4 else "float24", "shape": list(tensor.shape),
                      "offset": offset, "length": int(array.size)})
        chunks.append(planes.T.ravel())  # byte k of every value together
        offset += planes.size
    raw = np.concatenate(chunks).tobytes()
    return index, base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


class UnsupportedModelError(ValueError):
    """The page's generator cannot run this model (another denoiser, another stored sampler, another design)."""


def check_page_can_run(pipe: LatentDiffusionPipeline) -> None:
    """Raise :class:`UnsupportedModelError`, saying why, unless the page's JavaScript port runs ``pipe``'s model."""
    diffusion = pipe.diffusion
    architecture = getattr(diffusion.denoiser, "architecture", type(diffusion.denoiser).__name__)
    if architecture != "unet":
        raise UnsupportedModelError(
            f"the page's generator runs the UNet denoiser only; this model's is {architecture!r}. Use a UNet "
            "checkpoint (the shipped diffusion.pt), or port the architecture to book/_generator/fmd-generator.js")
    stored = diffusion.sampling
    if stored.sampler not in PAGE_SAMPLERS:
        raise UnsupportedModelError(
            f"the page's generator runs the samplers {tuple(PAGE_SAMPLERS)} only; this model's stored sampler is "
            f"{stored.sampler!r}. Store one of those with it, or port the sampler")
    if stored.steps not in PAGE_SAMPLERS[stored.sampler][0]:
        raise UnsupportedModelError(
            f"the page offers {stored.sampler} with steps {PAGE_SAMPLERS[stored.sampler][0]}; this model's stored "
            f"steps are {stored.steps}. Add them to PAGE_SAMPLERS in fmd_utils/views/export.py")
    if diffusion.prediction != "v" or diffusion.denoiser.config.attention_heads != 1:
        raise UnsupportedModelError(
            "the page implements the shipped design: v-prediction and one attention head; got "
            f"prediction={diffusion.prediction!r}, heads={diffusion.denoiser.config.attention_heads}")


def sampler_menu(stored: SamplingSettings) -> dict[str, tuple[tuple[int, ...], int]]:
    """:data:`PAGE_SAMPLERS` as both panels (page and ipywidgets) offer them: the stored sampler first, each with
    its step counts and the count it opens at (the stored steps for the stored sampler)."""
    names = sorted(PAGE_SAMPLERS, key=lambda name: name != stored.sampler)
    return {name: (PAGE_SAMPLERS[name][0], stored.steps if name == stored.sampler else PAGE_SAMPLERS[name][1])
            for name in names}


def page_samplers(pipe: LatentDiffusionPipeline) -> dict:
    """Each sampler of :func:`sampler_menu` as the page reads it: its title, evaluations per step, the steps it
    shows first, and its grid of timesteps for every step count it offers."""
    diffusion = pipe.diffusion
    grids = {"ddim": lambda steps: ddim_timesteps(diffusion.num_steps, steps),
             "heun-straight": lambda steps: straight_timesteps(diffusion.schedule, steps)}
    out = {}
    for name, (choices, first) in sampler_menu(diffusion.sampling).items():
        sampler = get_sampler(name)
        out[name] = {"title": sampler.title, "evaluations_per_step": sampler.evaluations_per_step,
                     "first_steps": first, "grids": {str(steps): grids[name](steps) for steps in choices}}
    return out


def model_document(pipe: LatentDiffusionPipeline) -> dict:
    """Everything the page needs, as one JSON-able dict (``data``: the packed weights)."""
    check_page_can_run(pipe)
    diffusion, decoder = pipe.diffusion, pipe.autoencoder.decoder
    schedule, settings = diffusion.schedule, diffusion.sampling
    tensors = {f"denoiser.{k}": v for k, v in diffusion.denoiser.state_dict().items()}
    tensors.update({f"decoder.{k}": v for k, v in decoder_tensors(decoder).items()})
    tensors.update({f"schedule.{name}": getattr(schedule, name)
                    for name in ("alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar")})
    tensors.update({"normalizer.mean": diffusion.normalizer.mean, "normalizer.std": diffusion.normalizer.std})
    index, data = _pack(tensors)
    return {
        "format": FORMAT,
        "classes": list(CLASS_NAMES),
        "denoiser": diffusion.denoiser.config.to_dict(),
        "autoencoder": pipe.autoencoder.config.to_dict(),
        "autoencoder_sha256": getattr(diffusion, "metadata", {}).get("autoencoder_sha256"),
        "num_steps": diffusion.num_steps,
        "samplers": page_samplers(pipe),
        "sampling": {"sampler": settings.sampler, "steps": settings.steps, "guidance": settings.guidance,
                     "guidance_interval": list(settings.guidance_interval) if settings.guidance_interval else None},
        "tensors": index,
        "data": data,
    }


def export(out_dir: str | os.PathLike, checkpoints: str | os.PathLike | None = None) -> Path:
    """Write ``out_dir/fmd-model.js`` from the checkpoints (default: the shipped ones); returns its path."""
    out = check_writable_dir(out_dir, "--out")
    document = model_document(load_pretrained(checkpoints or default_checkpoint_dir()))
    path = Path(out) / FILENAME
    partial = path.with_suffix(".js.partial")  # written whole, then renamed: never a half-written model
    partial.write_text("// Generated by `python -m fmd_utils.web` from the shipped checkpoints; do not edit.\n"
                       f"window.FMD_MODEL = {json.dumps(document, separators=(',', ':'))};\n")
    partial.replace(path)
    return path
