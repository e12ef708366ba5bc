"""Training the four models: the loop, its resumable state, the batching and one function per stage. The command line
over it is :mod:`fmd_utils.train`; chapters import from here.

Each stage writes ``DIR/<kind>.pt`` (weights + metadata, what ``load_pretrained`` reads) and, after every epoch,
``DIR/<kind>.state.pt`` (optimizer, schedule, RNG states, history, and what the run depends on: profile, seed, the
autoencoder's fingerprint) so ``--resume`` continues where an interrupted run stopped, producing the same weights as
an uninterrupted run, and refuses a state from a different run. The diffusion and flow stages need
``DIR/autoencoder.pt``.
``DIR`` defaults to the shipped ``checkpoints/`` for the full profile and to ``build/<profile>`` otherwise.

Under ``torchrun`` (several processes, :mod:`fmd_utils.distributed`) the same loop trains one model with PyTorch's
``DistributedDataParallel``: each rank takes its equal part of every global batch and of its random draws, DDP
averages the gradients, and rank 0 alone validates, logs and writes the checkpoints and the resumable state (every
rank resumes from that one state). With the same seed and global batch this gives one process's weights, to float
rounding (``tests/test_distributed.py``). The data order is not torch's ``DistributedSampler``'s (a permutation
seeded by epoch, different from one process's): it is the single process's own order, from the run's explicit
shuffle generator, cut into parts, so a one-process run stays exactly what it was and the two can be compared.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler, TensorDataset
from tqdm.auto import tqdm

from .autoencoder import Autoencoder
from .batching import map_batches
from .checkpoint import (
    CheckpointError,
    atomic_torch_save,
    checkpoint_file,
    load_model,
    save_checkpoint,
    state_fingerprint,
)
from .checks import check_seed
from .classifier import FashionClassifier
from .config import ONE_CYCLE_WARMUP, SEEDS, Profile, get_profile
from .data import dataset_fingerprint, load_fashion_mnist, to_float
from .denoisers import build_denoiser
from .device import resolve_device
from .diffusion import LatentDiffusion
from .distributed import Rank, barrier, current, mean_over_ranks, part, per_rank_batch, same_on_every_rank
from .flow import LatentFlow
from .metrics import accuracy, psnr
from .normalizer import LatentNormalizer
from .precision import MixedPrecision, resolve_precision
from .progress import progress
from .schedule import NoiseSchedule
from .version import __version__
from .writable import check_writable_dir

STAGES = ("autoencoder", "diffusion", "flow", "classifier")


# --------------------------------------------------------------------------------------------------- data splits
def training_split(profile: Profile) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """(train images, train labels, validation images, validation labels, data checksum) for a profile.

    Validation images are the last ``val_size`` of the (possibly subset) training split; the test set stays untouched
    for :mod:`fmd_utils.evaluation`.
    """
    data = load_fashion_mnist("train")
    images, labels = data.images, data.labels
    if profile.train_subset:
        images, labels = images[: profile.train_subset], labels[: profile.train_subset]
    n_val = profile.val_size
    x = to_float(images)
    return x[:-n_val], labels[:-n_val], x[-n_val:], labels[-n_val:], dataset_fingerprint(data)


class BatchParts(Sampler):
    """Each batch of ``batches`` (a list of indices), cut to part ``shard = (i, n)``: rank i of n takes its equal
    part of every global batch; (0, 1) yields the batches whole."""

    def __init__(self, batches: BatchSampler, shard: tuple[int, int] = (0, 1)):
        self.batches, self.shard = batches, shard

    def __iter__(self):
        for batch in self.batches:
            yield part(batch, self.shard)

    def __len__(self) -> int:
        return len(self.batches)


def batches(tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator,
            shard: tuple[int, int] = (0, 1)) -> DataLoader:
    """Shuffled mini-batches of ``batch_size`` (the global batch) drawn with ``generator``, each cut to this rank's
    part ``shard``; whole batches are sliced at once (no per-item collation)."""
    dataset = TensorDataset(*tensors)
    sampler = BatchParts(BatchSampler(RandomSampler(dataset, generator=generator), batch_size, drop_last=True), shard)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def as_profile(profile: Profile | str) -> Profile:
    """A profile, or its name ("full", "fast", "quick"); a ValueError naming the valid ones otherwise."""
    if isinstance(profile, str):
        return get_profile(profile)
    if not isinstance(profile, Profile):
        raise TypeError(f"profile must be a Profile or one of the names 'full', 'fast', 'quick', got "
                        f"{type(profile).__name__}")
    return profile


def _metadata(profile: Profile, seed: int, device: torch.device, checksum: str, extra: dict) -> dict:
    return {
        "profile": profile.name,
        "profile_config": profile.to_dict(),
        "seed": seed,
        "device": str(device),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": {
            "fmd_utils": __version__,
            "torch": str(torch.__version__),
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "data_sha256": checksum,
        "precision": resolve_precision(profile.precision, device),
        **extra,
    }


# --------------------------------------------------------------------------------------------------- generic loop
def fit(
    name: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    train_step: Callable[[tuple[torch.Tensor, ...]], torch.Tensor],
    make_batches: Callable[[], DataLoader],
    validate: Callable[[], dict[str, float]],
    state_path: Path,
    generators: dict[str, torch.Generator],
    resume: bool = False,
    stop_after: int | None = None,
    ema: AveragedModel | None = None,
    depends_on: dict | None = None,
    precision: MixedPrecision | None = None,
) -> dict:
    """Run ``epochs`` epochs of ``train_step`` over ``make_batches()`` with a one-cycle learning rate, validating
    and saving a resumable state after each epoch. Returns the history ``{"epochs": [...], "done": bool}``.

    ``depends_on`` (profile, seed, the autoencoder's fingerprint, ...) is stored in the state; ``resume`` refuses a
    state whose record differs, since continuing it would silently mix two runs. Under torchrun the step runs
    through ``DistributedDataParallel`` (its gradients averaged over the ranks) and only rank 0 validates, logs and
    saves; the others wait for its state to be on disk after every epoch. ``precision`` (default float32) runs the
    step's forward pass under autocast (:mod:`fmd_utils.precision`); a mixed-precision run records it, and resumes
    only as one."""
    rank = current()
    precision = precision or MixedPrecision("fp32", next(model.parameters()).device)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=epochs * steps_per_epoch,
        pct_start=ONE_CYCLE_WARMUP,
    )
    depends_on = {"stage": name, "planned_epochs": epochs, **(depends_on or {}),
                  **({"precision": precision.precision} if precision.enabled else {})}
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, **({"ema": ema} if ema else {}),
             **({"scaler": precision} if precision.scaler.is_enabled() else {})}
    history: dict = {"epochs": [], "done": False, "train_seconds": 0.0, "planned_epochs": epochs}
    say = tqdm.write if rank.main else (lambda _: None)
    if resume and state_path.is_file():
        history = load_training_state(state_path, depends_on, parts, generators)
        say(f"[{name}] resuming after epoch {len(history['epochs'])}/{epochs} from {state_path}")
    if not same_on_every_rank(len(history["epochs"]), rank):  # else they would run different numbers of steps
        raise CheckpointError(f"the {rank.world} processes found different resumable states in {state_path.parent}: "
                              "--out must be one folder that every process sees (a shared file system)")
    step = _distributed_step(model, train_step, rank) if rank.distributed else train_step
    for epochs_this_run, epoch in enumerate(range(len(history["epochs"]) + 1, epochs + 1)):
        if stop_after is not None and epochs_this_run >= stop_after:
            say(f"[{name}] stopping after {stop_after} epoch(s) as asked; continue with --resume")
            return history
        seconds, train_loss = train_epoch(f"{name} {epoch}/{epochs}", model, optimizer, scheduler, step,
                                          make_batches(), steps_per_epoch, ema, show=rank.main, precision=precision)
        history["train_seconds"] += seconds
        model.eval()
        record = {"epoch": epoch, "train_loss": mean_over_ranks(train_loss, rank), **(validate() if rank.main else {})}
        history["epochs"].append(record)
        shown = ", ".join(f"{k} {v:.5g}" for k, v in record.items() if k != "epoch")
        say(f"[{name}] epoch {epoch}/{epochs}: {shown} ({history['train_seconds']:.0f} s so far)")
        if rank.main:
            save_training_state(state_path, depends_on, parts, generators, history)
        barrier()
    history["done"] = True
    return history


class _Step(nn.Module):
    """A training step as a module, so that DistributedDataParallel can wrap it: ``forward(batch)`` is the loss,
    computed by ``model``'s parameters (``model`` is a submodule, hence the parameters DDP synchronises)."""

    def __init__(self, model: nn.Module, train_step: Callable[[tuple[torch.Tensor, ...]], torch.Tensor]):
        super().__init__()
        self.model, self.train_step = model, train_step

    def forward(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.train_step(batch)


def _distributed_step(model: nn.Module, train_step, rank: Rank) -> DistributedDataParallel:
    """``train_step`` under DDP: the backward pass averages the gradients over the ranks. Buffers are broadcast from
    rank 0 when DDP starts, and before each step only where they change in training (BatchNorm's running statistics);
    the latent models' buffers (schedule, normaliser) are constants."""
    device = next(model.parameters()).device
    batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return DistributedDataParallel(_Step(model, train_step), device_ids=[device] if device.type == "cuda" else None,
                                   forward_sync_buffers=batchnorm)


def sync_batchnorm(model: nn.Module, rank: Rank) -> nn.Module:
    """BatchNorm over the global batch under DDP on CUDA (SyncBatchNorm); unchanged in one process, and on CPU,
    where PyTorch has no SyncBatchNorm and each rank keeps its own part's statistics."""
    device = next(model.parameters()).device
    if rank.distributed and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def train_epoch(desc: str, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, train_step,
                batches_: DataLoader, steps: int, ema: AveragedModel | None = None,
                show: bool = True, precision: MixedPrecision | None = None) -> tuple[float, float]:
    """One pass over ``batches_``: loss (its forward pass under ``precision``'s autocast), backward, optimizer and
    learning-rate step, EMA update. Returns (seconds, mean training loss)."""
    precision = precision or MixedPrecision("fp32", next(model.parameters()).device)
    model.train()
    start, total, count = time.perf_counter(), 0.0, 0
    bar = progress(batches_, show, total=steps, desc=desc, leave=False)
    # the losses are read (.item(), which waits for a GPU to finish its queue) only every `shown` steps
    shown, pending = max(1, steps // 50), []
    for batch in bar:
        with precision.autocast():
            loss = train_step(batch)
        optimizer.zero_grad(set_to_none=True)
        precision.step(loss, optimizer)  # loss.backward(); optimizer.step() (scaled for float16)
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        pending.append(loss.detach())
        if len(pending) == shown:
            total, count = _add_losses(total, count, pending)
            bar.set_postfix(loss=f"{total / count:.4f}")
    total, count = _add_losses(total, count, pending)
    bar.close()
    return time.perf_counter() - start, total / count


def _add_losses(total: float, count: int, losses: list[torch.Tensor]) -> tuple[float, int]:
    """``total`` plus each loss in turn, as Python floats (float64, in the order of the steps); the list emptied."""
    for loss in losses:
        total += loss.item()
    count += len(losses)
    losses.clear()
    return total, count


def save_training_state(path: Path, depends_on: dict, parts: dict, generators: dict[str, torch.Generator],
                        history: dict) -> None:
    """Everything ``--resume`` needs (weights, optimizer, schedule, EMA, RNG states, history) and what it depends
    on, written atomically."""
    state = {key: part.state_dict() for key, part in parts.items()}
    state.update(depends_on=depends_on, generators={k: g.get_state() for k, g in generators.items()},
                 history=history)
    atomic_torch_save(state, path)


def load_training_state(path: Path, depends_on: dict, parts: dict, generators: dict[str, torch.Generator]) -> dict:
    """Restore a state written by :func:`save_training_state` into ``parts`` and ``generators``; return its history.
    A damaged state, or one saved by a run that differs from this one, raises a CheckpointError saying what to do."""
    fix = f"delete {path} to start this stage over"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a damaged file
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        reason = "an empty file" if path.stat().st_size == 0 else f"corrupt or truncated? {first_line}"
        raise CheckpointError(f"{path} is not a readable training state ({reason}); {fix}.") from error
    if not isinstance(state, dict) or "depends_on" not in state:
        raise CheckpointError(f"{path} is not a training state of this version of fmd_utils; {fix}.")
    saved = state["depends_on"]
    for key in sorted(set(saved) | set(depends_on)):
        if saved.get(key) != depends_on.get(key):
            raise CheckpointError(
                f"{path} was saved by a different run ({key}: {_short(saved.get(key))} there, "
                f"{_short(depends_on.get(key))} now); resume with the same --profile, --seed and --epochs "
                f"(and the same autoencoder for the diffusion stage), or {fix}.")
    try:
        for key, part in parts.items():
            part.load_state_dict(state[key])
        for key, gen in generators.items():
            gen.set_state(state["generators"][key])
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path} does not fit this run's model ({error}); {fix}.") from error
    return state["history"]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 20 else text[:17] + "...'"


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; the fused kernel where torch has one (CPU, CUDA): on two cores it updates the denoiser's ~90 small
    tensors in 1.2 ms instead of 5.3 ms per step, a quarter of the step."""
    device = next(model.parameters()).device
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay,
                             fused=device.type in ("cpu", "cuda"))


# --------------------------------------------------------------------------------------------------- stages
def train_autoencoder(
    profile: Profile | str, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
    stop_after: int | None = None,
) -> Path | None:
    """Train the autoencoder with pixel MSE; write ``out/autoencoder.pt``. Returns None if stopped early."""
    profile = as_profile(profile)
    cfg, device, out = profile.autoencoder, resolve_device(device), check_writable_dir(out, "out")
    seed = check_seed(seed)
    x_train, _, x_val, _, checksum = training_split(profile)
    rank = _check_batch(cfg.batch_size)
    torch.manual_seed(seed + SEEDS.autoencoder_init)  # parameter initialisation; batches use explicit generators
    # channels_last: ~20 % faster convolutions on CPU (oneDNN's preferred layout)
    model = sync_batchnorm(Autoencoder(cfg.model).to(device, memory_format=torch.channels_last), rank)
    optimizer = _optimizer(model, cfg.lr, cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(seed + SEEDS.shuffle)

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = batch[0].to(device).contiguous(memory_format=torch.channels_last)
        return nn.functional.mse_loss(model(x), x)  # L = ‖D(E(x)) − x‖²

    def validate() -> dict[str, float]:
        errors = map_batches(lambda x: ((model(x) - x) ** 2).flatten(1).mean(1), x_val, device=device)
        mse = errors.mean().item()
        return {"val_mse": mse, "val_psnr": psnr(mse)}

    history = fit(
        "autoencoder", model, optimizer, cfg.epochs, len(x_train) // cfg.batch_size, step,
        lambda: batches((x_train,), cfg.batch_size, shuffle, rank.shard), validate, out / "autoencoder.state.pt",
        {"shuffle": shuffle}, resume, stop_after, depends_on={"profile": profile.name, "seed": seed},
        precision=MixedPrecision(profile.precision, device),
    )
    if not history["done"]:
        return None
    meta = _metadata(profile, seed, device, checksum, {"history": history,
                     "parameters": sum(p.numel() for p in model.parameters())})
    return _save_on_main(out / "autoencoder.pt", "autoencoder", cfg.model.to_dict(), model.state_dict(), meta)


def train_classifier(
    profile: Profile | str, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
    stop_after: int | None = None,
) -> Path | None:
    """Train the judge with cross-entropy and random horizontal flips; write ``out/classifier.pt``."""
    profile = as_profile(profile)
    cfg, device, out = profile.classifier, resolve_device(device), check_writable_dir(out, "out")
    seed = check_seed(seed)
    x_train, y_train, x_val, y_val, checksum = training_split(profile)
    rank = _check_batch(cfg.batch_size)
    torch.manual_seed(seed + SEEDS.classifier_init)
    model = sync_batchnorm(FashionClassifier(cfg.model).to(device, memory_format=torch.channels_last), rank)
    if rank.distributed:  # dropout draws from the global RNG: independent masks on each rank (DDP syncs the weights)
        torch.manual_seed(seed + SEEDS.classifier_init + 1 + rank.rank)
    optimizer = _optimizer(model, cfg.lr, cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(seed + SEEDS.shuffle)
    augment = torch.Generator().manual_seed(seed + SEEDS.classifier_augment)

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        flip = part(torch.rand(len(x) * rank.world, generator=augment), rank.shard) < cfg.flip_probability
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        return nn.functional.cross_entropy(model(x), y.to(device), label_smoothing=cfg.label_smoothing)

    def validate() -> dict[str, float]:
        logits = map_batches(model, x_val, device=device)
        return {"val_loss": nn.functional.cross_entropy(logits, y_val).item(),
                "val_accuracy": accuracy(logits.argmax(1), y_val)}

    history = fit(
        "classifier", model, optimizer, cfg.epochs, len(x_train) // cfg.batch_size, step,
        lambda: batches((x_train, y_train), cfg.batch_size, shuffle, rank.shard), validate,
        out / "classifier.state.pt",
        {"shuffle": shuffle, "augment": augment}, resume, stop_after,
        depends_on={"profile": profile.name, "seed": seed}, precision=MixedPrecision(profile.precision, device),
    )
    if not history["done"]:
        return None
    meta = _metadata(profile, seed, device, checksum, {"history": history,
                     "parameters": sum(p.numel() for p in model.parameters())})
    return _save_on_main(out / "classifier.pt", "classifier", cfg.model.to_dict(), model.state_dict(), meta)


def encode_all(autoencoder: Autoencoder, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Raw latents of a (N, 1, 28, 28) float image tensor, in eval mode, on the CPU."""
    autoencoder.eval()
    return map_batches(autoencoder.encode, images, batch_size, next(autoencoder.parameters()).device)


def train_diffusion(
    profile: Profile | str, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
    stop_after: int | None = None,
) -> Path | None:
    """Train the conditional denoiser on the latents of ``out/autoencoder.pt``, standardised per dimension with
    training-set statistics (the diffusion model's normaliser); keep an EMA of its weights (what sampling uses);
    write ``out/diffusion.pt`` (``out/diffusion-<architecture>.pt`` for a denoiser other than the UNet)."""
    profile = as_profile(profile)
    cfg = profile.diffusion

    def build(normalizer: LatentNormalizer) -> LatentDiffusion:
        torch.manual_seed(seed + SEEDS.diffusion_init)
        return LatentDiffusion(build_denoiser(cfg.denoiser, cfg.model), NoiseSchedule(cfg.schedule, cfg.num_steps),
                               cfg.prediction, normalizer, cfg.sampling)

    config = {"architecture": cfg.denoiser, "denoiser": cfg.model.to_dict(), "schedule": cfg.schedule,
              "num_steps": cfg.num_steps, "prediction": cfg.prediction, "sampling": cfg.sampling.to_dict()}
    return _train_on_latents("diffusion", cfg, build, config, seed + SEEDS.diffusion_noise, profile, out, seed,
                             device, resume, stop_after)


def train_flow(
    profile: Profile | str, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
    stop_after: int | None = None,
) -> Path | None:
    """Train the same denoiser architecture by flow matching (:mod:`fmd_utils.flow`) on the same standardised
    latents, with the same batch, optimiser, EMA and epochs as the diffusion model; write ``out/flow.pt`` (or
    ``out/flow-<architecture>.pt``)."""
    profile = as_profile(profile)
    cfg = profile.flow

    def build(normalizer: LatentNormalizer) -> LatentFlow:
        torch.manual_seed(seed + SEEDS.flow_init)
        return LatentFlow(build_denoiser(cfg.denoiser, cfg.model), normalizer, cfg.sampling)

    config = {"architecture": cfg.denoiser, "denoiser": cfg.model.to_dict(), "sampling": cfg.sampling.to_dict()}
    return _train_on_latents("flow", cfg, build, config, seed + SEEDS.flow_noise, profile, out, seed, device,
                             resume, stop_after)


def _train_on_latents(
    name: str, cfg, build: Callable[[LatentNormalizer], nn.Module], config: dict, noise_seed: int,
    profile: Profile, out: Path, seed: int, device: str, resume: bool, stop_after: int | None,
) -> Path | None:
    """The loop both latent models share: encode the training split with ``out/autoencoder.pt``, build the model
    around the fitted normaliser, train ``model.loss`` with label dropout and an EMA of the weights (what sampling
    uses), and write ``out/<name>.pt`` (:func:`~fmd_utils.checkpoint.checkpoint_file`) with the autoencoder's
    fingerprint."""
    device, out, seed = resolve_device(device), check_writable_dir(out, "out"), check_seed(seed)
    rank = _check_batch(cfg.batch_size)
    x_train, y_train, x_val, y_val, checksum = training_split(profile)
    autoencoder = load_model("autoencoder", out / "autoencoder.pt", device=device)
    autoencoder_sha256 = state_fingerprint(autoencoder.state_dict())
    z_train, z_val = encode_all(autoencoder, x_train), encode_all(autoencoder, x_val)

    model = build(LatentNormalizer.fit(z_train)).to(device)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
    optimizer = _optimizer(model, cfg.lr, cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(seed + SEEDS.shuffle)
    # on the CPU, whatever the device: the same draws (t, ε, dropped labels) on every device, and a resumable state
    # that any device can continue
    noise = torch.Generator().manual_seed(noise_seed)

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        z, y = batch
        return model.loss(z.to(device), y.to(device), noise, cfg.p_uncond, rank.shard)

    @torch.no_grad()
    def validate() -> dict[str, float]:
        z, y = z_val.to(device), y_val.to(device)
        return {key: m.loss(z, y, torch.Generator().manual_seed(SEEDS.validation)).item()
                for key, m in (("val_loss", ema.module), ("val_loss_raw", model))}

    history = fit(
        name, model, optimizer, cfg.epochs, len(z_train) // cfg.batch_size, step,
        lambda: batches((z_train, y_train), cfg.batch_size, shuffle, rank.shard), validate,
        out / state_file(name, cfg.denoiser),
        {"shuffle": shuffle, "noise": noise}, resume, stop_after, ema=ema,
        depends_on={"profile": profile.name, "seed": seed, "autoencoder_sha256": autoencoder_sha256,
                    "denoiser": cfg.denoiser},
        precision=MixedPrecision(profile.precision, device),
    )
    if not history["done"]:
        return None
    meta = _metadata(profile, seed, device, checksum, {
        "history": history,
        "parameters": sum(p.numel() for p in model.denoiser.parameters()),
        "autoencoder_created": autoencoder.metadata.get("created"),
        "autoencoder_sha256": autoencoder_sha256,
    })
    return _save_on_main(out / checkpoint_file(name, cfg.denoiser), name, config, ema.module.state_dict(), meta)


def _check_batch(global_batch: int) -> Rank:
    """This process's rank, after checking that the ranks can share ``global_batch`` equally."""
    rank = current()
    per_rank_batch(global_batch, rank)
    return rank


def _save_on_main(path: Path, kind: str, config: dict, state_dict: dict, metadata: dict) -> Path:
    """Rank 0 writes the checkpoint; every rank returns its path once it is on disk."""
    rank = current()
    if rank.main:
        save_checkpoint(path, kind, config, state_dict,
                        {**metadata, **({"processes": rank.world} if rank.distributed else {})})
    barrier()
    return Path(path)


def state_file(stage: str, architecture: str | None = None) -> str:
    """Where a stage keeps its resumable state: ``<checkpoint file>`` with ``.state.pt`` for ``.pt``."""
    return checkpoint_file(stage, architecture).removesuffix(".pt") + ".state.pt"


TRAINERS = {"autoencoder": train_autoencoder, "diffusion": train_diffusion, "flow": train_flow,
            "classifier": train_classifier}
