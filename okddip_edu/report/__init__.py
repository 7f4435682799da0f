"""Reports of experiment suites: mean ± std over seeds, published numbers beside them, figures.

    okddip-edu report runs/suites              # writes runs/suites/report.md and its PNGs

    results, histories = load_results("assets/results")
    summary_table(results, "temperature")      # one row per variant, mean and std over seeds
    claims(results)                            # the paper's claims, each with a 2-se verdict
    published_for("cifar100", "resnet32")      # the published numbers of that setting

One concept per module:

- :mod:`~okddip_edu.report.results`: the suite directory (``results.csv``,
  ``histories.csv``), its columns and their best-epoch / final-epoch labels;
- :mod:`~okddip_edu.report.stats`: statistics over seeds: summary tables, differences,
  standard errors, the 2-se verdict and the claims table;
- :mod:`~okddip_edu.report.published`: the published numbers, by setting;
- :mod:`~okddip_edu.report.figures`: seaborn figures of suites, diversity and attention;
- :mod:`~okddip_edu.report.write`: ``report.md`` (text tables, figures, published numbers)
  and the ``okddip-edu report`` sub-command.
"""

from __future__ import annotations

from .figures import DPI, attention_figure, diversity_figure, suite_figure
from .published import (load_published, no_published_reason, published_band, published_for,
                         published_path)
from .results import (ENV_RESULTS, LABELS, METRICS, REQUIRED, ROOT, find_results,
                      load_results, provenance, results_candidates)
from .stats import (CLAIMS, claims, describe_difference, difference, paired_difference,
                    summary_table, verdict)
from .write import cmd_report, format_summary, register, to_markdown, write_report

__all__ = [
    # results
    "ROOT", "ENV_RESULTS", "METRICS", "LABELS", "REQUIRED", "load_results", "find_results",
    "results_candidates", "provenance",
    # statistics
    "summary_table", "difference", "describe_difference", "CLAIMS", "paired_difference",
    "verdict", "claims",
    # published numbers
    "published_path", "load_published", "published_for", "published_band",
    "no_published_reason",
    # figures
    "DPI", "suite_figure", "diversity_figure", "attention_figure",
    # the report
    "format_summary", "to_markdown", "write_report", "register", "cmd_report",
]
