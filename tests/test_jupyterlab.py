"""The book opens: JupyterLab from the project's environment serves book/ (README: `.venv/bin/jupyter lab book/`),
and notebook 02 runs in a real browser: Run All Cells from JupyterLab's menu, no error output, and the
reward-heatmap explorer's slider moves its picture.

The browser test needs the ``[browser]`` extra (``pip install -e ".[browser]"``: Playwright) and a Chromium
(``chromium`` / ``chromium-browser`` / ``google-chrome`` on PATH, or Playwright's own after
``playwright install chromium``); without them it is skipped, saying which is missing. It drives the page with
the helpers of ``scripts/screenshot_notebook.py``, so the script and the test agree on how a notebook is run.
"""
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("screenshot_notebook", ROOT / "scripts" / "screenshot_notebook.py")
snb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snb)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    # the README's line, with a port and token of the test's own
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "book.sh"), "--no-browser", "--ip=127.0.0.1",
                             f"--port={port}", f"--IdentityProvider.token={token}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300                       # generous: a busy laptop starts it slowly
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("JupyterLab exited: " + proc.stderr.read().decode()[-2000:])
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not answer within 300 s")
    yield base, token
    urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"), timeout=30)
    proc.wait(timeout=120)


def test_jupyterlab_serves_the_book(jupyterlab):
    base, token = jupyterlab
    # `jupyter lab book/` serves book/ as its root
    listing = json.load(urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=60))
    names = {item["name"] for item in listing["content"]}
    assert {p.name for p in (ROOT / "book").glob("*.ipynb")} <= names
    lab = urllib.request.urlopen(f"{base}/lab?token={token}", timeout=60).read().decode()
    assert "JupyterLab" in lab
    kernels = json.load(urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}", timeout=60))
    assert "python3" in kernels["kernelspecs"]


# ----- notebook 02 in a real browser ---------------------------------------------------------------------------

def _no_browser_reason() -> str | None:
    """Why the browser test cannot run here (None: it can)."""
    if importlib.util.find_spec("playwright") is None:
        return ('playwright is not installed: pip install -e ".[browser]" (and a Chromium) to run notebook 02 '
                "in a headless browser")
    if snb.find_chromium() is not None:
        return None
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:                      # Playwright's own browser, after `playwright install chromium`
        if Path(pw.chromium.executable_path).exists():
            return None
    return ("no Chromium: none of " + ", ".join(snb.CHROMIUM_NAMES) + " on PATH and no Playwright browser "
            "(`playwright install chromium`); the check that notebook 02 runs in a browser needs one")


@pytest.fixture
def browser_page():
    """A headless Chromium page (skips, saying why, where Playwright or Chromium is missing). Requested before
    the server fixture, so a machine without a browser does not start JupyterLab for nothing."""
    reason = _no_browser_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = snb.launch_browser(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        yield page
        browser.close()


@pytest.fixture
def jupyterlab_quick(tmp_path):
    """JupyterLab started like the README's line (``scripts/book.sh``), in quick mode (``MAMBA_EDU_QUICK=1`` in
    the server's environment, which the kernel inherits), with a throw-away config: autosave off (the run's
    outputs are never written into book/), no news pop-up; the kernel gets matplotlib's inline backend, as a
    reader's does."""
    try:
        with snb.serve_book(quick=True, workdir=tmp_path) as (base, token):
            yield base, token
    except (RuntimeError, TimeoutError) as e:
        pytest.fail(f"JupyterLab did not start: {e}")


def test_notebook_02_runs_in_a_browser_and_its_slider_moves_the_picture(browser_page, jupyterlab_quick):
    page, (base, token) = browser_page, jupyterlab_quick
    t0 = time.time()
    snb.open_notebook(page, base, token, "02_varibad.ipynb", timeout=300)
    opened = time.time() - t0

    # Run -> Run All Cells, from the menu bar as a reader does; wait until no cell is queued and the kernel is idle
    result = snb.run_all_cells(page, timeout=900)
    errors = snb.output_errors(page)
    assert not errors, "error outputs in notebook 02:\n" + "\n---\n".join(
        f"code cell {e['code_cell']}:\n{e['text']}" for e in errors)
    assert result["complete"], f"Run All Cells stopped before the last cell: {result['prompts']}"
    assert snb.image_outputs(page), "no figure was displayed"

    # the explorer: its widget rendered (a slider, not "Loading widget..." or a missing-model error)
    cell = page.locator(snb.NOTEBOOK + " .jp-CodeCell:has(.widget-slider)")
    assert cell.count() == 1, "the heatmap explorer's slider did not render"
    handle = cell.locator(".widget-slider .noUi-handle[role=slider]")
    img = cell.locator(".jp-OutputArea-output[data-mime-type='image/png'] img")   # the picture the slider moves
    caption = cell.locator(".widget-html-content")
    assert handle.count() == 1 and img.count() == 1 and caption.count() == 1
    box = snb.scroll_to(page, handle)                  # the notebook scrolled to the explorer, as a reader does
    t_max = int(float(handle.get_attribute("aria-valuemax")))

    def picture():
        return cell.evaluate("c => c.querySelector(\".jp-OutputArea-output[data-mime-type='image/png'] img\").src")

    def picture_after(move, expect_t):
        src, t_before = picture(), handle.get_attribute("aria-valuenow")
        move()
        page.wait_for_function("([el, before]) => el.getAttribute('aria-valuenow') !== before",
                               arg=[handle.element_handle(), t_before], timeout=30_000)
        t_now = int(float(handle.get_attribute("aria-valuenow")))
        if expect_t is not None:
            assert t_now == expect_t
        # the kernel swaps in that step's frame and updates the image output in place, and the caption
        page.wait_for_function("""([cell, src]) => {
            const img = cell.querySelector(".jp-OutputArea-output[data-mime-type='image/png'] img");
            return img && img.src !== src && img.complete && img.naturalWidth > 0; }""",
                               arg=[cell.element_handle(), src], timeout=60_000)
        page.wait_for_function("([el, t]) => el.textContent.includes(`t = ${t},`)",
                               arg=[caption.element_handle(), t_now], timeout=60_000)
        assert picture() != src
        return t_now

    # drag the handle with the mouse to about three quarters of the track
    track = cell.locator(".widget-slider .noUi-base").bounding_box()

    def drag():
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + 0.75 * track["width"], track["y"] + track["height"] / 2, steps=8)
        page.mouse.up()

    t_dragged = picture_after(drag, None)
    assert abs(t_dragged - 0.75 * t_max) <= 0.1 * t_max, (t_dragged, t_max)
    # and with the keyboard: End goes to the last step
    picture_after(lambda: (handle.focus(), page.keyboard.press("End")), t_max)
    assert not snb.output_errors(page)
    print(f"notebook 02 in Chromium: opened in {opened:.0f} s, Run All Cells {result['seconds']:.0f} s, "
          f"slider checks {time.time() - t0 - opened - result['seconds']:.0f} s")
