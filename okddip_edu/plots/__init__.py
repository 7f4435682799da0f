"""Figures: plain functions that return plotly ``go.Figure`` objects (interactive, for
JupyterLab and Colab) or matplotlib/seaborn figures (static, paper style).

Every builder takes data (a history DataFrame, tensors, a results table) and returns a
figure; nothing here trains or reads files, so each is tested in pytest by checking the
figure's data. Widgets (:mod:`okddip_edu.widgets`) only wire controls to these builders.

Modules: ``curves`` (training and diversity curves, live plots), ``softmax`` (temperature),
``attention`` (attention weights and targets, diversity measures over epochs).
"""

from . import attention, softmax  # noqa: E402,F401
from . import curves  # noqa: E402,F401
