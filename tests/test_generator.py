"""The in-browser generator of the built book, in headless Chromium, opened from disk with every network request
refused: the page's images equal the package's, a reader's clicks draw garments, and what the page weighs.

Run by ``make test-book`` (marked ``book``). The speed measured here is written to
``book/_build/generator-benchmark.json`` (the number in book/appendix_package.md); the test's own bound is generous.
"""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
import torch

from fmd_utils.classes import class_index
from fmd_utils.pipeline import load_pretrained
from fmd_utils.samplers import initial_noise
from fmd_utils.views.export import PAGE_SAMPLERS

from .test_book import HTML

pytestmark = [
    pytest.mark.book,
    pytest.mark.skipif(not (HTML / "_static" / "fmd-model.js").is_file(),
                       reason="book not built: run `make test-book`"),
]
PARITY = 1e-3  # the bound on the largest pixel difference, page against package
FILES = ("fmd-generator.js", "fmd-kernels.js", "fmd-model.js")


@pytest.fixture(scope="module")
def pipe():
    return load_pretrained()


@pytest.fixture()
def offline_page(browser):
    """A page opened from disk in which any request that would leave the file system is aborted and recorded."""
    context = browser.new_context(viewport={"width": 1000, "height": 1400})
    page = context.new_page()
    page.errors, page.remote = [], []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:")):
            return r.continue_()
        page.remote.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    yield page
    context.close()


def open_generator(page, name: str = "notebooks/04_sampling"):
    page.goto((HTML / f"{name}.html").as_uri(), wait_until="load")
    page.wait_for_function("window.FMD && FMD.ready !== null", timeout=20_000)
    page.evaluate("FMD.ready")  # the model decoded and the panels mounted
    return page


def page_images(page, labels: list[int], options: dict) -> np.ndarray:
    """FMD.generate in the page → (N, 28, 28)."""
    values = page.evaluate("([labels, o]) => Array.from(FMD.generate(FMD.model, labels, Object.assign({}, o, "
                           "{noise: o.noise ? Float32Array.from(o.noise) : undefined})))", [labels, options])
    return np.asarray(values, dtype=np.float32).reshape(len(labels), 28, 28)


CASES = {  # (labels, sampler, steps, guidance, interval or None): the stored settings, and departures from them
    "stored settings": ([5] * 16, "heun-straight", 8, 4.0, (200, 699)),
    "straight path, 2 steps, every step, mixed classes": (list(range(10)) + [0, 1, 2, 3, 4, 9], "heun-straight", 2,
                                                          2.5, None),
    "straight path, 25 steps, unconditional (w = 0)": ([7] * 16, "heun-straight", 25, 0.0, None),
    "DDIM-50, stored guidance": ([5] * 16, "ddim", 50, 4.0, (200, 699)),
    "DDIM, every step, mixed classes": (list(range(10)) + [0, 1, 2, 3, 4, 9], "ddim", 20, 2.5, None),
    "DDIM, no guidance (w = 1), 5 steps": ([3] * 16, "ddim", 5, 1.0, None),
    "DDIM, strong guidance, 100 steps": ([8] * 16, "ddim", 100, 8.0, (200, 699)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_page_draws_the_package_images_from_the_same_noise(offline_page, pipe, case):
    labels, sampler, steps, guidance, interval = CASES[case]
    noise = initial_noise(len(labels), 64, torch.Generator().manual_seed(11), "cpu")  # standardised z_T
    settings = pipe.settings(sampler=sampler, steps=steps, guidance=guidance, guidance_interval=interval)
    # the same generator draws the same noise inside sample_latents
    expected = pipe.decode(pipe.sample_latents(labels, 11, settings=settings))[:, 0].numpy()
    page = open_generator(offline_page)
    got = page_images(page, labels, {"noise": noise.flatten().tolist(), "sampler": sampler, "steps": steps,
                                     "guidance": guidance, "guidance_interval": list(interval) if interval else None})
    difference = np.abs(got - expected).max()
    assert difference <= PARITY, f"{case}: page and package differ by up to {difference:.2e} in a pixel"
    assert got.std() > 0.1, "the page drew blank images"


def test_page_seed_draws_torch_noise_and_the_package_images(offline_page, pipe):
    """The page's randn is torch's: seed k in the page = torch.Generator().manual_seed(k) = pipe.generate(seed=k)."""
    page = open_generator(offline_page)
    for seed in (0, 1, 12345):
        noise = np.asarray(page.evaluate("s => Array.from(FMD.randn(s, 1024))", seed), dtype=np.float32)
        torch_noise = torch.randn(1024, generator=torch.Generator().manual_seed(seed)).numpy()
        assert np.abs(noise - torch_noise).max() <= 1e-5, f"seed {seed}: the page's noise is not torch's"
    odd = np.asarray(page.evaluate("Array.from(FMD.randn(3, 100))"), dtype=np.float32)  # a count not a multiple of 16
    assert np.abs(odd - torch.randn(100, generator=torch.Generator().manual_seed(3)).numpy()).max() <= 1e-5
    got = page_images(page, [class_index("Bag")] * 16, {"seed": 4})
    expected = pipe.generate(["Bag"] * 16, 4)[:, 0].numpy()
    assert np.abs(got - expected).max() <= PARITY


def test_page_runs_webassembly_and_is_fast(offline_page):
    """16 samples with the stored settings, then with DDIM-50 and the stored guidance: timed in the page (median of 7
    after a warm-up); the measured times go to generator-benchmark.json. The bound here only catches a broken fast
    path."""
    page = open_generator(offline_page)
    assert page.evaluate("FMD.model.kernel") == "wasm-simd", "the WebAssembly kernel did not load"
    timed = """o => {
        const labels = new Array(16).fill(5), times = [];
        FMD.generate(FMD.model, labels, Object.assign({seed: 0}, o));
        for (let k = 0; k < 7; k++) {
            const t = performance.now();
            FMD.generate(FMD.model, labels, Object.assign({seed: k}, o));
            times.push(performance.now() - t);
        }
        return times; }"""
    stored, ddim = page.evaluate(timed, {}), page.evaluate(timed, {"sampler": "ddim", "steps": 50})
    sampling = page.evaluate("FMD.model.sampling")
    weights = {name: (HTML / "_static" / name).stat().st_size for name in FILES}
    benchmark = {"samples": 16, "sampler": f"{sampling['sampler']}-{sampling['steps']}, stored guidance",
                 "median_ms": statistics.median(stored), "min_ms": min(stored),
                 "ddim50_median_ms": statistics.median(ddim), "ddim50_min_ms": min(ddim),
                 "kernel": "wasm-simd", "bytes": weights, "total_bytes": sum(weights.values())}
    (HTML.parent / "generator-benchmark.json").write_text(json.dumps(benchmark, indent=1))
    print(f"\nin-page generator: 16 samples in {benchmark['median_ms']:.0f} ms (median, stored settings), "
          f"{benchmark['ddim50_median_ms']:.0f} ms (DDIM-50), {benchmark['total_bytes'] / 1e6:.2f} MB")
    assert statistics.median(stored) < 1000 and statistics.median(ddim) < 1000


def test_what_the_generator_adds_to_the_book_weighs_at_most_3_mb():
    total = sum((HTML / "_static" / name).stat().st_size for name in FILES)
    assert total <= 3_000_000, f"the generator adds {total / 1e6:.2f} MB"
    model = (HTML / "_static" / "fmd-model.js").read_text()
    document = json.loads(model[model.index("{"):model.rindex("}") + 1])
    assert {name: sorted(map(int, spec["grids"])) for name, spec in document["samplers"].items()} == {
        name: sorted(choices) for name, (choices, _) in PAGE_SAMPLERS.items()}


@pytest.mark.parametrize("name", ["intro", "notebooks/04_sampling"])
def test_reader_generates_sandals_from_disk_with_the_network_off(offline_page, pipe, name):
    """The issue's scene: Sandal, w = 4, the stored sampler and steps, Generate → 16 sandals (the package's own,
    pixel for pixel to 8 bits); DDIM-50 draws the package's DDIM-50 sandals; another class or another seed draws
    something else; no console errors, no request leaves the disk."""
    page = open_generator(offline_page, name)
    panel = page.locator(".fmd-generator").first
    panel.scroll_into_view_if_needed()
    panel.locator("select[aria-label=class]").select_option(label="Sandal")
    panel.locator("input[aria-label='guidance weight']").fill("4")
    panel.locator("input[aria-label=seed]").fill("0")
    stored = pipe.diffusion.sampling
    assert panel.locator("select[aria-label=sampler]").input_value() == stored.sampler
    assert panel.locator("select[aria-label=steps]").input_value() == str(stored.steps)

    def generate() -> np.ndarray:
        runs = int(panel.get_attribute("data-generated") or 0)
        panel.locator("button.fmd-generate").click()
        page.wait_for_function(f"document.querySelector('.fmd-generator').dataset.generated === '{runs + 1}'")
        pixels = panel.locator("canvas").evaluate(
            "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
        return np.asarray(pixels, dtype=np.uint8).reshape(342, 342, 4)[..., 0]

    def cell(canvas: np.ndarray, k: int) -> np.ndarray:  # sample k of the 4 × 4 grid, back at 28 × 28
        top, left = (k // 4) * 86, (k % 4) * 86
        return canvas[top:top + 84:3, left:left + 84:3].astype(np.float32) / 255

    sandals = generate()
    expected = pipe.generate(["Sandal"] * 16, 0, guidance=4.0)[:, 0].numpy()
    for k in range(16):
        assert np.abs(cell(sandals, k) - expected[k]).max() <= 1.5 / 255, f"sample {k} is not the package's sandal"
    status = panel.locator(".fmd-status").inner_text()
    label = f"Heun (straight path)-{stored.steps} ({2 * stored.steps} network evaluations)"
    assert "Sandal" in status and label in status and "w = 4" in status, status
    call = panel.locator(".fmd-python").inner_text()
    assert f'pipe.generate(["Sandal"] * 16, seed=0, sampler="{stored.sampler}", steps={stored.steps}' in call, call
    panel.screenshot(path=str(HTML.parent / "screenshots" / f"generator_{name.split('/')[-1]}.png"))

    panel.locator("select[aria-label=sampler]").select_option("ddim")
    assert panel.locator("select[aria-label=steps]").input_value() == "50"
    ddim = generate()
    expected = pipe.generate(["Sandal"] * 16, 0, sampler="ddim", steps=50, guidance=4.0)[:, 0].numpy()
    for k in range(16):
        assert np.abs(cell(ddim, k) - expected[k]).max() <= 1.5 / 255, f"DDIM-50 sample {k} is not the package's"
    assert "DDIM-50, w = 4" in panel.locator(".fmd-status").inner_text()
    panel.locator("select[aria-label=sampler]").select_option(stored.sampler)

    panel.locator("select[aria-label=class]").select_option(label="Trouser")
    trousers = generate()
    assert np.abs(trousers.astype(int) - sandals).mean() > 10, "another class drew the same images"
    panel.locator("select[aria-label=class]").select_option(label="Sandal")
    panel.locator("input[aria-label=seed]").fill("1")
    other_seed = generate()
    assert np.abs(other_seed.astype(int) - sandals).mean() > 10, "another seed drew the same images"
    panel.locator("input[aria-label=seed]").fill("0")
    assert np.array_equal(generate(), sandals), "the same settings drew different images"

    panel.locator("input[aria-label='show the estimate of z0 at every step']").check()
    assert np.array_equal(generate(), sandals), "showing ẑ₀ changed the result"
    assert not page.errors, f"console errors: {page.errors[:5]}"
    assert not page.remote, f"requests leaving the disk: {page.remote[:5]}"
