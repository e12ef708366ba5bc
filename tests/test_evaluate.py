"""The evaluation CLI on the shipped checkpoints, with a small N and generous floors: a broken model cannot pass."""

from __future__ import annotations

import json

import pytest

from fmd_utils.cli import run
from fmd_utils.config import SANITY_FLOORS, EvaluationSettings
from fmd_utils.evaluate import build_parser, main
from fmd_utils.evaluation import EvaluationReport, evaluate
from fmd_utils.uncertainty import noise_between
from fmd_utils.views.report import render_markdown

from .conftest import requires_data

pytestmark = [requires_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "metrics.json"
    assert main(["--out", str(out), "--samples", "500", "--no-sweeps", "--no-flow", "--seed", "1",
                 "--guidance-interval", "100,799"]) == 0
    return json.loads(out.read_text()), out.with_suffix(".md").read_text()


def test_shipped_models_clear_generous_floors(report):
    metrics, _ = report
    floors = SANITY_FLOORS
    assert metrics["reconstruction"]["judge_accuracy_real_test"] >= floors["judge_accuracy_real_test"]
    assert metrics["reconstruction"]["autoencoder_test_psnr"] >= floors["autoencoder_test_psnr"]
    assert metrics["reconstruction"]["judge_accuracy_reconstructions"] >= floors["judge_accuracy_reconstructions"]
    assert metrics["generated"]["accuracy"] >= floors["generated_accuracy"]
    # generated samples are far closer to real test images than noise would be, in the judge's feature space
    assert metrics["generated"]["fid_over_floor"] < floors["fid_over_floor"]
    assert metrics["floor"]["fid"] > 0
    # samples look like real images and reach a fair share of their variety, beside real-vs-real at the same N
    assert metrics["generated"]["precision_over_floor"] >= floors["precision_over_floor"]
    assert metrics["generated"]["recall_over_floor"] >= floors["recall_over_floor"]


def test_precision_and_recall_are_reported_beside_real_vs_real(report):
    metrics, markdown = report
    floor, rec, g = metrics["floor"], metrics["reconstruction"], metrics["generated"]
    for values in (floor, g, {k.removeprefix("reconstruction_"): v for k, v in rec.items()}):
        assert 0 < values["precision"] <= 1 and 0 < values["recall"] <= 1
    assert g["recall_over_floor"] == pytest.approx(g["recall"] / floor["recall"])
    assert rec["reconstruction_precision_over_floor"] == pytest.approx(rec["reconstruction_precision"]
                                                                       / floor["precision"])
    # error bars over the floor's training subsets for the reconstructions too (issue 19), as for the samples
    assert rec["reconstruction_seeds"] == g["seeds"] == floor["seeds"] == EvaluationSettings().seeds >= 2
    assert all(rec[f"reconstruction_{key}_se"] > 0 for key in ("fid", "precision", "recall", "fid_over_floor"))
    assert "± " in markdown.split("| the same images through the autoencoder |")[1].split("\n")[0]
    # the decoder is a ceiling on variety: samples, which all pass through it, do not reach more of the test set than
    # its reconstructions of real images do (recall), beyond the noise. (Not on FID: guidance concentrates samples on
    # typical garments, which can give them a lower FID than the reconstructions; README "Results" shows it does.)
    recon = {k.removeprefix("reconstruction_"): v for k, v in rec.items()}
    assert g["recall"] <= recon["recall"] + noise_between(g, recon, "recall")
    assert "| the same images through the autoencoder |" in markdown and "recall / real" in markdown


def test_report_has_every_item(report):
    metrics, markdown = report
    g = metrics["generated"]
    assert len(g["per_class_accuracy"]) == 10 and len(g["confusion_matrix"]) == 10
    assert sum(map(sum, g["confusion_matrix"])) == 500
    assert set(metrics["memorisation"]) == {"nn_distance_generated", "nn_distance_real_test"}
    speed = metrics["throughput"]
    assert speed["stored_images_per_s"] > speed["all_timesteps_images_per_s"] > 0  # the stored sampler beats DDPM-1000
    assert speed["all_timesteps_sampler"] == "DDPM"
    for phrase in ("judge accuracy on real test images", "real-vs-real floor", "Per-class conditional accuracy"):
        assert phrase in markdown
    assert markdown.count("| met |") + markdown.count("| **short** |") == 9  # every target row has a verdict


def test_report_names_the_guidance_interval(report):
    metrics, markdown = report
    assert metrics["generated"]["guidance_interval"] == [100, 799]
    assert "on t ∈ [100, 799]" in markdown


def test_evaluate_is_callable_from_python():
    result = evaluate(EvaluationSettings(samples=100, sweeps=True, sweep_samples=100, guidance_sweep=(1.0,),
                                         sampler_sweep=(("ddim", 5), ("dpm++2m", 5), ("ddpm", 1000)),
                                         interval_sweep=(), throughput_samples=20, throughput_repeats=1,
                                         memorisation_samples=20, nfe_sweep=(4,)))
    markdown = render_markdown(result.to_dict())
    assert isinstance(result, EvaluationReport)
    assert result.generated["samples"] == 100 and 0 <= result.generated["accuracy"] <= 1
    assert {"precision", "recall", "precision_over_floor", "recall_over_floor"} <= set(result.guidance_sweep[0])
    # the registry names each sampler, its steps and its network evaluations (DDPM: all T)
    assert [(s["sampler_title"], s["steps"], s["nfe"]) for s in result.step_sweep] == [
        ("DDIM", 5, 5), ("DPM-Solver++(2M)", 5, 5), ("DDPM", 1000, 1000)]
    assert "| DPM-Solver++(2M) | 5 |" in markdown and "| DDPM | 1000 |" in markdown
    assert len(result.guidance_sweep) == 1 and markdown.startswith("Measured")
    # at 4 evaluations: each diffusion sampler and flow solver with the most steps that fit, judged and timed; Heun
    # on the Karras grid, whose last step is Euler's, spends 3 (2 steps), every other one all 4
    rows = result.flow_comparison
    assert [(r["model"], r["solver"], r["steps"], r["nfe"]) for r in rows] == [
        ("diffusion", "DDIM", 4, 4), ("diffusion", "DDIM (trailing)", 4, 4), ("diffusion", "DPM-Solver++(2M)", 4, 4),
        ("diffusion", "DPM-Solver++(2M), Karras σ", 4, 4), ("diffusion", "Heun (Karras σ)", 2, 3),
        ("diffusion", "Heun (straight path)", 2, 4), ("flow", "Euler", 4, 4), ("flow", "Heun", 2, 4)]
    assert all(r["nfe_budget"] == 4 and r["samples"] == 100 and r["seconds_per_1000"] > 0 and 0 <= r["accuracy"] <= 1
               and r["fid_over_floor"] > 0 for r in rows)
    assert result.training["flow"]["epochs"] > 0
    assert "| 4 | flow | Heun | 2 |" in markdown


def test_guidance_interval_option():
    parse = build_parser().parse_args
    assert parse(["--guidance-interval", "all"]).guidance_interval is None
    assert parse(["--guidance-interval", "150,880"]).guidance_interval == (150, 880)
    with pytest.raises(SystemExit):
        parse(["--guidance-interval", "150"])


@pytest.mark.parametrize("argv, message", [
    (["--samples", "15"], "multiple of 10"),
    (["--steps", "0"], "steps must be an integer between 1 and T"),
    (["--guidance", "nan"], "guidance must be a finite number"),
    (["--guidance-interval", "900,100"], "guidance_interval must be None"),
])
def test_bad_arguments_are_refused_before_measuring(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "m.json"), *argv])
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_unwritable_output_is_found_first(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit):
        main(["--out", str(blocker / "metrics.json")])
    assert "--out" in capsys.readouterr().err


def test_a_readme_without_its_results_block_is_refused_before_measuring(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# a README without the results markers\n")
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "m.json"), "--readme", str(readme)])
    assert "no '<!-- results:full -->'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # nothing measured, nothing written
    # a missing README is a missing input: one line and exit code 1, as the command line runs it
    assert run(main, ["--out", str(tmp_path / "m.json"), "--readme", str(tmp_path / "missing.md")]) == 1
    assert "missing.md: no such file" in capsys.readouterr().err
