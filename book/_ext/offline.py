"""Sphinx extension for an offline book: drop sphinx-thebe's scripts from every page.

Thebe ("launch a live kernel") needs a remote server and a script from a CDN, so it cannot work offline; Jupyter
Book 1 always loads it and declares its configuration twice per page, which is a JavaScript error
("Identifier 'THEBE_JS_URL' has already been declared"). Our pages need neither.
"""

from __future__ import annotations


def _is_thebe(asset) -> bool:
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "sphinx-thebe" in str(getattr(asset, "filename", asset)) or "THEBE_JS_URL" in body


def strip_thebe(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def setup(app):
    app.connect("html-page-context", strip_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
