"""The download of the four official files (fmd_utils.download), against a local HTTP server on 127.0.0.1: the real
files, a truncated one, a wrong one, a 404, a server that stalls, and no server at all. Nothing here touches the
internet."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fmd_utils import data as data_module
from fmd_utils.download import FILES, DownloadError, base_url, download_fashion_mnist, is_intact

from .conftest import closed_port_url, requires_data

TRAIN_IMAGES, TEST_LABELS = "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_downloads_the_official_files_once_and_verifies_them(server, tmp_path):
    """The server's files are Debian's, which on this machine are the official data re-compressed (other .gz bytes,
    the same idx content): accepted, because the check is on the content."""
    folder = download_fashion_mnist(tmp_path / "dl", server.url + "good", show_progress=False)
    assert leftovers(folder) == sorted(FILES)  # the four files, no temporary ones
    assert all(is_intact(folder / name, name) for name in FILES)
    assert len(server.requests) == 4
    download_fashion_mnist(folder, server.url + "good", show_progress=False)  # all intact: nothing fetched
    assert len(server.requests) == 4
    (folder / TEST_LABELS).write_bytes(b"damaged")  # a damaged file is fetched again, the others not
    download_fashion_mnist(folder, server.url + "good", show_progress=False)
    assert server.requests[4:] == [f"/good/{TEST_LABELS}"] and is_intact(folder / TEST_LABELS, TEST_LABELS)


@pytest.mark.parametrize("mode, message", [
    ("truncated", r"the gzip stream stops after [0-9,]+ bytes \([0-9,]+ of the 47,040,016 bytes of train-images"),
    ("wrong", r"its content \(17,000 bytes, SHA-256 [0-9a-f]{64}\) is not the official train-images-idx3-ubyte.gz's"),
    ("garbage", r"not a gzip file"),
    ("missing", r"HTTP 404"),
])
def test_a_cut_wrong_or_missing_file_is_refused_and_nothing_is_kept(server, tmp_path, mode, message):
    folder = tmp_path / "dl"
    with pytest.raises(DownloadError, match=message):
        download_fashion_mnist(folder, server.url + mode, show_progress=False)
    assert leftovers(folder) == []  # neither the file nor a partial one


def test_a_stalled_server_times_out_and_nothing_is_kept(server, tmp_path):
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"no connection .*no answer within 0.5 s"):
        download_fashion_mnist(tmp_path / "dl", server.url + "stall", timeout=0.5, show_progress=False)
    assert time.perf_counter() - start < 5
    assert leftovers(tmp_path / "dl") == []


def test_no_server_fails_at_once(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="no connection"):
        download_fashion_mnist(tmp_path / "dl", closed_port_url(), show_progress=False)
    assert time.perf_counter() - start < 2 and leftovers(tmp_path / "dl") == []


def test_the_url_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv("FMD_DATA_URL", raising=False)
    assert base_url().startswith("http://fashion-mnist.s3-website")
    monkeypatch.setenv("FMD_DATA_URL", "http://mirror.example/fm")
    assert base_url() == "http://mirror.example/fm/" and base_url("https://other/") == "https://other/"
    with pytest.raises(ValueError, match="must start with http"):
        base_url("ftp://nope")


@requires_data
def test_load_fashion_mnist_downloads_when_nothing_local_exists(server, tmp_path, monkeypatch):
    """The whole path a learner without the Debian package takes: no FMD_DATA_DIR, no Debian files, an empty cache,
    a reachable server: the files are fetched into the cache, checked, and decoded; the next load reads the cache."""
    monkeypatch.delenv("FMD_DATA_DIR", raising=False)
    monkeypatch.setenv("FMD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FMD_DATA_URL", server.url + "good")
    monkeypatch.setattr(data_module, "DEBIAN_DATA_DIR", tmp_path / "no-debian")
    data_module._load_cached.cache_clear()
    try:
        test = data_module.load_fashion_mnist("test")
        assert len(test) == 10_000 and test.source == (tmp_path / "cache" / "fashion-mnist").resolve()
        assert len(server.requests) == 4
        assert len(data_module.load_fashion_mnist("test")) == 10_000 and len(server.requests) == 4
    finally:
        data_module._load_cached.cache_clear()


def test_fetch_command_says_where_the_data_is_or_what_to_do(server, tmp_path, monkeypatch, capsys):
    """`make data`'s command: one line naming the folder; without any copy or network, what was tried and the
    remedies, exit 1, no traceback."""
    from fmd_utils.fetch import main

    monkeypatch.delenv("FMD_DATA_DIR", raising=False)
    monkeypatch.setenv("FMD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data_module, "DEBIAN_DATA_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("FMD_DATA_URL", closed_port_url())
    assert main([]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Data: Fashion-MNIST not found.") and "apt-get install" in out and "Traceback" not in out
    monkeypatch.setenv("FMD_DATA_URL", server.url + "good")
    assert main(["--no-download"]) == 1 and "not attempted" in capsys.readouterr().out
    assert main([]) == 0
    assert capsys.readouterr().out.strip() == f"Data: {tmp_path / 'cache' / 'fashion-mnist'}"
