"""The evaluation CLI on the shipped checkpoints, with a small N and generous floors: a broken model cannot pass."""

from __future__ import annotations

import json

import pytest

from fmd_utils.evaluate import build_parser, main

from .conftest import requires_data

pytestmark = requires_data


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "metrics.json"
    assert main(["--out", str(out), "--samples", "500", "--no-sweeps", "--seed", "1", "--guidance-interval",
                 "100,799"]) == 0
    return json.loads(out.read_text()), out.with_suffix(".md").read_text()


def test_shipped_models_clear_generous_floors(report):
    metrics, _ = report
    assert metrics["reconstruction"]["judge_accuracy_real_test"] >= 0.90
    assert metrics["reconstruction"]["autoencoder_test_psnr"] >= 21.0
    assert metrics["reconstruction"]["judge_accuracy_reconstructions"] >= 0.85
    assert metrics["generated"]["accuracy"] >= 0.80
    # generated samples are far closer to real test images than noise would be, in the judge's feature space
    assert metrics["generated"]["fid_over_floor"] < 10.0
    assert metrics["floor"]["fid"] > 0


def test_report_has_every_item(report):
    metrics, markdown = report
    g = metrics["generated"]
    assert len(g["per_class_accuracy"]) == 10 and len(g["confusion_matrix"]) == 10
    assert sum(map(sum, g["confusion_matrix"])) == 500
    assert set(metrics["memorisation"]) == {"nn_distance_generated", "nn_distance_real_test"}
    assert all(v > 0 for v in metrics["throughput"].values())
    for phrase in ("judge accuracy on real test images", "real-vs-real floor", "Per-class conditional accuracy"):
        assert phrase in markdown


def test_report_names_the_guidance_interval(report):
    metrics, markdown = report
    assert metrics["generated"]["guidance_interval"] == [100, 799]
    assert "on t ∈ [100, 799]" in markdown


def test_guidance_interval_option():
    parse = build_parser().parse_args
    assert parse(["--guidance-interval", "all"]).guidance_interval is None
    assert parse(["--guidance-interval", "150,880"]).guidance_interval == (150, 880)
    with pytest.raises(SystemExit):
        parse(["--guidance-interval", "150"])


def test_bad_sample_count_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="multiple of 10"):
        main(["--out", str(tmp_path / "m.json"), "--samples", "15"])
