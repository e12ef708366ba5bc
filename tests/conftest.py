"""Shared fixtures. Tests use small synthetic tensors except where the real data or shipped models are the subject."""

from __future__ import annotations

import gzip
import http.server
import shutil
import socket
import subprocess
import sysconfig
import threading
from pathlib import Path

import pytest
import torch

from fmd_utils import data as data_module
from fmd_utils.data import DataNotFoundError, find_data_dir
from fmd_utils.download import FILES

ROOT = Path(__file__).resolve().parents[1]


def clone_files() -> list[str]:
    """The files a fresh clone has (relative paths): git's list where there is one, else the folders the package is
    built from. Tests that build or set up the project work on a copy of these, never in the clone itself."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode().split("\0")
        return [name for name in listed if name and (ROOT / name).is_file() and not (ROOT / name).is_symlink()]
    keep = ("pyproject.toml", "README.md", "Makefile", "requirements.txt", "fmd_utils/", "checkpoints/", "results/",
            "notebooks/")
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and str(p.relative_to(ROOT)).startswith(keep) and p.name != "diffusion-dit.state.pt"]


def pinned_site_packages() -> list[str]:
    """The site-packages folders of the environment running the tests: what a fresh environment made by a test sees
    (through a .pth file or PYTHONPATH) instead of downloading the pinned packages again."""
    return list(dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib")))


def copy_clone(target: Path) -> Path:
    """Copy :func:`clone_files` into ``target``."""
    for name in clone_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _real_data_available() -> bool:
    try:
        find_data_dir(download=False)  # collecting the tests never downloads: `make data` does that
    except DataNotFoundError:
        return False
    return True


requires_data = pytest.mark.skipif(not _real_data_available(), reason="Fashion-MNIST files not installed "
                                   "(run `make data` or set FMD_DATA_DIR)")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright (its own browser download cannot work offline)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium not found: install Debian's chromium (make test-book does this when run as root)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


# ---------------------------------------------------------------- a local stand-in for the official download site
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
