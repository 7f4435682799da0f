"""Root pytest configuration: how nbval compares notebook outputs.

Only cells tagged ``nbval-check-output`` are compared (``--nbval-lax``; the sources write
the tag as ``# %% tags=["nbval-check-output"]``). Even there, rich outputs whose content is
random by construction are skipped: plotly figures carry random div ids, widgets random
model ids, and progress bars write to stderr.
"""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += (
            "text/html",
            "application/javascript",
            "application/vnd.plotly.v1+json",
            "application/vnd.jupyter.widget-view+json",
            "stderr",
        )
