"""Export the shipped models for the book's in-browser generator (the library is :mod:`fmd_utils.views.export`).

    python -m fmd_utils.web --out DIR [--checkpoints DIR]
"""

from __future__ import annotations

import argparse
import sys

from .cli import run
from .views.export import export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write fmd-model.js into (e.g. book/_generated)")
    parser.add_argument("--checkpoints", default=None, help="folder with autoencoder.pt and diffusion.pt "
                                                            "(default: the shipped checkpoints/)")
    args = parser.parse_args(argv)
    try:
        path = export(args.out, args.checkpoints)
    except ValueError as error:  # an unwritable --out, or a model the page cannot run
        parser.error(str(error))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
