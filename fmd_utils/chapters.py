"""``python -m fmd_utils.chapters DIR [--edition learner|student] [--force]``: the course's chapters as notebooks.

For a learner who installed the package rather than cloning the course: writes each chapter (``01_autoencoder.ipynb``
...) into ``DIR`` from the sources that ship inside the package, in the learner's edition (every exercise a stub with
its check, the solution folded below it) or the student's (no solutions). Open them with ``jupyter lab DIR``; each
begins with a set-up cell that does nothing where the package is installed. A notebook already in ``DIR`` is never
overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cli import run
from .exercises.editions import write_chapters
from .writable import check_writable_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.chapters", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, metavar="DIR", help="folder for the notebooks (created if needed)")
    parser.add_argument("--edition", choices=("learner", "student"), default="learner",
                        help="learner: stubs with the solutions folded below (default); student: no solutions")
    parser.add_argument("--force", action="store_true", help="replace notebooks already in DIR")
    args = parser.parse_args(argv)
    try:
        check_writable_dir(args.out, "DIR")
    except ValueError as error:
        parser.error(str(error))
    try:
        written = write_chapters(args.out, args.edition, overwrite=args.force)
    except FileExistsError as error:
        parser.error(str(error))
    for path in written:
        print(path)
    print(f"{len(written)} chapters in {args.out}: open them with `jupyter lab {args.out}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
