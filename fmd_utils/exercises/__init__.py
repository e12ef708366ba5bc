"""Exercises: the learner writes the function, a checker names the mistake (:mod:`.base`); the chapters' exercises
and their likely mistakes (:mod:`.catalogue`).

    >>> from fmd_utils.exercises import check
    >>> check("q_sample", my_q_sample)        # prints: q_sample: passed — … / mistake — … / not attempted — …
"""

from .base import Exercise, Mistake, Verdict, not_written
from .catalogue import EXERCISES


def check(name: str, attempt) -> Verdict:
    """Check the learner's ``attempt`` at exercise ``name``, print the verdict and return it."""
    if name not in EXERCISES:
        raise ValueError(f"exercise must be one of {sorted(EXERCISES)}, got {name!r}")
    verdict = EXERCISES[name].check(attempt)
    print(verdict)
    return verdict


__all__ = ["EXERCISES", "Exercise", "Mistake", "Verdict", "check", "not_written"]
