"""The download of the four official files (fmd_utils.download), against a local HTTP server on 127.0.0.1: the real
files, a truncated one, a wrong one, a 404, a server that stalls, and no server at all. Nothing here touches the
internet."""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest

from fmd_utils import data as data_module
from fmd_utils.download import FILES, DownloadError, base_url, download_fashion_mnist, is_intact

from .conftest import requires_data

TRAIN_IMAGES, TEST_LABELS = "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port bound, then released): connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class Server(http.server.ThreadingHTTPServer):
    """Serves ``root``'s files under ``/good/``; ``/truncated/``: each file's first half; ``/wrong/``: a gzip file of
    other content; ``/garbage/``: bytes that are not gzip; ``/stall/``: the headers and 1 kB, then silence; anything
    else 404. Counts the requests."""

    daemon_threads = True

    def __init__(self, root: Path):
        self.root, self.requests, self.stop_stalling = root, [], threading.Event()
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        server: Server = self.server
        server.requests.append(self.path)
        mode, _, name = self.path.strip("/").partition("/")
        path = server.root / name
        if mode not in ("good", "truncated", "wrong", "garbage", "stall") or name not in FILES or not path.is_file():
            self.send_error(404, "Not Found")
            return
        body = path.read_bytes()
        if mode == "truncated":
            body = body[: len(body) // 2]
        elif mode == "wrong":
            body = gzip.compress(b"not Fashion-MNIST" * 1000)
        elif mode == "garbage":
            body = bytes(reversed(body))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "stall":
            self.wfile.write(body[:1024])
            self.wfile.flush()
            server.stop_stalling.wait(10)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    if not all((data_module.DEBIAN_DATA_DIR / name).is_file() for name in FILES):
        pytest.skip("needs the official .gz files in /usr/share/datasets/fashion-mnist (make data)")
    httpd = Server(data_module.DEBIAN_DATA_DIR)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.stop_stalling.set()
    httpd.shutdown()
    httpd.server_close()


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
