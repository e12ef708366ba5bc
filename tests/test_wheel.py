"""The package as a pip user gets it: a wheel built from the clone's files, installed into a fresh virtual environment
outside the repository, used from another folder. The wheel must carry the models, their benchmark and the chapters;
the installed package must generate the same images as the clone, write the chapters, and run one under nbval.

The fresh environment sees the pinned packages of the one running the tests through a ``.pth`` file (no download; the
wheel goes in with ``--no-deps``), never the clone's own ``fmd_utils``: the editable install's hook is a ``.pth`` file
of that environment, which a ``.pth``-added folder does not run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from fmd_utils import load_pretrained
from fmd_utils.data import find_data_dir
from fmd_utils.exercises.editions import SETUP, SETUP_TAG

from .conftest import ROOT, clone_files, copy_clone, pinned_site_packages, requires_data

pytestmark = pytest.mark.slow

PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
CLASSES, SEED = ["Sneaker", "Bag", "Dress"], 11


def python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def in_venv(venv: Path, *argv: str, cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run the fresh environment's Python from ``cwd``, with the test process's environment minus anything that
    points back into this one."""
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    environment.update(PIP_NO_INDEX="1", PIP_NO_DEPS="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **env)
    return subprocess.run([str(python_of(venv)), *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=environment)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` of a copy of the clone's files (building in the clone would leave build/ and *.egg-info)."""
    work = tmp_path_factory.mktemp("wheel")
    copy_clone(work / "src")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            str(work / "src"), "-w", str(work / "dist")], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (built,) = (work / "dist").glob("fmd_utils-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment outside the repository, seeing the pinned packages but not the clone."""
    folder = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(folder)], check=True, timeout=300)
    site = Path(subprocess.run([str(python_of(folder)), "-c", PURELIB], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "_pinned_environment.pth").write_text("\n".join(pinned_site_packages()) + "\n")
    return folder


def test_the_wheel_carries_every_module_the_models_their_benchmark_and_the_chapters(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "fmd_utils").rglob("*.py")}
    assert modules - names == set(), "modules missing from the wheel: list their package in pyproject.toml"
    tracked = set(clone_files())
    shipped = {f"fmd_utils/_shipped/checkpoints/{p.name}" for p in (ROOT / "checkpoints").glob("*.pt")
               if f"checkpoints/{p.name}" in tracked}
    reports = {f"fmd_utils/_shipped/{p.relative_to(ROOT)}" for p in (ROOT / "results").rglob("metrics.*")}
    chapters = {f"fmd_utils/_shipped/chapters/{p.name}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.md")}
    assert {"fmd_utils/_shipped/checkpoints/autoencoder.pt", "fmd_utils/_shipped/checkpoints/diffusion.pt",
            "fmd_utils/_shipped/checkpoints/flow.pt", "fmd_utils/_shipped/checkpoints/classifier.pt"} <= shipped
    assert len(chapters) >= 7 and "fmd_utils/_shipped/results/metrics.json" in reports
    assert (shipped | reports | chapters) - names == set()
    assert not any(name.endswith(".state.pt") for name in names), "a training run's resumable state is not shipped"
    for name in shipped:  # the very bytes of the clone's files
        assert zipfile.ZipFile(wheel).read(name) == (ROOT / "checkpoints" / Path(name).name).read_bytes()


@requires_data
def test_installed_from_the_wheel_it_generates_writes_the_chapters_and_runs_one(wheel, venv, tmp_path):
    """Installed through the chapters' own set-up cell, as on a hosted notebook (FMD_PACKAGE = the wheel); then, from
    another folder: the same images as the clone for the same seed, the chapters written, chapter 2 under nbval."""
    home = tmp_path / "learner"
    home.mkdir()
    setup = in_venv(venv, "-c", SETUP, cwd=home, FMD_PACKAGE=str(wheel))
    assert setup.returncode == 0, setup.stderr[-3000:]
    again = in_venv(venv, "-c", SETUP, cwd=home, FMD_PACKAGE=str(tmp_path / "nowhere.whl"))
    assert again.returncode == 0, "with the package present the set-up cell must do nothing"

    script = f"""
import fmd_utils, torch
from fmd_utils import load_pretrained
from fmd_utils.checkpoint import default_checkpoint_dir, default_results_dir, load_report
pipe = load_pretrained()
torch.save(pipe.generate({CLASSES!r}, seed={SEED}), "images.pt")
print(fmd_utils.__file__, default_checkpoint_dir(), default_results_dir(), len(load_report()["generated"]), sep="\\n")
"""
    run = in_venv(venv, "-c", script, cwd=home)
    assert run.returncode == 0, run.stderr[-3000:]
    package, checkpoints, results, rows = run.stdout.split()
    site = str(venv.resolve())
    assert package.startswith(site) and checkpoints.startswith(site) and results.startswith(site), run.stdout
    assert int(rows) > 0
    expected = load_pretrained().generate(CLASSES, seed=SEED)
    assert torch.equal(torch.load(home / "images.pt"), expected), "the installed models differ from the clone's"

    written = in_venv(venv, "-m", "fmd_utils.chapters", "chapters", cwd=home)
    assert written.returncode == 0, written.stderr
    notebooks = sorted((home / "chapters").glob("*.ipynb"))
    assert [p.stem for p in notebooks] == [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))]
    import nbformat

    first_code = next(c for c in nbformat.read(notebooks[1], as_version=4).cells if c.cell_type == "code")
    assert SETUP_TAG in first_code.metadata["tags"]

    jupyter = {"JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "JUPYTER_PATH": "", "JUPYTER_CONFIG_DIR":
               str(tmp_path / "jupyter-config"), "FMD_DATA_DIR": str(find_data_dir(download=False)),
               "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
    kernel = in_venv(venv, "-c", "from jupyter_client.kernelspec import KernelSpecManager as K; "
                     "print(K().get_kernel_spec('python3').argv[0])", cwd=home, **jupyter)
    assert kernel.stdout.strip() == str(python_of(venv)), "the notebook must run in the fresh environment's kernel"
    nbval = in_venv(venv, "-m", "pytest", "--nbval-lax", "--nbval-cell-timeout=600", "-p", "no:cacheprovider", "-q",
                    str(notebooks[1].relative_to(home)), cwd=home, timeout=900, **jupyter)
    assert nbval.returncode == 0, nbval.stdout[-4000:]
    assert " passed" in nbval.stdout and "failed" not in nbval.stdout
