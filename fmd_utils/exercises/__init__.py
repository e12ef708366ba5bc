"""Exercises: the learner writes the function, a checker names the mistake (:mod:`.base`); the chapters' exercises
and their likely mistakes (:mod:`.catalogue`); a chapter's learner, student and solution editions (:mod:`.editions`);
the grader (:mod:`.grading`, ``python -m fmd_utils.exercises grade NOTEBOOK.ipynb``).

    >>> from fmd_utils.exercises import check
    >>> q_sample = check("q_sample", my_q_sample)  # prints: q_sample: passed — … / mistake — … / not attempted — …

:func:`check` returns the function to carry on with: the learner's when it passed, the package's otherwise, so a
chapter runs to the end whether or not its exercises are written.
"""

import json
import os

from .base import Exercise, Mistake, Verdict, not_written
from .catalogue import EXERCISES

REPORT_VARIABLE = "FMD_EXERCISE_REPORT"  # set by the grader: each verdict is appended to that file as a JSON line


def check(name: str, attempt):
    """Check the learner's ``attempt`` at exercise ``name``, print the verdict, and return the function the chapter
    carries on with: ``attempt`` if it passed, else the package's version."""
    if name not in EXERCISES:
        raise ValueError(f"exercise must be one of {sorted(EXERCISES)}, got {name!r}")
    exercise = EXERCISES[name]
    verdict = exercise.check(attempt)
    print(verdict)
    report = os.environ.get(REPORT_VARIABLE)
    if report:
        with open(report, "a", encoding="utf-8") as file:
            file.write(json.dumps({"exercise": name, "status": verdict.status, "message": verdict.message}) + "\n")
    return attempt if verdict.passed else exercise.package_version()


__all__ = ["EXERCISES", "REPORT_VARIABLE", "Exercise", "Mistake", "Verdict", "check", "not_written"]
