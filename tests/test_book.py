"""The built static book, opened from disk in headless Chromium with the network unused.

Run by ``make test-book`` (which builds the book first); marked ``book`` so ``make test``'s unit run skips it.
Checks, per page: no console errors, no failed requests, no request leaving the file system, no broken images,
maths typeset where there is maths, every scrubber changes its image when moved and when played; saves a
screenshot of each page under ``book/_build/screenshots``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
SCREENSHOTS = ROOT / "book" / "_build" / "screenshots"
PAGES = {
    "intro": {"maths": False, "scrubbers": 0},
    "notebooks/01_autoencoder": {"maths": True, "scrubbers": 0},
    "notebooks/02_forward_diffusion": {"maths": True, "scrubbers": 1},
    "notebooks/03_conditional_unet": {"maths": True, "scrubbers": 0},
    "notebooks/04_sampling": {"maths": True, "scrubbers": 1},
    "notebooks/05_visualization": {"maths": True, "scrubbers": 1},  # the forward/reverse animation
    "notebooks/06_flow_matching": {"maths": True, "scrubbers": 1},  # diffusion and flow side by side
    "notebooks/07_continuous_view": {"maths": True, "scrubbers": 0},
    "results": {"maths": False, "scrubbers": 0},  # the benchmark's tables, which must render as tables
    "appendix_package": {"maths": False, "scrubbers": 0},
}

pytestmark = [
    pytest.mark.book,
    pytest.mark.skipif(not (HTML / "index.html").is_file(), reason="book not built: run `make test-book`"),
]


def test_no_remote_scripts_or_stylesheets_and_pages_are_light():
    for page in PAGES:
        html = (HTML / f"{page}.html").read_text()
        remote = [m for m in re.findall(r'<(?:script|link)[^>]*>', html) if re.search(r'(src|href)="(https?:)?//', m)
                  and ("<script" in m or "stylesheet" in m)]
        assert not remote, f"{page}: remote resources {remote[:3]}"
        size = (HTML / f"{page}.html").stat().st_size
        assert size <= 5_000_000, f"{page}.html is {size / 1e6:.1f} MB"
        # progress bars are widgets in a kernel; in a static page they would be empty placeholders with no state
        assert "application/vnd.jupyter.widget-view+json" not in html, f"{page}: widget views without state"


@pytest.mark.parametrize("page_name", list(PAGES))
def test_page_renders_offline(browser, page_name):
    expected = PAGES[page_name]
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors, failed, remote = [], [], []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: failed.append(f"{req.url} ({req.failure})"))
    page.on("request", lambda req: remote.append(req.url) if not req.url.startswith(("file:", "data:", "blob:"))
            else None)
    page.goto((HTML / f"{page_name}.html").as_uri(), wait_until="load")
    page.wait_for_timeout(1500)  # MathJax typesets asynchronously
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{page_name.split('/')[-1]}.png"), full_page=True)

    assert not errors, f"console errors: {errors[:5]}"
    assert not failed, f"failed requests: {failed[:5]}"
    assert not remote, f"requests leaving the disk: {remote[:5]}"
    # a Markdown table a cell displayed (the benchmark's tables) must be a table, not its pipes as text
    pipes = page.evaluate(r"""() => {
        const prose = document.querySelector('main').cloneNode(true);
        prose.querySelectorAll('pre, code, script, .highlight').forEach(e => e.remove());
        return /\|\s*-{3,}\s*\|/.test(prose.innerText);
    }""")
    assert not pipes, "a Markdown table is shown as text (its |---| rule is in the prose)"
    broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                           ".map(i => i.src.slice(0, 80))")
    assert not broken, f"broken images: {broken}"
    if expected["maths"]:
        typeset = page.evaluate("document.querySelectorAll('mjx-container').length")
        # LaTeX left visible in the prose (code cells legitimately contain LaTeX strings for plot labels)
        raw = page.evaluate(r"""() => {
            const prose = document.querySelector('main').cloneNode(true);
            prose.querySelectorAll('pre, code, script, mjx-container, .highlight').forEach(e => e.remove());
            return /\\(bar|mathcal|sqrt|frac|varepsilon)|\$\$/.test(prose.innerText);
        }""")
        assert typeset > 0 and not raw, f"maths not typeset ({typeset} formulas, raw LaTeX visible: {raw})"

    sliders = page.locator("div.animation input[type=range]")
    assert sliders.count() == expected["scrubbers"]
    for i in range(sliders.count()):
        slider = sliders.nth(i)
        slider.scroll_into_view_if_needed()
        image = page.locator("div.animation img").nth(i)
        before = image.get_attribute("src")
        maximum = int(slider.get_attribute("max"))
        slider.fill(str(maximum // 2))  # moving the slider ...
        page.wait_for_timeout(200)
        middle = image.get_attribute("src")
        assert middle != before, f"scrubber {i}: moving the slider did not change the image"
        page.locator("div.animation").nth(i).locator("button[title='Play']").click()  # ... and pressing play
        page.wait_for_timeout(800)
        assert image.get_attribute("src") != middle, f"scrubber {i}: play did not advance the image"
    context.close()


@pytest.mark.parametrize("page_name", [p for p in PAGES if p.startswith("notebooks/")])
def test_chapter_shows_package_code_and_folds_its_solutions(browser, page_name):
    """Every chapter displays code from the package (highlighted listings with their file) and has at least three
    exercises whose solutions are folded: written ones in <details>, code ones in collapsed cells. Opening one shows
    it, with its maths typeset."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto((HTML / f"{page_name}.html").as_uri(), wait_until="load")
    page.wait_for_timeout(1500)
    listings = page.locator("figure.fmd-source")
    assert listings.count() >= 1, "no source listing from the package"
    assert "fmd_utils/" in listings.first.locator("figcaption").inner_text()
    written = page.locator("main details:has(> summary:text-is('Solution'))")
    folded_code = page.locator("main div.cell details.hide")
    assert written.count() + folded_code.count() >= 3, "fewer than three folded solutions"
    for solutions in (written, folded_code):
        if solutions.count():
            first = solutions.first
            assert not first.evaluate("d => d.open"), "a solution is shown unfolded"
            first.locator("summary").first.click()
            page.wait_for_timeout(300)
            assert first.evaluate("d => d.open") and first.evaluate("d => d.innerText.length") > 40
    if written.count():
        written.first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"{page_name.split('/')[-1]}_solution.png"))
        has_maths = written.first.evaluate("d => d.innerHTML.includes('mjx-container') || !/\\$/.test(d.innerText)")
        assert has_maths, "maths inside a solution left untypeset"
    context.close()


@pytest.mark.parametrize("page_name", [p for p in PAGES if p.startswith("notebooks/")])
def test_exercises_read_as_stub_check_and_folded_solution(browser, page_name):
    """The learner's edition in the page (issue 21): no solution markers, every exercise linked from the chapter's
    introduction exists, each shows its stub and the check's "not attempted", then a folded solution whose output
    says "passed"."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto((HTML / f"{page_name}.html").as_uri(), wait_until="load")
    text = page.locator("main").inner_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, "solution markers left in the page"
    links = page.locator("main a[href^='#ex-']")
    assert links.count() >= 2, "the introduction links no exercise"
    for i in range(links.count()):
        target = links.nth(i).get_attribute("href")[1:]
        assert page.locator(f"[id='{target}']").count() == 1, f"the exercise link #{target} leads nowhere"
    stubs = page.locator("main div.cell.tag_exercise")
    solutions = page.locator("main div.cell.tag_solution")
    assert stubs.count() >= 3 and solutions.count() == stubs.count()
    for i in range(stubs.count()):
        assert "NotImplementedError" in stubs.nth(i).locator(".cell_input").inner_text()
        assert ": not attempted" in stubs.nth(i).locator(".cell_output").inner_text()
        solution = solutions.nth(i)
        assert not solution.locator("details").first.evaluate("d => d.open"), "a solution is shown unfolded"
        assert ": passed" in solution.locator(".cell_output").inner_text()
    context.close()
