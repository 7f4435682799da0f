"""tools/notebook_outputs.py: stored outputs rewritten for readers without a kernel.

The rewrites are checked on small hand-made notebooks with a stand-in renderer; one test
renders a real figure with kaleido where kaleido and a Chromium are installed.
"""

from __future__ import annotations

import base64
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebook_outputs as NO  # noqa: E402

FAKE_PNG = b"\x89PNG fake"


def fake_render(fig: dict) -> bytes:
    return FAKE_PNG + fig["layout"]["title"]["text"].encode()


def _model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


def _bar(state: dict, key: str, left: str, value: int, top: int, right: str, style: str) -> None:
    state[f"{key}l"] = _model("HTMLModel", value=left.replace(" ", "\u2007"))
    state[f"{key}p"] = _model("FloatProgressModel", value=value, max=top, bar_style=style,
                              layout=f"IPY_MODEL_{key}y")
    state[f"{key}r"] = _model("HTMLModel", value=right)
    state[f"{key}y"] = _model("LayoutModel")
    state[key] = _model("HBoxModel", children=[f"IPY_MODEL_{key}l", f"IPY_MODEL_{key}p",
                                               f"IPY_MODEL_{key}r"])


def _view(model_id: str, text: str = "HBox()") -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {NO.WIDGET: {"model_id": model_id, "version_major": 2, "version_minor": 0},
                     "text/plain": text}}


def _figure(title: str) -> dict:
    return {"data": [{"type": "bar", "y": [1, 2]}], "layout": {"title": {"text": title}}}


@pytest.fixture
def nb() -> dict:
    state: dict = {}
    _bar(state, "aa", "okddip resnet8: 100%", 12, 12, "12/12 [01:13<00:00, ens=51.6%]", "success")
    _bar(state, "bb", "epoch 1/12: 100%", 63, 63, "63/63 [00:05<00:00]", "")  # leave=False
    _bar(state, "cc", "run: 40%", 2, 5, "2/5 [stopped]", "danger")
    state["oo"] = _model("OutputModel", outputs=[
        {"output_type": "display_data", "data": {NO.PLOTLY: _figure("slider at 3")}}])
    state["ss"] = _model("IntSliderModel", value=3)
    state["hh"] = _model("HBoxModel", children=["IPY_MODEL_ss"])
    state["vv"] = _model("VBoxModel", children=["IPY_MODEL_hh", "IPY_MODEL_oo"])
    state["gone"] = _model("LayoutModel")
    cells = [
        {"cell_type": "code", "source": "fit()", "metadata": {}, "execution_count": 1,
         "outputs": [_view("aa", "okddip resnet8:   0%|"), _view("bb", "epoch 1/12:   0%|"),
                     {"output_type": "stream", "name": "stdout", "text": "trained\n"}]},
        {"cell_type": "code", "source": "app.show()", "metadata": {}, "execution_count": 2,
         "outputs": [_view("vv", "VBox(...)"), _view("cc")]},
        {"cell_type": "code", "source": "fig", "metadata": {}, "execution_count": 3,
         "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
                      "data": {NO.PLOTLY: _figure("plain figure")}}]},
        {"cell_type": "markdown", "source": "text", "metadata": {}},
    ]
    return {"cells": cells, "metadata": {"widgets": {NO.WIDGET_STATE: {
        "state": state, "version_major": 2, "version_minor": 0}}},
        "nbformat": 4, "nbformat_minor": 5}


def test_progress_line_reads_the_final_state(nb):
    state = NO.widget_state(nb)
    assert NO.progress_line(state, "aa") == (
        "okddip resnet8: 100%|##########| 12/12 [01:13<00:00, ens=51.6%]", "success")
    assert NO.progress_line(state, "cc")[0].startswith("run: 40%|####      | 2/5")
    assert NO.progress_line(state, "vv") is None  # a figure app, not a bar


def test_bars_become_their_last_line_and_closed_bars_go(nb):
    assert NO.tidy_progress(nb) == 3
    first, second = nb["cells"][0]["outputs"], nb["cells"][1]["outputs"]
    assert [o["output_type"] for o in first] == ["stream", "stream"]
    assert first[0] == {"output_type": "stream", "name": "stderr",
                        "text": "okddip resnet8: 100%|##########| 12/12 [01:13<00:00, ens=51.6%]\n"}
    assert first[1]["text"] == "trained\n"
    assert second[0]["data"][NO.WIDGET]["model_id"] == "vv"  # the figure app stays a widget
    assert second[1]["name"] == "stderr" and "40%" in second[1]["text"]
    text = str(nb["cells"])
    assert "0%|" not in text.replace("100%|", "").replace("40%|", "")


def test_every_figure_and_figure_widget_gets_a_png(nb):
    assert NO.add_static_images(nb, fake_render) == 2
    app, static = nb["cells"][1]["outputs"][:2]
    plain = nb["cells"][2]["outputs"][0]["data"]
    assert NO.PNG not in app["data"], "nbviewer would draw the widget, not the image"
    assert app["data"]["text/plain"] == NO.WIDGET_TEXT
    assert static["data"]["text/plain"] == NO.STATIC_TEXT
    assert base64.b64decode(static["data"][NO.PNG]) == FAKE_PNG + b"slider at 3"
    assert base64.b64decode(plain[NO.PNG]) == FAKE_PNG + b"plain figure"
    assert NO.PLOTLY in plain  # the interactive version stays
    assert NO.add_static_images(nb, fake_render) == 0  # idempotent
    assert len(nb["cells"][1]["outputs"]) == 3


def test_a_png_inside_a_widget_bundle_moves_out(nb):
    view = nb["cells"][1]["outputs"][0]["data"]
    view[NO.PNG] = "c3RvcmVk"
    assert NO.add_static_images(nb, fake_render) == 2
    app, static = nb["cells"][1]["outputs"][:2]
    assert NO.PNG not in app["data"] and static["data"][NO.PNG] == "c3RvcmVk"


def test_unreferenced_widget_models_are_dropped(nb):
    NO.tidy_progress(nb)
    dropped = NO.prune_widget_state(nb)
    state = NO.widget_state(nb)
    assert {"vv", "hh", "ss", "oo"} <= set(state)
    assert not {"aa", "aal", "bb", "cc", "gone"} & set(state)
    assert dropped == len({"aa", "bb", "cc"}) * 5 + 1


def test_tidy_counts(nb):
    assert NO.tidy(nb, fake_render) == {"progress bars": 3, "static images": 2,
                                        "widget models dropped": 16}


def test_notebook_without_widgets_is_left_alone():
    nb = {"cells": [{"cell_type": "markdown", "source": "x", "metadata": {}}], "metadata": {}}
    assert NO.tidy(nb, fake_render) == {"progress bars": 0, "static images": 0,
                                        "widget models dropped": 0}


@pytest.mark.skipif(importlib.util.find_spec("kaleido") is None
                    or not any(shutil.which(b) for b in ("chromium", "google-chrome", "chrome")),
                    reason="kaleido or a Chrome/Chromium is not installed "
                           "(pip install kaleido; apt-get install chromium)")
def test_kaleido_renders_a_png():
    render = NO.kaleido_renderer(width=300, height=200)
    try:
        png = render(_figure("a real figure"))
    finally:
        render.close()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
