"""The README's commands off Debian-as-root: `make setup` run by a non-root user on a machine without Debian's
data package, online (a local HTTP server on 127.0.0.1 stands in for the official site) and offline.

Run as root, the commands run as ``nobody``; run as a user, as that user. The copy of the project they work in, the
virtual environment and the home folder belong to that user. The virtual environment is the one `make` creates; it
sees the pinned packages of the environment running the tests through ``PYTHONPATH`` (so pip finds every pinned
requirement satisfied and downloads nothing: ``PIP_NO_INDEX``), which is the only departure from a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fmd_utils.download import FILES

from .conftest import closed_port_url, copy_clone, pinned_site_packages

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix" or not shutil.which("make"),
                                                   reason="needs a POSIX system with make")]


def as_user() -> dict:
    """subprocess arguments that run a command as a non-root user: nothing when we are one, else ``nobody``."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no user 'nobody' to run the set-up as")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def python_for_user(user: dict) -> str:
    """A Python 3.x (the tests' own x) the user can run: ours, or the system's when ours is in root's home."""
    want = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys._base_executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
        if not candidate:
            continue
        try:
            probe = subprocess.run([candidate, "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
                                   capture_output=True, text=True, **user)
        except PermissionError:  # e.g. a Python under /root
            continue
        if probe.returncode == 0 and probe.stdout.strip() == want:
            return candidate
    pytest.skip(f"no Python {want} that a non-root user may run (ours is {sys._base_executable})")


@pytest.fixture(scope="module")
def project():
    """A copy of the project owned by the user, with a bin/ folder whose `python3` is one the user can run."""
    user = as_user()
    python = python_for_user(user)
    work = Path(tempfile.mkdtemp(prefix="fmd-user-", dir="/tmp"))
    try:
        copy_clone(work / "project")
        (work / "bin").mkdir()
        (work / "bin" / "python3").symlink_to(python)
        if user:
            for folder, _, files in os.walk(work):
                for name in [folder, *(os.path.join(folder, f) for f in files)]:
                    os.lchown(name, user["user"], user["group"])
        yield work, user
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make(project, target: str, home: str, url: str) -> subprocess.CompletedProcess:
    """`make TARGET` in the project, as the user, with a home of its own and no Debian data package."""
    work, user = project
    pinned = os.pathsep.join(pinned_site_packages())
    environment = {
        "PATH": f"{work / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work / home), "LANG": "C.UTF-8",
        "PYTHONPATH": pinned, "PIP_NO_INDEX": "1", "PIP_NO_CACHE_DIR": "1",
        "FMD_SYSTEM_DATA_DIR": str(work / "no-debian-package"), "FMD_DATA_URL": url,
    }
    (work / home).mkdir(exist_ok=True)
    if user:
        os.chown(work / home, user["user"], user["group"])
    return subprocess.run(["make", "--no-print-directory", target], cwd=work / "project", env=environment,
                          capture_output=True, text=True, timeout=600, **user)


def test_make_setup_as_a_user_creates_the_environment_and_downloads_the_data(project, server):
    work, user = project
    run = make(project, "setup", "home", server.url + "good")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    cache = work / "home" / ".cache" / "fmd_utils" / "fashion-mnist"
    assert run.stdout.strip().splitlines()[-1] == f"Data: {cache}"
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES) and len(server.requests) == 4
    assert (work / "project" / ".venv" / ".installed").is_file() and "apt-get" not in run.stdout
    if user:
        assert all(p.stat().st_uid == user["user"] for p in [cache, *cache.iterdir()])
    again = make(project, "setup", "home", server.url + "good")  # set up already: seconds, nothing fetched again
    assert again.returncode == 0 and len(server.requests) == 4 and again.stdout.strip() == f"Data: {cache}"


@pytest.mark.parametrize("target", ["all", "test"])
def test_offline_and_without_data_make_stops_at_once_with_the_remedies(project, target):
    """The two README commands, by a user who has no data and no network: one clear instruction before any
    notebook or test runs (the environment is set up by the test above or here)."""
    run = make(project, target, f"home-offline-{target}", closed_port_url())
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Data: Fashion-MNIST not found." in out and "FMD_DATA_DIR" in out and "apt-get install" in out
    assert "Traceback" not in out and "pytest" not in out and "jupyter-book" not in out and "nbval" not in out
