"""fmd_utils: class-conditional latent diffusion on Fashion-MNIST, small enough to train on a laptop CPU.

One idea per module, in layers that import only downwards (tests/test_layers.py checks):

* **basics** — ``version``, ``checks`` (argument rules), ``classes`` (names and labels), ``device``, ``progress``,
  ``batching``, ``writable``, ``claims`` and ``uncertainty`` (numbers the prose states), ``download`` (the official
  files, checked), ``data`` (the data set), ``shipped`` (where the shipped models, reports and chapters are),
  ``distributed`` (ranks under torchrun, and each one's part of a global batch), ``precision`` (mixed precision for
  training).
* **networks and maths** — ``blocks`` + ``autoencoder`` (image ↔ 64-d latent), ``classifier`` + ``metrics`` (the
  judge), ``schedule`` (forward process), ``embeddings``, ``denoisers`` (the registry: ``unet``, ``dit``),
  ``normalizer``, ``samplers`` (the registry: ``ddim``, ``ddim-trailing``, ``ddpm``, ``dpm++2m``,
  ``dpm++2m-karras``, ``heun``, ``heun-straight``), ``sde`` (the continuous view: the score, a Langevin step,
  a Gaussian's exact ODE, EDM's preconditioning), ``gaussian`` (a per-class Gaussian whose exact score we know).
* **models** — ``settings`` (how to sample), ``diffusion`` (coordinates, loss, guidance), ``flow`` (flow matching).
* **storage** — ``config`` (every setting), ``checkpoint`` (saving, loading, the one model loader).
* **library** — ``pipeline`` (the public API), ``trajectory`` (a sampler's steps, decoded), ``training`` (the loop
  and the stages), ``evaluation`` (the benchmark), ``solver_error`` (every solver against the exact ODE),
  ``exercises`` (checkers that name a learner's mistake, a
  chapter's editions, the grader).
* **views** — ``views.figures``, ``views.players``, ``views.panel``, ``views.export``, ``views.source``,
  ``views.report``, ``views.classic`` (the seed project's four calls).
* **command lines** — ``cli`` (what they share), ``train``, ``evaluate``, ``grids``, ``web``, ``fetch`` (the data
  set, found or downloaded), ``chapters`` (the chapters as notebooks, for a pip user), ``gpu_check`` (the course
  on a GPU against the CPU, timed).
"""

from .classes import CLASS_NAMES, NUM_CLASSES, class_index, class_labels, class_name
from .data import load_fashion_mnist
from .pipeline import (
    LatentDiffusionPipeline,
    LatentFlowPipeline,
    load_autoencoder,
    load_classifier,
    load_diffusion,
    load_flow,
    load_pretrained,
)
from .settings import SamplingSettings
from .version import __version__
from .views.classic import (
    create_diffusion_animation,
    generate_class_samples,
    generate_samples_grid,
    visualize_denoising_steps,
)

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
    "visualize_denoising_steps",
    "create_diffusion_animation",
]
