"""The results tables of the README and of the book's Results page are the benchmark's own output, never typed in.

``python -m fmd_utils.evaluate --readme FILE.md`` (``make evaluate``, ``make evaluate-fast``, ``make evaluate-dit``)
writes its tables between ``<!-- results:NAME -->`` markers: the README holds the shipped models' headline only,
``book/results.md`` every table beside the text that reads it. These tests fail when either and ``results/*.json``
drift apart (a re-measurement without ``--readme``, or a hand edit of a number), and when a full report's Markdown
(``results/*/metrics.md``) is not the JSON's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmd_utils.views.report import readme_block, readme_blocks, render_headline, render_markdown, sync_readme

ROOT = Path(__file__).resolve().parents[1]
REPORTS = {"full": ROOT / "results" / "metrics.json", "fast": ROOT / "results" / "fast" / "metrics.json",
           "full-dit": ROOT / "results" / "dit" / "metrics.json"}


DOCUMENTS = {"README.md": {"full"},  # the short README: the shipped models' headline
             "book/results.md": {"full", "full-sweeps", "full-flow", "fast", "full-dit", "full-dit-sweeps"}}


@pytest.mark.parametrize("document", list(DOCUMENTS))
@pytest.mark.parametrize("profile", list(REPORTS))
def test_results_blocks_are_the_reports_own(profile, document):
    report = json.loads(REPORTS[profile].read_text())
    assert report["training"]["autoencoder"]["profile"] == profile.split("-")[0]
    text = (ROOT / document).read_text()
    blocks = readme_blocks(report)
    expected = {"full": {"full", "full-sweeps", "full-flow"}, "fast": {"fast"},
                "full-dit": {"full-dit", "full-dit-sweeps"}}[profile]
    assert set(blocks) == expected, f"{REPORTS[profile].name} lacks a measurement {document} shows"
    shown = set(blocks) & DOCUMENTS[document]
    for name in set(blocks) - shown:
        assert f"<!-- results:{name} -->" not in text, f"{document} holds '{name}', which belongs to the other page"
    for name in shown:
        start, stop = readme_block(text, name)
        assert text[start:stop] == blocks[name], (
            f"{document}'s '{name}' results differ from {REPORTS[profile].relative_to(ROOT)}: re-run the evaluation "
            f"with --readme {document} (make evaluate / evaluate-fast / evaluate-dit) instead of editing by hand")


@pytest.mark.parametrize("profile", list(REPORTS))
def test_each_full_report_is_its_json_rendered(profile):
    report = json.loads(REPORTS[profile].read_text())
    assert REPORTS[profile].with_suffix(".md").read_text() == render_markdown(report)


@pytest.mark.parametrize("profile", list(REPORTS))
def test_every_set_metric_in_the_headline_carries_an_error_bar(profile):
    headline = render_headline(json.loads(REPORTS[profile].read_text()))
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
             for line in headline.splitlines() if line.startswith("| ") and not line.startswith("| metric")}
    set_metrics = [name for name in cells if name.startswith(("conditional accuracy", "generated precision",
                                                                "generated recall", "feature-FID", "feature-KID"))]
    assert len(set_metrics) == 5
    for name in set_metrics:  # the measured column
        assert "±" in cells[name][0], f"{profile}: no error bar on '{name}': {cells[name][0]}"
    for name in ("real training images (the floor)", "the same images through the autoencoder", "generated samples"):
        numbers = [c for c in cells[name] if c != "1"]  # the floor divided by itself is exactly 1
        assert len(numbers) >= 3 and all("±" in c for c in numbers), f"{profile}: '{name}' without error bars"


def test_sync_replaces_only_its_block_and_names_a_missing_one(tmp_path):
    report = json.loads(REPORTS["full"].read_text())
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:full -->\nold numbers\n<!-- /results:full -->\nafter\n")
    assert sync_readme(readme, report)
    block = render_headline(report)
    assert readme.read_text() == f"intro\n<!-- results:full -->\n{block}\n<!-- /results:full -->\nafter\n"
    assert not sync_readme(readme, report)  # already current: nothing written
    # the other blocks of a report are filled where the README has them, and left out where it does not
    readme.write_text("<!-- results:full -->\n<!-- /results:full -->\n<!-- results:full-flow -->\nx\n"
                      "<!-- /results:full-flow -->\n")
    assert sync_readme(readme, report)
    assert f"<!-- results:full-flow -->\n{readme_blocks(report)['full-flow']}\n<!--" in readme.read_text()
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="no '<!-- results:full -->'"):
        sync_readme(readme, report)


def test_the_blocks_show_the_measuring_command_without_the_documents_it_refreshed():
    from fmd_utils.views.report import measuring_command

    assert measuring_command("python -m fmd_utils.evaluate --out m.json --readme README.md --readme=book/results.md "
                             "--seeds 3") == "python -m fmd_utils.evaluate --out m.json --seeds 3"
    report = json.loads(REPORTS["full"].read_text())
    assert "--readme" in report["command"] and "--readme" not in render_headline(report)


def test_a_report_measured_on_a_gpu_names_it_beside_the_cpu():
    report = json.loads(REPORTS["full"].read_text())
    assert "gpu" not in report["machine"] and " with AMD" not in render_headline(report)
    report["machine"].update(gpu="NVIDIA H100 80GB HBM3", cuda="13.0")
    assert f"on NVIDIA H100 80GB HBM3 (CUDA 13.0) with {report['machine']['cpu']} (" in render_headline(report)
