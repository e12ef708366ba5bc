"""Show the package's own code in a chapter, so the listing beside an equation can never drift from what runs.

    >>> from fmd_utils.views import show_source
    >>> show_source(LatentDiffusion.loss_at)          # in a notebook: highlighted, with its file and line numbers

The listing is self-contained HTML (Pygments with inline styles: no stylesheet, nothing fetched), so it looks the
same in JupyterLab, in the static book and on GitHub; its plain-text form is the source itself.
"""

from __future__ import annotations

import html
import inspect
import textwrap
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding fmd_utils/


class SourceListing:
    """The source of one function, method or class, with where it lives; displays as highlighted HTML."""

    def __init__(self, obj, lines: tuple[int, int] | None = None) -> None:
        obj = inspect.unwrap(getattr(obj, "fget", obj))  # properties and decorated functions show their body
        source_lines, first = inspect.getsourcelines(obj)
        if lines is not None:  # a slice of the object's lines, 1-based and inclusive, relative to its first line
            lo, hi = lines
            if not 1 <= lo <= hi <= len(source_lines):
                raise ValueError(f"lines must satisfy 1 <= lo <= hi <= {len(source_lines)}, got {lines}")
            source_lines, first = source_lines[lo - 1 : hi], first + lo - 1
        self.code = textwrap.dedent("".join(source_lines)).rstrip() + "\n"
        self.first_line, self.last_line = first, first + len(source_lines) - 1
        path = Path(inspect.getsourcefile(obj)).resolve()
        self.path = path.relative_to(_PACKAGE_ROOT).as_posix() if path.is_relative_to(_PACKAGE_ROOT) else path.name
        self.name = f"{obj.__module__}.{obj.__qualname__}"

    @property
    def caption(self) -> str:
        return f"{self.name} — {self.path}, lines {self.first_line}–{self.last_line}"

    def __repr__(self) -> str:
        return f"# {self.caption}\n{self.code}"

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        formatter = HtmlFormatter(noclasses=True, style="default", linenos="inline", linenostart=self.first_line,
                                  cssstyles="margin: 0; padding: 0.5em 0.8em; line-height: 1.35; font-size: 0.85em")
        body = highlight(self.code, PythonLexer(), formatter)
        return ('<figure class="fmd-source" style="margin: 0.5em 0; border: 1px solid #d0d7de; border-radius: 4px; '
                'overflow-x: auto">'
                f'<figcaption style="font-size: 0.8em; padding: 0.3em 0.8em; background: #f3f4f6; color: #444; '
                f'border-bottom: 1px solid #d0d7de">{html.escape(self.caption)}</figcaption>{body}</figure>')


def show_source(obj, lines: tuple[int, int] | None = None) -> SourceListing:
    """The source of ``obj`` (a function, method, property or class of ``fmd_utils``) for display in a notebook;
    ``lines`` = (lo, hi) shows only those lines of it (1 = its first line)."""
    return SourceListing(obj, lines)
