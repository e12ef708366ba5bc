"""Write a labelled grid of generated samples (one row per class) from the shipped checkpoints.

    python -m fmd_utils.grids [--out results] [--per-class 10] [--seed 0] [--checkpoints DIR] [--denoiser NAME]
                              [--device cpu|cuda|mps|auto]
                              [--sampler NAME] [--steps S] [--guidance W] [--guidance-interval LO,HI|all] [--eta E]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .checkpoint import default_checkpoint_dir
from .checks import MAX_SEED
from .cli import add_sampling_arguments, run, settings_from_args
from .denoisers import architecture_names
from .device import resolve_device
from .pipeline import load_pretrained
from .views.classic import generate_samples_grid
from .writable import check_writable_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.grids", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results"), help="folder for samples_grid.png")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help=f"checkpoint folder (default: {default_checkpoint_dir()})")
    parser.add_argument("--denoiser", default=None, choices=architecture_names(),
                        help="sample the diffusion model with this denoiser (default: the shipped UNet)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto; the samples are the "
                        "same on every device, to float rounding (the noise is drawn on the CPU)")
    add_sampling_arguments(parser)
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class must be >= 1, got {args.per_class}")
    if not 0 <= args.seed <= MAX_SEED:
        parser.error(f"--seed must lie in 0 … {MAX_SEED}, got {args.seed}")
    try:
        check_writable_dir(args.out, "--out")
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    pipe = load_pretrained(args.checkpoints, device=device, denoiser=args.denoiser)  # missing/damaged: exit 1
    try:
        settings = settings_from_args(args, pipe.diffusion.sampling, pipe.diffusion.num_steps)
    except ValueError as error:
        parser.error(str(error))
    start = time.perf_counter()
    images = generate_samples_grid(pipe.autoencoder, pipe.diffusion, args.per_class, args.out, args.seed,
                                   settings=settings)
    print(f"wrote {args.out / 'samples_grid.png'}: {len(images)} samples in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
