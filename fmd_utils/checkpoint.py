"""Checkpoints: written atomically, loaded with ``weights_only=True``, validated with errors that say what to do, and
turned back into models by one loader, :func:`load_model`.

A checkpoint is a plain dict (tensors, strings, numbers, lists) so ``torch.load(..., weights_only=True)`` can read it
without running pickled code::

    {"format": "fmd-checkpoint", "format_version": 3, "kind": "autoencoder" | "diffusion" | "flow" | "classifier",
     "config": {...}, "state_dict": {...}, "metadata": {...}}

A diffusion checkpoint's state dict is the whole :class:`~fmd_utils.diffusion.LatentDiffusion` (denoiser and latent
normaliser); its config holds the denoiser's ``architecture`` (a name in :mod:`fmd_utils.denoisers`) and its
``denoiser`` config, the schedule, the prediction type and the tuned sampling settings. A flow checkpoint is the same
for a :class:`~fmd_utils.flow.LatentFlow` (no schedule: the straight path has none). Version 2 (before denoisers were
registered) had no ``architecture``: it is read as the UNet, the only denoiser it could hold.

Files: ``<kind>.pt``, or ``<kind>-<architecture>.pt`` for a denoiser other than the default UNet
(:func:`checkpoint_file`), so the shipped UNet and a DiT trained beside it live in one folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .autoencoder import Autoencoder, AutoencoderConfig
from .classifier import ClassifierConfig, FashionClassifier
from .denoisers import build_denoiser, get_architecture
from .device import resolve_device
from .diffusion import LatentDiffusion
from .flow import FlowSettings, LatentFlow
from .schedule import NoiseSchedule
from .settings import SamplingSettings
from .shipped import shipped_dir

FORMAT = "fmd-checkpoint"
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)  # 2: no "architecture" in a denoiser's config (always the UNet)
DEFAULT_ARCHITECTURE = "unet"
KINDS = ("autoencoder", "diffusion", "flow", "classifier")
FIX = (
    "Re-create it with `make train` (or `python -m fmd_utils.train all`), "
    "or restore it with `git checkout checkpoints/`."
)


def fix_for(path: Path, kind: str) -> str:
    """What re-creates a missing checkpoint: the shipped ones come back from git or ``make train``; one with another
    denoiser (``diffusion-dit.pt``) from its own training command."""
    stem = Path(path).stem
    if stem.startswith(f"{kind}-"):
        architecture = stem.removeprefix(f"{kind}-")
        return (f"Create it with `python -m fmd_utils.train {kind} --denoiser {architecture}`"
                + (" (`make train-dit`)" if (kind, architecture) == ("diffusion", "dit") else "")
                + (", or restore the shipped one with `git checkout checkpoints/`." if kind == "diffusion" else "."))
    return FIX


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, of the wrong kind, or does not fit the model it is loaded into."""


def default_checkpoint_dir() -> Path:
    """``$FMD_CHECKPOINT_DIR`` if set, else the shipped models: the clone's ``checkpoints/`` folder, or the installed
    package's copy (:func:`fmd_utils.shipped.shipped_dir`)."""
    return Path(os.environ.get("FMD_CHECKPOINT_DIR") or shipped_dir("checkpoints"))


def default_results_dir() -> Path:
    """``$FMD_RESULTS_DIR`` if set, else the shipped models' benchmark: the clone's ``results/`` folder, or the
    installed package's copy."""
    return Path(os.environ.get("FMD_RESULTS_DIR") or shipped_dir("results"))


def load_report(name: str = "") -> dict:
    """The benchmark report ``results/<name>/metrics.json`` of the shipped models (``name="dit"``: the DiT's), as
    ``python -m fmd_utils.evaluate`` wrote it; found from the package, so a notebook may run from any folder."""
    path = default_results_dir() / name / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark report at {path}: run `make evaluate` (or set FMD_RESULTS_DIR)")
    return json.loads(path.read_text())


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename: a crash never leaves half a file, and
    temporary files that a killed earlier save of the same file left behind are removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):
        orphan.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a checkpoint is an ordinary shareable file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(
    path: str | os.PathLike,
    kind: str,
    config: dict,
    state_dict: dict,
    metadata: dict | None = None,
) -> Path:
    """Write a model checkpoint (see the module docstring for the layout)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "metadata": metadata or {},
    }
    return atomic_torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike, kind: str) -> dict:
    """Read and validate a checkpoint of the given ``kind``; raise :class:`CheckpointError` with a fix otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No {kind} checkpoint at {path}. {fix_for(path, kind)}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a damaged file
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): {error}. {FIX}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an fmd checkpoint (no 'format': {FORMAT!r} entry). {FIX}")
    if payload.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')}, this code reads "
            f"versions {READABLE_VERSIONS}. {FIX}"
        )
    if payload.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {payload.get('kind')!r} checkpoint, but a {kind!r} one was expected.")
    return payload


def build_config(config_cls: type, stored: dict, path: str | os.PathLike) -> Any:
    """Rebuild a frozen config dataclass from its stored dict, turning lists back into tuples."""
    try:
        return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})
    except TypeError as error:
        raise CheckpointError(
            f"{path}: stored config does not match {config_cls.__name__} ({error}); the checkpoint comes from an "
            f"incompatible version of fmd_utils. {FIX}"
        ) from error


def load_state(module: torch.nn.Module, state_dict: dict, path: str | os.PathLike) -> None:
    """``module.load_state_dict`` with a clear error when shapes or names do not match."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        first = str(error).splitlines()[:4]
        raise CheckpointError(
            f"{path}: weights do not fit the model built from its config ({' '.join(first)}). {FIX}"
        ) from error


def state_fingerprint(state_dict: dict) -> str:
    """sha256 over a state dict's tensors (sorted by name): ties a denoiser to the exact autoencoder it was
    trained on, so a mismatched pair is caught at load time instead of producing noise."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------- models
def _build_autoencoder(config: dict, path: Path) -> Autoencoder:
    return Autoencoder(build_config(AutoencoderConfig, config, path))


def _build_classifier(config: dict, path: Path) -> FashionClassifier:
    return FashionClassifier(build_config(ClassifierConfig, config, path))


def checkpoint_file(kind: str, architecture: str | None = None) -> str:
    """The file name of a ``kind`` checkpoint: ``diffusion.pt`` for the default UNet, ``diffusion-dit.pt`` for the
    DiT, and so on."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if architecture in (None, DEFAULT_ARCHITECTURE):
        return f"{kind}.pt"
    if kind not in ("diffusion", "flow"):
        raise ValueError(f"only diffusion and flow checkpoints have a denoiser architecture; got {kind!r}")
    get_architecture(architecture)  # a ValueError naming the registered ones
    return f"{kind}-{architecture}.pt"


def build_stored_denoiser(config: dict, path: str | os.PathLike) -> nn.Module:
    """The denoiser a diffusion or flow checkpoint's config describes (architecture + its config), untrained."""
    try:
        return build_denoiser(config.get("architecture", DEFAULT_ARCHITECTURE), config["denoiser"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: stored denoiser does not match this version of fmd_utils ({error}). "
                              f"{FIX}") from error


def _build_diffusion(config: dict, path: Path) -> LatentDiffusion:
    denoiser = build_stored_denoiser(config, path)
    try:
        return LatentDiffusion(
            denoiser,
            NoiseSchedule(config["schedule"], config["num_steps"]),
            config["prediction"],
            sampling=SamplingSettings.from_dict(config["sampling"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: incomplete or incompatible diffusion config ({error}). {FIX}") from error


def _build_flow(config: dict, path: Path) -> LatentFlow:
    try:
        return LatentFlow(build_stored_denoiser(config, path), sampling=FlowSettings.from_dict(config["sampling"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: incomplete or incompatible flow config ({error}). {FIX}") from error


BUILDERS: dict[str, Callable[[dict, Path], nn.Module]] = {
    "autoencoder": _build_autoencoder, "diffusion": _build_diffusion, "flow": _build_flow,
    "classifier": _build_classifier,
}


def load_model(kind: str, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """The model stored in a ``kind`` checkpoint (default: ``<default_checkpoint_dir()>/<kind>.pt``), in eval mode on
    ``device``, with the checkpoint's metadata (training history, versions, fingerprints) as ``.metadata``."""
    if kind not in BUILDERS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a checkpoint file path (str or Path), got {type(path).__name__}")
    device = resolve_device(device)  # a bad device fails before the file is read
    path = Path(path) if path else default_checkpoint_dir() / f"{kind}.pt"
    payload = load_checkpoint(path, kind)
    model = BUILDERS[kind](payload["config"], path)
    load_state(model, payload["state_dict"], path)
    model.metadata = payload["metadata"]
    # the convolutional models run channels-last, as they train: oneDNN's preferred layout on a CPU, about twice as
    # fast for the encoder, decoder and judge; the weights' values are the same, only their memory order differs
    layout = torch.channels_last if kind in ("autoencoder", "classifier") else torch.contiguous_format
    return model.to(device, memory_format=layout).eval()
