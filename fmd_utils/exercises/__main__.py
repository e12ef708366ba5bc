"""``python -m fmd_utils.exercises``: grade a learner's notebook, or write a chapter's editions.

    python -m fmd_utils.exercises grade NOTEBOOK.ipynb [--timeout 900] [--json FILE]
    python -m fmd_utils.exercises student OUT_DIR [CHAPTER.md ...]      # the handout: stubs, no solutions
    python -m fmd_utils.exercises edition {learner,student,solution} CHAPTER.md OUT.ipynb

``grade`` prints one line per exercise (passed / not attempted / the diagnosed mistake / …) and exits with
0 (all passed), 1 (some not passed), 2 (bad input) or 3 (the notebook did not run to its end: time limit, dead kernel).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .editions import EDITIONS, MarkerError, write_chapters, write_edition
from .grading import EXIT_USAGE, grade


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.exercises", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("grade", help="run a learner's notebook in a fresh kernel and grade its exercises")
    g.add_argument("notebook", type=Path)
    g.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole notebook (default 900)")
    g.add_argument("--json", type=Path, help="also write the results to this JSON file")
    s = commands.add_parser("student", help="write the student edition (no solutions) of chapters into a folder")
    s.add_argument("out", type=Path)
    s.add_argument("chapters", type=Path, nargs="*", help="MyST sources (default: every shipped chapter)")
    e = commands.add_parser("edition", help="write one edition of one chapter")
    e.add_argument("which", choices=EDITIONS)
    e.add_argument("chapter", type=Path)
    e.add_argument("out", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "grade":
            result = grade(args.notebook, timeout=args.timeout)
            for line in result.results:
                print(line)
            print(result.summary())
            if args.json:
                args.json.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n")
            return result.exit_code
        if args.command == "student":
            for path in write_chapters(args.out, "student", args.chapters):
                print(path)
            return 0
        write_edition(args.chapter, args.out, args.which)
        return 0
    except (FileNotFoundError, MarkerError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
