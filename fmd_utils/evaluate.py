"""Benchmark the shipped models: quality and speed, always beside the real-vs-real floor.

    python -m fmd_utils.evaluate --out results/metrics.json [--samples N] [--seed K] [--checkpoints DIR]
                                 [--sweep-samples M] [--no-sweeps] [--device D]
                                 [--sampler ddim|ddpm] [--steps S] [--guidance W] [--guidance-interval LO,HI|all]

Writes ``metrics.json`` (everything) and ``metrics.md`` (the tables the README shows) next to it. From Python:
``evaluate(EvaluationSettings(samples=500, sweeps=False))`` returns an :class:`EvaluationReport`.

All features are the judge's penultimate layer (:mod:`fmd_utils.classifier`); FID/KID and precision/recall are
generated-vs-real-test, and the floor is real-train-vs-real-test at the same sample count, so "FID / floor" near 1
means "as close to the test set as other real images are", and "recall / real-vs-real recall" near 1 means "reaches as
much of the test set's variety as other real images do". The reconstructions are those same real training images
passed through the autoencoder: roughly a ceiling for samples, which all pass through its decoder. FID's floor
shrinks as N grows, so compare ratios only at equal N.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import __version__
from .batching import map_batches
from .checkpoint import default_checkpoint_dir, load_model
from .classes import CLASS_NAMES, NUM_CLASSES
from .classifier import FashionClassifier
from .config import TARGETS, EvaluationSettings
from .data import load_fashion_mnist, to_float
from .flow import FlowSettings
from .metrics import (
    accuracy,
    confusion_matrix,
    frechet_distance,
    kernel_distance,
    nearest_neighbour_distance,
    precision_recall,
    psnr,
)
from .pipeline import LatentDiffusionPipeline, LatentFlowPipeline, load_pretrained
from .progress import progress
from .settings import SamplingSettings, add_sampling_arguments, interval_label, settings_from_args
from .uncertainty import Estimate
from .writable import check_writable_dir

Pipeline = LatentDiffusionPipeline | LatentFlowPipeline


def balanced_subset(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``n`` items, ``n / 10`` per class, drawn with ``generator``."""
    if n % NUM_CLASSES:
        raise ValueError(f"the sample count must be a multiple of {NUM_CLASSES}, got {n}")
    per_class = n // NUM_CLASSES
    picks = []
    for c in range(NUM_CLASSES):
        members = (labels == c).nonzero().squeeze(1)
        if len(members) < per_class:
            raise ValueError(f"only {len(members)} images of class {c}; ask for at most {len(members) * 10} samples")
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(picks)


@dataclass
class JudgedSamples:
    """Images with the class each was asked for (``labels``), the judge's verdict (``predicted``) and features."""

    images: torch.Tensor
    labels: torch.Tensor
    predicted: torch.Tensor
    features: torch.Tensor
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return accuracy(self.predicted, self.labels)


class Evaluator:
    """The judge and the real reference sets (features of a balanced test subset and of a train subset) for one N;
    ``floor`` holds the train subset's distances to the test subset (FID, KID, precision, recall): the real-vs-real
    values every measurement is read beside."""

    def __init__(self, pipe: LatentDiffusionPipeline, judge: FashionClassifier, n: int, seed: int = 0,
                 seeds: int = 1) -> None:
        if not isinstance(seeds, int) or seeds < 1:
            raise ValueError(f"seeds must be a positive integer (1: no error bars), got {seeds!r}")
        self.pipe, self.judge, self.n, self.seed, self.seeds = pipe, judge, n, seed, seeds
        gen = torch.Generator().manual_seed(seed)
        self.train, self.test = load_fashion_mnist("train"), load_fashion_mnist("test")
        test_idx = balanced_subset(self.test.labels, n, gen)
        train_idx = balanced_subset(self.train.labels, n, gen)
        self.test_features = self.features(to_float(self.test.images[test_idx]))
        self.train_images = to_float(self.train.images[train_idx])
        self.train_features = self.features(self.train_images)
        self.labels = torch.arange(NUM_CLASSES).repeat_interleave(n // NUM_CLASSES)
        # the floor over ``seeds`` training subsets (the first is the one above), the test subset fixed
        self.train_subsets = [train_idx] + [balanced_subset(self.train.labels, n, gen) for _ in range(seeds - 1)]
        floors = [self.distances(self.train_features)] + [
            self.distances(self.features(to_float(self.train.images[idx]))) for idx in self.train_subsets[1:]]
        self.floor = _with_error_bars(floors)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The judge's penultimate-layer features of (N, 1, 28, 28) images, on the CPU."""
        return map_batches(self.judge.features, images, device=next(self.judge.parameters()).device)

    def judge_images(self, images: torch.Tensor, labels: torch.Tensor, seconds: float = 0.0) -> JudgedSamples:
        features = self.features(images)
        predicted = self.judge.head(features.to(next(self.judge.parameters()).device)).argmax(1).cpu()
        return JudgedSamples(images, labels, predicted, features, seconds)

    def distances(self, features: torch.Tensor) -> dict:
        """FID, KID, precision and recall (k = 3) of ``features`` against the real test subset."""
        # subsets of at most half the set, so that their spread (kid_std) says something also at small N
        kid, kid_std = kernel_distance(features, self.test_features, torch.Generator().manual_seed(self.seed),
                                       subset_size=min(1000, self.n // 2))
        precision, recall = precision_recall(self.test_features, features)
        return {"fid": frechet_distance(features, self.test_features), "kid": kid, "kid_std": kid_std,
                "precision": precision, "recall": recall}

    def against_floor(self, distances: dict) -> dict:
        """Each measure as a multiple of its real-vs-real value (FID: lower is better, 1 is perfect; precision and
        recall: higher is better, 1 means as good as other real images); with ``_se`` error bars when both have them
        (relative errors added in quadrature)."""
        out = {}
        for key in ("fid", "precision", "recall"):
            ratio = distances[key] / self.floor[key]
            out[f"{key}_over_floor"] = ratio
            if f"{key}_se" in distances and f"{key}_se" in self.floor:
                out[f"{key}_over_floor_se"] = abs(ratio) * math.hypot(distances[f"{key}_se"] / distances[key],
                                                                      self.floor[f"{key}_se"] / self.floor[key])
        return out

    def generate(self, settings: SamplingSettings | FlowSettings | None = None, pipe: Pipeline | None = None,
                 seed: int | None = None) -> JudgedSamples:
        """N generated samples (n / 10 per class) from ``pipe`` (default: the evaluator's) with ``settings``
        (default: the model's) and ``seed`` (default: the evaluator's), judged and timed."""
        pipe = pipe or self.pipe
        settings = pipe.settings(settings)
        start = time.perf_counter()
        images = pipe.generate(self.labels, self.seed if seed is None else seed, settings=settings, progress=True)
        return self.judge_images(images, self.labels, time.perf_counter() - start)

    def generated(self, settings: SamplingSettings | FlowSettings | None = None,
                  samples: JudgedSamples | None = None, pipe: Pipeline | None = None) -> dict:
        """Quality of N generated samples (``samples``, or new ones made by ``pipe`` with ``settings``): judge
        accuracy, FID / KID beside the floor, and seconds taken. With ``seeds`` > 1, each measure is the mean over
        that many sampling seeds (``samples`` is the first) and ``<measure>_se`` its standard error
        (:mod:`fmd_utils.uncertainty`)."""
        pipe = pipe or self.pipe
        settings = pipe.settings(settings)
        samples = self.generate(settings, pipe) if samples is None else samples
        runs = [samples] + [self.generate(settings, pipe, seed=self.seed + k) for k in range(1, self.seeds)]
        measured = _with_error_bars([{"accuracy": run.accuracy, **self.distances(run.features),
                                      "seconds": run.seconds} for run in runs])
        result = {**settings.to_dict(), "samples": self.n, **measured}
        if settings.sampler == "ddpm":
            result["steps"] = pipe.diffusion.num_steps
        result["guidance_interval"] = list(settings.guidance_interval) if settings.guidance_interval else None
        return {**result, **self.against_floor(result)}

    def reconstructions(self) -> dict:
        """The autoencoder (the ceiling every sample lives under): PSNR and the judge on the whole test set, real
        images versus their reconstructions; and the floor's training images, reconstructed, against the test
        subset (FID, KID, precision, recall): how much quality and variety the decoder alone keeps."""
        test = to_float(self.test.images)
        recon = map_batches(self.pipe.autoencoder, test, device=self.pipe.device)
        per_image = ((recon - test) ** 2).flatten(1).mean(1)
        mse = per_image.mean().item()
        real = self.judge_images(test, self.test.labels)
        rebuilt = self.judge_images(recon, self.test.labels)
        # the floor's training subsets, reconstructed: error bars over the same subsets as the floor's
        distances = _with_error_bars([
            self.distances(self.features(map_batches(self.pipe.autoencoder, to_float(self.train.images[idx]),
                                                     device=self.pipe.device)))
            for idx in self.train_subsets])
        return {
            "judge_accuracy_real_test": real.accuracy,
            "autoencoder_test_mse": mse,
            "autoencoder_test_psnr": psnr(mse),  # PSNR of the mean squared error over the whole test set
            "autoencoder_test_psnr_mean_per_image": (10 * torch.log10(1 / per_image)).mean().item(),
            "judge_accuracy_reconstructions": rebuilt.accuracy,
            **{f"reconstruction_{key}": value for key, value in distances.items()},
            **{f"reconstruction_{key}": value for key, value in self.against_floor(distances).items()},
        }

    def memorisation(self, settings: SamplingSettings, n: int = 1000) -> dict:
        """Mean pixel distance from ``n`` samples to their nearest training image, and the same for ``n`` real test
        images: a model that copies training images would sit far below the test-set value."""
        samples = self.pipe.generate(torch.arange(n) % NUM_CLASSES, self.seed + 7, settings=settings)
        train = to_float(self.train.images)
        return {
            "nn_distance_generated": nearest_neighbour_distance(samples, train).mean().item(),
            "nn_distance_real_test": nearest_neighbour_distance(to_float(self.test.images[:n]), train).mean().item(),
        }


def _with_error_bars(runs: list[dict]) -> dict:
    """One dict of measures per seed → the first seed's keys with their means, plus ``<key>_se`` (standard error over
    seeds) and ``seeds`` when there is more than one."""
    if len(runs) == 1:
        return dict(runs[0])
    estimates = {key: Estimate(tuple(float(run[key]) for run in runs)) for key in runs[0]}
    out = {key: e.mean for key, e in estimates.items()}
    out |= {f"{key}_se": e.se for key, e in estimates.items()}
    return {**out, "seeds": len(runs)}


def throughput(pipe: Pipeline, n: int, settings: SamplingSettings | FlowSettings, repeats: int) -> float:
    """Decoded images per second (median of ``repeats`` timed runs after one warm-up)."""
    labels = torch.arange(n) % NUM_CLASSES
    warm_up = settings.replace(steps=5, **({"sampler": "ddim"} if isinstance(settings, SamplingSettings) else {}))
    pipe.generate(labels[: min(n, 100)], 0, settings=warm_up)
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        pipe.generate(labels, r, settings=settings)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def flow_comparison(evaluator: Evaluator, diffusion: LatentDiffusionPipeline, flow: LatentFlowPipeline,
                    nfes: tuple[int, ...], throughput_samples: int, repeats: int) -> list[dict]:
    """Diffusion with DDIM (η = 0) against the flow model with Euler and with Heun, at each number of network
    evaluations per sample (NFE) in ``nfes``, each model with its stored guidance weight and interval: accuracy,
    FID / KID / precision / recall beside the floor, and seconds per ``throughput_samples`` decoded samples."""
    plans = [
        ("diffusion", "DDIM", diffusion, lambda k: diffusion.settings(sampler="ddim", steps=k, eta=0.0), 1),
        ("flow", "Euler", flow, lambda k: flow.settings(sampler="euler", steps=k), 1),
        ("flow", "Heun", flow, lambda k: flow.settings(sampler="heun", steps=k // 2), 2),
    ]
    rows = []
    for nfe, (model, sampler, pipe, make, per_step) in progress(
            [(k, plan) for k in nfes for plan in plans if k % plan[4] == 0], desc="diffusion vs flow"):
        settings = make(nfe)
        result = evaluator.generated(settings, pipe=pipe)
        seconds = throughput_samples / throughput(pipe, throughput_samples, settings, repeats)
        rows.append({**result, "model": model, "solver": sampler, "nfe": nfe, "evaluations_per_step": per_step,
                     "seconds_per_1000": 1000 * seconds / throughput_samples})
    return rows


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": str(torch.__version__), "platform": platform.platform()}


@dataclass
class EvaluationReport:
    """Everything one evaluation measured; ``to_dict()`` is ``metrics.json``, ``to_markdown()`` is ``metrics.md``."""

    date: str
    machine: dict
    fmd_utils: str
    command: str
    settings: dict
    training: dict
    reconstruction: dict
    floor: dict
    generated: dict
    memorisation: dict
    throughput: dict
    sweep_floor: dict | None = None
    flow_comparison: list[dict] = field(default_factory=list)
    guidance_sweep: list[dict] = field(default_factory=list)
    interval_sweep: list[dict] = field(default_factory=list)
    step_sweep: list[dict] = field(default_factory=list)
    evaluation_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        return render_markdown(self.to_dict())


def evaluate(settings: EvaluationSettings | None = None, checkpoints: str | os.PathLike | None = None,
             device: str = "cpu", command: str = "fmd_utils.evaluate.evaluate()") -> EvaluationReport:
    """Measure the models in ``checkpoints`` (default: the shipped ones) as ``settings`` says."""
    settings = (settings or EvaluationSettings()).validate()
    started = time.perf_counter()
    pipe = load_pretrained(checkpoints, device=device)
    judge = load_model("classifier", Path(checkpoints or default_checkpoint_dir()) / "classifier.pt", device)
    sampling = pipe.settings(settings.sampling)  # validated before the long measurements
    evaluator = Evaluator(pipe, judge, settings.samples, settings.seed, settings.seeds)
    judged = evaluator.generate(sampling)
    headline = evaluator.generated(sampling, judged)
    cm = confusion_matrix(judged.labels, judged.predicted)
    headline["per_class_accuracy"] = {name: (cm[i, i] / cm[i].sum()).item() for i, name in enumerate(CLASS_NAMES)}
    headline["confusion_matrix"] = cm.tolist()
    report = EvaluationReport(
        date=_dt.date.today().isoformat(), machine=machine(), fmd_utils=__version__, command=command,
        settings={**asdict(settings), "sampling": sampling.to_dict(), "T": pipe.diffusion.num_steps},
        training={kind: _training_summary(model) for kind, model in
                  (("autoencoder", pipe.autoencoder), ("diffusion", pipe.diffusion), ("classifier", judge))},
        reconstruction=evaluator.reconstructions(), floor=evaluator.floor, generated=headline,
        memorisation=evaluator.memorisation(sampling, settings.memorisation_samples),
        throughput={
            f"ddim{sampling.steps}_guided_images_per_s": throughput(
                pipe, settings.throughput_samples, sampling.replace(sampler="ddim"), settings.throughput_repeats),
            "ddpm_all_steps_guided_images_per_s": throughput(pipe, 200, sampling.replace(sampler="ddpm"), 1),
        },
    )
    flow_path = Path(checkpoints or default_checkpoint_dir()) / "flow.pt"
    if settings.flow_comparison and flow_path.is_file():
        flow = load_pretrained(checkpoints, device=device, model="flow")
        report.training["flow"] = _training_summary(flow.flow)
        report.flow_comparison = flow_comparison(evaluator, pipe, flow, settings.nfe_sweep,
                                                 settings.throughput_samples, settings.throughput_repeats)
    if settings.sweeps:
        n = min(settings.sweep_samples, settings.samples)
        sweep = evaluator if n == settings.samples else Evaluator(pipe, judge, n, settings.seed, settings.seeds)
        report.sweep_floor = sweep.floor
        guidance_points = [(w, gi) for w in settings.guidance_sweep
                           for gi in dict.fromkeys([sampling.guidance_interval if w != 1 else None, None])]
        report.guidance_sweep = [sweep.generated(sampling.replace(guidance=w, guidance_interval=gi))
                                 for w, gi in progress(guidance_points, desc="guidance")]
        intervals = dict.fromkeys([sampling.guidance_interval, *settings.interval_sweep])
        report.interval_sweep = [sweep.generated(sampling.replace(guidance_interval=gi))
                                 for gi in progress(intervals, desc="intervals")]
        report.step_sweep = [sweep.generated(sampling.replace(sampler="ddim", steps=s))
                             for s in progress(settings.step_sweep, desc="steps")]
        report.step_sweep.append(sweep.generated(sampling.replace(sampler="ddpm")))
    report.evaluation_seconds = time.perf_counter() - started
    return report


def _training_summary(model) -> dict:
    meta = getattr(model, "metadata", {}) or {}
    history = meta.get("history", {})
    return {"created": meta.get("created"), "profile": meta.get("profile"), "parameters": meta.get("parameters"),
            "epochs": len(history.get("epochs", [])), "train_seconds": history.get("train_seconds")}


# --------------------------------------------------------------------------------------------------- report
def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _pm(d: dict, key: str, spec: str = ".3f") -> str:
    """``d[key]`` formatted, with ``± d[key_se]`` (standard error over seeds) when the report has it."""
    se = d.get(f"{key}_se")
    return f"{d[key]:{spec}}" + (f" ± {se:{spec}}" if se is not None else "")


def _pct_pm(d: dict, key: str) -> str:
    se = d.get(f"{key}_se")
    return _pct(d[key]) + (f" ± {100 * se:.1f}" if se is not None else "")


def _row(name: str, shown: str, value: float, target_key: str, at_most: bool = False, unit: str | None = None) -> str:
    """A table row: the measurement, its target from :data:`fmd_utils.config.TARGETS` (a percentage when ``unit``
    is None, else a number followed by ``unit``), and met or short."""
    target = TARGETS[target_key]
    met = value <= target if at_most else value >= target
    target_text = _pct(target) if unit is None else f"{target:g}{unit}"
    return f"| {name} | {shown} | {'≤' if at_most else '≥'} {target_text} | {'met' if met else '**short**'} |"


def _training_target(training: dict) -> str:
    """The TARGETS key of the training-time budget of the profile the models were trained with."""
    key = f"train_minutes_{training['autoencoder']['profile']}"
    return key if key in TARGETS else "train_minutes_full"


def render_markdown(r: dict) -> str:
    """The report as markdown tables, each measurement beside its target from :data:`fmd_utils.config.TARGETS`."""
    g, rec = r["generated"], r["reconstruction"]
    lines = [
        render_headline(r),
        "",
        f"Mean per-image PSNR: {rec['autoencoder_test_psnr_mean_per_image']:.2f} dB. "
        f"Memorisation check (1000 images, mean L2 pixel distance to the nearest training image): generated "
        f"{r['memorisation']['nn_distance_generated']:.2f}, "
        f"real test images {r['memorisation']['nn_distance_real_test']:.2f}.",
        "",
        "Per-class conditional accuracy (the first seed's samples): "
        + ", ".join(f"{name} {_pct(acc)}" for name, acc in g["per_class_accuracy"].items()) + ".",
    ]
    if r.get("guidance_sweep"):
        lines += ["", render_sweeps(r)]
    if r.get("flow_comparison"):
        lines += ["", render_flow_comparison(r)]
    return "\n".join(lines) + "\n"


def render_sweeps(r: dict) -> str:
    """The guidance, guidance-interval and sampler sweeps at the sweep size (README "The sweeps")."""
    g = r["generated"]
    sf, n = r["sweep_floor"], r["guidance_sweep"][0]["samples"]
    lines = [f"Guidance sweep (DDIM-{g['steps']}, N = {n}; real-vs-real at this N: FID {_pm(sf, 'fid')}, "
              f"precision {_pm(sf, 'precision')}, recall {_pm(sf, 'recall')}):", "",
              "| guidance w | applied on | accuracy | FID / floor | precision | recall | KID | seconds for N |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {s['guidance']:g} | {interval_label(s['guidance_interval'])} | {_pct_pm(s, 'accuracy')} | "
              f"{_pm(s, 'fid_over_floor', '.2f')} | {_pm(s, 'precision')} | {_pm(s, 'recall')} | "
              f"{_pm(s, 'kid', '.5f')} | "
              f"{s['seconds']:.1f} |" for s in r["guidance_sweep"]]
    lines += ["", f"Guidance interval sweep (DDIM-{g['steps']}, guidance {g['guidance']:g}, N = {n}):", "",
              "| guidance applied on | accuracy | FID / floor | precision | recall | seconds for N |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {interval_label(s['guidance_interval'])} | {_pct_pm(s, 'accuracy')} | "
              f"{_pm(s, 'fid_over_floor', '.2f')} | "
              f"{_pm(s, 'precision')} | {_pm(s, 'recall')} | {s['seconds']:.1f} |" for s in r["interval_sweep"]]
    lines += ["", f"Sampler sweep (guidance {g['guidance']:g} on {interval_label(g['guidance_interval'])}, "
              f"N = {n}):", "",
              "| sampler | steps | accuracy | FID / floor | precision | recall | seconds for N |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {s['sampler'].upper()} | {s['steps']} | {_pct_pm(s, 'accuracy')} | "
              f"{_pm(s, 'fid_over_floor', '.2f')} | "
              f"{_pm(s, 'precision')} | {_pm(s, 'recall')} | {s['seconds']:.1f} |" for s in r["step_sweep"]]
    return "\n".join(lines)


def render_headline(r: dict) -> str:
    """The two headline tables (measurements against targets; where quality and variety are lost): the part of
    ``metrics.md`` the README carries verbatim between ``<!-- results:PROFILE -->`` markers (:func:`sync_readme`)."""
    g, rec, floor, m, tr, thr = r["generated"], r["reconstruction"], r["floor"], r["machine"], r["training"], \
        r["throughput"]
    ae_dm_min = ((tr["autoencoder"]["train_seconds"] or 0) + (tr["diffusion"]["train_seconds"] or 0)) / 60
    judge_min = (tr["classifier"]["train_seconds"] or 0) / 60
    seconds_1000 = 1000 / thr[next(k for k in thr if k.startswith("ddim"))]
    lines = [
        f"Measured {r['date']} on {m['cpu']} ({m['cores']} cores, torch {m['torch']}, {m['torch_threads']} threads) "
        f"with `{r['command']}`; models of the `{tr['autoencoder']['profile']}` profile; N = {g['samples']} "
        f"generated samples (DDIM-{g['steps']}, guidance {g['guidance']:g} on "
        f"{interval_label(g['guidance_interval'])}, seed {r['settings']['seed']})."
        + (f" ± is the standard error of the mean over {g['seeds']} sampling seeds (the floor: over as many "
           "training subsets; the test set fixed); two values differ only when they are more than twice their "
           "combined error bar apart." if g.get("seeds") else ""),
        "",
        "| metric | measured | target | |",
        "|---|---|---|---|",
        _row("judge accuracy on real test images", _pct(rec["judge_accuracy_real_test"]),
             rec["judge_accuracy_real_test"], "judge_accuracy_real_test"),
        _row("autoencoder test PSNR (64-d latent)",
             f"{rec['autoencoder_test_psnr']:.2f} dB (MSE {rec['autoencoder_test_mse']:.5f})",
             rec["autoencoder_test_psnr"], "autoencoder_test_psnr", unit=" dB"),
        _row("judge accuracy on autoencoder reconstructions", _pct(rec["judge_accuracy_reconstructions"]),
             rec["judge_accuracy_reconstructions"], "judge_accuracy_reconstructions"),
        _row("conditional accuracy of generated samples", _pct_pm(g, "accuracy"), g["accuracy"], "generated_accuracy"),
        _row("generated precision / real-vs-real precision",
             f"{_pm(g, 'precision')} / {_pm(floor, 'precision')} = {_pm(g, 'precision_over_floor', '.3f')}",
             g["precision_over_floor"], "precision_over_floor", unit=""),
        _row("generated recall / real-vs-real recall",
             f"{_pm(g, 'recall')} / {_pm(floor, 'recall')} = {_pm(g, 'recall_over_floor', '.3f')}",
             g["recall_over_floor"], "recall_over_floor", unit=""),
        _row("feature-FID generated vs test / real-vs-real floor",
             f"{_pm(g, 'fid')} / {_pm(floor, 'fid')} = {_pm(g, 'fid_over_floor', '.2f')}", g["fid_over_floor"],
             "fid_over_floor", at_most=True, unit=""),
        f"| feature-KID generated vs test (floor) | {_pm(g, 'kid', '.5f')} ({_pm(floor, 'kid', '.5f')}) | — | |",
        _row(f"training time, autoencoder + denoiser (judge), `{tr['autoencoder']['profile']}` profile",
             f"{ae_dm_min:.1f} min ({judge_min:.1f} min)", ae_dm_min, _training_target(tr), at_most=True,
             unit=" min"),
        _row(f"1000 decoded samples, DDIM-{g['steps']} with guidance", f"{seconds_1000:.2f} s", seconds_1000,
             "seconds_per_1000_samples", at_most=True, unit=" s"),
        f"| DDPM, all {r['settings']['T']} steps, with guidance | {thr['ddpm_all_steps_guided_images_per_s']:.0f}"
        " images/s | — | |",
        "",
        f"Where quality and variety are lost (N = {g['samples']} each, against the balanced real test set; judge "
        "features; precision and recall with k = 3):",
        "",
        "| set | FID | FID / floor | precision | recall | precision / real | recall / real |",
        "|---|---|---|---|---|---|---|",
        f"| real training images (the floor) | {_pm(floor, 'fid')} | 1 | {_pm(floor, 'precision')} | "
        f"{_pm(floor, 'recall')} | 1 | 1 |",
        f"| the same images through the autoencoder | {_pm(rec, 'reconstruction_fid')} | "
        f"{_pm(rec, 'reconstruction_fid_over_floor', '.2f')} | {_pm(rec, 'reconstruction_precision')} | "
        f"{_pm(rec, 'reconstruction_recall')} | {_pm(rec, 'reconstruction_precision_over_floor', '.3f')} | "
        f"{_pm(rec, 'reconstruction_recall_over_floor', '.3f')} |",
        f"| generated samples | {_pm(g, 'fid')} | {_pm(g, 'fid_over_floor', '.2f')} | {_pm(g, 'precision')} | "
        f"{_pm(g, 'recall')} | {_pm(g, 'precision_over_floor', '.3f')} | {_pm(g, 'recall_over_floor', '.3f')} |",
    ]
    return "\n".join(lines)


def readme_block(text: str, name: str) -> tuple[int, int]:
    """Where the README's generated block ``name`` lies: the span between ``<!-- results:NAME -->`` and
    ``<!-- /results:NAME -->`` (both marker lines kept)."""
    begin, end = f"<!-- results:{name} -->\n", f"\n<!-- /results:{name} -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"the README has no '{begin.strip()}' ... '{end.strip()}' block: add the two marker lines "
                         "where the results table belongs")
    return start + len(begin), stop


def readme_blocks(r: dict) -> dict[str, str]:
    """The README blocks a report fills, by name: ``PROFILE`` (:func:`render_headline`), and where it measured them
    ``PROFILE-sweeps`` (:func:`render_sweeps`) and ``PROFILE-flow`` (:func:`render_flow_comparison`)."""
    profile = r["training"]["autoencoder"]["profile"]
    blocks = {profile: render_headline(r)}
    if r.get("guidance_sweep"):
        blocks[f"{profile}-sweeps"] = render_sweeps(r)
    if r.get("flow_comparison"):
        blocks[f"{profile}-flow"] = render_flow_comparison(r)
    return blocks


def sync_readme(readme: str | os.PathLike, r: dict) -> bool:
    """Write the report's tables into the README's blocks (:func:`readme_blocks`; the headline block must exist, the
    others are filled where the README has them); True if the file changed. The README's numbers are then the
    report's, never typed in (tests/test_readme.py checks)."""
    path = Path(readme)
    text = new = path.read_text()
    required = r["training"]["autoencoder"]["profile"]  # the headline block
    for name, block in readme_blocks(r).items():
        if name != required and f"<!-- results:{name} -->" not in new:
            continue
        start, stop = readme_block(new, name)
        new = new[:start] + block + new[stop:]
    if new != text:
        path.write_text(new)
    return new != text


def render_flow_comparison(r: dict) -> str:
    """The diffusion-against-flow table (chapter 6, README "Flow matching against diffusion")."""
    rows, floor, tr = r["flow_comparison"], r["floor"], r["training"]
    first = {row["model"]: row for row in reversed(rows)}
    guidance = {m: f"guidance {row['guidance']:g} on {interval_label(row['guidance_interval'])}"
                for m, row in first.items()}
    train = {m: f"{tr[m]['epochs']} epochs, {tr[m]['train_seconds'] / 60:.1f} min" for m in ("diffusion", "flow")}
    lines = [f"Diffusion against flow matching (same network, same latents, same batch and epochs; as recorded "
             f"when each was trained: diffusion {train['diffusion']}, flow {train['flow']}), "
             f"N = {rows[0]['samples']} per row; diffusion "
             f"{guidance['diffusion']}, flow {guidance['flow']}; real-vs-real at this N: FID {_pm(floor, 'fid')}, "
             f"precision {_pm(floor, 'precision')}, recall {_pm(floor, 'recall')}. NFE = network evaluations per "
             "sample (a guided one runs its two passes as one batch):", "",
             "| NFE | model | solver | steps | accuracy | FID / floor | precision / real | recall / real | "
             "s per 1000 |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {row['nfe']} | {row['model']} | {row['solver']} | {row['steps']} | {_pct_pm(row, 'accuracy')} | "
              f"{_pm(row, 'fid_over_floor', '.2f')} | {_pm(row, 'precision_over_floor', '.3f')} | "
              f"{_pm(row, 'recall_over_floor', '.3f')} | "
              f"{row['seconds_per_1000']:.2f} |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------- CLI
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
    parser.add_argument("--no-flow", action="store_true",
                        help="skip the diffusion-against-flow comparison (it runs when the folder has flow.pt)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="checkpoint folder (default: shipped)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--readme", type=Path, default=None,
                        help="also refresh this README's results block for the models' profile (make evaluate: "
                             "README.md)")
    add_sampling_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # every argument and the output folder, before minutes of measurements
        settings = EvaluationSettings(samples=args.samples, sweep_samples=min(args.sweep_samples, args.samples),
                                      seed=args.seed, seeds=args.seeds, sweeps=not args.no_sweeps,
                                      flow_comparison=not args.no_flow).validate()
        check_writable_dir(args.out.parent, "--out")
        if args.readme is not None:  # the block must exist before minutes of measurements, not after
            readme_block(args.readme.read_text(), load_model("autoencoder", Path(
                args.checkpoints or default_checkpoint_dir()) / "autoencoder.pt").metadata.get("profile"))
        diffusion = load_model("diffusion", Path(args.checkpoints or default_checkpoint_dir()) / "diffusion.pt")
        settings = replace(settings, sampling=settings_from_args(args, diffusion.sampling, diffusion.num_steps))
    except (ValueError, OSError) as error:
        parser.error(str(error))
    report = evaluate(settings, args.checkpoints, args.device, " ".join(["python -m fmd_utils.evaluate", *argv]))
    args.out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    markdown = report.to_markdown()
    args.out.with_suffix(".md").write_text(markdown)
    print(markdown)
    if args.readme is not None and sync_readme(args.readme, report.to_dict()):
        print(f"{args.readme}: results block updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
