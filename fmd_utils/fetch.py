"""``python -m fmd_utils.fetch [--no-download]``: make sure Fashion-MNIST is here, before anything needs it.

Finds the four files where :func:`fmd_utils.data.find_data_dir` looks (``$FMD_DATA_DIR``, Debian's package, an earlier
download) or downloads and checks them (:mod:`fmd_utils.download`), and prints where they are; otherwise prints what
was tried and the remedies, and exits 1. ``make data`` (part of every ``make`` target's set-up) runs it, so a missing
data set stops ``make`` at once, never inside a notebook.
"""

from __future__ import annotations

import argparse

from .cli import run
from .data import DataNotFoundError, find_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-download", action="store_true", help="only look for local copies")
    args = parser.parse_args(argv)
    try:
        folder = find_data_dir(download=not args.no_download)
    except DataNotFoundError as error:
        print(f"Data: {error}")
        return 1
    print(f"Data: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
