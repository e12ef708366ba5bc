"""fmd_utils: class-conditional latent diffusion on Fashion-MNIST, small enough to train on a laptop CPU.

Modules, one idea each: ``data`` (the data set), ``classes`` (names and labels), ``blocks`` + ``autoencoder``
(image ↔ 64-d latent), ``schedule`` (forward process), ``embeddings`` + ``denoiser`` (the conditional UNet),
``normalizer`` + ``diffusion`` (the model's coordinates, loss and guidance), ``settings`` (how to sample),
``sampling`` (DDPM, DDIM), ``flow`` (flow matching on the same latents), ``classifier`` + ``metrics`` (the judge),
``config`` (every setting), ``checkpoint`` (saving and loading), ``train`` and ``evaluate`` (command lines),
``pipeline`` (the public API), ``viz`` and ``widgets`` (figures and scrubbers).
"""

__version__ = "0.2.0"

from .classes import CLASS_NAMES, NUM_CLASSES, class_index, class_labels, class_name  # noqa: E402
from .data import load_fashion_mnist  # noqa: E402
from .pipeline import (  # noqa: E402
    LatentDiffusionPipeline,
    LatentFlowPipeline,
    generate_class_samples,
    generate_samples_grid,
    load_autoencoder,
    load_classifier,
    load_diffusion,
    load_flow,
    load_pretrained,
)
from .settings import SamplingSettings  # noqa: E402

__all__ = [
    "__version__",
    "CLASS_NAMES",
    "NUM_CLASSES",
    "class_index",
    "class_labels",
    "class_name",
    "load_fashion_mnist",
    "LatentDiffusionPipeline",
    "LatentFlowPipeline",
    "SamplingSettings",
    "load_pretrained",
    "load_autoencoder",
    "load_diffusion",
    "load_flow",
    "load_classifier",
    "generate_class_samples",
    "generate_samples_grid",
]
