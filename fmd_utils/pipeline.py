"""The public API: load the shipped models and generate images of named classes.

    >>> from fmd_utils import load_pretrained
    >>> pipe = load_pretrained()                      # shipped checkpoints, CPU unless told otherwise
    >>> x = pipe.generate(["Dress", 3, "sandal"], steps=50, guidance=3.0, seed=0)   # (3, 1, 28, 28) in [0, 1]

Generation = sample raw latents with the diffusion model (:func:`fmd_utils.sampling.sample`), decode them.
Sampling settings left out are the ones stored with the diffusion checkpoint (``pipe.diffusion.sampling``).
``load_pretrained(model="flow")`` gives the same API for the flow matching model of chapter 6
(:class:`LatentFlowPipeline`, :func:`fmd_utils.flow.flow_sample`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .autoencoder import Autoencoder
from .batching import map_batches
from .checkpoint import CheckpointError, default_checkpoint_dir, load_model, state_fingerprint
from .classes import NUM_CLASSES, class_index
from .classifier import FashionClassifier
from .device import resolve_device
from .diffusion import LatentDiffusion
from .flow import FlowSettings, LatentFlow, flow_sample
from .sampling import sample
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


def _generator(seed: int | torch.Generator) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)


@dataclass
class LatentDiffusionPipeline(_DecodingPipeline):
    """An autoencoder and the diffusion model trained on its latents, ready to generate."""

    autoencoder: Autoencoder
    diffusion: LatentDiffusion

    def __post_init__(self) -> None:
        check_pair(self.autoencoder, self.diffusion)

    def settings(self, settings: SamplingSettings | None = None, **overrides) -> SamplingSettings:
        """``settings`` (default: the model's stored ones) with ``overrides`` (steps=…, guidance=…, …), validated."""
        base = self.diffusion.sampling if settings is None else settings
        return base.replace(**overrides).validate(self.diffusion.num_steps)

    @torch.no_grad()
    def sample_latents(self, classes: Classes, seed: int | torch.Generator = 0, *,
                       settings: SamplingSettings | None = None, progress: bool = False, **overrides) -> torch.Tensor:
        """Raw latents (N, 64) for the requested classes (names or indices; one class or several)."""
        return sample(self.diffusion, classes, _generator(seed), self.settings(settings, **overrides), progress)

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
        return (self.flow.sampling if settings is None else settings).replace(**overrides).validate()

    @torch.no_grad()
    def sample_latents(self, classes: Classes, seed: int | torch.Generator = 0, *,
                       settings: FlowSettings | None = None, progress: bool = False, **overrides) -> torch.Tensor:
        """Raw latents (N, 64) for the requested classes, integrated from the same noise a diffusion pipeline
        would start from with the same seed."""
        return flow_sample(self.flow, classes, _generator(seed), self.settings(settings, **overrides), progress)

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
                    model: str = "diffusion") -> LatentDiffusionPipeline | LatentFlowPipeline:
    """Load ``autoencoder.pt`` and ``diffusion.pt`` (``model="flow"``: ``flow.pt``) from ``checkpoint_dir``
    (default: the shipped ``checkpoints/``), checking that the model was trained on this very autoencoder."""
    pipelines = {"diffusion": LatentDiffusionPipeline, "flow": LatentFlowPipeline}
    if model not in pipelines:
        raise ValueError(f"model must be 'diffusion' or 'flow', got {model!r}")
    folder = Path(checkpoint_dir) if checkpoint_dir else default_checkpoint_dir()
    autoencoder = load_autoencoder(folder / "autoencoder.pt", device)
    latent_model = load_model(model, folder / f"{model}.pt", device)
    try:
        return pipelines[model](autoencoder, latent_model)
    except CheckpointError as error:
        raise CheckpointError(f"{folder / f'{model}.pt'} does not fit {folder / 'autoencoder.pt'}: {error}") from None


# --------------------------------------------------------------------------------------------------- seed project
def generate_class_samples(
    autoencoder: Autoencoder,
    diffusion: LatentDiffusion,
    target_class: int | str,
    num_samples: int = 5,
    save_path: str | os.PathLike | None = None,
    seed: int = 0,
    settings: SamplingSettings | None = None,
    **overrides,
) -> torch.Tensor:
    """``num_samples`` images of one class (name or index), optionally saved as a one-row PNG grid. (The name and
    arguments of the project this course started from; ``settings`` and ``overrides`` as in ``generate``.)"""
    index = class_index(target_class)
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    pipe = LatentDiffusionPipeline(autoencoder, diffusion)
    images = pipe.generate([index] * num_samples, seed, settings=settings, **overrides)
    if save_path is not None:
        from .viz import save_image_grid

        save_image_grid(images, save_path, ncols=num_samples)
    return images


def generate_samples_grid(
    autoencoder: Autoencoder,
    diffusion: LatentDiffusion,
    n_per_class: int = 5,
    save_dir: str | os.PathLike | None = None,
    seed: int = 0,
    settings: SamplingSettings | None = None,
    **overrides,
) -> torch.Tensor:
    """(10 * n_per_class, 1, 28, 28) images, one row per class in ``CLASS_NAMES`` order; saved as a labelled
    ``save_dir/samples_grid.png`` when ``save_dir`` is given (``python -m fmd_utils.samples`` writes it this way)."""
    if not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be an integer >= 1, got {n_per_class!r}")
    pipe = LatentDiffusionPipeline(autoencoder, diffusion)
    settings = pipe.settings(settings, **overrides)
    labels = [c for c in range(NUM_CLASSES) for _ in range(n_per_class)]
    images = pipe.generate(labels, seed, settings=settings)
    if save_dir is not None:
        from .viz import save_class_grid

        save_class_grid(images, n_per_class, Path(save_dir) / "samples_grid.png",
                        title=f"Generated: {settings.describe(diffusion.num_steps)}, seed {seed}")
    return images
