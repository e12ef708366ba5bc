"""Train the models from the command line (the library is :mod:`fmd_utils.training`).

    python -m fmd_utils.train {autoencoder,diffusion,flow,classifier,all} [--profile quick|fast|full|gpu]
                              [--seed K] [--denoiser unet|dit] [--device cpu|cuda|mps|auto] [--out DIR] [--resume]
                              [--epochs N] [--stop-after N] [--precision fp32|bf16|fp16|auto]

    torchrun --standalone --nproc_per_node=N -m fmd_utils.train STAGE ...      # the same run on N processes (DDP)

Each stage writes ``DIR/<kind>.pt`` and, after every epoch, a resumable ``DIR/<kind>.state.pt``; ``--resume``
continues an interrupted stage. Under torchrun each of the N processes takes an equal part of every global batch
(the profile's batch, which N must divide) and rank 0 alone writes (:mod:`fmd_utils.distributed`); on CUDA rank r
uses ``cuda:<LOCAL_RANK>``, on CPU one thread each unless ``OMP_NUM_THREADS`` says otherwise. ``--denoiser dit``
trains the diffusion and flow stages with another registered denoiser, written beside the UNet's as
``DIR/diffusion-dit.pt``. ``DIR`` defaults to the shipped ``checkpoints/``
for the full profile and to ``build/<profile>`` otherwise. ``--profile gpu`` is sized for GPUs and trains in mixed
precision on CUDA (``--precision`` overrides any profile's; :mod:`fmd_utils.precision`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from .checkpoint import default_checkpoint_dir
from .checks import MAX_SEED
from .cli import run
from .config import PROFILES, get_profile
from .denoisers import architecture_names
from .device import resolve_device
from .distributed import Rank, die_with_launcher, launched, per_rank_batch, start, stop
from .precision import PRECISIONS, resolve_precision
from .training import STAGES, TRAINERS, state_file
from .writable import check_writable_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=[*STAGES, "all"], help="what to train ('all': autoencoder, diffusion, "
                        "flow, classifier in that order)")
    parser.add_argument("--profile", default="full", choices=sorted(PROFILES),
                        help="'full' = the shipped models; 'fast' = smaller, in minutes (the notebooks' RETRAIN); "
                        "'quick' = tiny models on 2048 images, for tests; 'gpu' = a wider autoencoder and "
                        "denoisers for 100 epochs, in mixed precision, for one or more GPUs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--denoiser", default="unet", choices=architecture_names(),
                        help="the diffusion and flow models' network (default: unet, the shipped one)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--out", type=Path, default=None,
                        help="checkpoint folder (default: the shipped checkpoints/ for --profile full, "
                             "build/<profile> otherwise)")
    parser.add_argument("--overwrite-shipped", action="store_true",
                        help="allow a profile other than 'full' to write into the shipped checkpoints/ folder")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/<stage>.state.pt if present")
    parser.add_argument("--epochs", type=int, help="override the profile's epoch count for the chosen stage(s)")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="stop after N epochs of this run, keeping the state for --resume")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="the training step's arithmetic (default: the profile's; fp32 except --profile gpu, "
                             "auto): bf16 or fp16 mixed precision, auto = bf16 on a CUDA GPU with it, fp16 on an "
                             "older one, fp32 elsewhere")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every argument checked before the first epoch: a bad one fails in a second, not after minutes."""
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.stop_after is not None and args.stop_after < 1:
        parser.error(f"--stop-after must be >= 1 (the number of epochs to run before stopping), got {args.stop_after}")
    if not 0 <= args.seed <= MAX_SEED:
        parser.error(f"--seed must lie in 0 … {MAX_SEED} (torch keeps only a seed's low 32 bits), got {args.seed}")
    if args.denoiser != "unet" and args.stage in ("autoencoder", "classifier"):
        parser.error(f"--denoiser applies to the diffusion and flow stages, not to {args.stage!r}")
    shipped = default_checkpoint_dir().resolve()
    if args.out is None:
        args.out = shipped if args.profile == "full" else Path("build") / args.profile
    if args.out.resolve() == shipped and args.profile != "full" and not args.overwrite_shipped:
        parser.error(f"--out {args.out} is the shipped checkpoint folder, and a '{args.profile}' run would replace "
                     f"the shipped models; choose another --out (default: build/{args.profile}), or pass "
                     "--overwrite-shipped if you mean it")
    if launched() and args.device.startswith("cuda:"):
        parser.error(f"--device {args.device} under torchrun would put every process on one GPU: pass --device cuda "
                     "(process r then uses cuda:<LOCAL_RANK>)")
    if launched() and args.device in ("cuda", "auto") and "LOCAL_RANK" in os.environ:
        import torch

        if args.device == "cuda" or torch.cuda.is_available():
            args.device = f"cuda:{os.environ['LOCAL_RANK']}"  # one GPU per process
    try:
        device = resolve_device(args.device)
        resolve_precision(args.precision or get_profile(args.profile).precision, device)
        check_writable_dir(args.out, "--out")
    except (ValueError, RuntimeError) as error:
        parser.error(str(error))


def _terminate(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C, so a save in progress removes its temporary file


def main(argv: list[str] | None = None) -> int:
    die_with_launcher()  # first: under torchrun, a rank never outlives its launcher
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    profile = get_profile(args.profile).with_denoiser(args.denoiser)
    stages = STAGES if args.stage == "all" else (args.stage,)
    if args.denoiser != "unet" and args.stage == "all":
        stages = ("diffusion", "flow")  # the autoencoder and the judge have no denoiser
    if args.precision is not None:
        profile = replace(profile, precision=args.precision)
    if args.epochs is not None:
        for stage in stages:
            profile = replace(profile, **{stage: replace(getattr(profile, stage), epochs=args.epochs)})
    world = int(os.environ.get("WORLD_SIZE", "1"))
    for stage in stages:  # before any process group or epoch: N must share every stage's batch equally
        try:
            per_rank_batch(getattr(profile, stage).batch_size, Rank(0, world))
        except ValueError as error:
            parser.error(f"{stage}: {error}")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    rank = start(resolve_device(args.device))
    say = print if rank.main else (lambda *_: None)
    clean = False
    try:
        timings = {}
        for stage in stages:
            began = time.perf_counter()
            path = TRAINERS[stage](profile, args.out, args.seed, args.device, args.resume, args.stop_after)
            timings[stage] = time.perf_counter() - began
            if path is None:
                architecture = args.denoiser if stage in ("diffusion", "flow") else None
                say(f"{stage}: stopped early; state kept in {args.out / state_file(stage, architecture)}")
                clean = True
                return 0
            say(f"{stage}: wrote {path} in {timings[stage]:.0f} s"
                + (f" ({rank.world} processes)" if rank.distributed else ""))
        if len(stages) > 1:
            say("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
                + f"; total {sum(timings.values()):.0f} s")
        clean = True
        return 0
    finally:
        stop(clean)


if __name__ == "__main__":
    sys.exit(run(main))
