"""Training for the three models, as functions and as a command line.

    python -m fmd_utils.train {autoencoder,classifier,diffusion,all} [--profile quick|full] [--seed K]
                              [--device cpu|cuda|mps|auto] [--out DIR] [--resume] [--epochs N] [--stop-after N]

Each stage writes ``DIR/<kind>.pt`` (weights + metadata, what ``load_pretrained`` reads) and, after every epoch,
``DIR/<kind>.state.pt`` (optimizer, schedule, RNG states and history) so ``--resume`` continues where an interrupted
run stopped, producing the same weights as an uninterrupted run. The diffusion stage needs ``DIR/autoencoder.pt``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset
from tqdm.auto import tqdm

from . import __version__
from .autoencoder import Autoencoder
from .checkpoint import CheckpointError, atomic_torch_save, load_checkpoint, save_checkpoint, state_fingerprint
from .classifier import FashionClassifier
from .config import Profile, get_profile
from .data import dataset_fingerprint, load_fashion_mnist, to_float
from .denoiser import ConditionalLatentUNet
from .device import resolve_device
from .diffusion import LatentDiffusion
from .metrics import psnr
from .normalizer import LatentNormalizer
from .progress import progress
from .schedule import NoiseSchedule

STAGES = ("autoencoder", "diffusion", "classifier")


# --------------------------------------------------------------------------------------------------- data splits
def training_split(profile: Profile) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """(train images, train labels, validation images, validation labels, data checksum) for a profile.

    Validation images are the last ``val_size`` of the (possibly subset) training split; the test set stays untouched
    for :mod:`fmd_utils.evaluate`.
    """
    data = load_fashion_mnist("train")
    images, labels = data.images, data.labels
    if profile.train_subset:
        images, labels = images[: profile.train_subset], labels[: profile.train_subset]
    n_val = profile.val_size
    x = to_float(images)
    return x[:-n_val], labels[:-n_val], x[-n_val:], labels[-n_val:], dataset_fingerprint(data)


def batches(tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator) -> DataLoader:
    """Shuffled mini-batches drawn with ``generator``; whole batches are sliced at once (no per-item collation)."""
    dataset = TensorDataset(*tensors)
    sampler = BatchSampler(RandomSampler(dataset, generator=generator), batch_size, drop_last=True)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


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
) -> dict:
    """Run ``epochs`` epochs of ``train_step`` over ``make_batches()`` with a one-cycle learning rate, validating
    and saving a resumable state after each epoch. Returns the history ``{"epochs": [...], "done": bool}``."""
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=epochs * steps_per_epoch,
        pct_start=0.15,
    )
    history: dict = {"epochs": [], "done": False, "train_seconds": 0.0, "planned_epochs": epochs}
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state["history"]["planned_epochs"] != epochs:
            raise CheckpointError(
                f"{state_path} was saved by a run planned for {state['history']['planned_epochs']} epochs, "
                f"not {epochs}: resume with the same profile and --epochs, or delete the file to start over."
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        for key, gen in generators.items():
            gen.set_state(state["generators"][key])
        history = state["history"]
        tqdm.write(f"[{name}] resuming after epoch {len(history['epochs'])}/{epochs} from {state_path}")
    epochs_this_run = 0
    while len(history["epochs"]) < epochs:
        epoch = len(history["epochs"]) + 1
        if stop_after is not None and epochs_this_run >= stop_after:
            tqdm.write(f"[{name}] stopping after {stop_after} epoch(s) as asked; continue with --resume")
            return history
        model.train()
        start, total, count = time.perf_counter(), 0.0, 0
        bar = progress(make_batches(), total=steps_per_epoch, desc=f"{name} {epoch}/{epochs}", leave=False)
        for batch in bar:
            loss = train_step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            total, count = total + loss.item(), count + 1
            bar.set_postfix(loss=f"{total / count:.4f}")
        bar.close()
        history["train_seconds"] += time.perf_counter() - start
        model.eval()
        record = {"epoch": epoch, "train_loss": total / count, **validate()}
        history["epochs"].append(record)
        epochs_this_run += 1
        shown = ", ".join(f"{k} {v:.5g}" for k, v in record.items() if k != "epoch")
        tqdm.write(f"[{name}] epoch {epoch}/{epochs}: {shown} ({history['train_seconds']:.0f} s so far)")
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generators": {k: g.get_state() for k, g in generators.items()},
            "history": history,
        }
        if ema is not None:
            state["ema"] = ema.state_dict()
        atomic_torch_save(state, state_path)
    history["done"] = True
    return history


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; the fused kernel where torch has one (CPU, CUDA): on two cores it updates the denoiser's ~90 small
    tensors in 1.2 ms instead of 5.3 ms per step, a quarter of the step."""
    device = next(model.parameters()).device
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay,
                             fused=device.type in ("cpu", "cuda"))


# --------------------------------------------------------------------------------------------------- stages
def train_autoencoder(
    profile: Profile, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
    stop_after: int | None = None,
) -> Path | None:
    """Train the autoencoder with pixel MSE; write ``out/autoencoder.pt``. Returns None if stopped early."""
    cfg, device = profile.autoencoder, resolve_device(device)
    x_train, _, x_val, _, checksum = training_split(profile)
    torch.manual_seed(seed)  # parameter initialisation only; batches and noise use explicit generators below
    # channels_last: ~20 % faster convolutions on CPU (oneDNN's preferred layout)
    model = Autoencoder(cfg.model).to(device, memory_format=torch.channels_last)
    optimizer = _optimizer(model, cfg.lr, cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(seed)

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = batch[0].to(device).contiguous(memory_format=torch.channels_last)
        return nn.functional.mse_loss(model(x), x)  # L = ‖D(E(x)) − x‖²

    @torch.no_grad()
    def validate() -> dict[str, float]:
        mse = torch.cat([((model(x_val[i:i + 1000].to(device)) - x_val[i:i + 1000].to(device)) ** 2)
                         .flatten(1).mean(1).cpu() for i in range(0, len(x_val), 1000)]).mean().item()
        return {"val_mse": mse, "val_psnr": psnr(mse)}

    history = fit(
        "autoencoder", model, optimizer, cfg.epochs, len(x_train) // cfg.batch_size, step,
        lambda: batches((x_train,), cfg.batch_size, shuffle), validate, out / "autoencoder.state.pt",
        {"shuffle": shuffle}, resume, stop_after,
    )
    if not history["done"]:
        return None
    meta = _metadata(profile, seed, device, checksum, {"history": history,
                     "parameters": sum(p.numel() for p in model.parameters())})
    return save_checkpoint(out / "autoencoder.pt", "autoencoder", cfg.model.to_dict(), model.state_dict(), meta)


def train_classifier(
    profile: Profile, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
    stop_after: int | None = None,
) -> Path | None:
    """Train the judge with cross-entropy and random horizontal flips; write ``out/classifier.pt``."""
    cfg, device = profile.classifier, resolve_device(device)
    x_train, y_train, x_val, y_val, checksum = training_split(profile)
    torch.manual_seed(seed + 1)
    model = FashionClassifier(cfg.model).to(device, memory_format=torch.channels_last)
    optimizer = _optimizer(model, cfg.lr, cfg.weight_decay)
    shuffle, augment = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        flip = torch.rand(len(x), generator=augment) < 0.5  # mirror half the garments: a left shoe is still a shoe
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        return nn.functional.cross_entropy(model(x), y.to(device), label_smoothing=0.05)

    @torch.no_grad()
    def validate() -> dict[str, float]:
        logits = torch.cat([model(x_val[i:i + 1000].to(device)).cpu() for i in range(0, len(x_val), 1000)])
        return {"val_loss": nn.functional.cross_entropy(logits, y_val).item(),
                "val_accuracy": (logits.argmax(1) == y_val).float().mean().item()}

    history = fit(
        "classifier", model, optimizer, cfg.epochs, len(x_train) // cfg.batch_size, step,
        lambda: batches((x_train, y_train), cfg.batch_size, shuffle), validate, out / "classifier.state.pt",
        {"shuffle": shuffle, "augment": augment}, resume, stop_after,
    )
    if not history["done"]:
        return None
    meta = _metadata(profile, seed, device, checksum, {"history": history,
                     "parameters": sum(p.numel() for p in model.parameters())})
    return save_checkpoint(out / "classifier.pt", "classifier", cfg.model.to_dict(), model.state_dict(), meta)


@torch.no_grad()
def encode_all(autoencoder: Autoencoder, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Latents of a (N, 1, 28, 28) float image tensor, in eval mode, on the autoencoder's device."""
    autoencoder.eval()
    device = next(autoencoder.parameters()).device
    return torch.cat([autoencoder.encode(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


def train_diffusion(
    profile: Profile, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
    stop_after: int | None = None,
) -> Path | None:
    """Train the conditional denoiser on standardised latents of ``out/autoencoder.pt``; keep an EMA of its
    weights (what sampling uses); write ``out/diffusion.pt`` with the latent statistics."""
    from .pipeline import load_autoencoder

    cfg, device = profile.diffusion, resolve_device(device)
    x_train, y_train, x_val, y_val, checksum = training_split(profile)
    autoencoder = load_autoencoder(out / "autoencoder.pt", device=device)
    z_train, z_val = encode_all(autoencoder, x_train), encode_all(autoencoder, x_val)
    normalizer = LatentNormalizer.fit(z_train)
    z_train, z_val = normalizer.normalize(z_train), normalizer.normalize(z_val)

    torch.manual_seed(seed + 2)
    diffusion = LatentDiffusion(ConditionalLatentUNet(cfg.model), NoiseSchedule(cfg.schedule, cfg.num_steps),
                                cfg.prediction).to(device)
    ema = AveragedModel(diffusion, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
    optimizer = _optimizer(diffusion, cfg.lr, cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed + 3)

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        z, y = batch
        return diffusion.loss(z.to(device), y.to(device), noise, cfg.p_uncond)

    @torch.no_grad()
    def validate() -> dict[str, float]:
        # the same t and ε every epoch (fixed generator), so the curve reflects the model, not the draw
        val_gen = torch.Generator(device=device).manual_seed(1234)
        z, y = z_val.to(device), y_val.to(device)
        return {"val_loss": ema.module.loss(z, y, val_gen, 0.0).item(),
                "val_loss_raw": diffusion.loss(z, y, torch.Generator(device=device).manual_seed(1234), 0.0).item()}

    history = fit(
        "diffusion", diffusion, optimizer, cfg.epochs, len(z_train) // cfg.batch_size, step,
        lambda: batches((z_train, y_train), cfg.batch_size, shuffle), validate, out / "diffusion.state.pt",
        {"shuffle": shuffle, "noise": noise}, resume, stop_after, ema=ema,
    )
    if not history["done"]:
        return None
    auto_meta = load_checkpoint(out / "autoencoder.pt", "autoencoder")["metadata"]
    meta = _metadata(profile, seed, device, checksum, {
        "history": history,
        "parameters": sum(p.numel() for p in diffusion.denoiser.parameters()),
        "autoencoder_created": auto_meta.get("created"),
        "autoencoder_sha256": state_fingerprint(autoencoder.state_dict()),
    })
    config = {"denoiser": cfg.model.to_dict(), "schedule": cfg.schedule, "num_steps": cfg.num_steps,
              "prediction": cfg.prediction}
    extra = {"latent_mean": normalizer.mean, "latent_std": normalizer.std}
    return save_checkpoint(out / "diffusion.pt", "diffusion", config, ema.module.denoiser.state_dict(), meta, extra)


TRAINERS = {"autoencoder": train_autoencoder, "diffusion": train_diffusion, "classifier": train_classifier}


# --------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fmd_utils.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=[*STAGES, "all"], help="what to train ('all': autoencoder, diffusion, "
                        "classifier in that order)")
    parser.add_argument("--profile", default="full", choices=["quick", "full"],
                        help="'full' = the shipped models; 'quick' = tiny models on 2048 images, for tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--out", type=Path, default=Path("checkpoints"),
                        help="checkpoint folder (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/<stage>.state.pt if present")
    parser.add_argument("--epochs", type=int, help="override the profile's epoch count for the chosen stage(s)")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="stop after N epochs of this run, keeping the state for --resume")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    profile = get_profile(args.profile)
    stages = STAGES if args.stage == "all" else (args.stage,)
    if args.epochs is not None:
        if args.epochs < 1:
            raise SystemExit("--epochs must be >= 1")
        for stage in stages:
            profile = replace(profile, **{stage: replace(getattr(profile, stage), epochs=args.epochs)})
    timings = {}
    for stage in stages:
        start = time.perf_counter()
        path = TRAINERS[stage](profile, args.out, args.seed, args.device, args.resume, args.stop_after)
        timings[stage] = time.perf_counter() - start
        if path is None:
            print(f"{stage}: stopped early; state kept in {args.out}/{stage}.state.pt")
            return 0
        print(f"{stage}: wrote {path} in {timings[stage]:.0f} s")
    if len(stages) > 1:
        print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
              + f"; total {sum(timings.values()):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

