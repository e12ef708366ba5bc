"""Fashion-MNIST from the official idx files, offline first.

Where the files are looked up, in order:

1. ``$FMD_DATA_DIR`` (a folder holding the four idx files, ``.gz`` or decompressed);
2. Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``; ``$FMD_SYSTEM_DATA_DIR`` moves
   where it is looked for, which is how a test plays a machine without the package);
3. an earlier download in ``~/.cache/fmd_utils/fashion-mnist`` (or ``$FMD_CACHE_DIR/fashion-mnist``), or an earlier
   torchvision download there (``torchvision/FashionMNIST/raw``);
4. a download of the four official files into that cache (:mod:`fmd_utils.download`: SHA-256 checked, written
   atomically, from ``$FMD_DATA_URL`` if set), unless ``download=False``.

Every file is validated (idx magic number, dimensions, byte count, label range, expected count) so a truncated or
corrupt file fails loudly instead of training on garbage. Decoded arrays are cached in memory and on disk
(``~/.cache/fmd_utils`` or ``$FMD_CACHE_DIR``), so a second load, in this process or a new one, takes milliseconds.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .classes import CLASS_NAMES, NUM_CLASSES, class_index, class_name
from .download import download_fashion_mnist

__all__ = [
    "CLASS_NAMES",
    "NUM_CLASSES",
    "DEBIAN_DATA_DIR",
    "DataNotFoundError",
    "CorruptDataError",
    "FashionMNIST",
    "class_index",
    "class_name",
    "find_data_dir",
    "load_fashion_mnist",
    "read_idx",
    "dataset_fingerprint",
    "to_float",
]

DEBIAN_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801

REMEDIES = (
    "Fix it in one of three ways:\n"
    "  1. set FMD_DATA_DIR to a folder holding the four Fashion-MNIST idx files (.gz or decompressed);\n"
    "  2. on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist  (installs /usr/share/datasets/fashion-mnist);\n"
    "  3. connect to the internet (or set FMD_DATA_URL to a mirror) and load again: the four official files are "
    "downloaded and checked."
)


class DataNotFoundError(FileNotFoundError):
    """No complete copy of Fashion-MNIST was found anywhere we looked."""


class CorruptDataError(ValueError):
    """An idx file exists but is truncated, has the wrong magic number, or holds impossible values."""


@dataclass(frozen=True)
class FashionMNIST:
    """One split: ``images`` (N, 28, 28) uint8 and ``labels`` (N,) int64 in 0..9."""

    images: torch.Tensor
    labels: torch.Tensor
    source: Path

    def __len__(self) -> int:
        return len(self.labels)


def _idx_path(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _complete(folder: Path) -> bool:
    return all(_idx_path(folder, stem) for pair in SPLIT_FILES.values() for stem in pair)


def _cache_root() -> Path:
    return Path(os.environ.get("FMD_CACHE_DIR", Path.home() / ".cache" / "fmd_utils"))


def download_dir() -> Path:
    """Where downloads go: ``<cache>/fashion-mnist``."""
    return _cache_root() / "fashion-mnist"


def find_data_dir(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return the folder holding the four idx files, trying the places listed in the module docstring.

    An explicit ``data_dir`` (or ``$FMD_DATA_DIR``) that lacks the files is an error, not silently skipped:
    the user asked for that folder.
    """
    tried: list[str] = []
    explicit = data_dir if data_dir is not None else os.environ.get("FMD_DATA_DIR")
    if explicit:
        folder = Path(explicit).expanduser()
        if _complete(folder):
            return folder
        reason = "does not exist" if not folder.is_dir() else "lacks some of the four idx files"
        raise DataNotFoundError(
            f"Fashion-MNIST not found: {folder} (from {'data_dir' if data_dir else 'FMD_DATA_DIR'}) {reason}; "
            f"expected {', '.join(s + '[.gz]' for pair in SPLIT_FILES.values() for s in pair)}.\n{REMEDIES}"
        )
    tried.append("FMD_DATA_DIR (not set)")
    system = Path(os.environ.get("FMD_SYSTEM_DATA_DIR") or DEBIAN_DATA_DIR)
    if _complete(system):
        return system
    tried.append(f"{system} (Debian package dataset-fashion-mnist; not installed)")
    for cached in (download_dir(), _cache_root() / "torchvision" / "FashionMNIST" / "raw"):
        if _complete(cached):
            return cached
    tried.append(f"{download_dir()} (no earlier download)")
    if download:
        try:
            return download_fashion_mnist(download_dir())
        except OSError as error:  # no network, a refused or wrong file, an unwritable cache: the same remedies apply
            tried.append(f"a download into {download_dir()} ({error})")
    else:
        tried.append("a download (not attempted: download=False)")
    raise DataNotFoundError("Fashion-MNIST not found. Tried:\n  - " + "\n  - ".join(tried) + "\n" + REMEDIES)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one idx file (optionally gzipped) into a uint8 array, validating the header against the payload.

    idx layout: magic ``0x00000803`` (images, 3 dims) or ``0x00000801`` (labels, 1 dim), then one big-endian
    uint32 per dimension, then ``prod(dims)`` unsigned bytes.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:  # gzip raises these for truncated or non-gzip files
        message = f"Cannot read {path}: {error}. The file is corrupt or truncated; {_refetch()}"
        raise CorruptDataError(message) from error
    if len(raw) < 8:
        raise CorruptDataError(f"{path} is only {len(raw)} bytes: not an idx file. {_refetch()}")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise CorruptDataError(
            f"{path} has idx magic number {magic:#010x}; expected {IMAGE_MAGIC:#010x} (images) or "
            f"{LABEL_MAGIC:#010x} (labels). {_refetch()}"
        )
    ndim = magic & 0xFF
    if len(raw) < 4 + 4 * ndim:
        raise CorruptDataError(f"{path} is only {len(raw)} bytes: too short for its {ndim}-dimension idx header. "
                               f"{_refetch()}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    payload = memoryview(raw)[4 + 4 * ndim :]
    if len(payload) != int(np.prod(dims)):
        raise CorruptDataError(
            f"{path} is truncated or padded: header says {dims} = {int(np.prod(dims))} bytes of data, "
            f"found {len(payload)}. {_refetch()}"
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims).copy()


def _refetch() -> str:
    return ("Re-install or re-download the file (`python -m fmd_utils.fetch` says where the files are looked for, "
            "and the three remedies).")


def _check_split(images: np.ndarray, labels: np.ndarray, split: str, image_source: Path,
                 label_source: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raise a CorruptDataError unless these are the N images (uint8, 28×28) and N labels (0..9) of ``split``."""
    expected = SPLIT_SIZES[split]
    if images.dtype != np.uint8 or images.shape != (expected, 28, 28):
        raise CorruptDataError(f"{image_source}: expected uint8 images of shape ({expected}, 28, 28), got "
                               f"{images.dtype} {images.shape}.")
    if labels.shape != (expected,) or not np.issubdtype(labels.dtype, np.integer):
        raise CorruptDataError(f"{label_source}: expected {expected} integer labels, got {labels.dtype} "
                               f"{labels.shape}.")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise CorruptDataError(f"{label_source}: labels span {labels.min()}..{labels.max()}, outside "
                               f"0..{NUM_CLASSES - 1}.")
    return images, labels.astype(np.int64)


def _decode_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_path, label_path = (_idx_path(folder, stem) for stem in SPLIT_FILES[split])
    return _check_split(read_idx(image_path), read_idx(label_path), split, image_path, label_path)


def _disk_cache_key(folder: Path, split: str) -> str:
    stamp = []
    for stem in SPLIT_FILES[split]:
        path = _idx_path(folder, stem)
        info = path.stat()
        stamp.append(f"{path.resolve()}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("|".join(stamp).encode()).hexdigest()[:16]


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as handle:
        try:
            np.savez(handle, **arrays)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    os.replace(handle.name, path)


def _read_cache(cache_file: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays if the file is intact and holds a valid split; None (and the file removed) otherwise."""
    try:
        with np.load(cache_file, allow_pickle=False) as stored:
            return _check_split(stored["images"], stored["labels"], split, cache_file, cache_file)
    except Exception:  # noqa: BLE001 - truncated, empty, not a zip, wrong arrays: all mean "rebuild it"
        with contextlib.suppress(OSError):
            cache_file.unlink(missing_ok=True)
        return None


@functools.lru_cache(maxsize=8)
def _load_cached(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    cache_file = _cache_root() / f"fashion-mnist-{split}-{_disk_cache_key(folder, split)}.npz"
    if cache_file.is_file() and (cached := _read_cache(cache_file, split)) is not None:
        return cached
    images, labels = _decode_split(folder, split)
    try:
        _atomic_save_npz(cache_file, images=images, labels=labels)
    except OSError:
        pass  # a read-only home just means no disk cache
    return images, labels


def load_fashion_mnist(
    split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True
) -> FashionMNIST:
    """Load one split of Fashion-MNIST: ``images`` (N, 28, 28) uint8, ``labels`` (N,) int64.

    ``split`` is ``"train"`` (60,000 images, 6,000 per class) or ``"test"`` (10,000). The returned tensors share
    memory with an in-process cache: clone before modifying them in place.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"Unknown split {split!r}; use 'train' or 'test'.")
    folder = find_data_dir(data_dir, download=download).resolve()
    images, labels = _load_cached(folder, split)
    return FashionMNIST(torch.from_numpy(images), torch.from_numpy(labels), folder)


def dataset_fingerprint(data: FashionMNIST) -> str:
    """sha256 of the decoded images and labels: stored in checkpoints to tie a model to the data it saw."""
    digest = hashlib.sha256(data.images.numpy().tobytes())
    digest.update(data.labels.numpy().tobytes())
    return digest.hexdigest()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1], the layout every model here takes."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    return images.unsqueeze(1).float().div_(255.0)
