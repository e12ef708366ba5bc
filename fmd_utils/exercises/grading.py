"""The grader: run a learner's notebook in a fresh kernel, with a time limit, and say per exercise what happened.

The notebook's solution cells (if it is a learner edition) are dropped first, so only the learner's code is judged.
Each ``check(...)`` in the kernel appends its verdict to a report file (:data:`~fmd_utils.exercises.REPORT_VARIABLE`);
an exercise whose check never ran is reported with the reason: its cell raised (the error), or the run stopped
before it (time limit, dead kernel). Cells that raise do not stop the run: the next exercise is still graded.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import REPORT_VARIABLE
from .editions import EXERCISE_TAG, edition, exercises_of, read_chapter

EXIT_PASSED, EXIT_NOT_PASSED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3


@dataclass(frozen=True)
class Result:
    """One exercise's outcome: ``status`` is a verdict's (passed, not attempted, mistake, wrong), or ``error`` (its
    cell raised before the check), ``not checked`` (the check call was removed) or ``not reached``."""

    exercise: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"{self.exercise}: {self.status} — {self.message}"


@dataclass(frozen=True)
class Grade:
    """The results in the notebook's order, and why the run stopped early (``None`` when it ran to the end)."""

    notebook: str
    results: list[Result]
    stopped: str | None = None
    cell_errors: tuple[str, ...] = ()  # cells other than the exercises' that raised: "cell N: Error: message"

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        return EXIT_PASSED if all(r.status == "passed" for r in self.results) else EXIT_NOT_PASSED

    def summary(self) -> str:
        passed = sum(r.status == "passed" for r in self.results)
        tail = f"; the run stopped early: {self.stopped}" if self.stopped else ""
        raised = "".join(f"\n  other cells that raised: {e}" for e in self.cell_errors)
        return f"{passed}/{len(self.results)} exercises passed{tail}{raised}"

    def as_json(self) -> dict:
        return {"notebook": self.notebook, "passed": sum(r.status == "passed" for r in self.results),
                "total": len(self.results), "stopped": self.stopped, "exit_code": self.exit_code,
                "cell_errors": list(self.cell_errors),
                "results": [asdict(r) for r in self.results]}


def _cell_error(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"the cell raised {output.get('ename')}: {output.get('evalue')}"
    return None


def grade(path: Path, timeout: float = 900.0, kernel_name: str = "python3") -> Grade:
    """Run the notebook at ``path`` (``.ipynb`` or a chapter's MyST file) in a fresh kernel, in its own folder,
    stopping after ``timeout`` seconds in all, and grade each exercise."""
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    notebook = edition(read_chapter(path), "student", where=str(path))
    names = exercises_of(notebook)
    if not names:
        raise ValueError(f"{path} has no exercises (no cell tagged {EXERCISE_TAG!r}): grade a notebook of this "
                         "course's learner or student edition")
    stopped = None
    with tempfile.TemporaryDirectory(prefix="fmd-grade-") as scratch:
        report = Path(scratch) / "verdicts.jsonl"
        saved = {k: os.environ.get(k) for k in (REPORT_VARIABLE, "TQDM_DISABLE", "MPLBACKEND")}
        os.environ.update({REPORT_VARIABLE: str(report), "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"})
        try:
            client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                                    resources={"metadata": {"path": str(path.resolve().parent)}})
            deadline = time.monotonic() + timeout
            with client.setup_kernel():
                for index, cell in enumerate(notebook.cells):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        stopped = f"the time limit of {timeout:g} s ran out before cell {index}"
                        break
                    client.timeout = max(1, int(remaining))
                    try:
                        client.execute_cell(cell, index)
                    except CellTimeoutError:
                        stopped = f"the time limit of {timeout:g} s ran out in cell {index}"
                        break
                    except DeadKernelError:
                        stopped = f"the kernel died in cell {index}"
                        break
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        verdicts = {}
        if report.is_file():
            for line in report.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                verdicts.setdefault(entry["exercise"], entry)
    cells = {cell.metadata.get("exercise"): cell for cell in notebook.cells if EXERCISE_TAG in
             cell.metadata.get("tags", [])}
    results = []
    for name in names:
        if name in verdicts:
            results.append(Result(name, verdicts[name]["status"], verdicts[name]["message"]))
        elif error := _cell_error(cells[name]):
            results.append(Result(name, "error", error))
        elif stopped:
            results.append(Result(name, "not reached", stopped))
        else:
            results.append(Result(name, "not checked", f'its cell no longer calls check("{name}", ...)'))
    others = tuple(f"cell {i}: {error.removeprefix('the cell raised ')}" for i, cell in enumerate(notebook.cells)
                   if EXERCISE_TAG not in cell.metadata.get("tags", []) and (error := _cell_error(cell)))
    return Grade(str(path), results, stopped, others)
