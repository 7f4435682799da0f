"""Root pytest configuration: how nbval compares notebook outputs.

Only cells marked ``# NBVAL_CHECK_OUTPUT`` are compared (``--nbval-lax``). Even there, rich
outputs whose content is random by construction are skipped: plotly figures carry random
div ids, widgets random model ids, and progress bars write to stderr.
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
