"""The benchmark's report as Markdown: ``metrics.md`` and the result blocks of the README and the Results page,
rendered from an evaluation's dict (``metrics.json``, :class:`fmd_utils.evaluation.EvaluationReport`).

Every table is a description, a list of :class:`Column` (a header and how to format a row's cell), rendered by one
function, :func:`table`; a document's blocks between ``<!-- results:NAME -->`` markers are written by
:func:`sync_readme` and never typed in (tests/test_readme.py checks).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import TARGETS
from ..settings import interval_label


# --------------------------------------------------------------------------------------------------- cells
def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def pm(d: dict, key: str, spec: str = ".3f") -> str:
    """``d[key]`` formatted, with ``± d[key_se]`` (standard error over seeds) when the report has it."""
    se = d.get(f"{key}_se")
    return f"{d[key]:{spec}}" + (f" ± {se:{spec}}" if se is not None else "")


def pct_pm(d: dict, key: str) -> str:
    se = d.get(f"{key}_se")
    return pct(d[key]) + (f" ± {100 * se:.1f}" if se is not None else "")


@dataclass(frozen=True)
class Column:
    """One column of a table: its header and the cell of a row (a dict of measurements)."""

    header: str
    cell: Callable[[dict], str]


def table(rows: list[dict], columns: list[Column]) -> list[str]:
    """A Markdown table: the header, the rule, and one line per row."""
    def line(cells) -> str:
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"

    return [line(c.header for c in columns), "|" + "---|" * len(columns),
            *(line(c.cell(row) for c in columns) for row in rows)]


def measure(header: str, key: str, spec: str = ".3f") -> Column:
    return Column(header, lambda row: pm(row, key, spec))


ACCURACY = Column("accuracy", lambda row: pct_pm(row, "accuracy"))
FID_RATIO = measure("FID / floor", "fid_over_floor", ".2f")
PRECISION, RECALL = measure("precision", "precision"), measure("recall", "recall")
SECONDS = Column("seconds for N", lambda row: f"{row['seconds']:.1f}")
INTERVAL = Column("guidance applied on", lambda row: interval_label(row["guidance_interval"]))


def sampler_title(row: dict) -> str:
    """The sampler's title as the registry gave it (reports before the registry: the name in capitals)."""
    return row.get("sampler_title", row["sampler"].upper())


# --------------------------------------------------------------------------------------------------- targets
def target_row(name: str, shown: str, value: float, target_key: str, at_most: bool = False,
               unit: str | None = None) -> dict:
    """A row of the headline table: the measurement, its target from :data:`fmd_utils.config.TARGETS` (a percentage
    when ``unit`` is None, else a number followed by ``unit``), and met or short."""
    target = TARGETS[target_key]
    met = value <= target if at_most else value >= target
    target_text = pct(target) if unit is None else f"{target:g}{unit}"
    return {"metric": name, "measured": shown, "target": f"{'≤' if at_most else '≥'} {target_text}",
            "verdict": "met" if met else "**short**"}


def untargeted(name: str, shown: str) -> dict:
    return {"metric": name, "measured": shown, "target": "—", "verdict": ""}


TARGET_TABLE = [Column("metric", lambda r: r["metric"]), Column("measured", lambda r: r["measured"]),
                Column("target", lambda r: r["target"]), Column("", lambda r: r["verdict"])]


def _training_target(training: dict) -> str:
    """The TARGETS key of the training-time budget of the profile the models were trained with."""
    key = f"train_minutes_{training['autoencoder']['profile']}"
    return key if key in TARGETS else "train_minutes_full"


def speeds(thr: dict) -> tuple[float, float | None, str]:
    """(images/s of the stored sampler, images/s of the sampler that walks all T timesteps, its title) from a
    report's ``throughput`` (reports before the registry named the keys after DDIM and DDPM)."""
    if "stored_images_per_s" in thr:
        return thr["stored_images_per_s"], thr.get("all_timesteps_images_per_s"), thr.get("all_timesteps_sampler", "")
    stored = next(v for k, v in thr.items() if not k.startswith("ddpm"))
    return stored, thr.get("ddpm_all_steps_guided_images_per_s"), "DDPM"


def denoiser_of(r: dict) -> str | None:
    """The diffusion model's denoiser architecture in a report (None for reports from before the registry, which
    all measured the UNet)."""
    return r["settings"].get("denoiser")


# --------------------------------------------------------------------------------------------------- the report
def render_markdown(r: dict) -> str:
    """The report as markdown tables, each measurement beside its target from :data:`fmd_utils.config.TARGETS`."""
    g, rec = r["generated"], r["reconstruction"]
    lines = [
        render_headline(r),
        "",
        f"Mean per-image PSNR: {rec['autoencoder_test_psnr_mean_per_image']:.2f} dB. "
        f"Memorisation check (1000 images, mean L2 pixel distance to the nearest training image): generated "
        f"{r['memorisation']['nn_distance_generated']:.2f}, "
        f"real test images {r['memorisation']['nn_distance_real_test']:.2f}.",
        "",
        "Per-class conditional accuracy (the first seed's samples): "
        + ", ".join(f"{name} {pct(acc)}" for name, acc in g["per_class_accuracy"].items()) + ".",
    ]
    if r.get("guidance_sweep") or r.get("interval_sweep") or r.get("step_sweep"):
        lines += ["", render_sweeps(r)]
    if r.get("flow_comparison"):
        lines += ["", render_flow_comparison(r)]
    return "\n".join(lines) + "\n"


def measuring_command(command: str) -> str:
    """The command a report was measured with, less its ``--readme FILE`` arguments: they only choose which
    documents get the tables, and a reader re-running the measurement should not need those documents."""
    words, kept = command.split(), []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--readme":
            skip = True
        elif not word.startswith("--readme="):
            kept.append(word)
    return " ".join(kept)


def render_headline(r: dict) -> str:
    """The two headline tables (measurements against targets; where quality and variety are lost): the part of
    ``metrics.md`` the README carries verbatim between ``<!-- results:NAME -->`` markers (:func:`sync_readme`)."""
    g, rec, floor, m, tr, thr = r["generated"], r["reconstruction"], r["floor"], r["machine"], r["training"], \
        r["throughput"]
    ae_dm_min = ((tr["autoencoder"]["train_seconds"] or 0) + (tr["diffusion"]["train_seconds"] or 0)) / 60
    judge_min = (tr["classifier"]["train_seconds"] or 0) / 60
    stored_speed, slow_speed, slow_title = speeds(thr)
    seconds_1000 = 1000 / stored_speed
    label = f"{sampler_title(g)}-{g['steps']}"
    denoiser, params = denoiser_of(r), tr["diffusion"].get("parameters")
    model = "" if denoiser is None else f"; the `{denoiser}` denoiser" + (f" ({params:,} parameters)" if params else "")
    headline = [
        target_row("judge accuracy on real test images", pct(rec["judge_accuracy_real_test"]),
                   rec["judge_accuracy_real_test"], "judge_accuracy_real_test"),
        target_row("autoencoder test PSNR (64-d latent)",
                   f"{rec['autoencoder_test_psnr']:.2f} dB (MSE {rec['autoencoder_test_mse']:.5f})",
                   rec["autoencoder_test_psnr"], "autoencoder_test_psnr", unit=" dB"),
        target_row("judge accuracy on autoencoder reconstructions", pct(rec["judge_accuracy_reconstructions"]),
                   rec["judge_accuracy_reconstructions"], "judge_accuracy_reconstructions"),
        target_row("conditional accuracy of generated samples", pct_pm(g, "accuracy"), g["accuracy"],
                   "generated_accuracy"),
        target_row("generated precision / real-vs-real precision",
                   f"{pm(g, 'precision')} / {pm(floor, 'precision')} = {pm(g, 'precision_over_floor', '.3f')}",
                   g["precision_over_floor"], "precision_over_floor", unit=""),
        target_row("generated recall / real-vs-real recall",
                   f"{pm(g, 'recall')} / {pm(floor, 'recall')} = {pm(g, 'recall_over_floor', '.3f')}",
                   g["recall_over_floor"], "recall_over_floor", unit=""),
        target_row("feature-FID generated vs test / real-vs-real floor",
                   f"{pm(g, 'fid')} / {pm(floor, 'fid')} = {pm(g, 'fid_over_floor', '.2f')}", g["fid_over_floor"],
                   "fid_over_floor", at_most=True, unit=""),
        untargeted("feature-KID generated vs test (floor)", f"{pm(g, 'kid', '.5f')} ({pm(floor, 'kid', '.5f')})"),
        target_row(f"training time, autoencoder + denoiser (judge), `{tr['autoencoder']['profile']}` profile",
                   f"{ae_dm_min:.1f} min ({judge_min:.1f} min)", ae_dm_min, _training_target(tr), at_most=True,
                   unit=" min"),
        target_row(f"1000 decoded samples, {label} with guidance", f"{seconds_1000:.2f} s", seconds_1000,
                   "seconds_per_1000_samples", at_most=True, unit=" s"),
    ]
    if slow_speed is not None:
        headline.append(untargeted(f"{slow_title}, all {r['settings']['T']} steps, with guidance",
                                   f"{slow_speed:.0f} images/s"))
    sets = [
        {"set": "real training images (the floor)", **floor, "fid_over_floor": 1.0, "precision_over_floor": 1.0,
         "recall_over_floor": 1.0, "plain": True},
        {"set": "the same images through the autoencoder",
         **{k.removeprefix("reconstruction_"): v for k, v in rec.items() if k.startswith("reconstruction_")}},
        {"set": "generated samples", **g},
    ]
    lines = [
        f"Measured {r['date']} on " + (f"{m['gpu']} (CUDA {m['cuda']}) with " if m.get("gpu") else "")
        + f"{m['cpu']} ({m['cores']} cores, torch {m['torch']}, {m['torch_threads']} threads) "
        f"with `{measuring_command(r['command'])}`; models of the `{tr['autoencoder']['profile']}` profile{model}; "
        f"N = {g['samples']} "
        f"generated samples ({label}, guidance {g['guidance']:g} on "
        f"{interval_label(g['guidance_interval'])}, seed {r['settings']['seed']})."
        + (f" ± is the standard error of the mean over {g['seeds']} sampling seeds (the floor: over as many "
           "training subsets; the test set fixed); two values differ only when they are more than twice their "
           "combined error bar apart." if g.get("seeds") else ""),
        "",
        *table(headline, TARGET_TABLE),
        "",
        f"Where quality and variety are lost (N = {g['samples']} each, against the balanced real test set; judge "
        "features; precision and recall with k = 3):",
        "",
        *table(sets, [Column("set", lambda row: row["set"]), measure("FID", "fid"),
                      _ratio("FID / floor", "fid_over_floor", ".2f"), PRECISION, RECALL,
                      _ratio("precision / real", "precision_over_floor", ".3f"),
                      _ratio("recall / real", "recall_over_floor", ".3f")]),
    ]
    return "\n".join(lines)


def _ratio(header: str, key: str, spec: str) -> Column:
    """A ratio to the floor: "1" on the floor's own row."""
    return Column(header, lambda row: "1" if row.get("plain") else pm(row, key, spec))


def render_sweeps(r: dict) -> str:
    """The guidance, guidance-interval and sampler sweeps at the sweep size, those the report ran (book/results.md,
    "The sweeps")."""
    g, sf = r["generated"], r["sweep_floor"]
    n = next(rows[0]["samples"] for rows in (r.get(k) for k in ("guidance_sweep", "interval_sweep", "step_sweep"))
             if rows)
    label = f"{sampler_title(g)}-{g['steps']}"
    floor = f"real-vs-real at this N: FID {pm(sf, 'fid')}, precision {pm(sf, 'precision')}, recall {pm(sf, 'recall')}"
    guidance = Column("guidance w", lambda row: f"{row['guidance']:g}")
    applied = Column("applied on", INTERVAL.cell)
    parts = []
    if r.get("guidance_sweep"):
        parts += [f"Guidance sweep ({label}, N = {n}; {floor}):", "",
                  *table(r["guidance_sweep"], [guidance, applied, ACCURACY, FID_RATIO, PRECISION, RECALL,
                                               measure("KID", "kid", ".5f"), SECONDS])]
        floor = None  # said once, with the first table
    if r.get("interval_sweep"):
        parts += ["", f"Guidance interval sweep ({label}, guidance {g['guidance']:g}, N = {n}"
                  + (f"; {floor}" if floor else "") + "):", "",
                  *table(r["interval_sweep"], [INTERVAL, ACCURACY, FID_RATIO, PRECISION, RECALL, SECONDS])]
        floor = None
    if r.get("step_sweep"):
        parts += ["", f"Sampler sweep (guidance {g['guidance']:g} on {interval_label(g['guidance_interval'])}, "
                  f"N = {n}" + (f"; {floor}" if floor else "") + "):", "",
                  *table(r["step_sweep"], [Column("sampler", sampler_title),
                                           Column("steps", lambda row: f"{row['steps']}"),
                                           ACCURACY, FID_RATIO, PRECISION, RECALL, SECONDS])]
    return "\n".join(parts).lstrip("\n")


def render_flow_comparison(r: dict) -> str:
    """The table at equal network evaluations: diffusion's samplers against flow matching's (chapter 6,
    book/results.md, "Flow matching against diffusion")."""
    rows, floor, tr = r["flow_comparison"], r["floor"], r["training"]
    first = {row["model"]: row for row in reversed(rows)}  # each model's first row
    models = list(dict.fromkeys(row["model"] for row in rows))  # in the table's order
    train = ", ".join(f"{m} {tr[m]['epochs']} epochs, {tr[m]['train_seconds'] / 60:.1f} min" for m in models)
    guided = ", ".join(f"{m} guidance {first[m]['guidance']:g} on {interval_label(first[m]['guidance_interval'])}"
                       for m in models)
    columns = [Column("NFE", lambda row: f"{row['nfe']}"), Column("model", lambda row: row["model"]),
               Column("solver", lambda row: row["solver"]), Column("steps", lambda row: f"{row['steps']}"),
               ACCURACY, FID_RATIO, measure("precision / real", "precision_over_floor"),
               measure("recall / real", "recall_over_floor"),
               Column("s per 1000", lambda row: f"{row['seconds_per_1000']:.2f}")]
    return "\n".join([
        f"Diffusion against flow matching (same network, same latents, same batch and epochs; as recorded when each "
        f"was trained: {train}), N = {rows[0]['samples']} per row; {guided}; real-vs-real at this N: FID "
        f"{pm(floor, 'fid')}, precision {pm(floor, 'precision')}, recall {pm(floor, 'recall')}. NFE = network "
        "evaluations per sample (a guided one runs its two passes as one batch):", "",
        *table(rows, columns)])


# --------------------------------------------------------------------------------------------------- the README
def readme_block(text: str, name: str) -> tuple[int, int]:
    """Where the README's generated block ``name`` lies: the span between ``<!-- results:NAME -->`` and
    ``<!-- /results:NAME -->`` (both marker lines kept)."""
    begin, end = f"<!-- results:{name} -->\n", f"\n<!-- /results:{name} -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"the README has no '{begin.strip()}' ... '{end.strip()}' block: add the two marker lines "
                         "where the results table belongs")
    return start + len(begin), stop


def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with its generated block ``name`` (:func:`readme_block`) replaced by ``block``."""
    start, stop = readme_block(text, name)
    return text[:start] + block + text[stop:]


def check_block(readme: str | os.PathLike, name: str) -> None:
    """Before minutes of measurements, not after: ``--readme FILE`` exists (FileNotFoundError: a missing input) and
    has the block ``name`` (ValueError, naming the marker lines to add)."""
    path = Path(readme)
    if not path.is_file():
        raise FileNotFoundError(f"--readme {path}: no such file")
    readme_block(path.read_text(), name)


def headline_block_name(profile: str, denoiser: str = "unet") -> str:
    """The README block of a report's headline: the profile's name, with ``-<architecture>`` for a denoiser other
    than the UNet (``full``, ``fast``, ``full-dit``)."""
    return profile if denoiser == "unet" else f"{profile}-{denoiser}"


def readme_blocks(r: dict) -> dict[str, str]:
    """The README blocks a report fills, by name: the headline (:func:`headline_block_name`), and where it measured
    them ``PROFILE-sweeps`` (:func:`render_sweeps`) and ``PROFILE-flow`` (:func:`render_flow_comparison`)."""
    profile = r["training"]["autoencoder"]["profile"]
    head = headline_block_name(profile, denoiser_of(r) or "unet")
    blocks = {head: render_headline(r)}
    if r.get("guidance_sweep") or r.get("interval_sweep") or r.get("step_sweep"):
        blocks[f"{head}-sweeps"] = render_sweeps(r)
    if r.get("flow_comparison"):
        blocks[f"{head}-flow"] = render_flow_comparison(r)
    return blocks


def sync_readme(readme: str | os.PathLike, r: dict) -> bool:
    """Write the report's tables into the README's blocks (:func:`readme_blocks`; the headline block must exist, the
    others are filled where the README has them); True if the file changed. The README's numbers are then the
    report's, never typed in (tests/test_readme.py checks)."""
    path = Path(readme)
    text = new = path.read_text()
    blocks = readme_blocks(r)
    required = next(iter(blocks))  # the headline block
    for name, block in blocks.items():
        if name != required and f"<!-- results:{name} -->" not in new:
            continue
        new = replace_block(new, name, block)
    if new != text:
        path.write_text(new)
    return new != text


# --------------------------------------------------------------------------------------------------- denoisers
def render_denoiser_comparison(reports: dict[str, dict], step_ms: dict[str, float] | None = None) -> str:
    """Benchmark reports of the same model with different denoisers (name → ``metrics.json``), side by side: size,
    quality beside the floor, and speed (the recorded training loop, sampling, and ``step_ms``, a training step's
    milliseconds measured by the caller on one machine)."""
    rows = []
    for name, r in reports.items():
        g, tr = r["generated"], r["training"]["diffusion"]
        rows.append({"name": name, **g, "parameters": tr["parameters"], "train_minutes": tr["train_seconds"] / 60,
                     "seconds_per_1000": 1000 / speeds(r["throughput"])[0]})
    columns = [Column("denoiser", lambda row: row["name"]), Column("parameters", lambda row: f"{row['parameters']:,}"),
               ACCURACY, measure("FID / floor", "fid_over_floor", ".2f"),
               measure("precision / real", "precision_over_floor"), measure("recall / real", "recall_over_floor"),
               Column("s per 1000 samples", lambda row: f"{row['seconds_per_1000']:.2f}"),
               Column("training loop (recorded)", lambda row: f"{row['train_minutes']:.1f} min")]
    if step_ms:
        columns.append(Column("ms per training step (here)", lambda row: f"{step_ms[row['name']]:.1f}"))
    return "\n".join(table(rows, columns))
