"""The generator panel: pick a class, a guidance weight, its interval, a sampler, its steps and a seed; press Generate;
see 16 new garments.

One panel, two engines. In the static book, ``<div class="fmd-generator">`` is filled by
``book/_generator/fmd-generator.js``, which runs the shipped denoiser and decoder in the reader's browser (weights from
:mod:`fmd_utils.views.export`), with no kernel. In a live kernel (JupyterLab) the same controls are ipywidgets that call
:meth:`LatentDiffusionPipeline.generate` — the package itself, which is the point of a notebook: the reader can
open the code the button runs. Both draw the same images for the same settings and seed (the page draws its noise
with torch's generator; ``tests/test_generator.py`` checks the pixels), and both print the Python call that
reproduces the grid.

Displaying a :class:`GeneratorPanel` offers both, like :class:`~fmd_utils.views.players.TimestepPlayer`: its MIME bundle
holds the widget view and the page's ``<div>`` as ``text/html``; ``make book`` (``FMD_STATIC_PLAYERS=1``) keeps
only the ``<div>``.
"""

from __future__ import annotations

import html
import os

import torch

from ..checks import MAX_SEED, check_seed
from ..classes import CLASS_NAMES, class_index
from ..pipeline import LatentDiffusionPipeline
from ..samplers import get_sampler
from ..settings import SamplingSettings
from .export import check_page_can_run, sampler_menu

GRID = 4  # 16 samples, 4 × 4, as in the page
SCALE, GAP = 3, 2  # each image shown 3× larger, 2 white pixels between images (as the page's canvas)
MAX_GUIDANCE = 8.0


def grid_png(images: torch.Tensor) -> bytes:
    """(16, 1, 28, 28) images in [0, 1] → the page's 4 × 4 grid as PNG bytes (342 × 342, crisp pixels)."""
    import io

    import numpy as np
    from PIL import Image

    side = 28 * SCALE
    canvas = np.full((GRID * side + (GRID - 1) * GAP,) * 2, 255, dtype=np.uint8)
    pixels = (images[:, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8).repeat(SCALE, 1).repeat(SCALE, 2)
    for k, image in enumerate(pixels[: GRID * GRID]):
        top, left = (k // GRID) * (side + GAP), (k % GRID) * (side + GAP)
        canvas[top:top + side, left:left + side] = image
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


class GeneratorPanel:
    """The controls' state and what they produce; ``widget()`` (kernel) and ``html()`` (static page) show it."""

    def __init__(self, pipe: LatentDiffusionPipeline, class_name: str = "Sandal", seed: int = 0) -> None:
        self.pipe = pipe
        self.class_name = CLASS_NAMES[class_index(class_name)]
        self.seed = check_seed(seed)  # the page's rule: 0 … 2³² − 1
        check_page_can_run(pipe)  # the page runs the shipped design (its samplers, the stored steps among its choices)
        stored = pipe.diffusion.sampling
        self.interval = stored.guidance_interval or (0, pipe.diffusion.num_steps - 1)  # what "guide only on" means
        self.settings = stored

    def settings_for(self, guidance: float, interval_on: bool, steps: int, sampler: str | None = None
                     ) -> SamplingSettings:
        """``sampler`` (default: the stored one) with ``steps`` and guidance w, on the model's interval or on every
        step, as the page runs it."""
        interval = self.interval if interval_on else None
        return SamplingSettings(sampler=sampler or self.settings.sampler, steps=steps, guidance=guidance,
                                guidance_interval=interval)

    def step_choices(self, sampler: str) -> tuple[list[tuple[str, int]], int]:
        """The page's step counts for ``sampler`` as (label, steps) options, and the one shown first."""
        choices, first = sampler_menu(self.settings)[sampler]
        per_step = get_sampler(sampler).evaluations_per_step
        options = [(str(k) if per_step == 1 else f"{k} ({k * per_step} evaluations)", k) for k in choices]
        return options, first

    def images(self, class_name: str | None = None, seed: int | None = None,
               settings: SamplingSettings | None = None) -> torch.Tensor:
        """The 16 images (16, 1, 28, 28) the panel shows for these choices (default: the current ones)."""
        name = class_name or self.class_name
        return self.pipe.generate([name] * GRID**2, self.seed if seed is None else seed,
                                  settings=settings or self.settings)

    def python_call(self, class_name: str, seed: int, settings: SamplingSettings) -> str:
        interval = tuple(settings.guidance_interval) if settings.guidance_interval else None
        return (f'pipe.generate(["{class_name}"] * 16, seed={seed}, sampler="{settings.sampler}", '
                f"steps={settings.steps}, "
                f"guidance={settings.guidance:.1f}, guidance_interval={interval})")

    def html(self) -> str:
        """The static page's panel: a placeholder that the book's fmd-generator.js replaces with the generator."""
        return (f'<div class="fmd-generator" data-class="{html.escape(self.class_name)}"><p><em>The generator runs in '
                "the built book, in your browser (no kernel needed). In JupyterLab, run this cell: the same controls "
                "then drive the Python model.</em></p></div>")

    def widget(self):
        """ipywidgets: the page's controls, a Generate button, the 4 × 4 grid and the Python call that makes it."""
        import ipywidgets as w

        stored = self.settings
        wide = {"description_width": "initial"}  # labels in full ("guidance w", not "guidan…")
        classes = w.Dropdown(options=list(CLASS_NAMES), value=self.class_name, description="class", style=wide)
        guidance = w.FloatSlider(value=stored.guidance, min=0.0, max=MAX_GUIDANCE, step=0.5, description="guidance w",
                                 style=wide)
        interval = w.Checkbox(value=stored.guidance_interval is not None,
                              description=f"guide only for t in [{self.interval[0]}, {self.interval[1]}]")
        sampler = w.Dropdown(options=[(get_sampler(name).title, name) for name in sampler_menu(stored)],
                             value=stored.sampler,
                             description="sampler", style=wide)
        options, first = self.step_choices(stored.sampler)
        steps = w.Dropdown(options=options, value=first, description="steps", style=wide)

        def offer_steps(change) -> None:
            steps.options, steps.value = self.step_choices(change["new"])

        sampler.observe(offer_steps, names="value")
        seed = w.BoundedIntText(value=self.seed, min=0, max=MAX_SEED, description="seed", style=wide)
        button = w.Button(description="Generate", button_style="primary")
        image = w.Image(format="png", layout=w.Layout(width=f"{GRID * 28 * SCALE + (GRID - 1) * GAP}px"))
        status = w.HTML()

        def generate(_=None) -> None:
            settings = self.settings_for(guidance.value, interval.value, steps.value, sampler.value)
            images = self.images(classes.value, seed.value, settings)
            image.value = grid_png(images)
            status.value = (f"16 × {classes.value}, {settings.describe()}, seed {seed.value}<br>"
                            f"<code>{html.escape(self.python_call(classes.value, seed.value, settings))}</code>")

        button.on_click(generate)
        generate()
        box = w.VBox([w.HBox([classes, guidance]), w.HBox([sampler, steps, seed]), w.HBox([interval, button]), image,
                      status])
        box.controls = {"class": classes, "guidance": guidance, "interval": interval, "sampler": sampler,
                        "steps": steps, "seed": seed}
        box.button, box.image, box.status = button, image, status  # handles for tests
        return box

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/html": self.html(), "text/plain": f"<generator panel: {self.class_name}>"}
        if os.environ.get("FMD_STATIC_PLAYERS") == "1":  # building static pages: the browser's generator only
            return bundle
        try:
            widget_bundle = self.widget()._repr_mimebundle_()
        except Exception:  # noqa: BLE001 - no ipywidgets/comm: the static panel is still complete
            widget_bundle = None
        if widget_bundle:
            bundle.update({k: v for k, v in widget_bundle.items() if k != "text/plain"})
        return bundle


def generator_panel(pipe: LatentDiffusionPipeline, class_name: str = "Sandal", seed: int = 0) -> GeneratorPanel:
    """The generator panel for ``pipe`` (see the module docstring), starting on ``class_name`` and ``seed``."""
    return GeneratorPanel(pipe, class_name, seed)
