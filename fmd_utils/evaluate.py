"""Benchmark the models from the command line (the library is :mod:`fmd_utils.evaluation`, the Markdown
:mod:`fmd_utils.views.report`).

    python -m fmd_utils.evaluate --out results/metrics.json [--samples N] [--seed K] [--seeds J] [--checkpoints DIR]
                                 [--denoiser unet|dit] [--sweep-samples M] [--no-sweeps | --sweeps KINDS] [--no-flow]
                                 [--device D]
                                 [--readme FILE.md ...] [--sampler NAME] [--steps S] [--guidance W]
                                 [--guidance-interval LO,HI|all] [--eta E]

Writes ``metrics.json`` (everything) and ``metrics.md`` (every table) next to it; each ``--readme FILE.md`` (the
README: the headline; the book's results page, ``book/results.md``: every table, beside the text that reads them)
also has its results blocks for the models' profile (and denoiser) refreshed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from .checkpoint import checkpoint_file, default_checkpoint_dir, load_model
from .checks import MAX_SEED
from .cli import add_sampling_arguments, run, settings_from_args
from .config import EvaluationSettings
from .denoisers import architecture_names
from .device import resolve_device
from .evaluation import evaluate
from .views.report import check_block, headline_block_name, render_markdown, sync_readme
from .writable import check_output_file


def build_parser() -> argparse.ArgumentParser:
    defaults = EvaluationSettings()
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/metrics.json"))
    parser.add_argument("--samples", type=int, default=defaults.samples,
                        help="generated samples N (multiple of 10, ≤ 10000)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--seeds", type=int, default=defaults.seeds,
                        help="sampling seeds per generated set, for mean ± standard error (1: no error bars)")
    parser.add_argument("--sweep-samples", type=int, default=defaults.sweep_samples, help="samples per sweep point")
    parser.add_argument("--no-sweeps", action="store_true", help="skip the guidance, interval and sampler sweeps")
    parser.add_argument("--sweeps", type=lambda text: tuple(k.strip() for k in text.split(",")), metavar="KINDS",
                        default=defaults.sweep_kinds,
                        help=f"which sweeps to run, comma-separated (default: {','.join(defaults.sweep_kinds)})")
    parser.add_argument("--no-flow", action="store_true",
                        help="skip the comparison at equal network evaluations (diffusion's samplers against the "
                             "flow model's; it runs when the folder has flow.pt)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="checkpoint folder (default: shipped)")
    parser.add_argument("--denoiser", default=None, choices=architecture_names(),
                        help="measure the diffusion model with this denoiser (diffusion-<name>.pt; default: the "
                             "UNet's diffusion.pt)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--readme", type=Path, action="append", default=[], metavar="FILE.md",
                        help="also refresh the results blocks of this Markdown file (repeatable; make evaluate: "
                             "README.md and book/results.md)")
    add_sampling_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.seed <= MAX_SEED:
        parser.error(f"--seed must lie in 0 … {MAX_SEED}, got {args.seed}")
    folder = Path(args.checkpoints or default_checkpoint_dir())
    try:  # every argument and the output folder, before minutes of measurements
        settings = EvaluationSettings(samples=args.samples, sweep_samples=min(args.sweep_samples, args.samples),
                                      seed=args.seed, seeds=args.seeds, sweeps=not args.no_sweeps,
                                      sweep_kinds=args.sweeps,
                                      flow_comparison=not args.no_flow, denoiser=args.denoiser).validate()
        check_output_file(args.out, "--out", (".json",))  # metrics.md is written beside it
        resolve_device(args.device)
        diffusion = load_model("diffusion", folder / checkpoint_file("diffusion", args.denoiser))
        if args.readme:  # the blocks must exist before minutes of measurements, not after
            profile = load_model("autoencoder", folder / "autoencoder.pt").metadata.get("profile")
        for readme in args.readme:
            check_block(readme, headline_block_name(profile, diffusion.denoiser.architecture))
        settings = replace(settings, sampling=settings_from_args(args, diffusion.sampling, diffusion.num_steps))
    except ValueError as error:
        parser.error(str(error))
    report = evaluate(settings, args.checkpoints, args.device, " ".join(["python -m fmd_utils.evaluate", *argv]))
    args.out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    markdown = render_markdown(report.to_dict())
    args.out.with_suffix(".md").write_text(markdown)
    print(markdown)
    for readme in args.readme:
        if sync_readme(readme, report.to_dict()):
            print(f"{readme}: results blocks updated")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
