"""Check the course end to end on a GPU, and time it: one command for whoever has one (``make gpu-check``).

    python -m fmd_utils.gpu_check [--device cuda] [--out results/gpu/check.json] [--work build/gpu-check]
                                  [--samples 1000] [--precision auto] [--no-profile-epochs] [--readme FILE.md ...]

Each step runs on ``--device``, is timed, and is compared with the same step on the CPU where a comparison tells a
device bug (a tensor left on the wrong device, a dtype lost, a generator drawn in the wrong place) from float
rounding. The bounds are loose on purpose: GPUs compute convolutions in TF32 and sum in another order, so runs
should differ in the last digits, while a bug changes the first.

1. **environment**: torch, CUDA, the GPU(s) and the precision ``--precision`` resolves to there.
2. **training**: the quick profile's four stages (seconds), on the device and on the CPU; their validation losses
   agree within 10 % (the judge's accuracy within 10 points, on 256 images).
3. **mixed precision**: the quick diffusion stage again in that precision; its validation loss is within 10 % of
   float32's.
4. **the gpu profile**: one epoch of each stage ``make train-gpu`` trains (autoencoder, diffusion, flow; the judge
   is the shipped one); the seconds per epoch, and the whole run's time on one GPU estimated from them.
   ``--no-profile-epochs`` leaves it out (on a CPU, minutes).
5. **sampling**: 100 images from the shipped models (stored settings, seed 0) on the device and on the CPU: largest
   pixel difference at most 0.05, the judge's labels the same for 95 % or more; and images per second for 1000.
6. **evaluation**: :func:`fmd_utils.evaluation.evaluate` at N = ``--samples`` (one seed, no sweeps) on the device
   and on the CPU: the judge's accuracy within 2 points and FID / floor within 10 %.
7. **several GPUs** (two or more): ``torchrun --nproc_per_node=2`` (NCCL) for one epoch of the quick autoencoder
   (its BatchNorm becomes SyncBatchNorm) and then of the quick diffusion stage, each against one GPU (weights within
   1e-3); and the quick autoencoder on 2 GPUs in mixed precision, which must run (DDP, SyncBatchNorm and autocast
   together, with float16's scaler on a GPU without bfloat16).

It writes ``check.json`` and ``check.md`` (the table to paste, or ``--readme FILE.md`` fills the file's
``<!-- results:gpu-check -->`` block) and ends with one line: how many checks passed, exit code 1 if any failed.
With ``--device cpu`` it runs the same steps with nothing to compare against (how the tests keep it working).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from .checkpoint import load_model
from .cli import run
from .config import EvaluationSettings, get_profile
from .device import resolve_device
from .evaluation import evaluate
from .pipeline import load_classifier, load_pretrained
from .precision import PRECISIONS, resolve_precision
from .training import STAGES, TRAINERS
from .version import __version__
from .views.report import check_block, replace_block
from .writable import check_output_file, check_writable_dir

BLOCK = "gpu-check"
LOSS_TOLERANCE = 0.10  # relative: validation losses of two devices' (or precisions') quick runs
ACCURACY_POINTS = 0.10  # the quick judge's validation accuracy, on 256 images
PIXEL_TOLERANCE = 0.05  # largest |difference| of two devices' samples, pixels in [0, 1]
LABEL_AGREEMENT = 0.95  # fraction of samples the judge gives the same label on both devices
EVALUATION_POINTS = 0.02  # generated accuracy, device against CPU
FID_TOLERANCE = 0.10  # relative: FID / floor, device against CPU
WEIGHT_TOLERANCE = 1e-3  # largest weight difference, 2 GPUs against 1, after one quick epoch
GPU_STAGES = ("autoencoder", "diffusion", "flow")  # what make train-gpu trains (the judge is the shipped one)


class Check:
    """The steps' results as rows: (step, what, value, passed or None when it is only a measurement)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def record(self, step: str, what: str, value: str, passed: bool | None = None) -> None:
        self.rows.append({"step": step, "what": what, "value": value, "passed": passed})
        mark = {True: "ok  ", False: "FAIL", None: "    "}[passed]
        print(f"{mark} {step}: {what}: {value}", flush=True)

    @property
    def failed(self) -> list[dict]:
        return [row for row in self.rows if row["passed"] is False]

    def markdown(self, header: str) -> str:
        lines = [header, "", "| step | what | value | |", "|---|---|---|---|"]
        for row in self.rows:
            mark = {True: "ok", False: "**failed**", None: ""}[row["passed"]]
            lines.append(f"| {row['step']} | {row['what']} | {row['value']} | {mark} |")
        return "\n".join(lines)


def environment(device: torch.device, precision: str) -> dict:
    info = {"torch": str(torch.__version__), "python": platform.python_version(), "device": str(device),
            "precision": resolve_precision(precision, device), "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info.update(cuda=torch.version.cuda, gpus=[torch.cuda.get_device_name(i)
                                                   for i in range(torch.cuda.device_count())],
                    capability=".".join(map(str, torch.cuda.get_device_capability(device))),
                    tf32_convolutions=torch.backends.cudnn.allow_tf32)
    return info


def train_stages(profile, out: Path, device: torch.device, stages=STAGES) -> dict[str, float]:
    """Train ``stages`` of ``profile`` into ``out`` on ``device``; the seconds each took."""
    seconds = {}
    for stage in stages:
        start = time.perf_counter()
        TRAINERS[stage](profile, out, 0, str(device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[stage] = time.perf_counter() - start
    return seconds


def last_record(folder: Path, kind: str) -> dict:
    return load_model(kind, folder / f"{kind}.pt").metadata["history"]["epochs"][-1]


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def check_training(check: Check, work: Path, device: torch.device, compare: bool) -> None:
    """The quick profile on ``device`` (and, with ``compare``, on the CPU), then :func:`compare_training`."""
    quick = get_profile("quick")
    here = work / "quick" / device.type
    seconds = train_stages(quick, here, device)
    check.record("training", f"quick profile on {device}", ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    if not compare:
        return
    cpu = work / "quick" / "cpu"
    cpu_seconds = train_stages(quick, cpu, torch.device("cpu"))
    check.record("training", "quick profile on cpu", ", ".join(f"{k} {v:.1f} s" for k, v in cpu_seconds.items()))
    compare_training(check, here, cpu, str(device))


def compare_training(check: Check, here: Path, cpu: Path, device: str) -> None:
    """The last validation losses of two quick runs (``here`` on ``device``, ``cpu`` on the CPU) side by side."""
    for kind, key in (("autoencoder", "val_mse"), ("diffusion", "val_loss"), ("flow", "val_loss")):
        a, b = last_record(here, kind)[key], last_record(cpu, kind)[key]
        check.record("training", f"{kind} {key}, {device} / cpu", f"{a:.5g} / {b:.5g}",
                     relative(a, b) <= LOSS_TOLERANCE)
    a, b = last_record(here, "classifier")["val_accuracy"], last_record(cpu, "classifier")["val_accuracy"]
    check.record("training", f"judge val_accuracy, {device} / cpu", f"{a:.3f} / {b:.3f}", abs(a - b) <= ACCURACY_POINTS)


def check_precision(check: Check, work: Path, device: torch.device, precision: str) -> None:
    resolved = resolve_precision(precision, device)
    if resolved == "fp32":
        check.record("mixed precision", f"{precision} on {device}", "float32: nothing to compare")
        return
    fp32 = work / "quick" / device.type
    mixed = work / f"quick-{resolved}"
    shutil.copy2(fp32 / "autoencoder.pt", check_writable_dir(mixed, "--work") / "autoencoder.pt")
    seconds = train_stages(replace(get_profile("quick"), precision=resolved), mixed, device, ("diffusion",))
    a, b = last_record(mixed, "diffusion")["val_loss"], last_record(fp32, "diffusion")["val_loss"]
    check.record("mixed precision", f"quick diffusion val_loss, {resolved} / fp32 ({seconds['diffusion']:.1f} s)",
                 f"{a:.5g} / {b:.5g}", relative(a, b) <= LOSS_TOLERANCE)


def check_profile_epochs(check: Check, work: Path, device: torch.device, precision: str,
                         profile: str = "gpu") -> None:
    """One epoch of each stage ``make train-gpu`` trains, on ``profile``; the whole run's time from the seconds per
    epoch."""
    gpu = replace(get_profile(profile), precision=precision)
    one = replace(gpu, **{stage: replace(getattr(gpu, stage), epochs=1) for stage in GPU_STAGES})
    out = work / f"{profile}-profile"
    seconds = train_stages(one, out, device, GPU_STAGES)
    estimate = 0.0
    for stage in GPU_STAGES:
        per_epoch = load_model(stage, out / f"{stage}.pt").metadata["history"]["train_seconds"]
        planned = getattr(gpu, stage).epochs
        estimate += seconds[stage] - per_epoch + planned * per_epoch  # set-up once, then the epochs
        check.record(f"{profile} profile", f"{stage}: one epoch",
                     f"{per_epoch:.1f} s of training ({seconds[stage]:.1f} s with set-up); {planned} epochs planned")
    check.record(f"{profile} profile", f"the {len(GPU_STAGES)} stages in {resolve_precision(precision, device)} on "
                 "one device, estimated", f"{estimate / 60:.1f} min")


def check_sampling(check: Check, device: torch.device, compare: bool) -> None:
    pipe, labels = load_pretrained(device=device), torch.arange(100) % 10
    images = pipe.generate(labels, 0)  # also the warm-up
    start = time.perf_counter()
    pipe.generate(torch.arange(1000) % 10, 1)
    rate = 1000 / (time.perf_counter() - start)
    check.record("sampling", f"1000 images on {device}, stored settings", f"{rate:.0f} images/s")
    if not compare:
        return
    reference = load_pretrained(device="cpu").generate(labels, 0)
    judge = load_classifier()  # the shipped judge
    with torch.no_grad():
        same = (judge(images).argmax(1) == judge(reference).argmax(1)).float().mean().item()
    gap = (images - reference).abs().max().item()
    check.record("sampling", f"100 images, {device} against cpu: largest pixel difference", f"{gap:.2e}",
                 gap <= PIXEL_TOLERANCE)
    check.record("sampling", "the judge's labels agree", f"{same:.0%}", same >= LABEL_AGREEMENT)


def measure(device: torch.device, samples: int) -> dict:
    settings = EvaluationSettings(samples=samples, sweep_samples=samples, seeds=1, sweeps=False,
                                  flow_comparison=False, throughput_samples=samples, throughput_repeats=1,
                                  memorisation_samples=min(samples, 1000))
    start = time.perf_counter()
    report = evaluate(settings, device=str(device)).to_dict()
    return {"seconds": time.perf_counter() - start, "accuracy": report["generated"]["accuracy"],
            "fid_over_floor": report["generated"]["fid_over_floor"]}


def check_evaluation(check: Check, device: torch.device, samples: int, compare: bool) -> None:
    here = measure(device, samples)
    check.record("evaluation", f"N = {samples} on {device}", f"{here['seconds']:.1f} s; accuracy "
                 f"{here['accuracy']:.1%}, FID / floor {here['fid_over_floor']:.2f}")
    if not compare:
        return
    cpu = measure(torch.device("cpu"), samples)
    check.record("evaluation", f"N = {samples} on cpu", f"{cpu['seconds']:.1f} s")
    check.record("evaluation", f"accuracy, {device} / cpu", f"{here['accuracy']:.1%} / {cpu['accuracy']:.1%}",
                 abs(here["accuracy"] - cpu["accuracy"]) <= EVALUATION_POINTS)
    check.record("evaluation", f"FID / floor, {device} / cpu",
                 f"{here['fid_over_floor']:.2f} / {cpu['fid_over_floor']:.2f}",
                 relative(here["fid_over_floor"], cpu["fid_over_floor"]) <= FID_TOLERANCE)


def torchrun(stage: str, out: Path, processes: int, *extra: str) -> tuple[float, int]:
    """``torchrun --standalone --nproc_per_node=processes -m fmd_utils.train STAGE`` (one quick epoch on cuda):
    (seconds, exit code)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "fmd_utils.train", stage, "--profile", "quick", "--epochs", "1", "--device", "cuda",
               "--out", str(out), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start, done.returncode


def check_several_gpus(check: Check, work: Path, device: torch.device, precision: str) -> None:
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if count < 2:
        check.record("several GPUs", "torchrun, NCCL", f"skipped: {count} GPU(s) here, 2 needed")
        return
    one, two = work / "ddp-1", work / "ddp-2"
    for stage in ("autoencoder", "diffusion"):
        if stage == "diffusion":  # both on the same autoencoder, the one-GPU run's
            shutil.copy2(one / "autoencoder.pt", two / "autoencoder.pt")
        runs = [torchrun(stage, folder, n) for folder, n in ((one, 1), (two, 2))]
        sync = " (SyncBatchNorm: statistics over the global batch)" if stage == "autoencoder" else ""
        what = f"quick {stage}{sync}, one epoch: 1 GPU {runs[0][0]:.0f} s, 2 GPUs {runs[1][0]:.0f} s"
        if any(code for _, code in runs):
            check.record("several GPUs", what, f"torchrun exit codes {runs[0][1]}, {runs[1][1]}", False)
            continue
        a, b = (load_model(stage, folder / f"{stage}.pt").state_dict() for folder in (one, two))
        gap = max((a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point())
        check.record("several GPUs", f"{what}; largest weight difference", f"{gap:.1e}", gap <= WEIGHT_TOLERANCE)
    # the gpu profile's combination (DDP, SyncBatchNorm, autocast; float16's scaler on a GPU without bfloat16) runs
    seconds, code = torchrun("autoencoder", work / "ddp-mixed", 2, "--precision", precision)
    check.record("several GPUs", f"quick autoencoder on 2 GPUs in {resolve_precision(precision, device)}",
                 f"{seconds:.0f} s, exit code {code}", code == 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device to check (default cuda; cpu runs the same "
                        "steps with nothing to compare against)")
    parser.add_argument("--out", type=Path, default=Path("results/gpu/check.json"))
    parser.add_argument("--work", type=Path, default=Path("build/gpu-check"), help="where the check trains")
    parser.add_argument("--samples", type=int, default=1000, help="N of the evaluation step (multiple of 10)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="the mixed precision to check")
    parser.add_argument("--no-profile-epochs", action="store_true", help="skip one epoch of the gpu profile")
    parser.add_argument("--readme", type=Path, action="append", default=[], metavar="FILE.md",
                        help=f"also write the table into this file's <!-- results:{BLOCK} --> block")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        resolve_precision(args.precision, device)
        EvaluationSettings(samples=args.samples, sweep_samples=args.samples).validate()
        check_output_file(args.out, "--out", (".json",))
        check_writable_dir(args.work, "--work")
        for readme in args.readme:
            check_block(readme, BLOCK)
    except ValueError as error:
        parser.error(str(error))
    compare = device.type != "cpu"
    check, started = Check(), time.perf_counter()
    env = environment(device, args.precision)
    check.record("environment", "device", ", ".join(env.get("gpus", [])) or str(device))
    check.record("environment", "torch / CUDA / precision", f"{env['torch']} / {env.get('cuda')} / {env['precision']}")
    check_training(check, args.work, device, compare)
    check_precision(check, args.work, device, args.precision)
    if not args.no_profile_epochs:
        check_profile_epochs(check, args.work, device, args.precision)
    check_sampling(check, device, compare)
    check_evaluation(check, device, args.samples, compare)
    check_several_gpus(check, args.work, device, args.precision)
    minutes = (time.perf_counter() - started) / 60
    header = (f"`python -m fmd_utils.gpu_check` on {', '.join(env.get('gpus', [])) or device}, "
              f"{time.strftime('%Y-%m-%d')}, fmd_utils {__version__}, torch {env['torch']}, CUDA {env.get('cuda')}; "
              f"{minutes:.1f} min in all.")
    markdown = check.markdown(header)
    args.out.write_text(json.dumps({"environment": env, "rows": check.rows, "minutes": minutes}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown + "\n")
    for readme in args.readme:
        readme.write_text(replace_block(readme.read_text(), BLOCK, markdown))
    passed = sum(row["passed"] is True for row in check.rows)
    if check.failed:
        print(f"gpu check: {len(check.failed)} of {passed + len(check.failed)} checks failed "
              f"({', '.join(row['what'] for row in check.failed)}); see {args.out.with_suffix('.md')}")
        return 1
    print(f"gpu check: {passed} checks passed on {device} in {minutes:.1f} min; wrote {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
