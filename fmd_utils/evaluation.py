"""The benchmark as a library: quality and speed of the models, always beside the real-vs-real floor.

``evaluate(EvaluationSettings(samples=500, sweeps=False))`` returns an :class:`EvaluationReport` (its ``to_dict()`` is
``metrics.json``); :mod:`fmd_utils.views.report` renders it as Markdown and :mod:`fmd_utils.evaluate` is the command
line. :class:`Evaluator` measures one generated set at a time (the chapters use it directly).

All features are the judge's penultimate layer (:mod:`fmd_utils.classifier`); FID/KID and precision/recall are
generated-vs-real-test, and the floor is real-train-vs-real-test at the same sample count, so "FID / floor" near 1
means "as close to the test set as other real images are", and "recall / real-vs-real recall" near 1 means "reaches as
much of the test set's variety as other real images do". The reconstructions are those same real training images
passed through the autoencoder: roughly a ceiling for samples, which all pass through its decoder. FID's floor
shrinks as N grows, so compare ratios only at equal N.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .batching import map_batches
from .checkpoint import checkpoint_file, default_checkpoint_dir, load_model
from .checks import check_seed
from .classes import CLASS_NAMES, NUM_CLASSES
from .classifier import FashionClassifier
from .config import MEMORISATION_SEED_OFFSET, EvaluationSettings
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
from .samplers import get_sampler, sampler_names
from .settings import SamplingSettings
from .uncertainty import Estimate
from .version import __version__

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
        gen = torch.Generator().manual_seed(check_seed(seed))
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
        if isinstance(settings, SamplingSettings):  # the registry says how many steps and evaluations it took
            sampler = get_sampler(settings.sampler)
            result |= {"steps": sampler.num_steps(settings, pipe.diffusion.num_steps), "sampler_title": sampler.title,
                       "nfe": sampler.nfe(settings, pipe.diffusion.num_steps)}
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
        samples = self.pipe.generate(torch.arange(n) % NUM_CLASSES, self.seed + MEMORISATION_SEED_OFFSET,
                                     settings=settings)
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


def with_sampler(settings: SamplingSettings, name: str, **changes) -> SamplingSettings:
    """``settings`` run by the registered sampler ``name`` (other fields kept, ``changes`` applied); η goes to 0
    for a sampler that does not read it, so a stored or given η never makes another sampler's row fail."""
    eta = {} if get_sampler(name).uses_eta else {"eta": 0.0}
    return settings.replace(sampler=name, **eta, **changes)


def all_timesteps_sampler() -> str:
    """The first registered sampler that walks all T timesteps (DDPM): the slow reference the report times."""
    return next(name for name in sampler_names() if get_sampler(name).all_steps)


def throughput(pipe: Pipeline, n: int, settings: SamplingSettings | FlowSettings, repeats: int) -> float:
    """Decoded images per second (median of ``repeats`` timed runs after one warm-up)."""
    labels = torch.arange(n) % NUM_CLASSES
    warm_up = settings.replace(steps=5)
    if isinstance(settings, SamplingSettings) and get_sampler(settings.sampler).all_steps:
        warm_up = with_sampler(settings, sampler_names()[0], steps=5)  # a short run of the default sampler
    pipe.generate(labels[: min(n, 100)], 0, settings=warm_up)
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        pipe.generate(labels, r, settings=settings)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def _nfe_plan(model: str, solver: str, pipe: Pipeline) -> tuple[str, str, Pipeline, int, int, Callable]:
    """(model, solver title, pipeline, evaluations per step, evaluations its last step saves, steps → settings)
    for one row family of the table at equal network evaluations: a registered diffusion sampler, or a flow
    solver."""
    if model == "diffusion":
        sampler = get_sampler(solver)
        if sampler.all_steps:
            raise ValueError(f"{sampler.title} walks all T timesteps: it has no place in a table at equal NFE")
        per_step = sampler.evaluations_per_step
        saved = per_step - (per_step if sampler.final_step_evaluations is None else sampler.final_step_evaluations)
        return (model, sampler.title, pipe, per_step, saved,
                lambda steps: pipe.settings(with_sampler(pipe.diffusion.sampling, solver, steps=steps)))
    per_step = pipe.settings(sampler=solver, steps=1).nfe
    return model, solver.capitalize(), pipe, per_step, 0, lambda steps: pipe.settings(sampler=solver, steps=steps)


def flow_comparison(evaluator: Evaluator, diffusion: LatentDiffusionPipeline, flow: LatentFlowPipeline | None,
                    nfes: tuple[int, ...], throughput_samples: int, repeats: int,
                    solvers: tuple[tuple[str, str], ...] = (("diffusion", "ddim"), ("flow", "euler"),
                                                            ("flow", "heun"))) -> list[dict]:
    """The diffusion model's samplers against the flow model's solvers (``solvers``: (model, name) pairs; the flow
    ones are skipped when ``flow`` is None), at each number of network evaluations per sample (NFE) in ``nfes``, each
    model with its stored guidance weight and interval: accuracy, FID / KID / precision / recall beside the floor,
    and seconds per ``throughput_samples`` decoded samples. Each solver takes the most steps whose evaluations fit
    the budget: ``nfe`` is what it spent (Heun on the Karras grid, whose last step is Euler's, spends one less),
    ``nfe_budget`` the budget."""
    pipes = {"diffusion": diffusion, "flow": flow}
    plans = [_nfe_plan(model, solver, pipes[model]) for model, solver in solvers if pipes[model] is not None]
    rows = []
    for budget, (model, sampler, pipe, per_step, saved, make) in progress(
            [(k, plan) for k in nfes for plan in plans if k % plan[3] == 0], desc="equal NFE"):
        steps = (budget + saved) // per_step
        settings = make(steps)
        result = evaluator.generated(settings, pipe=pipe)
        seconds = throughput_samples / throughput(pipe, throughput_samples, settings, repeats)
        rows.append({**result, "model": model, "solver": sampler, "nfe": per_step * steps - saved,
                     "nfe_budget": budget, "evaluations_per_step": per_step,
                     "seconds_per_1000": 1000 * seconds / throughput_samples})
    return rows


def machine(device: str | torch.device = "cpu") -> dict:
    """What measured: the CPU, its cores and threads, Python and torch; and the GPU when ``device`` is one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = torch.device(device)
    gpu = {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda} if device.type == "cuda" else {}
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": str(torch.__version__), "platform": platform.platform(),
            **gpu}


@dataclass
class EvaluationReport:
    """Everything one evaluation measured; ``to_dict()`` is ``metrics.json``
    (:func:`fmd_utils.views.report.render_markdown` of it is ``metrics.md``)."""

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


def evaluate(settings: EvaluationSettings | None = None, checkpoints: str | os.PathLike | None = None,
             device: str = "cpu", command: str = "fmd_utils.evaluation.evaluate()") -> EvaluationReport:
    """Measure the models in ``checkpoints`` (default: the shipped ones) as ``settings`` says."""
    settings = (settings or EvaluationSettings()).validate()
    started = time.perf_counter()
    pipe = load_pretrained(checkpoints, device=device, denoiser=settings.denoiser)
    judge = load_model("classifier", Path(checkpoints or default_checkpoint_dir()) / "classifier.pt", device)
    sampling = pipe.settings(settings.sampling)  # validated before the long measurements
    slow = with_sampler(sampling, all_timesteps_sampler())
    planned = [slow, *(with_sampler(sampling, name, steps=steps) for name, steps in settings.sampler_sweep),
               *(sampling.replace(guidance=w) for w in settings.guidance_sweep),
               *(sampling.replace(guidance_interval=gi) for gi in settings.interval_sweep)]
    for derived in planned:  # every setting the report will use, checked before the first measurement
        pipe.settings(derived)
    evaluator = Evaluator(pipe, judge, settings.samples, settings.seed, settings.seeds)
    judged = evaluator.generate(sampling)
    headline = evaluator.generated(sampling, judged)
    cm = confusion_matrix(judged.labels, judged.predicted)
    headline["per_class_accuracy"] = {name: (cm[i, i] / cm[i].sum()).item() for i, name in enumerate(CLASS_NAMES)}
    headline["confusion_matrix"] = cm.tolist()
    report = EvaluationReport(
        date=_dt.date.today().isoformat(), machine=machine(pipe.device), fmd_utils=__version__, command=command,
        settings={**asdict(settings), "sampling": sampling.to_dict(), "T": pipe.diffusion.num_steps,
                  "denoiser": pipe.diffusion.denoiser.architecture},
        training={kind: _training_summary(model) for kind, model in
                  (("autoencoder", pipe.autoencoder), ("diffusion", pipe.diffusion), ("classifier", judge))},
        reconstruction=evaluator.reconstructions(), floor=evaluator.floor, generated=headline,
        memorisation=evaluator.memorisation(sampling, settings.memorisation_samples),
        throughput={  # decoded images per second: the stored sampler, and the one that walks all T timesteps
            "stored_images_per_s": throughput(pipe, settings.throughput_samples, sampling,
                                              settings.throughput_repeats),
            "all_timesteps_images_per_s": throughput(pipe, 200, slow, 1),
            "all_timesteps_sampler": get_sampler(slow.sampler).title,
        },
    )
    flow_path = Path(checkpoints or default_checkpoint_dir()) / checkpoint_file("flow", settings.denoiser)
    if settings.flow_comparison:
        flow = load_pretrained(checkpoints, device=device, model="flow", denoiser=settings.denoiser) \
            if flow_path.is_file() else None
        if flow is not None:
            report.training["flow"] = _training_summary(flow.flow)
        report.flow_comparison = flow_comparison(evaluator, pipe, flow, settings.nfe_sweep,
                                                 settings.throughput_samples, settings.throughput_repeats,
                                                 settings.nfe_solvers)
    if settings.sweeps:
        n = min(settings.sweep_samples, settings.samples)
        sweep = evaluator if n == settings.samples else Evaluator(pipe, judge, n, settings.seed, settings.seeds)
        report.sweep_floor = sweep.floor
        guidance_points = [(w, gi) for w in settings.guidance_sweep
                           for gi in dict.fromkeys([sampling.guidance_interval if w != 1 else None, None])]
        kinds = settings.sweep_kinds
        if "guidance" in kinds:
            report.guidance_sweep = [sweep.generated(sampling.replace(guidance=w, guidance_interval=gi))
                                     for w, gi in progress(guidance_points, desc="guidance")]
        intervals = dict.fromkeys([sampling.guidance_interval, *settings.interval_sweep])
        if "interval" in kinds:
            report.interval_sweep = [sweep.generated(sampling.replace(guidance_interval=gi))
                                     for gi in progress(intervals, desc="intervals")]
        if "sampler" in kinds:
            report.step_sweep = [sweep.generated(with_sampler(sampling, name, steps=steps))
                                 for name, steps in progress(settings.sampler_sweep, desc="samplers")]
    report.evaluation_seconds = time.perf_counter() - started
    return report


def _training_summary(model) -> dict:
    meta = getattr(model, "metadata", {}) or {}
    history = meta.get("history", {})
    return {"created": meta.get("created"), "profile": meta.get("profile"), "parameters": meta.get("parameters"),
            "epochs": len(history.get("epochs", [])), "train_seconds": history.get("train_seconds")}
