"""Exercises the learner writes, and checkers that say *what* is wrong with an attempt.

An :class:`Exercise` holds the package's own function (the reference), inputs chosen to tell likely mistakes apart,
and the likely mistakes themselves, each written as the wrong mathematics it stands for (ᾱ_{t−1} for ᾱ_t, ᾱ where
√ᾱ belongs, the noise with the wrong sign, …) beside the message that names it. :meth:`Exercise.check` runs an
attempt on the inputs and answers with a :class:`Verdict`:

* **passed** — equal to the reference (to floating-point tolerance) on every input;
* **not attempted** — the stub still raises ``NotImplementedError`` (:func:`not_written`), so a reader who only reads
  carries on with the package's version;
* **mistake** — equal to one of the known mistakes: its message says what to change;
* **wrong** — equal to neither: the largest difference and where, so the learner can look.

Because a mistake is recognised by what it computes, not by how it is spelled, any implementation of the same wrong
mathematics is diagnosed the same way.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

STATUSES = ("passed", "not attempted", "mistake", "wrong")


def not_written(exercise: str):
    """What a stub does until the learner writes it: raise, naming the exercise."""
    raise NotImplementedError(f"Student exercise: {exercise} — not written yet")


@contextmanager
def _quietly() -> Iterator[None]:
    """How a check runs an attempt on its small cases: without progress bars (fmd_utils.progress reads
    TQDM_DISABLE), and with gradients on whatever the chapter switched off (a training loop needs them)."""
    saved = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with torch.enable_grad():
            yield
    finally:
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``status`` (one of :data:`STATUSES`) and a message for the learner."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        return f"{self.exercise}: {self.status} — {self.message}"


@dataclass(frozen=True)
class Mistake:
    """A likely mistake: the wrong function it amounts to, and the message that names it."""

    message: str
    compute: Callable


@dataclass(frozen=True)
class Exercise:
    """An exercise: the ``reference`` (the package's function), the ``cases`` to try (each a tuple of arguments),
    and the ``mistakes`` to recognise."""

    name: str
    reference: Callable
    cases: Callable[[], Sequence[tuple]]
    mistakes: tuple[Mistake, ...] = field(default_factory=tuple)
    rtol: float = 1e-4
    atol: float = 1e-5
    tables: dict[str, tuple[int, torch.Tensor]] = field(default_factory=dict)  # name: (argument index, the table)

    def package_version(self) -> Callable:
        """The reference as the chapter carries on with it: refusing, rather than ignoring, a table argument (a
        noise schedule's β or ᾱ) other than the one the package's function is bound to."""
        if not self.tables:
            return self.reference

        def package(*args):
            for name, (index, expected) in self.tables.items():
                given = torch.as_tensor(args[index])
                if given.shape != expected.shape or not torch.allclose(given.double().cpu(), expected.double(),
                                                                       rtol=1e-5, atol=1e-7):
                    raise ValueError(f"the package's {self.name} uses the cosine schedule with T = 1000, and "
                                     f"{name} is another table: write the exercise to use it")
            return self.reference(*args)

        return package

    def _agrees(self, got, expected) -> bool:
        try:
            got = torch.as_tensor(got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            return False
        expected = torch.as_tensor(expected, dtype=torch.float64)
        return got.shape == expected.shape and torch.allclose(got.detach(), expected.detach(), rtol=self.rtol,
                                                              atol=self.atol)

    def check(self, attempt: Callable) -> Verdict:
        """Run ``attempt`` on every case and say whether it is right, not written, a known mistake, or wrong. Each
        function runs on freshly made cases, so a case may hold a random generator that every function draws from
        in the same state (or a model that a training loop changes)."""
        with _quietly():
            return self._check(attempt)

    def _check(self, attempt: Callable) -> Verdict:
        outputs = []
        for args in self.cases():
            try:
                outputs.append(attempt(*args))
            except NotImplementedError:
                return Verdict(self.name, "not attempted", "not written yet; the chapter goes on with the "
                                                           "package's version")
            except Exception as error:  # noqa: BLE001 - a learner's code may raise anything: report it, do not crash
                return Verdict(self.name, "wrong", f"it raised {type(error).__name__}: {error}")

        def results(function: Callable) -> list:
            return [function(*args) for args in self.cases()]

        def same(expected: list) -> bool:
            return all(self._agrees(out, exp) for out, exp in zip(outputs, expected, strict=True))

        expected = results(self.reference)
        if same(expected):
            return self._dtype_verdict(outputs, expected) or Verdict(self.name, "passed", "matches the package on "
                                                                                          "every test input")
        for mistake in self.mistakes:
            if same(results(mistake.compute)):
                return Verdict(self.name, "mistake", mistake.message)
        return self._difference(outputs, expected)

    def _dtype_verdict(self, outputs: list, expected: list) -> Verdict | None:
        """Right numbers, but a tensor (not a single number, which a chapter reads with float()) in another floating
        dtype than the package's: the chapter's later cells (strict comparisons, concatenation with float32 tensors)
        would fail, so say so now."""
        for out, exp in zip(outputs, expected, strict=True):
            if (isinstance(out, torch.Tensor) and isinstance(exp, torch.Tensor) and out.ndim > 0
                    and out.is_floating_point() and exp.is_floating_point() and out.dtype != exp.dtype):
                return Verdict(self.name, "wrong", f"the numbers are right but the result is {out.dtype}, the "
                                                   f"package's {exp.dtype}: compute in the inputs' dtype")
        return None

    def _difference(self, outputs: list, expected: list) -> Verdict:
        """Wrong in a way no known mistake explains: the first test input where it differs, and by how much."""
        names = list(inspect.signature(self.reference).parameters)
        for number, (out, exp, args) in enumerate(zip(outputs, expected, self.cases(), strict=True), start=1):
            if self._agrees(out, exp):
                continue
            try:
                got = torch.as_tensor(out, dtype=torch.float64).detach()
            except (TypeError, ValueError, RuntimeError):
                return Verdict(self.name, "wrong", f"it returned {type(out).__name__}, not numbers (a tensor)")
            exp = torch.as_tensor(exp, dtype=torch.float64).detach()
            scalars = ", ".join(f"{n} = {a}" for n, a in zip(names, args, strict=False) if _is_scalar(a))
            where = f"test input {number} of {len(outputs)}" + (f" ({scalars})" if scalars else "")
            if got.shape != exp.shape:
                return Verdict(self.name, "wrong", f"on {where} the result has shape {tuple(got.shape)}, expected "
                                                   f"{tuple(exp.shape)}")
            diff = (got - exp).abs().nan_to_num(nan=float("inf"))
            index = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0]) if diff.ndim else ()
            return Verdict(self.name, "wrong", f"on {where} the result differs from the package's by up to "
                                               f"{diff.max():.3g} (at index {index}); none of the known mistakes "
                                               "explains it")
        return Verdict(self.name, "wrong", "the result differs from the package's")  # unreachable: it would agree


def _is_scalar(value) -> bool:
    return isinstance(value, (int, float, tuple)) and not isinstance(value, bool) or (
        isinstance(value, torch.Tensor) and value.ndim == 0)
