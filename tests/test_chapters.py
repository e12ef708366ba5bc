"""The chapters for a pip user: where the shipped files are found (fmd_utils.shipped), `python -m fmd_utils.chapters
DIR`, and the set-up cell every edition begins with. The installed package itself: tests/test_wheel.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fmd_utils import shipped
from fmd_utils.checkpoint import default_checkpoint_dir, default_results_dir
from fmd_utils.exercises.editions import SETUP, SETUP_TAG, SOLUTION_TAG, edition, read_chapter

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


def test_a_clone_reads_its_own_folders_and_an_installed_package_its_copies(tmp_path, monkeypatch):
    assert shipped.shipped_dir("checkpoints") == ROOT / "checkpoints"
    assert shipped.shipped_dir("chapters") == ROOT / "notebooks" and shipped.chapter_sources() == CHAPTERS
    installed = tmp_path / "site-packages" / "fmd_utils"
    (installed / "_shipped" / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(shipped, "PACKAGE", installed)
    monkeypatch.delenv("FMD_CHECKPOINT_DIR", raising=False)
    assert default_checkpoint_dir() == installed / "_shipped" / "checkpoints"
    assert shipped.shipped_dir("results") == tmp_path / "site-packages" / "results"  # no copy: where a clone has it
    with pytest.raises(FileNotFoundError, match="no chapter sources.*reinstall"):
        shipped.chapter_sources()
    with pytest.raises(ValueError, match="name must be one of"):
        shipped.shipped_dir("models")
    monkeypatch.setenv("FMD_CHECKPOINT_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("FMD_RESULTS_DIR", str(tmp_path / "report"))
    assert default_checkpoint_dir() == tmp_path / "mine" and default_results_dir() == tmp_path / "report"


def cells(notebook) -> list[tuple]:
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in notebook.cells]


def chapters_command(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fmd_utils.chapters", *argv], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_the_chapters_command_writes_every_chapter_and_never_overwrites_unasked(tmp_path):
    run = chapters_command("course", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    written = sorted((tmp_path / "course").glob("*.ipynb"))
    assert [p.stem for p in written] == [p.stem for p in CHAPTERS]
    assert run.stdout.strip().endswith(f"{len(CHAPTERS)} chapters in course: open them with `jupyter lab course`")
    for path, source in zip(written, CHAPTERS, strict=True):  # the learner's edition (cell ids aside)
        assert cells(nbformat.read(path, as_version=4)) == cells(edition(read_chapter(source), "learner"))

    mine = written[0].read_text() + " "  # a learner's edits
    written[0].write_text(mine)
    refused = chapters_command("course", cwd=tmp_path)
    assert refused.returncode == 2 and "already holds 01_" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr and written[0].read_text() == mine
    forced = chapters_command("course", "--force", "--edition", "student", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    student = nbformat.read(written[0], as_version=4)
    assert not any(SOLUTION_TAG in c.metadata.get("tags", []) for c in student.cells)

    (tmp_path / "file").write_text("x")
    unwritable = chapters_command("file", cwd=tmp_path)
    assert unwritable.returncode == 2 and "DIR" in unwritable.stderr and "Traceback" not in unwritable.stderr


@pytest.mark.parametrize("which", ["learner", "student", "solution"])
def test_every_edition_begins_with_the_set_up_cell_once(which):
    notebook = edition(read_chapter(CHAPTERS[1]), which)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source == SETUP and code[0].metadata["tags"] == [SETUP_TAG, "remove-cell"]
    assert sum(SETUP_TAG in c.metadata.get("tags", []) for c in notebook.cells) == 1
    again = edition(notebook, which)  # an edition of an edition: the set-up cell is rebuilt, not doubled
    assert sum(SETUP_TAG in c.metadata.get("tags", []) for c in again.cells) == 1


def run_setup_cell(monkeypatch, tmp_path, installed: bool, env: str | None = None) -> list:
    """Run the set-up cell in ``tmp_path`` (the notebook's folder) as if fmd_utils were or were not installed;
    the pip commands it would run are recorded instead."""
    calls = []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (real(name, *a) if installed or name !=
                                                                      "fmd_utils" else None))
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: calls.append(argv))
    monkeypatch.chdir(tmp_path)
    if env is None:
        monkeypatch.delenv("FMD_PACKAGE", raising=False)
    else:
        monkeypatch.setenv("FMD_PACKAGE", env)
    exec(SETUP, {})
    return calls


def test_the_set_up_cell_does_nothing_where_the_package_is(monkeypatch, tmp_path):
    (tmp_path / "fmd_utils-0.3.0-py3-none-any.whl").write_text("")
    assert run_setup_cell(monkeypatch, tmp_path, installed=True) == []


def test_the_set_up_cell_installs_from_fmd_package_or_a_wheel_beside_the_notebook(monkeypatch, tmp_path):
    with pytest.raises(ModuleNotFoundError, match="upload the course's wheel.*FMD_PACKAGE"):
        run_setup_cell(monkeypatch, tmp_path, installed=False)
    for version in ("0.2.0", "0.3.0"):
        (tmp_path / f"fmd_utils-{version}-py3-none-any.whl").write_text("")
    calls = run_setup_cell(monkeypatch, tmp_path, installed=False)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", "fmd_utils-0.3.0-py3-none-any.whl"]]
    url = "git+https://example.org/course/fmd.git"
    assert run_setup_cell(monkeypatch, tmp_path, installed=False, env=url)[0][-1] == url
