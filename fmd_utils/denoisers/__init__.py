"""Denoisers: networks f_θ(z_t, t, y) over latent vectors, each in its own module, all behind one small contract and
one registry (:mod:`fmd_utils.denoisers.base`).

======== ================ ==============================================================================
name     module           what it is
======== ================ ==============================================================================
``unet`` :mod:`~.unet`    the course's UNet over vectors: residual MLP blocks, skips, bottleneck attention
``dit``  :mod:`~.dit`     a small diffusion transformer: adaLN-Zero blocks over tokens of the latent
======== ================ ==============================================================================
"""

from .base import (
    ARCHITECTURES,
    Architecture,
    Denoiser,
    architecture_names,
    build_denoiser,
    get_architecture,
    register,
)
from .dit import DiTConfig, LatentDiT
from .unet import ConditionalLatentUNet, ConditionedResidualBlock, DenoiserConfig, TokenSelfAttention

__all__ = [
    "ARCHITECTURES", "Architecture", "Denoiser", "architecture_names", "build_denoiser", "get_architecture",
    "register", "DiTConfig", "LatentDiT", "ConditionalLatentUNet", "ConditionedResidualBlock", "DenoiserConfig",
    "TokenSelfAttention",
]
