"""Stored notebook outputs that read well where no kernel runs: GitHub, nbviewer, a diff.

An executed notebook keeps what the kernel sent, which is made for a live JupyterLab:

- a plotly figure is stored as ``application/vnd.plotly.v1+json``, which only a page
  running plotly.js can draw: GitHub and nbviewer show nothing;
- a widget (a slider over a figure, a tqdm bar) is stored as a reference to a model in the
  notebook's widget state, with a ``text/plain`` fallback written when it was first
  displayed: a tqdm bar reads ``0%|          | 0/63`` for ever, and ``leave=False`` bars,
  which vanish in a live notebook, are still there.

:func:`tidy` rewrites them, keeping everything JupyterLab needs to stay interactive:

- every plotly output gets an ``image/png`` beside its JSON (JupyterLab still prefers the
  interactive JSON; GitHub and nbviewer show the image);
- every widget view showing a figure (a figure app, ``interact``) is followed by an output
  holding a PNG of the figure it showed last. It is a separate output, not a second MIME
  type of the widget's, because nbconvert (nbviewer) prefers a widget view to any image
  and draws the widget without the figure;
- a tqdm bar becomes the one line it ended on (``epoch 12/12: 100%|##########| 63/63 ...``),
  a bar closed with ``leave=False`` is dropped, as in the live notebook, and widget models
  no output refers to any more leave the widget state.

The image renderer is passed in (:func:`kaleido_renderer` uses plotly's kaleido, which
drives an installed Chrome or Chromium), so the rewriting itself is plain dict work that
tests check without a browser.
"""

from __future__ import annotations

import base64
import html
import json
import re
import warnings
from typing import Callable

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PNG = "image/png"
REF = re.compile(r"IPY_MODEL_(\w+)")
BAR_WIDTH = 10  # characters of a text progress bar, as tqdm draws one
STATIC_TEXT = "<static image of the widget's figure, for pages that cannot run widgets>"
WIDGET_TEXT = "<interactive widget: run the notebook to use its controls; its last figure is below>"

Renderer = Callable[[dict], bytes]  # plotly figure JSON -> PNG bytes


# Widget state ----------------------------------------------------------------------------
def widget_state(nb: dict) -> dict[str, dict]:
    """``{model_id: {"model_name": ..., "state": {...}}}`` of the notebook (may be empty)."""
    return nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _refs(model: dict) -> list[str]:
    """Model ids a model refers to (children, layout, style...), in order of appearance."""
    return REF.findall(json.dumps(model.get("state", {})))


def _children(state: dict, model_id: str) -> list[dict | None]:
    children = state.get(model_id, {}).get("state", {}).get("children", [])
    return [state.get(REF.sub(r"\1", c)) for c in children]


def _subtree(state: dict, model_id: str) -> list[str]:
    """``model_id`` and every model it refers to, directly or not."""
    seen, todo = [], [model_id]
    while todo:
        mid = todo.pop(0)
        if mid in seen or mid not in state:
            continue
        seen.append(mid)
        todo.extend(_refs(state[mid]))
    return seen


# Progress bars ---------------------------------------------------------------------------
def progress_line(state: dict, model_id: str) -> tuple[str, str] | None:
    """(the text a tqdm bar ended on, its bar style), or None if the model is not a tqdm
    bar (an HBox of HTML, FloatProgress, HTML). Style: ``success`` (finished and left),
    ``danger`` (stopped early), ``""`` (closed with ``leave=False``, or never closed)."""
    kids = _children(state, model_id)
    names = [k.get("model_name") if k else None for k in kids]
    if state.get(model_id, {}).get("model_name") != "HBoxModel" or names != [
            "HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (k["state"] for k in kids)
    value, top = float(bar.get("value", 0)), float(bar.get("max", 0))
    filled = int(BAR_WIDTH * value / top) if top > 0 else 0
    drawn = "#" * filled + " " * (BAR_WIDTH - filled)

    def text(s: dict) -> str:  # tqdm pads with figure spaces (U+2007) and escapes HTML
        return html.unescape(s.get("value", "")).replace("\u2007", " ").strip()

    line = f"{text(left)}|{drawn}| {text(right)}".strip()
    return line, bar.get("bar_style", "")


# Figures ---------------------------------------------------------------------------------
def _png_text(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def figure_of_widget(state: dict, model_id: str) -> dict | None:
    """The last figure an Output widget inside this widget shows: ``{"plotly": json}`` or
    ``{"png": base64}``; None when it shows none."""
    for mid in _subtree(state, model_id):
        model = state[mid]
        if model.get("model_name") != "OutputModel":
            continue
        for out in reversed(model.get("state", {}).get("outputs", [])):
            data = out.get("data", {})
            if PNG in data:
                return {"png": data[PNG]}
            if PLOTLY in data:
                return {"plotly": data[PLOTLY]}
    return None


# The rewrite -----------------------------------------------------------------------------
def _merge_streams(outputs: list[dict]) -> list[dict]:
    merged: list[dict] = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last.get("name") == out.get("name")):
            last["text"] = last["text"] + out["text"]
        else:
            merged.append(out)
    return merged


def tidy_progress(nb: dict) -> int:
    """Replace each tqdm bar by its final line (stderr, as tqdm prints it in a terminal);
    drop bars closed with ``leave=False``. Returns the number of bars rewritten."""
    state, count = widget_state(nb), 0
    for cell in nb.get("cells", []):
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET) if out.get("output_type") == "display_data" else None
            found = progress_line(state, view["model_id"]) if view else None
            if found is None:
                outputs.append(out)
                continue
            count += 1
            line, style = found
            if style in ("success", "danger"):  # finished (left on screen) or stopped early
                outputs.append({"output_type": "stream", "name": "stderr", "text": line + "\n"})
        if "outputs" in cell:
            cell["outputs"] = _merge_streams(outputs)
    return count


def _static_output(png: str) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {PNG: png, "text/plain": STATIC_TEXT}}


def _is_static_output(out: dict | None) -> bool:
    return bool(out) and out.get("data", {}).get("text/plain") == STATIC_TEXT


def add_static_images(nb: dict, render: Renderer) -> int:
    """Give every stored plotly figure an ``image/png`` beside its JSON, and follow every
    widget view showing a figure by an output with its PNG. Returns the images added."""
    state, count = widget_state(nb), 0
    for cell in nb.get("cells", []):
        outputs = []
        old = cell.get("outputs", [])
        for i, out in enumerate(old):
            outputs.append(out)
            data = out.get("data")
            if not data:
                continue
            if PLOTLY in data and PNG not in data:
                data[PNG] = _png_text(render(data[PLOTLY]))
                count += 1
            elif WIDGET in data:
                png = data.pop(PNG, None)  # an image inside the widget's bundle: move it out
                fig = figure_of_widget(state, data[WIDGET]["model_id"])
                if fig is None:
                    continue
                data["text/plain"] = WIDGET_TEXT  # what a page without widgets prints
                if _is_static_output(old[i + 1] if i + 1 < len(old) else None):
                    continue
                png = png or fig.get("png") or _png_text(render(fig["plotly"]))
                outputs.append(_static_output(png))
                count += 1
        if "outputs" in cell:
            cell["outputs"] = outputs
    return count


def prune_widget_state(nb: dict) -> int:
    """Drop widget models that no stored output refers to. Returns how many were dropped."""
    state = widget_state(nb)
    if not state:
        return 0
    keep: set[str] = set()
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET)
            if view:
                keep.update(_subtree(state, view["model_id"]))
    dropped = [mid for mid in state if mid not in keep]
    for mid in dropped:
        del state[mid]
    if not state:
        del nb["metadata"]["widgets"]
    return len(dropped)


def tidy(nb: dict, render: Renderer) -> dict[str, int]:
    """All three rewrites, in order; counts of what each did."""
    return {"progress bars": tidy_progress(nb), "static images": add_static_images(nb, render),
            "widget models dropped": prune_widget_state(nb)}


# Rendering -------------------------------------------------------------------------------
def kaleido_renderer(width: int = 900, height: int = 450) -> Renderer:
    """PNG export with plotly's kaleido (needs ``pip install kaleido`` and a Chrome or
    Chromium it can find, e.g. Debian's ``chromium``). A figure's own layout width and
    height win over these defaults. Starts one browser, reused for every figure, until
    ``render.close()``."""
    import kaleido
    import plotly.io as pio

    kaleido.start_sync_server(silence_warnings=True)

    def render(fig: dict) -> bytes:
        layout = fig.get("layout", {})
        with warnings.catch_warnings():  # plotly notes that the shared browser ignores kopts
            warnings.filterwarnings("ignore", message="The kopts argument is ignored")
            return pio.to_image(fig, format="png", validate=False,
                                width=layout.get("width") or width,
                                height=layout.get("height") or height)

    render.close = kaleido.stop_sync_server  # type: ignore[attr-defined]
    return render
