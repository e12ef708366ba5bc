"""Timestep scrubbers: a play button and a slider over *precomputed* frames.

``timestep_player(frames, labels)`` shows, in a live kernel, an ipywidgets ``Play`` linked to an ``IntSlider``
(``jslink``, so playing runs in the browser) above an image; moving the slider swaps in a precomputed PNG, so it never
waits on the model. Without a kernel (a static page), ``player.to_jshtml()`` gives matplotlib's self-contained
JavaScript player over the same frames.

Displaying a :class:`TimestepPlayer` offers both at once: its MIME bundle holds the widget view *and* the static
player as ``text/html``. JupyterLab with a live kernel renders the widget; anything without a widget manager (a
static page, GitHub, nbviewer) falls back to the HTML player. ``make book`` sets ``FMD_STATIC_PLAYERS=1`` so the
static book carries only the HTML player (and no widget state or widget JavaScript to load).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence

import numpy as np
import torch

# matplotlib's player draws its buttons with Font Awesome from a CDN; offline that CSS never arrives and the buttons
# are blank. We drop the remote stylesheet and draw the same buttons with Unicode symbols.
_REMOTE_FONT_AWESOME = re.compile(r'<link rel="stylesheet"\s*href="https?://[^"]*font-awesome[^"]*">\s*')
_ICONS = {  # glyphs from the basic geometric-shapes block, which every common font has
    "fa fa-play fa-flip-horizontal": "\u25c0",  # ◀ play backwards
    "fa fa-fast-backward": "|\u25c0",  # |◀ first frame
    "fa fa-step-backward": "\u25c2|",  # ◂| previous frame
    "fa fa-step-forward": "|\u25b8",  # |▸ next frame
    "fa fa-fast-forward": "\u25b6|",  # ▶| last frame
    "fa fa-pause": "||",
    "fa fa-play": "\u25b6",  # ▶
    "fa fa-minus": "\u2212",  # − slower
    "fa fa-plus": "+",  # faster
}


def offline_jshtml(html_or_animation) -> str:
    """matplotlib ``to_jshtml`` output (or a ``FuncAnimation``) made self-contained: no remote stylesheet, buttons
    labelled with Unicode symbols instead of Font Awesome icons."""
    html = html_or_animation if isinstance(html_or_animation, str) else html_or_animation.to_jshtml(
        default_mode="once")
    html = _REMOTE_FONT_AWESOME.sub("", html)
    for css_class, symbol in _ICONS.items():  # longest class first: "fa fa-play fa-flip-horizontal" before "fa fa-play"
        html = html.replace(f'<i class="{css_class}"></i>', f'<span aria-hidden="true">{symbol}</span>')
    return html


def _to_uint8(frame: torch.Tensor | np.ndarray) -> np.ndarray:
    array = frame.detach().cpu().numpy() if isinstance(frame, torch.Tensor) else np.asarray(frame)
    if array.ndim == 3 and array.shape[0] in (1, 3):  # (C, H, W) -> (H, W[, C])
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    return (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)


def frame_png(frame: torch.Tensor | np.ndarray, scale: int = 4) -> bytes:
    """One frame (H, W), (1, H, W) or (3, H, W) in [0, 1] → PNG bytes, enlarged ``scale``× with crisp pixels."""
    from PIL import Image

    image = Image.fromarray(_to_uint8(frame))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class TimestepPlayer:
    """Frames + labels, shown as a live widget (``.widget()``) or a static player (``.to_jshtml()``)."""

    def __init__(self, frames: Sequence, labels: Sequence[str], scale: int = 4, interval_ms: int = 150,
                 title: str = "") -> None:
        if len(frames) != len(labels):
            raise ValueError(f"got {len(frames)} frames but {len(labels)} labels; give one label per frame")
        if len(frames) == 0:
            raise ValueError("timestep_player needs at least one frame")
        self.frames = [_to_uint8(f) for f in frames]
        self.labels = list(labels)
        self.scale, self.interval_ms, self.title = scale, interval_ms, title
        self._png = [frame_png(f / 255.0, scale) for f in self.frames]

    def __len__(self) -> int:
        return len(self.frames)

    def widget(self):
        """ipywidgets: Play ↔ IntSlider (jslink) above the image and its label; the slider swaps precomputed PNGs."""
        import ipywidgets as w

        play = w.Play(value=0, min=0, max=len(self) - 1, step=1, interval=self.interval_ms, description="Play")
        slider = w.IntSlider(value=0, min=0, max=len(self) - 1, step=1, description="frame",
                             continuous_update=True, readout=False, layout=w.Layout(width="420px"))
        w.jslink((play, "value"), (slider, "value"))
        width = self.frames[0].shape[1] * self.scale  # natural size: the widget would otherwise stretch to the page
        image = w.Image(value=self._png[0], format="png", layout=w.Layout(width=f"{width}px"))
        label = w.HTML(value=self._label_html(0))

        def show(change: dict) -> None:
            image.value = self._png[change["new"]]
            label.value = self._label_html(change["new"])

        slider.observe(show, names="value")
        box = w.VBox([w.HBox([play, slider]), label, image])
        box.slider, box.play, box.image = slider, play, image  # handles for tests and notebooks
        return box

    def _label_html(self, index: int) -> str:
        prefix = f"<b>{self.title}</b> &nbsp; " if self.title else ""
        return f"{prefix}{self.labels[index]}"

    def animation(self, dpi: int = 100, fontsize: int = 10):
        """The frames as a matplotlib ``FuncAnimation`` (its figure already closed, so it is not shown twice)."""
        import matplotlib.pyplot as plt
        from matplotlib.animation import FuncAnimation

        height, width = self.frames[0].shape[:2]
        fig_width = min(9.0, max(2.0, width * self.scale / dpi))
        fig, ax = plt.subplots(figsize=(fig_width, fig_width * height / width + 0.4), dpi=dpi)
        artist = ax.imshow(self.frames[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.axis("off")
        text = ax.set_title(self.labels[0], fontsize=fontsize)
        fig.tight_layout()

        def update(i: int):
            artist.set_data(self.frames[i])
            text.set_text(self.labels[i])
            return artist, text

        animation = FuncAnimation(fig, update, frames=len(self), interval=self.interval_ms, blit=False)
        plt.close(fig)
        return animation

    def to_jshtml(self, dpi: int = 100) -> str:
        """A self-contained HTML/JavaScript player (matplotlib's ``to_jshtml``): works with no kernel and offline."""
        return offline_jshtml(self.animation(dpi))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/html": self.to_jshtml(), "text/plain": f"<timestep player: {len(self)} frames>"}
        if os.environ.get("FMD_STATIC_PLAYERS") == "1":  # building static pages (make book): no widget, no its JS
            return bundle
        try:
            widget_bundle = self.widget()._repr_mimebundle_()
        except Exception:  # noqa: BLE001 - no ipywidgets/comm available: the static player is still complete
            widget_bundle = None
        if widget_bundle:
            bundle.update({k: v for k, v in widget_bundle.items() if k != "text/plain"})
        return bundle


def timestep_player(frames: Sequence, labels: Sequence[str], **kwargs) -> TimestepPlayer:
    """A scrubber over precomputed ``frames`` (each (H, W) or (C, H, W) in [0, 1]) with one label per frame: a
    :class:`TimestepPlayer`, which displays as the live widget in a kernel and as the static player without one;
    ``.widget()`` gives the ipywidgets box alone."""
    return TimestepPlayer(frames, labels, **kwargs)
