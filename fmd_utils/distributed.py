"""Several processes, one training run: what a rank is, and how a global batch is shared out (PyTorch's DDP).

``torchrun --standalone --nproc_per_node=N -m fmd_utils.train STAGE ...`` starts N processes (*ranks*) with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous address in their environment; :func:`start` joins them
into one process group (gloo on CPU, NCCL on CUDA). Without those variables nothing changes: one process, world
size 1, no process group.

The contract that makes N ranks train *the same model* as one process with the same global batch ``B``:

* each global batch (the same indices one process would draw, from the run's own shuffle generator) is cut into N
  equal parts and rank r takes part r (``fmd_utils.training.batches``), so the ranks see disjoint shards of every
  batch;
* randomness per sample (timesteps, noise, dropped labels, flips) is drawn for the whole global batch on every rank,
  which keeps its part (:func:`part`): every rank's generators advance exactly as the single process's do;
* DDP averages the ranks' gradients, and the mean of N equal parts' mean losses is the global batch's mean loss.

Only float rounding then differs (the gradient is summed in another order). Two exceptions, both outside the
diffusion and flow models (which have neither): BatchNorm becomes SyncBatchNorm on CUDA (statistics over the global
batch), but PyTorch has no SyncBatchNorm on CPU, so there each rank normalises with its own part's statistics (the
autoencoder and the judge); and the judge's dropout draws from each rank's global RNG, reseeded per rank so the
ranks' masks are independent, but not the masks one process would draw.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Rank:
    """This process's place in the run: ``rank`` of ``world`` processes (0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that validates, logs, and writes checkpoints and the resumable state."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def shard(self) -> tuple[int, int]:
        """(part, parts): which equal part of every global batch this rank takes."""
        return self.rank, self.world


def launched() -> bool:
    """Started by torchrun (or another launcher that sets ``WORLD_SIZE`` > 1)?"""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> Rank:
    """This process's :class:`Rank`: from the process group when one is running, else rank 0 of 1."""
    if dist.is_available() and dist.is_initialized():
        return Rank(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return Rank()


def start(device: torch.device) -> Rank:
    """Join the process group torchrun describes (gloo for CPU, NCCL for CUDA); one thread per rank on CPU unless
    ``OMP_NUM_THREADS`` says otherwise. Without torchrun: nothing, rank 0 of 1."""
    if not launched():
        return Rank()
    missing = [name for name in (*ENVIRONMENT, "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE > 1 but {', '.join(missing)} not set: start several processes with "
                           "torchrun --nproc_per_node=N -m fmd_utils.train ...")
    die_with_launcher()
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)  # this rank's GPU, for NCCL's barriers as for its tensors
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return current()


def die_with_launcher() -> None:
    """Have the kernel kill this rank when its launcher dies (Linux): torchrun does not, and a rank that outlived a
    killed launcher would go on training and writing next to the ``--resume`` run that replaces it. Called as early
    as possible (``fmd_utils.train`` does, before parsing its arguments), and again harmlessly by :func:`start`."""
    if not (launched() and sys.platform.startswith("linux")):
        return
    launcher = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != launcher:  # it died before the request took effect
        os._exit(1)


def stop(clean: bool = True) -> None:
    """Leave the process group, if one is running: after a barrier when this rank finished its work (``clean``), at
    once when it failed. A failed rank must not wait in a barrier the others never reach (they wait in another
    collective): it exits, and torchrun then stops the others."""
    if dist.is_available() and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (a no-op in one process): e.g. until rank 0 has written a file the others read."""
    if current().distributed:
        dist.barrier()


def per_rank_batch(global_batch: int, rank: Rank) -> int:
    """The batch each rank takes: ``global_batch / world``; a world size that does not divide it is an error,
    since unequal parts would change the loss's weighting (and the result)."""
    if global_batch % rank.world:
        raise ValueError(f"the global batch of {global_batch} cannot be shared equally by {rank.world} processes: "
                         f"use a --nproc_per_node that divides {global_batch}")
    return global_batch // rank.world


def part(values, shard: tuple[int, int] = (0, 1)):
    """Part ``i`` of ``n`` equal parts of ``values`` along its first dimension (a tensor or a list drawn for a whole
    global batch), for ``shard = (i, n)``; the whole of it for (0, 1)."""
    index, count = shard
    if count == 1:
        return values
    if len(values) % count:
        raise ValueError(f"{len(values)} items cannot be cut into {count} equal parts")
    size = len(values) // count
    return values[index * size:(index + 1) * size]


def _collective_device(rank: Rank) -> torch.device:
    """Where a tensor for a collective must live: this rank's GPU under NCCL, the CPU under gloo."""
    return torch.device("cuda", rank.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def same_on_every_rank(value: int, rank: Rank) -> bool:
    """Whether every rank holds the same integer (e.g. the epochs its resumable state has done)."""
    if not rank.distributed:
        return True
    low, high = (torch.tensor([value], dtype=torch.int64, device=_collective_device(rank)) for _ in range(2))
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return low.item() == high.item()


def mean_over_ranks(value: float, rank: Rank) -> float:
    """The mean of a number over the ranks (each rank's mean training loss → the global one)."""
    if not rank.distributed:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=_collective_device(rank))
    dist.all_reduce(total)
    return total.item() / rank.world
