"""What the diffusion and flow models need from a denoiser, and the registry of architectures.

**The contract** (:class:`Denoiser`): a module that maps standardised latents ``z`` (N, D), times ``t`` (N,) (integer
timesteps for diffusion, 1000 × a real time for flow matching) and labels ``y`` (N,) (0 … C − 1, or the null class
C for "no label") to an output of the same shape as ``z`` (ε̂, v̂ or a velocity: the model decides what it means);
it says its ``latent_dim`` and ``null_class``, its ``architecture`` name, and carries a frozen ``config`` dataclass
with ``to_dict()``. Nothing else: the models never look inside.

**The registry.** Each architecture module ends with one :func:`register` call naming its module class and config
class. A checkpoint stores the name (``config["architecture"]``) and the config; :func:`build_denoiser` is the one
builder that training and loading both use. Adding a denoiser is one module, its ``register`` line, one import line in
:mod:`fmd_utils.denoisers`, and its tests (book/appendix_package.md, "Extending").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Denoiser(Protocol):
    """f_θ(z, t, y) → a tensor shaped like z; see the module docstring."""

    architecture: str
    config: Any

    @property
    def latent_dim(self) -> int: ...

    @property
    def null_class(self) -> int: ...

    def __call__(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Architecture:
    """A registered denoiser: its ``name`` (what ``--denoiser`` and the checkpoint say), a ``title`` for tables, the
    module class (built as ``module(config)``) and its frozen config dataclass."""

    name: str
    title: str
    module: type[nn.Module]
    config: type

    def build(self, config: Any = None) -> nn.Module:
        """The module for ``config``: an instance of the config class, a stored dict (lists become tuples), or None
        for the defaults."""
        if config is None:
            config = self.config()
        elif isinstance(config, dict):
            valid = {f.name for f in fields(self.config)}
            unknown = set(config) - valid
            if unknown:
                raise TypeError(f"unknown {self.name} setting(s) {sorted(unknown)}; valid: {sorted(valid)}")
            config = self.config(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
        elif not isinstance(config, self.config):
            raise TypeError(f"a {self.name} denoiser needs a {self.config.__name__} (or its dict), got "
                            f"{type(config).__name__}")
        return self.module(config)


ARCHITECTURES: dict[str, Architecture] = {}


def register(architecture: Architecture) -> Architecture:
    """Add ``architecture`` to the registry (a second one with the same name is an error)."""
    if architecture.name in ARCHITECTURES:
        raise ValueError(f"a denoiser named {architecture.name!r} is already registered; choose another name")
    ARCHITECTURES[architecture.name] = architecture
    return architecture


def architecture_names() -> tuple[str, ...]:
    """The registered denoisers' names, sorted."""
    return tuple(sorted(ARCHITECTURES))


def get_architecture(name: str) -> Architecture:
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise ValueError(f"denoiser architecture must be one of {architecture_names()}, got {name!r}")
    return ARCHITECTURES[name]


def build_denoiser(architecture: str = "unet", config: Any = None) -> nn.Module:
    """The one builder: a fresh denoiser of the registered ``architecture`` with ``config`` (dataclass, stored dict,
    or None for the defaults). Training builds with it, and so does loading a checkpoint."""
    return get_architecture(architecture).build(config)


def check_inputs(z: torch.Tensor, t: torch.Tensor, y: torch.Tensor, latent_dim: int) -> None:
    """Raise a ValueError unless z is (N, latent_dim) and t, y are (N,): the shapes every denoiser takes."""
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"denoiser expects latents of shape (N, {latent_dim}), got {tuple(z.shape)}")
    if t.shape != (z.shape[0],) or y.shape != (z.shape[0],):
        raise ValueError(f"t and y must have shape ({z.shape[0]},) to match the batch, got {tuple(t.shape)} and "
                         f"{tuple(y.shape)}")
