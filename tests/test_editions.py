"""A chapter's three editions (learner, student, solution) from its one MyST source, and the grader on a solved, an
empty and a wrong notebook."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fmd_utils.exercises import EXERCISES
from fmd_utils.exercises.editions import BEGIN, END, STUB, MarkerError, edition, exercises_of, read_chapter, split

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9]*.md"))

SOURCE = f'''def my_f(x):
    """doubles"""
    {BEGIN}
    return 2 * x
    {END}


f = check("alpha_bar", my_f)'''


def test_split_gives_a_stub_with_the_solutions_signature_and_the_solution_without_markers():
    exercise = split(SOURCE)
    assert exercise.name == "alpha_bar"
    assert exercise.stub.splitlines()[:3] == ["def my_f(x):", '    """doubles"""', "    " + STUB]
    assert "return 2 * x" not in exercise.stub and "check(\"alpha_bar\", my_f)" in exercise.stub
    assert "return 2 * x" in exercise.solution and BEGIN not in exercise.solution and END not in exercise.solution
    assert split("x = 1") is None


@pytest.mark.parametrize("source, message", [
    (SOURCE.replace(f"    {END}\n", ""), "needs its own"),
    (SOURCE.replace(f"    {BEGIN}", BEGIN), "a function's body"),
    (SOURCE.replace('f = check("alpha_bar", my_f)', "f = my_f"), "must call check"),
    (SOURCE.replace("return 2 * x", "return 2 *"), "the solution is not valid Python"),
])
def test_malformed_markers_are_refused_with_the_reason(source, message):
    with pytest.raises(MarkerError, match=message):
        split(source)


def _bound_names(source: str) -> set[str]:
    """The names a cell binds in the notebook's namespace (not those local to its functions)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            return  # their bodies bind locals
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return names


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_each_chapter_has_three_checked_exercises_and_editions_that_agree(path):
    source = read_chapter(path)
    learner, student, solution = (edition(source, which) for which in ("learner", "student", "solution"))
    names = exercises_of(learner)
    assert len(names) >= 3, f"{path.name}: {len(names)} exercises the learner writes, at least 3 wanted"
    assert len(set(names)) == len(names) and set(names) <= set(EXERCISES)
    assert exercises_of(student) == exercises_of(solution) == names
    for text in (nbformat.writes(student), nbformat.writes(learner), nbformat.writes(solution)):
        assert BEGIN not in text and END not in text
    # the student's edition is the learner's without the solution cells, so it runs the same way
    assert [c.source for c in learner.cells if "solution" not in c.metadata.get("tags", [])] == \
        [c.source for c in student.cells]
    stubs = {c.metadata["exercise"]: c for c in learner.cells if "exercise" in c.metadata.get("tags", [])}
    for cell in learner.cells:
        if "solution" in cell.metadata.get("tags", []) and cell.cell_type == "code":
            assert cell.metadata["jupyter"]["source_hidden"] and "hide-input" in cell.metadata["tags"]
            # a folded solution binds nothing the stub's cell does not: dropping it leaves the chapter runnable
            assert _bound_names(cell.source) <= _bound_names(stubs[cell.metadata["exercise"]].source)
            assert STUB not in cell.source
    for name, cell in stubs.items():
        assert STUB in cell.source, f"{path.name}: exercise {name}'s stub raises no NotImplementedError"


def _grade(notebook: Path, *extra: str) -> tuple[int, str, dict]:
    report = notebook.with_suffix(".json")
    run = subprocess.run([sys.executable, "-m", "fmd_utils.exercises", "grade", str(notebook), "--json", str(report),
                          *extra], capture_output=True, text=True, timeout=600, cwd=ROOT)
    return run.returncode, run.stdout, json.loads(report.read_text()) if report.is_file() else {}


def _write(tmp_path: Path, which: str, edit=None) -> Path:
    notebook = edition(read_chapter(ROOT / "notebooks" / "02_forward_diffusion.md"), which)
    for cell in notebook.cells:
        if edit and cell.metadata.get("exercise") == edit[0] and "exercise" in cell.metadata.get("tags", []):
            cell.source = edit[1]
    out = tmp_path / f"{which}.ipynb"
    nbformat.write(notebook, out)
    return out


WRONG_Q_SAMPLE = '''def my_q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar[t].reshape(-1, *[1] * (x0.ndim - 1))
    return a.sqrt() * x0 - (1 - a).sqrt() * noise  # the noise subtracted


q_sample = check("q_sample", my_q_sample)'''


@pytest.mark.slow
def test_the_grader_passes_a_solved_notebook(tmp_path):
    code, out, report = _grade(_write(tmp_path, "solution"))
    assert code == 0, out
    assert [r["status"] for r in report["results"]] == ["passed"] * 3 and "3/3 exercises passed" in out
    assert report["cell_errors"] == []


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_runs_to_the_end_unwritten_and_grades_as_not_attempted(tmp_path, path):
    """The student edition (no solutions, nothing written) runs top to bottom on the package's versions: the
    grader finds every exercise not attempted and no other cell raising."""
    out = tmp_path / "student.ipynb"
    nbformat.write(edition(read_chapter(path), "student"), out)
    code, printed, report = _grade(out)
    assert code == 1 and report["stopped"] is None, printed
    assert report["cell_errors"] == [], printed
    assert [r["status"] for r in report["results"]] == ["not attempted"] * len(report["results"]), printed


@pytest.mark.slow
def test_the_grader_names_the_mistake_and_survives_a_broken_cell_and_the_time_limit(tmp_path):
    wrong = _write(tmp_path, "student", ("q_sample", WRONG_Q_SAMPLE))
    nb = nbformat.read(wrong, as_version=4)
    for cell in nb.cells:  # a syntax error in another exercise does not stop the grading of the rest
        if cell.metadata.get("exercise") == "q_step":
            cell.source = "def my_q_step(x_prev, t, noise, betas:\n    pass"
    nbformat.write(nb, wrong)
    code, out, report = _grade(wrong)
    results = {r["exercise"]: r for r in report["results"]}
    assert code == 1, out
    assert results["q_sample"]["status"] == "mistake" and "the noise is subtracted" in results["q_sample"]["message"]
    assert results["q_step"]["status"] == "error" and "SyntaxError" in results["q_step"]["message"]
    assert results["alpha_bar"]["status"] == "not attempted"
    code, out, report = _grade(_write(tmp_path, "solution"), "--timeout", "3")
    assert code == 3 and "time limit" in out and all(r["status"] in ("not reached", "passed")
                                                    for r in report["results"])
    assert subprocess.run([sys.executable, "-m", "fmd_utils.exercises", "grade", str(tmp_path / "none.ipynb")],
                          capture_output=True, text=True).returncode == 2


def test_the_student_command_writes_every_chapter_without_its_solutions(tmp_path):
    """`make student` (python -m fmd_utils.exercises student DIR CHAPTERS...): one notebook per chapter, every
    exercise a stub, no solution cell and no solution line left."""
    run = subprocess.run([sys.executable, "-m", "fmd_utils.exercises", "student", str(tmp_path / "out"),
                          *map(str, CHAPTERS)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    for chapter in CHAPTERS:
        notebook = nbformat.read(tmp_path / "out" / chapter.with_suffix(".ipynb").name, as_version=4)
        solutions = [split(c.source) for c in read_chapter(chapter).cells
                     if c.cell_type == "code" and BEGIN in c.source]
        assert not any("solution" in c.metadata.get("tags", []) for c in notebook.cells)
        stubs = [c.source for c in notebook.cells if "exercise" in c.metadata.get("tags", [])]
        assert len(stubs) == len(solutions) >= 3 and all(STUB in s for s in stubs)
        text = "\n".join(c.source for c in notebook.cells)
        for exercise in solutions:  # no solution's body survives
            body = "\n".join(line for line in exercise.solution.splitlines() if line not in exercise.stub.splitlines())
            assert body.strip() and body not in text, (chapter.name, exercise.name)
    missing = subprocess.run([sys.executable, "-m", "fmd_utils.exercises", "student", str(tmp_path / "x"),
                              str(tmp_path / "none.md")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert missing.returncode == 2 and missing.stderr.startswith("error:") and "not found" in missing.stderr
