"""The live path: a notebook run inside a real JupyterLab, its scrubber driven in headless Chromium.

Run by ``make test-book`` (marker ``book``). Starts JupyterLab on 127.0.0.1 with no token, opens chapter 2, runs all
cells through JupyterLab's own command, then presses the ipywidgets Play button and checks that the image follows;
then runs the generator panel in a scratch notebook and presses Generate. Chromium comes from conftest's ``browser``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def run_all_cells(browser, lab: str, name: str):
    """A new page with notebook ``name`` open in JupyterLab and all its cells sent to the kernel."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{lab}/lab/tree/{name}", wait_until="domcontentloaded")
    page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=90_000)
    try:  # run-all sent before the kernel is up can be lost on a loaded machine: wait for it to be idle first
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    except pytest.importorskip("playwright.sync_api").TimeoutError:
        pass  # an older JupyterLab without these attributes: fall back to the grace period below
    page.wait_for_timeout(3000)  # kernel start
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page


KERNEL_IDLE = """() => {
    const widget = window.jupyterapp.shell.currentWidget;
    const kernel = widget && widget.sessionContext && widget.sessionContext.session
        && widget.sessionContext.session.kernel;
    return Boolean(kernel) && kernel.status === "idle";
}"""


def test_play_button_scrubs_the_live_widget(lab, browser):
    page = run_all_cells(browser, lab, "02_forward_diffusion.ipynb")
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
    outputs = page.locator(".jp-OutputArea-output").all_text_contents()
    checks = [line for text in outputs for line in text.splitlines() if line.startswith(("q_step:", "alpha_bar:",
                                                                                         "q_sample:"))]
    stub_shown = page.locator(".jp-Cell .jp-InputArea", has_text="NotImplementedError").count()
    solution_open = None
    if written_count:
        written.first.scroll_into_view_if_needed()
        written.first.locator("summary").click()
        page.wait_for_timeout(500)
        solution_open = written.first.evaluate("d => d.open && d.innerText.length > 40")
        page.screenshot(path=str(ROOT / "book" / "_build" / "screenshots" / "jupyterlab_02_solution.png"))
    page.close()
    assert first and later and first != later, "the image did not follow the Play button in JupyterLab"
    assert listings >= 1, "no source listing rendered in JupyterLab"
    assert written_count >= 1 and solution_open, "written solutions are not folded <details> that open"
    assert folded_inputs >= 4, "solution code cells are not collapsed in JupyterLab"  # 3 exercises + exercise 3
    # the learner's edition: each exercise's stub, its check ("not attempted"), and the folded solution ("passed")
    assert stub_shown >= 3, "the exercises' stubs are not shown in JupyterLab"
    for name in ("q_step", "alpha_bar", "q_sample"):
        assert f"{name}: not attempted" in " ".join(checks) and f"{name}: passed" in " ".join(checks), checks


def test_generator_panel_runs_the_python_model_in_jupyterlab(lab, browser):
    """In a kernel the generator panel's controls are ipywidgets that call pipe.generate: Generate with another
    seed draws another grid, and the panel prints the Python call that makes it."""
    import nbformat

    name = "_lab_generator_check.ipynb"  # a scratch notebook next to the chapters (ignored by git), removed after
    path = ROOT / "notebooks" / name
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}  # no dialog
    nbformat.write(nbformat.v4.new_notebook(metadata=kernel, cells=[nbformat.v4.new_code_cell(
        "from fmd_utils import load_pretrained\nfrom fmd_utils.views import generator_panel\n"
        "generator_panel(load_pretrained(), 'Trouser')")]), path)
    try:
        page = run_all_cells(browser, lab, name)
        image = page.locator(".jp-OutputArea .widget-image").last
        image.wait_for(state="attached", timeout=120_000)
        first = image.get_attribute("src")
        status = page.locator(".jp-OutputArea .widget-html").last.inner_text()
        seed = page.locator(".jp-OutputArea .widget-text input").last
        seed.fill("7")
        seed.press("Enter")
        page.locator(".jp-OutputArea button:has-text('Generate')").click()
        page.wait_for_function("src => { const i = [...document.querySelectorAll('.jp-OutputArea .widget-image')]"
                               ".pop(); return i && i.src !== src; }", arg=first, timeout=60_000)
        # the panel sets the image, then the status: two widget updates that reach the page one after the other
        page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea .widget-html')].pop()"
                               "?.innerText.includes('seed=7')", timeout=10_000)
        later_status = page.locator(".jp-OutputArea .widget-html").last.inner_text()
        page.screenshot(path=str(ROOT / "book" / "_build" / "screenshots" / "jupyterlab_generator.png"))
        page.close()
    finally:
        path.unlink(missing_ok=True)
    assert first.startswith("data:image/png") or first.startswith("blob:"), first[:40]
    assert 'pipe.generate(["Trouser"] * 16, seed=0' in status, status
    assert "seed=7" in later_status, later_status
