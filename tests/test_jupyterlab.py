"""The book opens: JupyterLab from the project's environment serves book/ (README: `.venv/bin/jupyter lab book/`)."""
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium on this machine: the check that "
                    "notebook 02 opens in a headless browser runs where `chromium` is installed")
def test_notebook_opens_in_a_headless_browser(jupyterlab, tmp_path):
    base, token = jupyterlab
    out = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=30000", "--dump-dom",
                          f"{base}/lab/tree/02_varibad.ipynb?token={token}"],
                         capture_output=True, text=True, timeout=300)
    assert "jp-Notebook" in out.stdout or "JupyterLab" in out.stdout
