"""The public API: load the shipped models and generate images of named classes.

    >>> from fmd_utils import load_pretrained
    >>> pipe = load_pretrained()                      # shipped checkpoints, CPU unless told otherwise
    >>> x = pipe.generate(["Dress", 3, "sandal"], seed=0)          # (3, 1, 28, 28) in [0, 1], the stored settings
    >>> x = pipe.generate(["Dress"], seed=0, sampler="ddim", steps=50, guidance=3.0)  # any field changed by name

Generation = sample raw latents with the diffusion model (:func:`fmd_utils.samplers.sample`), decode them.
Sampling settings left out are the ones stored with the diffusion checkpoint (``pipe.diffusion.sampling``; shipped:
Heun on the straight path, 8 steps, w = 4 on 200 ≤ t ≤ 699).
``load_pretrained(model="flow")`` gives the same API for the flow matching model of chapter 6
(:class:`LatentFlowPipeline`, :func:`fmd_utils.flow.flow_sample`); ``load_pretrained(denoiser="dit")`` the diffusion
model with the DiT denoiser (``diffusion-dit.pt``). This module computes and returns tensors; writing images and
figures is the views' job (:mod:`fmd_utils.views`, where the seed project's ``generate_class_samples`` and
``generate_samples_grid`` live).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .autoencoder import Autoencoder
from .batching import map_batches
from .checkpoint import CheckpointError, checkpoint_file, default_checkpoint_dir, load_model, state_fingerprint
from .checks import seeded_generator
from .classifier import FashionClassifier
from .device import resolve_device
from .diffusion import LatentDiffusion
from .flow import FlowSettings, LatentFlow, flow_sample
from .samplers import sample
from .settings import SamplingSettings

Classes = int | str | Sequence[int | str] | torch.Tensor


def load_autoencoder(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Autoencoder:
    """The autoencoder in ``path`` (default: the shipped ``checkpoints/autoencoder.pt``)."""
    return load_model("autoencoder", path, device)


def load_diffusion(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LatentDiffusion:
    """The (EMA) diffusion model in ``path``, with its latent normaliser and its tuned sampling settings."""
    return load_model("diffusion", path, device)


def load_flow(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LatentFlow:
    """The (EMA) flow model in ``path`` (default: the shipped ``checkpoints/flow.pt``), with its normaliser and its
    tuned sampling settings."""
    return load_model("flow", path, device)


def load_classifier(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> FashionClassifier:
    """The judge used by the evaluation (default: the shipped ``checkpoints/classifier.pt``)."""
    return load_model("classifier", path, device)


class _DecodingPipeline:
    """What both pipelines share: an autoencoder that decodes the latents their model samples."""

    autoencoder: Autoencoder

    @property
    def device(self) -> torch.device:
        return next(self.autoencoder.parameters()).device

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
        """Images (on the CPU) for raw latents, decoded ``batch_size`` at a time (on a CPU, chunks whose activations
        stay in cache decode ~20 % faster than one large batch)."""
        return map_batches(self.autoencoder.decode, latents, batch_size, self.device)

    def sample_latents(self, classes: Classes, seed: int | torch.Generator = 0, *, settings=None,
                       progress: bool = False, **overrides) -> torch.Tensor:
        raise NotImplementedError

    def generate(self, classes: Classes, seed: int | torch.Generator = 0, *, settings=None, progress: bool = False,
                 **overrides) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1], one per requested class. Same arguments and seed → same images.

        ``overrides`` are fields of the model's settings (:class:`~fmd_utils.settings.SamplingSettings` for
        diffusion: ``sampler``, ``steps``, ``guidance``, ``guidance_interval``, ``eta``;
        :class:`~fmd_utils.flow.FlowSettings` for a flow)."""
        images = self.decode(self.sample_latents(classes, seed, settings=settings, progress=progress, **overrides))
        if not torch.isfinite(images).all():
            raise FloatingPointError("generation produced non-finite pixels; the checkpoints may be damaged "
                                     "(restore them with `git checkout checkpoints/`)")
        return images

    def _to(self, model: torch.nn.Module, device: str | torch.device):
        device = resolve_device(device)
        self.autoencoder.to(device)
        model.to(device)
        return self


@dataclass
class LatentDiffusionPipeline(_DecodingPipeline):
    """An autoencoder and the diffusion model trained on its latents, ready to generate."""

    autoencoder: Autoencoder
    diffusion: LatentDiffusion

    def __post_init__(self) -> None:
        check_pair(self.autoencoder, self.diffusion)

    def settings(self, settings: SamplingSettings | None = None, **overrides) -> SamplingSettings:
        """``settings`` (default: the model's stored ones) with ``overrides`` (steps=…, guidance=…, …), validated."""
        if settings is not None and not isinstance(settings, SamplingSettings):
            raise TypeError(f"settings must be a SamplingSettings for a diffusion pipeline (or None: the model's "
                            f"stored ones), got {type(settings).__name__}")
        base = self.diffusion.sampling if settings is None else settings
        return base.replace(**overrides).validate(self.diffusion.num_steps)

    @torch.no_grad()
    def sample_latents(self, classes: Classes, seed: int | torch.Generator = 0, *,
                       settings: SamplingSettings | None = None, progress: bool = False, **overrides) -> torch.Tensor:
        """Raw latents (N, 64) for the requested classes (names or indices; one class or several)."""
        settings = self.settings(settings, **overrides)
        return sample(self.diffusion, classes, seeded_generator(seed), settings, progress)

    def to(self, device: str | torch.device) -> LatentDiffusionPipeline:
        return self._to(self.diffusion, device)


@dataclass
class LatentFlowPipeline(_DecodingPipeline):
    """An autoencoder and the flow model trained on its latents (chapter 6): the same API as
    :class:`LatentDiffusionPipeline`, with :class:`~fmd_utils.flow.FlowSettings`."""

    autoencoder: Autoencoder
    flow: LatentFlow

    def __post_init__(self) -> None:
        check_pair(self.autoencoder, self.flow)

    def settings(self, settings: FlowSettings | None = None, **overrides) -> FlowSettings:
        """``settings`` (default: the flow's stored ones) with ``overrides``, validated."""
        if settings is not None and not isinstance(settings, FlowSettings):
            raise TypeError(f"settings must be a FlowSettings for a flow pipeline (or None: the model's stored ones), "
                            f"got {type(settings).__name__}")
        return (self.flow.sampling if settings is None else settings).replace(**overrides).validate()

    @torch.no_grad()
    def sample_latents(self, classes: Classes, seed: int | torch.Generator = 0, *,
                       settings: FlowSettings | None = None, progress: bool = False, **overrides) -> torch.Tensor:
        """Raw latents (N, 64) for the requested classes, integrated from the same noise a diffusion pipeline
        would start from with the same seed."""
        settings = self.settings(settings, **overrides)
        return flow_sample(self.flow, classes, seeded_generator(seed), settings, progress)

    def to(self, device: str | torch.device) -> LatentFlowPipeline:
        return self._to(self.flow, device)


def check_pair(autoencoder: Autoencoder, model: LatentDiffusion | LatentFlow) -> None:
    """Raise a CheckpointError unless ``model`` (diffusion or flow) was trained on the latents of this very
    ``autoencoder``."""
    stage = "flow" if isinstance(model, LatentFlow) else "diffusion"
    expected = getattr(model, "metadata", {}).get("autoencoder_sha256")
    if expected and expected != state_fingerprint(autoencoder.state_dict()):
        raise CheckpointError(
            f"the {stage} model was trained on a different autoencoder: the latents would not match. "
            f"Retrain the denoiser with `python -m fmd_utils.train {stage}` (or restore both files with "
            "`git checkout checkpoints/`)."
        )
    if autoencoder.latent_dim != model.latent_dim:
        raise CheckpointError(f"autoencoder latent_dim {autoencoder.latent_dim} != denoiser latent_dim "
                              f"{model.latent_dim}. Retrain with `make train`.")


def load_pretrained(checkpoint_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                    model: str = "diffusion", denoiser: str | None = None
                    ) -> LatentDiffusionPipeline | LatentFlowPipeline:
    """Load ``autoencoder.pt`` and ``diffusion.pt`` (``model="flow"``: ``flow.pt``; ``denoiser="dit"``:
    ``diffusion-dit.pt``, :func:`~fmd_utils.checkpoint.checkpoint_file`) from ``checkpoint_dir`` (default: the
    shipped ``checkpoints/``), checking that the model was trained on this very autoencoder. The denoiser's
    architecture is the one the checkpoint stores."""
    pipelines = {"diffusion": LatentDiffusionPipeline, "flow": LatentFlowPipeline}
    if model not in pipelines:
        raise ValueError(f"model must be 'diffusion' or 'flow', got {model!r}")
    if checkpoint_dir is not None and not isinstance(checkpoint_dir, str | os.PathLike):
        raise TypeError(f"checkpoint_dir must be a folder path (str or Path), got {type(checkpoint_dir).__name__}")
    filename = checkpoint_file(model, denoiser)  # a ValueError naming the registered denoisers
    folder = Path(checkpoint_dir) if checkpoint_dir else default_checkpoint_dir()
    autoencoder = load_autoencoder(folder / "autoencoder.pt", device)
    latent_model = load_model(model, folder / filename, device)
    stored = getattr(latent_model.denoiser, "architecture", None)
    if denoiser is not None and stored != denoiser:
        raise CheckpointError(f"{folder / filename} holds a {stored!r} denoiser, not the {denoiser!r} asked for")
    try:
        return pipelines[model](autoencoder, latent_model)
    except CheckpointError as error:
        raise CheckpointError(f"{folder / filename} does not fit {folder / 'autoencoder.pt'}: {error}") from None
