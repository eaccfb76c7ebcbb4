#!/usr/bin/env python
"""Run a book notebook in JupyterLab in a real (headless) Chromium and screenshot its outputs.

It starts JupyterLab the README's way (``bash scripts/book.sh``: the server's root is ``book/``) on a free
port of 127.0.0.1 with a token of its own and a throw-away Jupyter config (autosave off, so the notebook in
``book/`` is never written; checkpoints kept outside ``book/``; no news pop-up), in quick mode unless
``--full``; or it uses a server that already runs (``--url``). It opens the notebook, runs Run → Run All
Cells from JupyterLab's menu, waits until the last code cell has an execution count, fails if any output
shows a traceback, and saves PNG screenshots.

Usage (from the repository root, with the ``[browser]`` extra: ``pip install -e ".[browser]"``, and a
Chromium: the system's ``chromium`` / ``chromium-browser`` / ``google-chrome``, ``--chromium PATH``, or
playwright's own after ``playwright install chromium``)::

    # docs/img/browser_02_*.png: the Fig. 2 heatmaps (the 4th image output, counting from 0) and the explorer
    # (its image, slider and caption) with the slider at t = 45; full size, as docs/img/rooms4_*.png
    python scripts/screenshot_notebook.py book/02_varibad.ipynb --full --slider 45 \\
        --output-index 3 --out docs/img/browser_02_fig2.png \\
        --selector '.jp-CodeCell:has(.widget-slider) .jp-Cell-outputArea' --out docs/img/browser_02_explorer.png
    # notebook 05 at full size (no MAMBA_EDU_QUICK), every image output, and the whole notebook in one picture
    python scripts/screenshot_notebook.py book/05_building_mamba.ipynb --full --all-images figs/nb05 \\
        --full-page figs/nb05/notebook.png
    # list the image outputs (index, cell, size) without saving anything
    python scripts/screenshot_notebook.py book/02_varibad.ipynb --list
    # a JupyterLab that already runs (its own settings and environment apply; the notebook is run as a
    # temporary copy next to it, deleted afterwards, so autosave cannot write outputs into the original)
    python scripts/screenshot_notebook.py 02_varibad.ipynb --url 'http://127.0.0.1:8888/lab?token=...' --list

``--output-index N`` and ``--selector CSS`` may be repeated; each is paired with the ``--out PATH`` that follows
it in order (the N-th ``--out`` goes to the N-th target). ``--output-index`` counts the image outputs
(``.jp-OutputArea-output`` with an ``<img>``) of the whole notebook in document order, from 0: ``--list`` shows
them. A selector is a Playwright/CSS selector on the JupyterLab page; its first match is saved. ``--slider T``
sets the notebook's first ipywidgets slider to T before the screenshots (typed into its readout; the script
waits for the kernel to redraw). The window grows to the notebook's height (at most 16000 px) before the
screenshots, so an output taller than the window is not cut; ``--full-page`` stitches the notebook together
window by window. PNGs are
re-encoded with Pillow (optimised; ``--max-kb`` reduces them to a 256-colour palette when they are larger).

Exit status: 0 when every cell ran without a traceback and every screenshot was saved; 1 otherwise (the
offending output's text is printed); 2 on a usage error or when no browser can be found.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# JupyterLab user settings for a throw-away config dir: never write the notebook (a run would otherwise be
# autosaved with its outputs into book/), no "Would you like to receive official Jupyter news?" toast.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}

# --- what the page says, as JavaScript evaluated in it (the notebook shown, not others in hidden tabs) ----------
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
_STATE_JS = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return {cells: nb.querySelectorAll('.jp-Cell').length, prompts,
          status: indicator ? indicator.dataset.status : null};
}"""
_ERRORS_JS = """() => [...document.querySelectorAll('NOTEBOOK .jp-CodeCell')].flatMap((cell, i) =>
  [...cell.querySelectorAll('.jp-OutputArea-output')]
    .filter(o => o.dataset.mimeType === 'application/vnd.jupyter.error'
                 || (o.dataset.mimeType === 'application/vnd.jupyter.stderr'
                     && /Traceback \\(most recent call last\\)/.test(o.textContent)))
    .map(o => ({code_cell: i, text: o.textContent.slice(0, 3000)})))"""
_IMAGES_JS = """() => [...document.querySelectorAll('NOTEBOOK .jp-CodeCell')].flatMap((cell, i) =>
  [...cell.querySelectorAll('.jp-OutputArea-output')].filter(o => o.querySelector('img'))
    .map(o => {const img = o.querySelector('img');
               return {code_cell: i, width: img.naturalWidth, height: img.naturalHeight,
                       shown: [img.getBoundingClientRect().width, img.getBoundingClientRect().height].map(Math.round)};
              }))"""
_ERRORS_JS, _IMAGES_JS = (js.replace("NOTEBOOK", NOTEBOOK) for js in (_ERRORS_JS, _IMAGES_JS))
IMAGE_OUTPUTS = NOTEBOOK + " .jp-CodeCell .jp-OutputArea-output:has(img)"


def find_chromium(explicit: str | None = None) -> str | None:
    """A Chromium/Chrome executable: ``explicit``, ``$CHROMIUM``, then the usual names on PATH; None if none."""
    for cand in (explicit, os.environ.get("CHROMIUM")):
        if cand:
            return shutil.which(cand) or (cand if Path(cand).is_file() else None)
    for name in CHROMIUM_NAMES:
        if shutil.which(name):
            return shutil.which(name)
    return None


def launch_browser(playwright: Any, chromium: str | None = None) -> Any:
    """Headless Chromium: the system's (``find_chromium``) or else Playwright's own, if installed."""
    path = find_chromium(chromium)
    if path is None and not Path(playwright.chromium.executable_path).exists():
        raise FileNotFoundError("no Chromium found: install one (e.g. `apt install chromium`), pass --chromium PATH, "
                                "or run `playwright install chromium`")
    return playwright.chromium.launch(executable_path=path, headless=True)


def write_lab_settings(config_dir: Path) -> None:
    """Write :data:`LAB_SETTINGS` into ``config_dir/lab/user-settings`` (a JUPYTER_CONFIG_DIR)."""
    for name, value in LAB_SETTINGS.items():
        path = Path(config_dir) / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(base: str, token: str, proc: subprocess.Popen | None = None, timeout: float = 300,
                    log: Path | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                err = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
                raise RuntimeError("JupyterLab exited: " + err)
            time.sleep(1)
    raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def serve_book(quick: bool = True, workdir: Path | None = None, timeout: float = 300) -> Iterator[tuple[str, str]]:
    """Start ``bash scripts/book.sh`` (JupyterLab on ``book/``) with its own port, token and config dirs;
    yield ``(base_url, token)``; shut it down afterwards."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mamba_edu_lab_")))
        port, token = free_port(), secrets.token_hex(16)
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(workdir / "cfg"), "JUPYTER_RUNTIME_DIR": str(workdir / "rt"),
               "JUPYTER_DATA_DIR": str(workdir / "data")}
        env.pop("MPLBACKEND", None)          # as a reader's kernel: matplotlib's inline backend
        env.pop("MAMBA_EDU_QUICK", None)
        if quick:
            env["MAMBA_EDU_QUICK"] = "1"
        write_lab_settings(workdir / "cfg")
        log = workdir / "jupyterlab.log"                 # a file, not a pipe: a long run's log never blocks it
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "book.sh"), "--no-browser", "--ip=127.0.0.1",
                                 f"--port={port}", f"--IdentityProvider.token={token}",
                                 # the checkpoint JupyterLab makes on opening goes there, not into book/
                                 f"--FileCheckpoints.checkpoint_dir={workdir / 'checkpoints'}"],
                                cwd=ROOT, stdout=stack.enter_context(open(log, "wb")), stderr=subprocess.STDOUT,
                                env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_server(base, token, proc, timeout, log)
            yield base, token
        finally:
            if proc.poll() is None:
                try:
                    urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown?token={token}",
                                                                  method="POST"), timeout=30)
                    proc.wait(timeout=120)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
                    proc.wait()


def open_notebook(page: Any, base: str, token: str, path: str, timeout: float = 300,
                  workspace: str | None = None, hide_sidebar: bool = False) -> None:
    """Open ``path`` (relative to the server's root) in JupyterLab, in a fresh workspace named ``workspace``
    if given (so no other restored tab opens with it); return once all its cells are on the page and its
    kernel is idle. ``hide_sidebar`` collapses the left sidebar (outputs then show at their natural width)."""
    where = f"workspaces/{urllib.parse.quote(workspace)}/" if workspace else ""
    page.goto(f"{base}/lab/{where}tree/{urllib.parse.quote(path)}?token={token}", timeout=timeout * 1000)
    n_cells = len(_api(base, token, "GET", f"contents/{urllib.parse.quote(path)}?content=1")["content"]["cells"])
    page.wait_for_function(f"""() => {{ const s = ({_STATE_JS})();
        return s && s.cells >= {n_cells} && s.status === 'idle'
               && [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                    .some(e => /\\bIdle\\b/.test(e.textContent)); }}""", timeout=timeout * 1000, polling=500)
    if hide_sidebar:
        tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if tab.count():
            tab.first.click()
            page.wait_for_timeout(500)


def scroll_to(page: Any, locator: Any, tries: int = 20) -> dict[str, float]:
    """Scroll JupyterLab's notebook so that ``locator``'s element is in the middle of its scroll area (its top
    at the area's top if it is taller); Playwright's own scrolling leaves the notebook's scroll area where it
    is. Return the element's bounding box once it is there."""
    box = None
    for _ in range(tries):
        inside = locator.evaluate("""e => { const outer = e.closest('.jp-WindowedPanel-outer');
            if (!outer) { e.scrollIntoView({block: 'center'}); return true; }
            const r = e.getBoundingClientRect(), o = outer.getBoundingClientRect();
            if (r.height > o.height) { outer.scrollTop += r.top - o.top; return Math.abs(r.top - o.top) < 2; }
            outer.scrollTop += (r.top + r.height / 2) - (o.top + o.height / 2);
            return r.top >= o.top - 1 && r.bottom <= o.bottom + 1; }""")
        page.wait_for_timeout(300)
        box = locator.bounding_box()
        if inside and box:
            return box
    raise RuntimeError(f"could not scroll the notebook to {locator}: its box is {box}")


def set_slider(page: Any, value: int, index: int = 0, timeout: float = 60) -> None:
    """Set the ``index``-th ipywidgets slider of the notebook to ``value`` as a reader can (typing into its
    readout box), then wait until the kernel has answered and the images of its cell have changed."""
    slider = page.locator(NOTEBOOK + " .widget-slider").nth(index)
    if slider.count() == 0:
        raise LookupError(f"--slider: the notebook has no slider widget number {index}")
    handle = slider.locator(".noUi-handle[role=slider]")
    srcs = "e => [...e.closest('.jp-CodeCell').querySelectorAll('.jp-OutputArea-output img')].map(i => i.src)"
    before = handle.evaluate(srcs)
    scroll_to(page, handle)
    readout = slider.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")
    readout.evaluate("e => e.blur()")
    page.wait_for_function("([el, v]) => Math.round(parseFloat(el.getAttribute('aria-valuenow'))) === v",
                           arg=[handle.element_handle(), int(value)], timeout=timeout * 1000)
    if before:                                   # the kernel redraws: the images of the slider's cell change
        with contextlib.suppress(Exception):     # (a picture that does not follow the slider never does)
            page.wait_for_function(f"""([el, before]) => JSON.stringify(({srcs})(el)) !== JSON.stringify(before)""",
                                   arg=[handle.element_handle(), before], timeout=30_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status=idle]", timeout=timeout * 1000)


def delete_workspace(base: str, token: str, workspace: str) -> None:
    with contextlib.suppress(OSError):
        req = urllib.request.Request(f"{base}/lab/api/workspaces/{urllib.parse.quote(workspace)}", method="DELETE",
                                     headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(req, timeout=30).close()


def show_whole_notebook(page: Any, max_height: int = 16000) -> dict[str, int]:
    """Grow the window until the notebook needs no scrolling (up to ``max_height`` px), so that a screenshot
    of an output taller than the window is not cut by the notebook's scroll area; return the old size."""
    size = dict(page.viewport_size)
    extra = page.evaluate(f"""() => {{ const s = document.querySelector('{NOTEBOOK} .jp-WindowedPanel-outer');
                                       const i = s && s.querySelector('.jp-WindowedPanel-inner');
                                       return s && i ? [i.scrollHeight, s.clientHeight] : [0, 0]; }}""")
    height = min(max_height, max(size["height"], size["height"] + extra[0] - extra[1] + 50))
    page.set_viewport_size({"width": size["width"], "height": int(height)})
    page.wait_for_timeout(1000)
    return size


def _max_count(prompts: list[str]) -> int:
    counts = [int(p.strip("[]: ")) for p in prompts if p.strip("[]: ").isdigit()]
    return max(counts, default=0)


def run_all_cells(page: Any, timeout: float = 900, log: Any = None) -> dict[str, Any]:
    """Run → Run All Cells from JupyterLab's menu bar; wait until the kernel is idle and no cell is queued.

    Returns ``{"seconds", "prompts", "complete"}``; ``complete`` is True when the last code cell ran (an error
    stops Run All: JupyterLab leaves the cells after it unrun, ``[ ]``)."""
    before = _max_count(page.evaluate(_STATE_JS)["prompts"])
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    start = time.time()
    deadline, last_log = start + timeout, 0.0
    while True:
        state = page.evaluate(_STATE_JS)
        prompts = state["prompts"]
        done = (state["status"] == "idle" and not any("*" in p for p in prompts) and _max_count(prompts) > before)
        if done:
            break
        if time.time() > deadline:
            raise TimeoutError(f"Run All Cells did not finish within {timeout:.0f} s; prompts: {prompts}")
        if log is not None and time.time() - last_log > 15:
            n_done = sum(p.strip("[]: ").isdigit() and int(p.strip("[]: ")) > before for p in prompts)
            log(f"  {time.time() - start:4.0f} s: {n_done}/{len(prompts)} code cells ran")
            last_log = time.time()
        time.sleep(0.5)
    last = prompts[-1].strip("[]: ") if prompts else ""
    return {"seconds": time.time() - start, "prompts": prompts,
            "complete": last.isdigit() and int(last) > before}


def output_errors(page: Any) -> list[dict[str, Any]]:
    """Outputs that show an error: ``{"code_cell": i, "text": ...}`` (i counts code cells from 0)."""
    return page.evaluate(_ERRORS_JS)


def image_outputs(page: Any) -> list[dict[str, Any]]:
    """Every output with an image, in document order: code cell, natural and shown size."""
    return page.evaluate(_IMAGES_JS)


def save_png(data: bytes, out: Path, max_kb: float | None = None) -> int:
    """Write PNG bytes optimised with Pillow (a 256-colour palette when still above ``max_kb``); return bytes."""
    import io

    from PIL import Image

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="png", optimize=True)
    if max_kb is not None and buf.tell() > max_kb * 1024:
        buf = io.BytesIO()
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, format="png",
                                                                                             optimize=True)
    out.write_bytes(buf.getvalue())
    return len(buf.getvalue())


def screenshot(page: Any, target: tuple[str, Any], out: Path, max_kb: float | None = None) -> int:
    """Screenshot one target, ``("index", N)`` (N-th image output) or ``("selector", CSS)``, to ``out``.
    Call :func:`show_whole_notebook` first for outputs taller than the window."""
    kind, value = target
    if kind == "index":
        outputs = page.locator(IMAGE_OUTPUTS)
        n = outputs.count()
        if not 0 <= value < n:
            raise IndexError(f"--output-index {value}: the notebook has {n} image outputs (0..{n - 1}); see --list")
        locator = outputs.nth(value)
    else:
        locator = page.locator(value)
        if locator.count() == 0:
            raise LookupError(f"--selector {value!r} matches nothing on the page")
        locator = locator.first
    scroll_to(page, locator)
    return save_png(locator.screenshot(animations="disabled"), out, max_kb)


def full_page(page: Any, out: Path, max_kb: float | None = None, margin: int = 16) -> int:
    """The whole notebook in one picture: its scroll area screenshotted window by window, stitched with Pillow.
    Off-screen cells have estimated heights until they are painted, so the height is re-read at every step;
    each window but the first drops its top ``margin`` px (the toolbar's shadow falls there)."""
    import io

    from PIL import Image

    outer = page.locator(NOTEBOOK + " .jp-WindowedPanel-outer").first
    height = "e => e.querySelector('.jp-WindowedPanel-inner').scrollHeight"
    box = outer.bounding_box()
    view = int(outer.evaluate("e => e.clientHeight"))
    width = int(outer.evaluate("e => e.clientWidth"))          # without the scroll bar
    scale = page.evaluate("() => window.devicePixelRatio")
    pieces, y = [], 0
    while True:
        outer.evaluate("(e, y) => { e.scrollTop = y; }", y)
        page.wait_for_timeout(500)                              # let content-visibility paint what scrolled in
        top = int(outer.evaluate("e => e.scrollTop"))
        shot = Image.open(io.BytesIO(page.screenshot(clip={"x": box["x"], "y": box["y"], "width": width,
                                                           "height": view}, animations="disabled"))).convert("RGB")
        skip = 0 if top == 0 else margin
        pieces.append((top + skip, shot.crop((0, round(skip * scale), shot.width, shot.height))))
        total = int(outer.evaluate(height))
        if top + view >= total or len(pieces) > 1000:
            break
        y = top + view - 2 * margin
    canvas = Image.new("RGB", (round(width * scale), round(total * scale)), "white")
    for offset, piece in pieces:
        canvas.paste(piece, (0, round(offset * scale)))
    buf = io.BytesIO()
    canvas.save(buf, format="png")
    return save_png(buf.getvalue(), out, max_kb)


def _parse_url(url: str, token: str | None) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    token = token or urllib.parse.parse_qs(parts.query).get("token", [""])[0]
    if not token:
        raise SystemExit("--url: give the token in the URL (?token=...) or with --token")
    path = parts.path
    for tail in ("/lab", "/tree", "/doc"):
        if tail in path:
            path = path[:path.index(tail)]
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}", token


def _api(base: str, token: str, method: str, path: str, body: dict | None = None) -> Any:
    req = urllib.request.Request(f"{base}/api/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read().decode()
    return json.loads(text) if text else None


@contextlib.contextmanager
def temporary_copy(base: str, token: str, path: str) -> Iterator[str]:
    """A copy of ``path`` in the same folder on the server (relative paths keep working), deleted afterwards
    with the kernel session opened on it."""
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    copy = _api(base, token, "POST", f"contents/{urllib.parse.quote(folder)}", {"copy_from": path})["path"]
    try:
        yield copy
    finally:
        with contextlib.suppress(OSError):
            for session in _api(base, token, "GET", "sessions"):
                if session.get("path") == copy:
                    _api(base, token, "DELETE", f"sessions/{session['id']}")
        with contextlib.suppress(OSError):
            _api(base, token, "DELETE", f"contents/{urllib.parse.quote(copy)}")


def _notebook_path(arg: str, own_server: bool) -> str:
    """The notebook's path relative to the server's root (``book/`` for a server this script starts)."""
    if not own_server:
        return arg.lstrip("/")
    p = Path(arg)
    candidates = [p if p.is_absolute() else Path.cwd() / p, BOOK / p]
    for cand in candidates:
        cand = cand.resolve()
        if cand.is_file():
            try:
                return cand.relative_to(BOOK.resolve()).as_posix()
            except ValueError:
                raise SystemExit(f"{arg}: the server this script starts serves book/ only; use --url for others")
    raise SystemExit(f"{arg}: no such notebook (looked in . and book/)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Usage examples are in the docstring: scripts/screenshot_notebook.py.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", help="e.g. book/02_varibad.ipynb (with --url: the path on that server)")
    ap.add_argument("--output-index", dest="targets", action="append", type=lambda s: ("index", int(s)),
                    metavar="N", help="the N-th image output of the notebook (from 0; see --list)")
    ap.add_argument("--selector", dest="targets", action="append", type=lambda s: ("selector", s), metavar="CSS",
                    help="the first element matching this selector, e.g. "
                         "'.jp-CodeCell:has(.widget-slider) .jp-Cell-outputArea'")
    ap.add_argument("--out", action="append", default=[], type=Path, metavar="PATH",
                    help="where to save the PNG of the target given before it (one --out per target)")
    ap.add_argument("--all-images", type=Path, metavar="DIR", help="save every image output as DIR/output_NN.png")
    ap.add_argument("--full-page", type=Path, metavar="PATH", help="save the whole notebook as one PNG")
    ap.add_argument("--list", action="store_true", help="print the image outputs (index, code cell, size)")
    ap.add_argument("--full", action="store_true", help="full size: start JupyterLab without MAMBA_EDU_QUICK=1")
    ap.add_argument("--url", help="use this running JupyterLab (e.g. http://127.0.0.1:8888/lab?token=...)")
    ap.add_argument("--token", help="its token, if not in --url")
    ap.add_argument("--chromium", help="the browser executable (default: chromium, chromium-browser, google-chrome "
                                       "on PATH, then Playwright's own)")
    ap.add_argument("--width", type=int, default=1280, help="browser window width in px (default 1280)")
    ap.add_argument("--height", type=int, default=1000, help="browser window height in px (default 1000)")
    ap.add_argument("--sidebar", action="store_true", help="keep JupyterLab's left sidebar open (default: collapsed)")
    ap.add_argument("--scale", type=float, default=1.0, help="device scale factor (2 = sharper, 4x the bytes)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds Run All Cells may take (default 1800)")
    ap.add_argument("--max-kb", type=float, default=400,
                    help="reduce a PNG above this size to 256 colours (default 400; 0 = never)")
    ap.add_argument("--slider", type=int, metavar="VALUE",
                    help="before the screenshots, set the notebook's first slider widget to VALUE (typed into its "
                         "readout, as a reader can)")
    ap.add_argument("--keep-going", action="store_true", help="save the screenshots even if a cell failed")
    args = ap.parse_args(argv)
    args.targets = args.targets or []
    if len(args.out) != len(args.targets):
        ap.error(f"{len(args.targets)} targets (--output-index/--selector) but {len(args.out)} --out paths")
    return args


def _log(msg: str) -> None:
    print(msg, flush=True)


def run_and_check(page: Any, base: str, token: str, path: str, workspace: str, args: argparse.Namespace) -> bool:
    """Open the notebook, Run All Cells, report errors; True when every cell ran without a traceback."""
    t0 = time.time()
    open_notebook(page, base, token, path, workspace=workspace, hide_sidebar=not args.sidebar)
    _log(f"opened {path} ({time.time() - t0:.0f} s); Run -> Run All Cells")
    result = run_all_cells(page, timeout=args.timeout, log=_log)
    errors = output_errors(page)
    _log(f"ran in {result['seconds']:.0f} s; {'all cells ran' if result['complete'] else 'NOT all cells ran'}; "
         f"{len(errors)} error outputs")
    for err in errors:
        print(f"--- error in code cell {err['code_cell']} ---\n{err['text']}", file=sys.stderr)
    return not errors and result["complete"]


def save_screenshots(page: Any, args: argparse.Namespace) -> None:
    """What the arguments ask for: the list of image outputs, the slider, the full page, the targets."""
    max_kb = args.max_kb or None
    images = image_outputs(page)
    if args.list:
        for i, im in enumerate(images):
            print(f"  output {i:2d}: code cell {im['code_cell']:2d}, {im['width']}x{im['height']} px "
                  f"(shown {im['shown'][0]}x{im['shown'][1]})")
    if args.slider is not None:
        set_slider(page, args.slider)
        _log(f"moved the first slider to {args.slider}")
    if args.full_page:                                          # before the window grows for the outputs
        _log(f"saved {args.full_page} ({full_page(page, args.full_page, max_kb=max_kb) / 1024:.0f} KB)")
    if args.targets or args.all_images:
        show_whole_notebook(page)
    for target, out in zip(args.targets, args.out):
        _log(f"saved {out} ({screenshot(page, target, out, max_kb) / 1024:.0f} KB)")
    if args.all_images:
        for i in range(len(images)):
            out = args.all_images / f"output_{i:02d}.png"
            _log(f"saved {out} ({screenshot(page, ('index', i), out, max_kb) / 1024:.0f} KB)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("screenshot_notebook: needs playwright: pip install -e \".[browser]\"", file=sys.stderr)
        return 2
    if find_chromium(args.chromium) is None:
        print("screenshot_notebook: no chromium/chromium-browser/google-chrome on PATH; trying Playwright's own",
              file=sys.stderr)
    with contextlib.ExitStack() as stack:
        if args.url:
            base, token = _parse_url(args.url, args.token)
            path = stack.enter_context(temporary_copy(base, token, _notebook_path(args.notebook, False)))
            _log(f"using {base} (its own environment: quick mode is whatever it was started with); running a "
                 f"copy, {path}")
        else:
            path = _notebook_path(args.notebook, True)
            _log(f"starting JupyterLab on book/ ({'full size' if args.full else 'quick mode, MAMBA_EDU_QUICK=1'})")
            base, token = stack.enter_context(serve_book(quick=not args.full))
        pw = stack.enter_context(sync_playwright())
        try:
            browser = launch_browser(pw, args.chromium)
        except FileNotFoundError as e:
            print(f"screenshot_notebook: {e}", file=sys.stderr)
            return 2
        workspace = f"mamba-edu-screenshot-{secrets.token_hex(4)}"   # a fresh JupyterLab layout, deleted after
        stack.callback(delete_workspace, base, token, workspace)         # the browser has closed
        stack.callback(browser.close)
        page = browser.new_page(viewport={"width": args.width, "height": args.height},
                                device_scale_factor=args.scale)
        ok = run_and_check(page, base, token, path, workspace, args)
        if not ok and not args.keep_going:
            return 1
        save_screenshots(page, args)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
