"""The live path: a notebook run inside a real JupyterLab, its scrubber driven in headless Chromium.

Run by ``make test-book`` (marker ``book``). Starts JupyterLab on 127.0.0.1 with no token, opens chapter 2, runs all
cells through JupyterLab's own command, then presses the ipywidgets Play button and checks that the image follows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.book


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    notebook = ROOT / "notebooks" / "02_forward_diffusion.ipynb"
    if not notebook.is_file():
        pytest.fail("notebooks/*.ipynb missing: run `make notebooks` first (make test-book does)")
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path_factory.mktemp("jupyter-config"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", "--allow-root",
         "--expose-app-in-browser", "--ServerApp.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={ROOT / 'notebooks'}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        server.kill()
        pytest.fail("JupyterLab did not start within 90 s")
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_play_button_scrubs_the_live_widget(lab):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                    "--no-first-run", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{lab}/lab/tree/02_forward_diffusion.ipynb", wait_until="domcontentloaded")
        page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=90_000)
        page.wait_for_timeout(3000)  # kernel start
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        image = page.locator(".jp-OutputArea .widget-image").last
        image.wait_for(state="attached", timeout=240_000)  # all cells, the player is the last output
        image.scroll_into_view_if_needed()
        first = image.get_attribute("src")
        page.locator(".jp-OutputArea .widget-play button").first.click()  # Play (jslinked to the slider)
        page.wait_for_timeout(2500)
        later = image.get_attribute("src")
        page.screenshot(path=str(ROOT / "book" / "_build" / "screenshots" / "jupyterlab_02.png"))
        listings = page.locator(".jp-OutputArea figure.fmd-source").count()  # show_source renders as HTML
        written = page.locator(".jp-MarkdownOutput details:has(> summary)")
        written_count = written.count()
        folded_inputs = page.locator(".jp-Cell .jp-InputPlaceholder").count()  # solution cells: input collapsed
        solution_open = None
        if written_count:
            written.first.scroll_into_view_if_needed()
            written.first.locator("summary").click()
            page.wait_for_timeout(500)
            solution_open = written.first.evaluate("d => d.open && d.innerText.length > 40")
            page.screenshot(path=str(ROOT / "book" / "_build" / "screenshots" / "jupyterlab_02_solution.png"))
        browser.close()
    assert first and later and first != later, "the image did not follow the Play button in JupyterLab"
    assert listings >= 1, "no source listing rendered in JupyterLab"
    assert written_count >= 1 and solution_open, "written solutions are not folded <details> that open"
    assert folded_inputs >= 1, "solution code cells are not collapsed in JupyterLab"
