"""Fetch the four official Fashion-MNIST files over HTTP, checked against the published SHA-256, written atomically.

:func:`download_fashion_mnist` is what :func:`fmd_utils.data.find_data_dir` falls back to when no local copy exists
(``$FMD_DATA_DIR``, Debian's package, an earlier download). Each file is streamed into a temporary file beside its
final name (a progress bar per file), decompressed on the way, and renamed into place only when the content's size
and SHA-256 match the official release's (:data:`FILES`). The check is on the idx content, not the gzip wrapper: the
same data re-compressed (Debian's ``dataset-fashion-mnist`` on some machines: each .gz 24 bytes shorter, no file name
in the gzip header) is the same data, and passes; anything else does not. A short, stalled, wrong or refused
download raises :class:`DownloadError` naming the file, the URL and what went wrong, and leaves nothing behind. Files
already there and intact are not fetched again.

The base URL is :data:`OFFICIAL_URL` unless ``$FMD_DATA_URL`` (or the ``base_url`` argument) says otherwise: a mirror,
or the local HTTP server the tests use. Without a network the first connection fails at once (no DNS, no route) or
after ``timeout`` seconds (a silent network), and the caller reports its other remedies.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from .progress import progress_bytes

OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
URL_VARIABLE = "FMD_DATA_URL"
TIMEOUT = 10.0  # seconds to connect, and the longest silence allowed between two reads
CHUNK = 1 << 16

# name → (bytes, sha256) of each file's decompressed idx content in the official release (the published lists; the
# official .gz files themselves: 26,421,880 / 29,515 / 4,422,102 / 5,148 bytes)
FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte.gz": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


class DownloadError(OSError):
    """A file could not be fetched, or what came is not the official file; nothing was written."""


def base_url(override: str | None = None) -> str:
    """The URL the files are fetched from: ``override``, else ``$FMD_DATA_URL``, else :data:`OFFICIAL_URL`; with a
    trailing slash."""
    url = override or os.environ.get(URL_VARIABLE) or OFFICIAL_URL
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the data URL must start with http:// or https:// ({URL_VARIABLE}), got {url!r}")
    return url if url.endswith("/") else url + "/"


class Content:
    """The idx content of a gzip stream fed in blocks: its size and SHA-256 so far, and whether the stream ended."""

    def __init__(self) -> None:
        self.inflate, self.digest, self.size = zlib.decompressobj(16 + zlib.MAX_WBITS), hashlib.sha256(), 0

    def feed(self, block: bytes) -> None:
        data = self.inflate.decompress(block)  # zlib.error for bytes that are not gzip
        self.digest.update(data)
        self.size += len(data)

    def matches(self, name: str) -> bool:
        return self.inflate.eof and (self.size, self.digest.hexdigest()) == FILES[name]


def is_intact(path: Path, name: str) -> bool:
    """True if ``path`` is a gzip file whose content is exactly the official ``name``'s."""
    if not path.is_file():
        return False
    content = Content()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                content.feed(block)
    except zlib.error:
        return False
    return content.matches(name)


def fetch(url: str, destination: Path, name: str, timeout: float = TIMEOUT, show_progress: bool = True) -> Path:
    """Stream ``url`` into ``destination`` (renamed into place only if it is the official ``name``); return it."""
    size, sha = FILES[name]
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    content, received = Content(), 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bytes(total, f"downloading {name}", show_progress) as bar:
                while (block := response.read(CHUNK)) and content.size <= size:
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
                    try:
                        content.feed(block)
                    except zlib.error as error:
                        raise DownloadError(f"{url}: not a gzip file ({error}); nothing was kept (a wrong mirror "
                                            f"in {URL_VARIABLE}?)") from error
        if not content.inflate.eof:
            raise DownloadError(f"{url}: the gzip stream stops after {received:,} bytes ({content.size:,} of the "
                                f"{size:,} bytes of {name} inside): the connection was cut; nothing was kept")
        if not content.matches(name):
            raise DownloadError(f"{url}: its content ({content.size:,} bytes, SHA-256 {content.digest.hexdigest()}) "
                                f"is not the official {name}'s ({size:,} bytes, {sha}); nothing was kept (a wrong "
                                f"mirror in {URL_VARIABLE}?)")
        os.replace(tmp, destination)
        return destination
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: no connection ({reason}); no network, or no answer within {timeout:g} s") \
            from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def download_fashion_mnist(folder: str | os.PathLike, url: str | None = None, timeout: float = TIMEOUT,
                           show_progress: bool = True) -> Path:
    """The four official files in ``folder`` (created), fetched from ``url`` (:func:`base_url`) where missing or not
    intact; returns ``folder``. Raises :class:`DownloadError` at the first file that cannot be had whole."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    root = base_url(url)
    for name in FILES:
        path = folder / name
        if not is_intact(path, name):
            fetch(root + name, path, name, timeout, show_progress)
    return folder
