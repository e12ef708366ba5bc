"""One chapter source, three editions of it.

A chapter's MyST file holds each exercise's solution inside a marked region of a code cell (nbgrader's markers)::

    def my_q_sample(x0, t, noise, alpha_bar):
        \"\"\"z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε\"\"\"
        ### BEGIN SOLUTION
        a = alpha_bar[t][:, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise
        ### END SOLUTION


    q_sample = check("q_sample", my_q_sample)

The region is a function's body; the cell also calls :func:`fmd_utils.exercises.check`, which names the exercise.
From that source:

* the **solution** edition keeps the solution and drops the markers (the code a teacher reads);
* the **learner** edition (JupyterLab, the book) shows the *stub* — the region replaced by a ``NotImplementedError``
  that the check reports as "not attempted" — and below it the solution, folded, run as a cell of its own (so the
  chapter's tests run every solution, and the book shows its outputs);
* the **student** edition (``make student``) has the stubs and no solutions: a handout, gradable by
  ``python -m fmd_utils.exercises grade``.

Nothing is written twice: the stub's signature and docstring are the solution's.

Every edition begins with the same **set-up cell** (:data:`SETUP`, before the first code cell): in a clone or after
``pip install`` it finds the package and does nothing; in a kernel without it (a hosted notebook) it installs the
course's wheel or git URL. The book hides it (tag ``remove-cell``).
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path

from ..shipped import chapter_sources

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EDITIONS = ("learner", "student", "solution")
STUB = 'raise NotImplementedError("Student exercise: not written yet")  # your code here'
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\w+)["']""")
SOLUTION_TAG, EXERCISE_TAG, SETUP_TAG = "solution", "exercise", "setup"
SETUP = """\
# Set-up. This chapter runs on the course's package, fmd_utils. In a clone of the course or after `pip install` the
# package is there and this cell does nothing. In a kernel without it (a hosted notebook) it installs the course from
# FMD_PACKAGE (a wheel file or a git URL), or from a wheel uploaded next to this notebook.
import importlib.util

if importlib.util.find_spec("fmd_utils") is None:
    import glob
    import os
    import subprocess
    import sys

    package = os.environ.get("FMD_PACKAGE") or max(glob.glob("fmd_utils-*.whl"), default="")
    if not package:
        raise ModuleNotFoundError("fmd_utils is not installed in this kernel: upload the course's wheel "
                                  "(fmd_utils-*.whl) next to this notebook, or set FMD_PACKAGE to it or to the "
                                  "course's git URL, then run this cell again")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", package], check=True)
    importlib.invalidate_caches()
    import fmd_utils  # noqa: F401  (fails here, not in a later cell, if the install did not take)"""


class MarkerError(ValueError):
    """A chapter's solution markers are malformed (unpaired, nested, outside a function, no check)."""


@dataclass(frozen=True)
class Exercise:
    """One marked cell: the exercise's name and the cell's two versions."""

    name: str
    stub: str
    solution: str


def split(source: str, where: str = "cell") -> Exercise | None:
    """Split a code cell's ``source`` into its stub and its solution; ``None`` when it has no marked region."""
    lines = source.split("\n")
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if not begins and not ends:
        return None
    if len(begins) != len(ends) or any(not b < e for b, e in zip(begins, ends, strict=True)) or any(
            e > b for e, b in zip(ends, begins[1:], strict=False)):
        raise MarkerError(f"{where}: every '{BEGIN}' needs its own '{END}' below it (found {len(begins)} and "
                          f"{len(ends)}, or out of order)")
    stub, solution, inside = [], [], False
    for i, line in enumerate(lines):
        if i in begins:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if not indent:
                raise MarkerError(f"{where}: the solution region must be a function's body (indent '{BEGIN}')")
            stub.append(indent + STUB)
        elif i in ends:
            inside = False
        else:
            solution.append(line)
            if not inside:
                stub.append(line)
    names = CHECK_CALL.findall(source)
    if len(set(names)) != 1:
        raise MarkerError(f"{where}: a cell with a solution region must call check(\"<exercise>\", ...) for exactly "
                          f"one exercise, found {sorted(set(names)) or 'none'}")
    for version, text in (("stub", "\n".join(stub)), ("solution", "\n".join(solution))):
        try:
            ast.parse(text)
        except SyntaxError as error:
            raise MarkerError(f"{where}: the {version} is not valid Python ({error.msg}, "
                              f"line {error.lineno})") from None
    return Exercise(names[0], "\n".join(stub), "\n".join(solution))


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def edition(notebook, which: str, where: str = "notebook"):
    """The ``which`` edition (one of :data:`EDITIONS`) of a chapter ``notebook`` (an nbformat notebook read from its
    MyST source); the input is not modified."""
    if which not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {which!r}")
    import nbformat

    out = copy.deepcopy(notebook)
    cells = []
    for index, cell in enumerate(out.cells):
        if {SOLUTION_TAG, SETUP_TAG} & set(_tags(cell)):  # an edition already: these cells are dropped and rebuilt
            continue
        if cell.cell_type == "code" and not any(c.cell_type == "code" for c in cells):
            cells.append(nbformat.v4.new_code_cell(SETUP, metadata={"tags": [SETUP_TAG, "remove-cell"]}))
        exercise = split(cell.source, f"{where}, cell {index}") if cell.cell_type == "code" else None
        if exercise is None:
            cells.append(cell)
            continue
        cell.metadata["tags"] = [*dict.fromkeys([*_tags(cell), EXERCISE_TAG])]
        cell.metadata["exercise"] = exercise.name
        cell.source = exercise.solution if which == "solution" else exercise.stub
        cells.append(cell)
        if which == "learner":
            cells.append(nbformat.v4.new_markdown_cell(
                f"*Solution* of `{exercise.name}`, folded: unfold it to compare with yours (running it replaces "
                "your function with it).",
                metadata={"tags": [SOLUTION_TAG]}))
            cells.append(nbformat.v4.new_code_cell(
                exercise.solution,
                metadata={"tags": [SOLUTION_TAG, "hide-input"], "exercise": exercise.name,
                          "jupyter": {"source_hidden": True}}))
    out.cells = cells
    out.metadata.pop("jupytext", None)
    return out


def exercises_of(notebook) -> list[str]:
    """The names of the exercises a notebook (any edition) asks the learner to write, in order."""
    return [cell.metadata["exercise"] for cell in notebook.cells
            if cell.cell_type == "code" and EXERCISE_TAG in _tags(cell) and "exercise" in cell.metadata]


def read_chapter(path: Path):
    """A chapter as an nbformat notebook: its MyST source through jupytext, or an ``.ipynb`` as it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"chapter {path} not found")
    if path.suffix == ".ipynb":
        import nbformat

        return nbformat.read(path, as_version=4)
    import jupytext

    return jupytext.read(path)


def write_edition(source: Path, out: Path, which: str) -> Path:
    """Write the ``which`` edition of the chapter at ``source`` to ``out`` (an ``.ipynb``), atomically."""
    import nbformat

    notebook = edition(read_chapter(source), which, where=str(source))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    nbformat.write(notebook, partial)
    partial.replace(out)
    return out


def write_chapters(folder: Path, which: str, chapters: list[Path] | None = None, overwrite: bool = True) -> list[Path]:
    """Write the ``which`` edition of each chapter (default: every shipped chapter, in order) into ``folder`` as
    ``NN_name.ipynb``. With ``overwrite=False`` a notebook already there (a learner's work) is an error, raised
    before anything is written."""
    if which not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {which!r}")
    chapters = [Path(c) for c in chapters] if chapters else chapter_sources()
    targets = [Path(folder) / chapter.with_suffix(".ipynb").name for chapter in chapters]
    present = [t.name for t in targets if t.exists()]
    if present and not overwrite:
        raise FileExistsError(f"{folder} already holds {', '.join(present)}: choose another folder, or pass --force "
                              "to replace them (your edits in them are lost)")
    return [write_edition(chapter, target, which) for chapter, target in zip(chapters, targets, strict=True)]
