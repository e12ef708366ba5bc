"""Write a labelled grid of generated samples (one row per class) from the shipped checkpoints.

    python -m fmd_utils.samples [--out results] [--per-class 10] [--steps 50] [--guidance W] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

from .pipeline import DEFAULT_GUIDANCE, DEFAULT_GUIDANCE_INTERVAL, DEFAULT_STEPS, load_pretrained
from .sampling import interval_label


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", type=Path, default=None)
    args = parser.parse_args(argv)

    matplotlib.use("Agg")
    from .viz import class_grid, close

    pipe = load_pretrained(args.checkpoints)
    start = time.perf_counter()
    labels = [c for c in range(10) for _ in range(args.per_class)]
    images = pipe.generate(labels, steps=args.steps, guidance=args.guidance, seed=args.seed)
    seconds = time.perf_counter() - start
    fig = class_grid(images, args.per_class, title=f"Generated: DDIM-{args.steps}, guidance {args.guidance:g} "
                     f"on {interval_label(DEFAULT_GUIDANCE_INTERVAL)}, seed {args.seed}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "samples_grid.png"
    fig.savefig(path, dpi=100)
    close(fig)
    print(f"wrote {path}: {len(images)} samples in {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
