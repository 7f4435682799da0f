"""The course in a real browser: JupyterLab in Chromium, driven by Playwright.

For each notebook (a copy, so the committed files stay as they are) the test opens it in
JupyterLab, runs all cells in the smoke profile with the inline matplotlib backend, as a
learner's `make lab` would draw them, and checks what a person would see:

- every code cell ran, and no output is a Python traceback;
- every widget view rendered (no "Error displaying widget"), every plotly output drew;
- moving each slider and each dropdown of a figure widget changes its figure (the figure's
  plotted data and title as plotly.js holds them, or the image matplotlib drew).

Chromium comes from the system (Debian: ``apt-get install chromium``; ``.ci/run`` installs
it) and Playwright's Python package drives it through ``executable_path``: no browser is
downloaded. Without either, the test is skipped and says which one is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
RUN_TIMEOUT_S = 420  # one notebook, all cells, smoke profile


def _chromium() -> str | None:
    """``$OKDDIP_CHROMIUM``, else the first Chromium or Chrome on the PATH."""
    given = os.environ.get("OKDDIP_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((p for p in map(shutil.which, names) if p), None)


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "JupyterLab is not installed (pip install -e '.[lab]')"
    if _chromium() is None:
        return ("no Chromium or Chrome found (apt-get install chromium, or set "
                "$OKDDIP_CHROMIUM to its path)")
    return None


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the notebooks: (base URL, token, folder)."""
    home = tmp_path_factory.mktemp("lab")
    folder = home / "notebooks"
    folder.mkdir()
    for nb in NOTEBOOKS:
        shutil.copy2(nb, folder / nb.name)
    # Lab draws only the cells in view by default; draw them all, so every output is there.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = tracker.parents[1] / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # draw inline
    env.update(OKDDIP_PROFILE="smoke", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={folder}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(home / "server.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start: "
                                       + (home / "server.log").read_text()[-2000:])
                time.sleep(0.5)
        yield base, token, folder
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


# What a figure shows: plotly.js's data and title, or the image matplotlib drew.
SIGNATURE_JS = """area => {
  const plot = area.querySelector('.js-plotly-plot');
  if (plot && plot.data) {
    const keep = t => ({x: t.x, y: t.y, z: t.z, line: t.line, marker: t.marker});
    return JSON.stringify([plot.data.map(keep), plot.layout.title]);
  }
  const img = area.querySelector('img');
  return img ? img.src : null;
}"""


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _wait_until_done(page, cells: int) -> None:
    """Until no cell is queued or running, and every cell ran or one failed."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        busy = any("*" in p for p in prompts)
        ran = sum(bool(re.search(r"\[\d+\]", p)) for p in prompts)
        if not busy and (ran == cells or _tracebacks(page)):
            return
        page.wait_for_timeout(1000)
    raise AssertionError(f"the notebook did not finish within {RUN_TIMEOUT_S} s")


def _tracebacks(page) -> list[str]:
    outputs = page.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
    return [t[-600:] for t in outputs.all_inner_texts()]


def _controls(view) -> list:
    return (view.locator(".widget-slider").all() + view.locator(".widget-dropdown select").all())


def _move(page, control) -> None:
    if control.evaluate("el => el.tagName") == "SELECT":
        options = control.locator("option").all_inner_texts()
        current = control.evaluate("el => el.value")
        control.select_option(next(o for o in options if o != current))
    else:
        handle = control.locator(".noUi-handle").first
        now, top = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemax"))
        handle.focus()
        page.keyboard.press("ArrowRight" if now < top else "ArrowLeft")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem[:2] for n in NOTEBOOKS])
def test_notebook_runs_and_its_widgets_respond(lab, browser, notebook):
    base, token, _ = lab
    stored_cells = json.loads(notebook.read_text())["cells"]
    # A collapsed input (a worked solution) has no prompt to read; it still runs, and a
    # traceback in its output fails the test like any other.
    cells = sum(c["cell_type"] == "code"
                and not c.get("metadata", {}).get("jupyter", {}).get("source_hidden")
                for c in stored_cells)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{base}/lab/tree/{notebook.name}?reset&token={token}")
        page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=120_000)
        _run_all(page)
        page.wait_for_timeout(1000)
        _wait_until_done(page, cells)

        assert not _tracebacks(page), f"{notebook.name} raised:\n" + "\n".join(_tracebacks(page))
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        assert sum(bool(re.search(r"\[\d+\]", p)) for p in prompts) == cells
        assert page.get_by_text("Error displaying widget").count() == 0

        # A widget view is a panel in the output area (hidden once closed, as tqdm's
        # leave=False bars are); a plotly figure is drawn by the plotly mime renderer.
        views = page.locator(".jp-OutputArea-output.lm-Panel:not(.lm-mod-hidden)").all()
        for view in views:
            assert view.locator(".jupyter-widgets").count(), "a widget view rendered empty"
        figures = page.locator(".jp-OutputArea-output.jp-RenderedPlotly").all()
        stored = sum(1 for c in stored_cells for o in c.get("outputs", [])
                     if "application/vnd.plotly.v1+json" in o.get("data", {}))
        assert len(figures) >= stored, f"{len(figures)} plotly outputs, {stored} stored"
        for figure in figures:  # plotly.js draws a figure once it is in view
            figure.scroll_into_view_if_needed()
            figure.locator(".main-svg").first.wait_for(timeout=30_000)

        drawn = sum(1 for c in stored_cells for o in c.get("outputs", [])
                    if "image/png" in o.get("data", {})
                    and "".join(o["data"].get("text/plain", "")).startswith("<Figure"))
        if drawn:  # matplotlib draws inline (a test-only MPLBACKEND=Agg would draw nothing)
            assert page.locator(".jp-OutputArea-output.jp-RenderedImage img").count(), (
                "no matplotlib figure was drawn")

        moved = 0
        for view in views:
            area = view.locator(".jupyter-widgets-output-area, .widget-output").first
            if not area.count():
                continue
            for control in _controls(view):
                before = area.evaluate(SIGNATURE_JS)
                assert before, "a figure widget shows no figure"
                _move(page, control)
                page.wait_for_function(
                    f"([area, before]) => ({SIGNATURE_JS})(area) !== before && "
                    f"({SIGNATURE_JS})(area) !== null",
                    arg=[area.element_handle(), before], timeout=60_000)
                moved += 1
        expected = {"01": 1, "03": 1, "05": 4, "06": 1}.get(notebook.stem[:2], 0)
        assert moved == expected, f"{moved} controls moved, {expected} expected"
    finally:
        page.close()
