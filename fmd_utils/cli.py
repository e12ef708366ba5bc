"""What the command lines share: the sampling arguments, and how a command ends.

A user's mistake ends a command in one line and exit code 2 (argparse's usage error, naming the argument and the
fix); a missing or damaged input file (data, checkpoint) in one line and exit code 1; Ctrl-C in exit code 130. Never a
traceback for either: :func:`run` wraps each command's ``main``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import fields

from .checkpoint import CheckpointError
from .data import CorruptDataError, DataNotFoundError
from .samplers import sampler_names
from .settings import SamplingSettings

# a missing or damaged input, or a file system that refuses a read or a write: not a mistake in the arguments
MISSING_INPUT = (CheckpointError, DataNotFoundError, CorruptDataError, OSError)


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``, with a missing or damaged input (or an unwritable output found only while writing) reported in
    one line (exit code 1) instead of a traceback. Argument errors are argparse's (``parser.error``: one line, exit
    code 2)."""
    try:
        return main(argv)
    except MISSING_INPUT as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def parse_interval(text: str) -> tuple[int, int] | None:
    """``"LO,HI"`` → (LO, HI); ``"all"`` → None (guide every step). For argparse ``type=``."""
    if text.strip().lower() in ("all", "none", "every"):
        return None
    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two timesteps) or 'all', got {text!r}") from None
    return lo, hi


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """``--sampler --steps --guidance --guidance-interval --eta``; each left out keeps the model's stored default.
    The sampler's choices are the registry's (:func:`fmd_utils.samplers.sampler_names`)."""
    group = parser.add_argument_group("sampling (default: the settings stored with the diffusion checkpoint)")
    group.add_argument("--sampler", choices=sampler_names())
    group.add_argument("--steps", type=int, help="sampler steps, 1..T (DDPM always takes all T)")
    group.add_argument("--guidance", type=float, help="guidance weight w >= 0 (1 = plain conditional)")
    group.add_argument("--guidance-interval", type=parse_interval, metavar="LO,HI|all", default=argparse.SUPPRESS,
                       help="timesteps where guidance applies, or 'all'")
    group.add_argument("--eta", type=float, help="DDIM stochasticity >= 0")


def settings_from_args(args: argparse.Namespace, default: SamplingSettings, num_steps: int) -> SamplingSettings:
    """``default`` with the fields given on the command line, validated for a model with T = ``num_steps``."""
    given = {f.name: getattr(args, f.name) for f in fields(SamplingSettings)
             if getattr(args, f.name, None) is not None or (f.name == "guidance_interval" and hasattr(args, f.name))}
    return default.replace(**given).validate(num_steps)
