import gzip
import struct

import numpy as np
import pytest
import torch

from fmd_utils import data as data_module
from fmd_utils.data import CorruptDataError, DataNotFoundError, find_data_dir, load_fashion_mnist, read_idx, to_float

from .conftest import requires_data
from .test_download import closed_port_url


def _write_idx(path, array: np.ndarray, magic: int, compress: bool = True) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    with (gzip.open(path, "wb", compresslevel=1) if compress else open(path, "wb")) as handle:
        handle.write(payload)


def _fake_dataset(folder, n_train=10, n_test=10_000, compress=True):
    """Synthetic idx files; only the test split has the official count (the train split is never decoded here)."""
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), 0x803, compress)
        _write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, 0x801, compress)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env dir, no Debian dir, empty cache: only what the test provides."""
    monkeypatch.delenv("FMD_DATA_DIR", raising=False)
    monkeypatch.setenv("FMD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FMD_DATA_URL", closed_port_url())  # a download is refused at once, never the internet
    monkeypatch.setattr(data_module, "DEBIAN_DATA_DIR", tmp_path / "no-debian")
    data_module._load_cached.cache_clear()
    yield tmp_path
    data_module._load_cached.cache_clear()


def test_read_idx_roundtrip(tmp_path):
    array = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    _write_idx(tmp_path / "x.gz", array, 0x803)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), array)


def test_no_data_anywhere_names_what_was_tried_and_the_remedies(isolated):
    with pytest.raises(DataNotFoundError) as info:
        find_data_dir()
    message = str(info.value)
    assert "FMD_DATA_DIR" in message and "no-debian" in message and "no earlier download" in message
    assert "a download into" in message and "no connection" in message  # what the download said
    assert "apt-get install dataset-fashion-mnist" in message and "FMD_DATA_URL" in message
    with pytest.raises(DataNotFoundError, match="not attempted: download=False"):
        find_data_dir(download=False)


def test_missing_explicit_directory_is_an_error(isolated, monkeypatch):
    monkeypatch.setenv("FMD_DATA_DIR", str(isolated / "nowhere"))
    with pytest.raises(DataNotFoundError, match="nowhere.*does not exist"):
        load_fashion_mnist("train")


def test_truncated_file_gives_clear_error(isolated):
    folder = isolated / "fm"
    folder.mkdir()
    _fake_dataset(folder, compress=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="truncated"):
        load_fashion_mnist("test", data_dir=folder)


def test_truncated_gzip_gives_clear_error(isolated):
    folder = isolated / "fm"
    folder.mkdir()
    _fake_dataset(folder)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(CorruptDataError, match="corrupt or truncated"):
        load_fashion_mnist("test", data_dir=folder)


def test_wrong_magic_number_is_rejected(tmp_path):
    _write_idx(tmp_path / "bad.gz", np.zeros((3,)), 0x802)
    with pytest.raises(CorruptDataError, match="magic number"):
        read_idx(tmp_path / "bad.gz")


def test_env_dir_is_used_and_cached(isolated, monkeypatch):
    folder = isolated / "fm"
    folder.mkdir()
    _fake_dataset(folder)
    monkeypatch.setenv("FMD_DATA_DIR", str(folder))
    test = load_fashion_mnist("test")
    assert test.images.shape == (10_000, 28, 28) and test.images.dtype == torch.uint8
    assert test.labels.dtype == torch.int64 and test.source == folder.resolve()
    assert list((isolated / "cache").glob("fashion-mnist-test-*.npz")), "decoded arrays are cached on disk"
    # a new process reads the disk cache: with the in-memory cache dropped and decoding disabled, loading still works
    data_module._load_cached.cache_clear()
    monkeypatch.setattr(data_module, "_decode_split", lambda *a: pytest.fail("decoded again instead of using cache"))
    again = load_fashion_mnist("test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)


def test_to_float_layout():
    x = to_float(torch.full((2, 28, 28), 255, dtype=torch.uint8))
    assert x.shape == (2, 1, 28, 28) and x.dtype == torch.float32 and float(x.max()) == 1.0


@requires_data
def test_real_fashion_mnist_counts_and_balance():
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    assert train.images.shape == (60_000, 28, 28) and test.images.shape == (10_000, 28, 28)
    assert train.images.dtype == torch.uint8
    assert torch.bincount(train.labels, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(test.labels, minlength=10).tolist() == [1000] * 10
    assert abs(train.images.float().mean().item() / 255 - 0.2860) < 1e-3  # published mean pixel


def test_ten_byte_idx_file_is_named_not_a_struct_error(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(struct.pack(">I", 0x803) + b"\x00" * 6)  # magic of a 3-d file, then half a header
    with pytest.raises(CorruptDataError, match=r"only 10 bytes: too short .* idx header"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "wrong arrays"])
def test_damaged_cache_is_rebuilt(isolated, damage):
    """A damaged .npz in the cache folder is replaced by a fresh decode of the idx files, not an EOFError."""
    folder = isolated / "fm"
    folder.mkdir()
    _fake_dataset(folder)
    first = load_fashion_mnist("test", data_dir=folder)
    (cache_file,) = (isolated / "cache").glob("fashion-mnist-test-*.npz")
    good = cache_file.read_bytes()
    if damage == "truncate":
        cache_file.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        cache_file.write_bytes(b"")
    elif damage == "garbage":
        cache_file.write_bytes(b"not a zip file at all")
    else:
        np.savez(cache_file, images=np.zeros((3, 28, 28), np.uint8), labels=np.zeros(3, np.int64))
    data_module._load_cached.cache_clear()  # a new process
    again = load_fashion_mnist("test", data_dir=folder)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert cache_file.read_bytes() == good  # rebuilt
    assert not list((isolated / "cache").glob("*.tmp"))
