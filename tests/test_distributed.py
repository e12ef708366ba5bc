"""The same training on several processes (torchrun, DDP, gloo on 127.0.0.1), checked against one process.

On the quick profile's diffusion stage (no BatchNorm, so nothing differs by design): with the same seed, global batch
and data order, one epoch on 2 ranks gives one process's weights to float rounding; when the launcher of a 2-rank run
is killed with SIGKILL its ranks die with it, and the run restarted with ``--resume`` ends with exactly the weights of
an uninterrupted 2-rank run. Also: the shard arithmetic, and the refusals that come before
any process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from fmd_utils.distributed import Rank, part, per_rank_batch
from fmd_utils.training import BatchParts, batches, train_autoencoder

from .conftest import requires_data

STAGE = ["diffusion", "--profile", "quick", "--seed", "3"]


def test_a_global_batch_is_cut_into_equal_parts_in_the_single_process_order():
    generator = lambda: torch.Generator().manual_seed(5)  # noqa: E731 - the same draws twice
    data = (torch.arange(40),)
    whole = [b[0].tolist() for b in batches(data, 8, generator())]
    halves = [[b[0].tolist() for b in batches(data, 8, generator(), (r, 2))] for r in (0, 1)]
    assert len(whole) == 5 and all(a + b == w for a, b, w in zip(*halves, whole, strict=True))
    assert part(list(range(6)), (2, 3)) == [4, 5] and part(torch.arange(4), (0, 1)).tolist() == [0, 1, 2, 3]
    assert len(BatchParts(torch.utils.data.BatchSampler(range(10), 4, drop_last=True), (1, 2))) == 2
    assert per_rank_batch(256, Rank(0, 4)) == 64
    with pytest.raises(ValueError, match="cannot be shared equally by 3 processes.*divides 256"):
        per_rank_batch(256, Rank(0, 3))


def test_the_loss_draws_for_the_global_batch_and_keeps_its_part():
    """Two halves of a batch, each drawing for the whole batch, give the whole batch's loss as their mean."""
    from fmd_utils.config import get_profile
    from fmd_utils.denoisers import build_denoiser
    from fmd_utils.diffusion import LatentDiffusion
    from fmd_utils.normalizer import LatentNormalizer
    from fmd_utils.schedule import NoiseSchedule

    cfg = get_profile("quick").diffusion
    torch.manual_seed(0)
    z, y = torch.randn(8, 64), torch.arange(8) % 10
    model = LatentDiffusion(build_denoiser(cfg.denoiser, cfg.model), NoiseSchedule(cfg.schedule, 1000),
                            cfg.prediction, LatentNormalizer.fit(torch.randn(100, 64)), cfg.sampling)
    whole = model.loss(z, y, torch.Generator().manual_seed(1), 0.5)
    halves = [model.loss(z[4 * r:4 * r + 4], y[4 * r:4 * r + 4], torch.Generator().manual_seed(1), 0.5, (r, 2))
              for r in (0, 1)]
    torch.testing.assert_close((halves[0] + halves[1]) / 2, whole)


def spawnable() -> str | None:
    if not dist.is_available() or not dist.is_gloo_available():
        return "this torch has no gloo backend"
    if sys.platform == "win32":
        return "torchrun's gloo rendezvous on Windows is not what this test covers"
    return None


needs_ranks = pytest.mark.skipif(spawnable() is not None, reason=spawnable() or "")


def train(out: Path, *args: str, ranks: int = 1, background: bool = False):
    """``python -m fmd_utils.train`` (one process) or under ``torchrun --standalone`` (``ranks`` processes)."""
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
                if ranks > 1 else [sys.executable])
    command = [*launcher, "-m", "fmd_utils.train", *STAGE, "--out", str(out), *args]
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1" if ranks > 1 else os.environ.get(
        "OMP_NUM_THREADS", ""), **({"GLOO_SOCKET_IFNAME": "lo"} if sys.platform.startswith("linux") else {})}
    env = {k: v for k, v in env.items() if v != ""}
    if background:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "diffusion.pt", map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("autoencoder")
    return train_autoencoder("quick", folder, seed=3)


def folder_with(autoencoder: Path, path: Path) -> Path:
    path.mkdir()
    shutil.copy(autoencoder, path / "autoencoder.pt")
    return path


@requires_data
@needs_ranks
@pytest.mark.slow
def test_two_ranks_train_the_weights_of_one_process(autoencoder, tmp_path):
    one, two = folder_with(autoencoder, tmp_path / "one"), folder_with(autoencoder, tmp_path / "two")
    train(one, "--epochs", "1")
    run = train(two, "--epochs", "1", ranks=2)
    assert "(2 processes)" in run.stdout and run.stdout.count("diffusion: wrote") == 1  # rank 0 alone speaks
    a, b = weights(one), weights(two)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=key)
    meta = torch.load(two / "diffusion.pt", weights_only=True)["metadata"]
    assert meta["processes"] == 2 and "processes" not in torch.load(one / "diffusion.pt",
                                                                    weights_only=True)["metadata"]
    loss_one = torch.load(one / "diffusion.pt", weights_only=True)["metadata"]["history"]["epochs"][0]["train_loss"]
    assert meta["history"]["epochs"][0]["train_loss"] == pytest.approx(loss_one, rel=1e-4)


@requires_data
@needs_ranks
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ranks die with their launcher on Linux only")
def test_kill_9_then_resume_gives_the_uninterrupted_two_rank_weights(autoencoder, tmp_path):
    whole, broken = folder_with(autoencoder, tmp_path / "whole"), folder_with(autoencoder, tmp_path / "broken")
    train(whole, "--epochs", "4", ranks=2)
    job = train(broken, "--epochs", "4", ranks=2, background=True)
    state = broken / "diffusion.state.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:  # killed once the first epoch's state is on disk
        if state.is_file() and len(torch.load(state, weights_only=True)["history"]["epochs"]) >= 1:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the run ended before it could be killed:\n" + job.stdout.read()[-2000:]
    ranks = children(job.pid)
    assert len(ranks) == 2, f"expected the launcher's 2 ranks, found {ranks}"
    os.kill(job.pid, signal.SIGKILL)  # kill -9 of the launcher alone
    job.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in ranks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in ranks), "a rank outlived its killed launcher"
    assert not (broken / "diffusion.pt").exists(), "killed before the end, the stage cannot have written its model"
    done = len(torch.load(state, weights_only=True)["history"]["epochs"])
    assert 1 <= done < 4
    run = train(broken, "--epochs", "4", "--resume", ranks=2)
    assert f"resuming after epoch {done}/4" in run.stdout + run.stderr
    a, b = weights(whole), weights(broken)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_world_size_that_does_not_divide_the_batch_or_one_gpu_for_all_is_refused_before_any_process_group(
        tmp_path):
    env = {**os.environ, "WORLD_SIZE": "3", "RANK": "0", "LOCAL_RANK": "0"}
    run = subprocess.run([sys.executable, "-m", "fmd_utils.train", *STAGE, "--out", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "cannot be shared equally by 3 processes" in run.stderr
    assert "Traceback" not in run.stderr
    env["WORLD_SIZE"] = "2"
    gpu = subprocess.run([sys.executable, "-m", "fmd_utils.train", *STAGE, "--out", str(tmp_path), "--device",
                          "cuda:0"], env=env, capture_output=True, text=True, timeout=120)
    assert gpu.returncode == 2 and "would put every process on one GPU" in gpu.stderr
