"""The markdown report of a suite directory: text tables, figures and published numbers.

    okddip-edu report runs/suites              # writes runs/suites/report.md and its PNGs

    write_report("assets/results")             # the same from Python; returns report.md's path
    format_summary(summary_table(results))     # one "mean ± std" cell per metric

``report.md`` holds, per suite, the mean ± std table over seeds (best and final epoch
labelled, seeds counted), a bar chart, and the published numbers of the same setting or a
sentence saying why there are none; then the paper's claims with their 2-se verdicts
(:mod:`~okddip_edu.report.stats`), and curves over epochs when histories exist. Tables are
written as GitHub markdown by :func:`to_markdown`, without ``tabulate`` (which pandas'
``DataFrame.to_markdown`` needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .figures import DPI, _setting_title, attention_figure, diversity_figure, suite_figure
from .published import no_published_reason, published_for
from .results import _DIGITS, METRICS, _setting, load_results
from .stats import claims, summary_table


def _pm(mean: float, std: float, digits: int) -> str:
    if mean != mean:  # NaN: the metric does not exist for this variant
        return "-"
    if std != std:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_summary(table: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """A summary table as text, one ``mean ± std`` cell per metric, indexed by variant.

    ``metrics``: results.csv column names to keep (default: all of :data:`METRICS`). A metric
    that no variant has (the diversity of a single network) is dropped.
    """
    keep = [(c, lab) for c, lab in METRICS if metrics is None or c in metrics]
    out = pd.DataFrame({"variant": table["variant"], "seeds": table["seeds"]})
    for col, label in keep:
        mean, std = table[f"{label} mean"], table[f"{label} std"]
        if mean.notna().any():
            digits = _DIGITS.get(col, 2)
            out[label] = [_pm(m, s, digits) for m, s in zip(mean, std)]
    return out.set_index("variant")


def to_markdown(df: pd.DataFrame, index: bool = True, floatfmt: str = ".2f") -> str:
    """A GitHub markdown table of ``df`` (no dependency on ``tabulate``)."""
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            text = "-" if v != v else format(v, floatfmt)
        else:
            text = "" if v is None else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    frame = df.reset_index() if index and not isinstance(df.index, pd.RangeIndex) else df
    header = [cell(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def _published_section(part: pd.DataFrame, suite: str) -> str:
    dataset, arch, epochs = (_setting(part[k]) for k in ("dataset", "arch", "epochs"))
    try:
        pub = published_for(str(dataset), str(arch))
    except FileNotFoundError as err:
        return f"Published numbers: not available ({err})."
    if suite != "methods":
        pub = pub[pub["method"] == "OKDDip"]
    if pub.empty:
        return no_published_reason(str(dataset), str(arch), epochs)
    if epochs != 300:
        note = (f" These runs trained for {epochs} epochs; the published numbers come from "
                "complete schedules (the paper's: 300 epochs), which a shorter run is not "
                "expected to reach.")
    else:
        note = ""
    shown = pub[["method", "role", "metric", "value", "std", "top1_acc", "schedule", "source",
                 "note"]].rename(columns={"top1_acc": "top-1 acc %"})
    intro = ("Published numbers for this setting (assets/published/published.csv; the paper's "
             "ablation tables are not available, so only the default OKDDip appears)."
             if suite != "methods" else "Published numbers for this setting "
             "(assets/published/published.csv).")
    return intro + note + "\n\n" + to_markdown(shown, index=False)


def write_report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.md`` and its PNG figures for a suite directory; return report.md's path.

    Per suite: a mean ± std table (best and final epoch labelled, seeds counted), the
    dataset/architecture/epochs, a bar chart, and the published numbers of the same setting
    or a sentence saying why there are none. Also the peer diversity over epochs (methods
    suite) and the attention diagonal over epochs (OKDDip variants), when histories exist.
    """
    results, histories = load_results(directory)
    out = Path(out) if out is not None else Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    table = summary_table(results)
    lines = ["# Comparison and ablation results", "",
             f"{len(results)} finished runs ({results['suite'].nunique()} suites). Every cell: "
             "mean ± sample standard deviation over seeds (no ± with one seed). "
             "**Best epoch**: the epoch with the highest validation top-1 of the leader, picked "
             "on that same split (optimistic). **Final epoch**: the last epoch. Top-1 in %. "
             "Methods without a leader report the mean single-branch accuracy as 'leader'.", ""]
    for suite in table["suite"].unique():
        part = results[results["suite"] == suite]
        t = table[table["suite"] == suite]
        dataset, arch, epochs = (_setting(part[k]) for k in ("dataset", "arch", "epochs"))
        n = t["seeds"]
        seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()} to {n.max()}"
        png = f"{suite}_top1.png"
        suite_figure(results, suite).savefig(out / png, dpi=DPI)
        lines += [f"## {suite}", "",
                  f"Dataset {dataset}, {arch}, {epochs} epochs; {seeds} seed(s) per variant.", "",
                  to_markdown(format_summary(t)), "",
                  f"![{suite}: final-epoch top-1 of leader and ensemble]({png})", "",
                  _published_section(part, suite), ""]
    found = claims(results)
    if not found.empty:
        shown = found.copy()
        for col in ("a", "b", "a - b", "se"):
            shown[col] = [f"{v:.3f}" if "div" in m else f"{v:.2f}"
                          for v, m in zip(found[col], found["metric"])]
        lines += ["## The paper's claims at this scale", "",
                  "Each claim as a comparison of two variants (a, b: means over seeds; se: "
                  "standard error of a - b over seeds). **supports**: a - b is more than two "
                  "standard errors in the paper's direction; **contradicts**: as much the other "
                  "way; **cannot tell**: within that, or one seed only. A rough guide for a "
                  "few seeds, not a significance test; and a result at this scale says "
                  "nothing about CIFAR-100 at 300 epochs.", "",
                  to_markdown(shown, index=False), ""]
    if histories is not None:
        lines += ["## Over epochs", ""]
        if "methods" in set(histories["suite"]) and "val_div_l2" in histories:
            setting = _setting_title(results[results["suite"] == "methods"])
            fig = diversity_figure(histories, "methods", setting)
            fig.savefig(out / "methods_diversity.png", dpi=DPI)
            lines += ["Peer diversity on the validation split, methods suite (mean ± std over "
                      "seeds):", "", "![peer diversity](methods_diversity.png)", ""]
        if "val_att_diag" in histories and histories["val_att_diag"].notna().any():
            attention_figure(histories).savefig(out / "attention_diag.png", dpi=DPI)
            lines += ["Mean diagonal of OKDDip's attention (the weight of a peer's own logits "
                      "in its target; mean ± std over seeds):", "", "![attention diagonal](attention_diag.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


# command line -------------------------------------------------------------------------
def register(sub) -> None:
    p = sub.add_parser("report", help="tables and figures of a suite directory",
                       description="Summarise the results.csv and histories.csv of a suite "
                       "directory (written by 'okddip-edu ablate'): report.md with mean ± std "
                       "tables over seeds, published numbers of the same setting, and PNG "
                       "figures. Prints the markdown.")
    p.add_argument("dir", help="suite directory (the --out of 'okddip-edu ablate')")
    p.add_argument("--out", help="where to write report.md and the figures (default: DIR)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    if args.out is not None:  # a file in the way is one line, before anything is read
        from ..rundir import check_out_dir
        check_out_dir(args.out, create=False)
    path = write_report(args.dir, args.out)
    print(path.read_text())
    figures = sorted(p.name for p in path.parent.glob("*.png"))
    print(f"written: {path} and {len(figures)} figure(s)")
    return 0
