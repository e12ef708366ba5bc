"""Export the shipped models for the book's in-browser generator (the library is :mod:`fmd_utils.views.export`).

    python -m fmd_utils.web --out DIR [--checkpoints DIR]
"""

from __future__ import annotations

import argparse
import sys

from .cli import run
from .views.export import UnsupportedModelError, export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write fmd-model.js into (e.g. book/_generated)")
    parser.add_argument("--checkpoints", default=None, help="folder with autoencoder.pt and diffusion.pt "
                                                            "(default: the shipped checkpoints/)")
    args = parser.parse_args(argv)
    try:
        path = export(args.out, args.checkpoints)
    except UnsupportedModelError as error:  # an input the page cannot run: exit 1, as for a missing one
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # an unwritable --out
        parser.error(str(error))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
