"""The chapters' prose states no measured number that the notebook does not check (issue 19).

A decimal or a percentage in a markdown cell (outside $math$, which holds derivations, and `code`) must appear as a
number in some earlier code cell of the same chapter: the ``near(value, stated, tol, ...)`` of
:mod:`fmd_utils.claims` that checks it, a setting the code uses, or the literal the cell prints. A typed-in number
that no cell produces fails here; one that a cell checks fails under nbval when a retrained model moves it.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

CHAPTERS = sorted((Path(__file__).parent.parent / "notebooks").glob("0*.md"))
NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*\.\d+|\d[\d,]*(?=\s?%))")


def prose(text: str) -> str:
    """The text a reader reads as words: display and inline maths, code spans, link targets and HTML tags removed."""
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", " ", text)
    text = re.sub(r"`[^`]+`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"<[^>]+>", " ", text)


def code_numbers(source: str) -> set[float]:
    return {float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?", source.replace("_", ""))}


def unbound_numbers(path: Path) -> list[str]:
    seen: set[float] = set()
    missing = []
    for index, cell in enumerate(jupytext.read(path).cells):
        if cell.cell_type == "code":
            seen |= code_numbers(cell.source)
            continue
        text = prose(cell.source)
        for match in NUMBER.finditer(text):
            value = float(match.group(1).replace(",", ""))
            percent = text[match.end():match.end() + 2].lstrip().startswith("%")
            candidates = {value, round(value / 100, 10)} if percent else {value}
            if not any(abs(c - s) <= 1e-12 * max(1.0, abs(c)) for c in candidates for s in seen):
                context = " ".join(text[max(0, match.start() - 60):match.end() + 20].split())
                missing.append(f"cell {index}: {match.group(1)} in '…{context}…'")
    return missing


def test_the_checker_finds_a_typed_in_number(tmp_path):
    chapter = tmp_path / "09_example.md"
    header = (CHAPTERS[0].read_text().split("\n---\n", 1)[0] + "\n---\n\n")  # a real chapter's front matter
    chapter.write_text(header +
                       "```{code-cell} ipython3\nnear(psnr, 24.2, 0.05, 'PSNR')\n```\n\n"
                       "The PSNR is 24.2 dB, the accuracy 96.5 %, and $\\alpha = 0.3$ is maths.\n")
    assert [m.split(":")[1].split()[0] for m in unbound_numbers(chapter)] == ["96.5"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_decimal_and_percentage_in_the_prose_is_produced_or_checked(chapter):
    missing = unbound_numbers(chapter)
    assert not missing, (f"{chapter.name}: numbers in the prose that no earlier code cell produces or checks "
                         "(add near(value, stated, tol, ...) from fmd_utils.claims to the cell before):\n"
                         + "\n".join(missing))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_stay_short_enough_to_finish(chapter):
    lines = len(chapter.read_text().splitlines())
    # 880: the exercises (stub, check and solution in one source cell, with their introductions) add 40-130 lines
    assert lines <= 920, f"{chapter.name} has {lines} lines; move off-path material to an appendix page"
