"""Reports: mean and sample std over seeds on hand-made tables, best vs final epoch labels,
published numbers by setting, report.md and its figures, and the ``report`` command."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from okddip_edu import cli, report

NAN = float("nan")


def _run(suite, variant, seed, best, final, ens, div=0.5, att=NAN, dataset="cifar10-5k",
         arch="resnet8", method="okddip"):
    return dict(suite=suite, variant=variant, seed=seed, dataset=dataset, arch=arch,
                method=method, epochs=12, best_epoch=10, best_top1_leader=best,
                final_top1_leader=final, final_top1_peer_mean=final - 1.0,
                final_top1_peer_best=final, final_top1_ens=ens, best_top1_ens=ens,
                div_l2=div, div_disagree=div / 2, div_kl=NAN, div_js=div / 10, ens_gain=1.0,
                att_diag=att, run=f"{suite}-{variant}-{seed}")


@pytest.fixture
def results() -> pd.DataFrame:
    """Known numbers; rows deliberately out of the suites' order."""
    return pd.DataFrame([
        _run("temperature", "T=2", 0, 60.0, 59.0, 61.0, att=0.40),
        _run("temperature", "T=1", 0, 50.0, 49.0, 51.0, att=0.30),
        _run("temperature", "T=1", 1, 52.0, 50.0, 53.0, att=0.50),
        _run("temperature", "T=1", 2, 54.0, 54.0, 55.0, att=0.40),
        _run("methods", "okddip", 0, 56.0, 55.0, 57.0, att=0.35),
        _run("methods", "okddip", 1, 58.0, 57.0, 59.0, att=0.45),
        _run("methods", "baseline", 0, 48.0, 47.0, 47.0, div=NAN, method="baseline"),
        _run("methods", "baseline", 1, 50.0, 48.0, 48.0, div=NAN, method="baseline"),
    ])


@pytest.fixture
def histories(results) -> pd.DataFrame:
    rows = []
    for r in results.itertuples():
        for epoch in range(3):
            rows.append(dict(suite=r.suite, variant=r.variant, seed=r.seed, epoch=epoch,
                             val_top1_leader=r.final_top1_leader - 2 + epoch,
                             val_div_l2=r.div_l2 + 0.01 * epoch,
                             val_div_disagree=r.div_disagree, val_att_diag=r.att_diag,
                             **{f"val_att_a{i}_b0": 1 / 3 if r.att_diag == r.att_diag else NAN
                                for i in range(3)}))
    return pd.DataFrame(rows)


@pytest.fixture
def suite_dir(tmp_path, results, histories):
    d = tmp_path / "suites"
    d.mkdir()
    results.to_csv(d / "results.csv", index=False)
    histories.to_csv(d / "histories.csv", index=False)
    return d


# summary tables -------------------------------------------------------------------------
def test_mean_and_sample_std_over_seeds(results):
    t = report.summary_table(results, "temperature").set_index("variant")
    t1 = t.loc["T=1"]
    assert t1["seeds"] == 3
    assert t1["best-epoch leader top-1 mean"] == pytest.approx(52.0)
    assert t1["best-epoch leader top-1 std"] == pytest.approx(2.0)  # ddof=1: sqrt(8/2)
    assert t1["final-epoch leader top-1 mean"] == pytest.approx(51.0)
    assert t1["final-epoch leader top-1 std"] == pytest.approx(math.sqrt(7.0))  # (4+1+9)/2
    assert t1["final-epoch ensemble top-1 mean"] == pytest.approx(53.0)
    assert t1["final-epoch ensemble top-1 std"] == pytest.approx(2.0)
    assert t1["final-epoch mean-peer top-1 mean"] == pytest.approx(50.0)
    assert t1["final-epoch att_diag mean"] == pytest.approx(0.4)
    assert t1["final-epoch att_diag std"] == pytest.approx(0.1)
    # One seed: a mean, no standard deviation.
    assert t.loc["T=2", "seeds"] == 1
    assert t.loc["T=2", "final-epoch leader top-1 mean"] == 59.0
    assert math.isnan(t.loc["T=2", "final-epoch leader top-1 std"])
    assert (t["dataset"] == "cifar10-5k").all() and (t["epochs"] == 12).all()


def test_best_and_final_epoch_are_labelled(results):
    t = report.summary_table(results)
    metric_cols = [c for c in t.columns if c.endswith((" mean", " std"))]
    assert metric_cols and all(("best-epoch" in c) != ("final-epoch" in c) for c in metric_cols)
    assert {"best-epoch leader top-1 mean", "final-epoch leader top-1 mean",
            "final-epoch ensemble top-1 mean", "final-epoch mean-peer top-1 mean",
            "final-epoch div_l2 mean", "final-epoch div_disagree mean",
            "final-epoch div_js mean", "final-epoch att_diag mean"} <= set(t.columns)


def test_suites_and_variants_keep_the_order_of_the_suites(results):
    t = report.summary_table(results)
    assert list(zip(t["suite"], t["variant"])) == [
        ("methods", "baseline"), ("methods", "okddip"), ("temperature", "T=1"),
        ("temperature", "T=2")]
    assert report.summary_table(results, "nosuch").empty


def test_formatted_summary_shows_mean_pm_std(results):
    f = report.format_summary(report.summary_table(results, "methods"))
    assert f.loc["okddip", "final-epoch leader top-1"] == "56.00 ± 1.41"
    assert f.loc["okddip", "best-epoch leader top-1"] == "57.00 ± 1.41"
    assert f.loc["baseline", "final-epoch div_l2"] == "-"  # one network: no diversity
    one_seed = report.format_summary(report.summary_table(results, "temperature"))
    assert one_seed.loc["T=2", "final-epoch leader top-1"] == "59.00"
    assert "final-epoch att_diag" in one_seed.columns


def _claims_table() -> pd.DataFrame:
    """Attention clearly more diverse than mean; DML clearly better than OKDDip; CL-ILR within
    the noise; ONE with one seed; the leader 2 points above its own peers in every run."""
    rows = [_run("aggregation", "attention", s, 0, 50.0 + s, 0, div=0.10 + 0.01 * s)
            for s in range(3)]
    rows += [_run("aggregation", "mean", s, 0, 50.5 + s, 0, div=0.05 + 0.01 * s)
             for s in range(3)]
    rows += [_run("methods", "okddip", s, 0, v, 0) for s, v in enumerate((50.0, 51.0, 52.0))]
    rows += [_run("methods", "dml", s, 0, v, 0) for s, v in enumerate((60.0, 61.0, 62.0))]
    rows += [_run("methods", "cl-ilr", s, 0, v, 0) for s, v in enumerate((49.0, 52.0, 50.5))]
    rows += [_run("methods", "one", 0, 0, 40.0, 0)]
    rows += [_run("leader", "on", s, 0, 50.0 + 3 * s, 0) for s in range(2)]
    df = pd.DataFrame(rows)
    df["final_top1_peer_mean"] = df["final_top1_leader"] - 2.0
    return df


def test_claims_give_numbers_and_a_verdict_per_comparison():
    table = report.claims(_claims_table()).set_index("compared")
    div = table[table["metric"] == "div_l2"].iloc[0]
    # attention - mean = 0.05 every seed: the std of each side is 0.01, se = sqrt(2 * 1e-4 / 3)
    assert div["a - b"] == pytest.approx(0.05)
    assert div["se"] == pytest.approx(math.sqrt(2 * 1e-4 / 3))
    assert div["verdict"] == "supports" and div["seeds"] == 3
    acc = table[table["metric"] == "final_top1_leader"]
    assert acc.loc["aggregation: attention vs mean", "verdict"] == "cannot tell"  # -0.5, se 0.82
    assert acc.loc["methods: okddip vs dml", "a - b"] == pytest.approx(-10.0)
    assert acc.loc["methods: okddip vs dml", "verdict"] == "contradicts"
    assert acc.loc["methods: okddip vs cl-ilr", "verdict"] == "cannot tell"
    assert acc.loc["methods: okddip vs one", "verdict"] == "cannot tell"  # one seed of ONE
    assert math.isnan(acc.loc["methods: okddip vs one", "se"])
    paired = table.loc["leader/on: leader vs mean peer (same runs)"]
    # the leader is 2 points above its peers in both runs although the runs differ by 3:
    # the within-run difference has no spread, so its verdict cannot be computed
    assert paired["a - b"] == pytest.approx(2.0) and paired["verdict"] == "cannot tell"
    assert "leader: on vs off" not in table.index  # no leader-off runs: that row is left out


def test_report_has_a_claims_section_when_the_variants_exist(tmp_path, suite_dir):
    d = tmp_path / "claims"
    d.mkdir()
    _claims_table().to_csv(d / "results.csv", index=False)
    text = report.write_report(d).read_text()
    assert "## The paper's claims at this scale" in text
    assert "| OKDDip beats DML | methods: okddip vs dml | final_top1_leader | 51.00 | 61.00 " \
           "| -10.00 | 0.82 | 3 | contradicts |" in text
    only_temperature = tmp_path / "temperature"
    only_temperature.mkdir()
    results = pd.read_csv(suite_dir / "results.csv")
    results[results["suite"] == "temperature"].to_csv(only_temperature / "results.csv",
                                                      index=False)
    text = report.write_report(only_temperature, tmp_path / "o").read_text()
    assert "The paper's claims" not in text  # none of the compared variants is there


def test_verdict_thresholds():
    d = dict(diff=2.1, se=1.0)
    assert report.verdict(d) == "supports"
    assert report.verdict(dict(diff=-2.1, se=1.0)) == "contradicts"
    assert report.verdict(dict(diff=1.9, se=1.0)) == "cannot tell"
    assert report.verdict(dict(diff=5.0, se=NAN)) == "cannot tell"


def test_markdown_table_without_tabulate():
    df = pd.DataFrame({"name": ["a|b", "c"], "x": [1.234, NAN]})
    md = report.to_markdown(df, index=False)
    assert md.splitlines() == ["| name | x |", "|---|---:|", "| a\\|b | 1.23 |", "| c | - |"]


# published numbers ----------------------------------------------------------------------
def test_published_cifar100_resnet32_holds_the_paper_cell_and_pcl():
    pub = report.published_for("cifar100", "resnet32")
    paper = pub[(pub["method"] == "OKDDip") & (pub["value"] == 25.65)]
    assert len(paper) == 1
    row = paper.iloc[0]
    assert (row["metric"], row["std"], row["role"]) == ("top1_error", 0.15, "leader")
    assert row["top1_acc"] == pytest.approx(74.35)
    assert "Table 2" in row["source"]
    pcl = pub[pub["source"].str.contains("PCL")]
    assert pcl["value"].tolist() == [73.25] and pcl["metric"].tolist() == ["top1_acc"]
    assert set(pub["method"]) == {"OKDDip", "baseline", "DML", "CL-ILR", "ONE"}
    assert report.published_for("CIFAR-100", "ResNet-32").equals(pub)  # the papers' names
    assert report.published_band("cifar100", "resnet32") == pytest.approx((73.25, 74.71))


def test_published_lookup_by_our_names():
    assert report.published_for("cifar10", "resnet32")["value"].tolist() == [94.17]
    assert len(report.published_for("cifar100", "densenet40-12")) == 10  # PCL + MCL-OKD
    assert len(report.published_for("cifar100", "wrn20-8", method="okddip")) == 1


@pytest.mark.parametrize("dataset, arch", [("cifar10-5k", "resnet8"), ("cifar10-5k", "resnet32"),
                                           ("synthetic", "resnet32"), ("cifar100", "resnet8")])
def test_settings_without_published_numbers_give_an_empty_frame(dataset, arch):
    pub = report.published_for(dataset, arch)
    assert pub.empty and "value" in pub.columns
    assert report.published_band(dataset, arch) is None
    assert report.no_published_reason(dataset, arch).startswith(
        f"No published number exists for {dataset} / {arch}")


def test_published_csv_rows_all_have_a_source():
    pub = report.load_published()
    assert len(pub) == 50
    assert pub["source"].notna().all() and (pub["source"].str.len() > 5).all()
    assert set(pub["metric"]) == {"top1_error", "top1_acc"}
    assert set(pub["role"]) == {"leader", "ensemble", "single"}
    assert set(pub["dataset"]) == {"CIFAR-10", "CIFAR-100"}
    assert pub["value"].between(0, 100).all()
    err, acc = pub[pub["metric"] == "top1_error"], pub[pub["metric"] == "top1_acc"]
    assert np.allclose(err["top1_acc"], 100 - err["value"])
    assert np.allclose(acc["top1_acc"], acc["value"])


# loading ---------------------------------------------------------------------------------
def test_load_results_reads_both_tables(suite_dir, results):
    r, h = report.load_results(suite_dir)
    assert len(r) == len(results) and len(h) == 3 * len(results)
    (suite_dir / "histories.csv").unlink()
    assert report.load_results(suite_dir)[1] is None


def test_load_results_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        report.load_results(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"results\.csv not found"):
        report.load_results(tmp_path)
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(ValueError, match="not a results table"):
        report.load_results(tmp_path)


def test_find_results_prefers_the_given_directory(suite_dir, tmp_path, monkeypatch):
    assert report.find_results(suite_dir) == suite_dir
    monkeypatch.setenv(report.ENV_RESULTS, str(suite_dir))
    assert report.find_results() == suite_dir
    assert report.find_results(tmp_path / "empty") == suite_dir  # falls through


# figures ---------------------------------------------------------------------------------
def test_suite_figure_bars_are_means_with_std_error_bars(results):
    fig = report.suite_figure(results, "temperature")
    ax = fig.axes[0]
    leader, ens = ax.containers[:2]
    assert [b.get_height() for b in leader] == pytest.approx([51.0, 59.0])  # T=1, T=2
    assert [b.get_height() for b in ens] == pytest.approx([53.0, 61.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["T=1", "T=2"]
    # Each error bar (with its caps) is one line; its extent is mean -+ sample std.
    spans = [(np.nanmin(y), np.nanmax(y)) for y in (line.get_ydata() for line in ax.lines)
             if np.isfinite(y).any()]
    assert any(s == pytest.approx((51 - math.sqrt(7), 51 + math.sqrt(7))) for s in spans)
    assert any(s == pytest.approx((53 - 2, 53 + 2)) for s in spans)
    assert "3 seed" in ax.get_title() or "1-3 seed" in ax.get_title()
    with pytest.raises(ValueError, match="suite='peers' has no results"):
        report.suite_figure(results, "peers")


def test_diversity_and_attention_figures(histories):
    fig = report.diversity_figure(histories, "methods")
    labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert labels == ["okddip"]  # the baseline has no peers, hence no diversity line
    assert "mean ± std over" in fig.get_suptitle()  # the band, named in the title
    fig = report.attention_figure(histories)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["methods", "temperature"]
    assert "mean ± std over" in fig.get_suptitle()


def test_report_figures_count_epochs_as_the_history_and_the_plotly_figures_do(histories):
    """Epoch e is the history's ``epoch`` column (from 0) in every figure, matplotlib and
    plotly alike."""
    from okddip_edu.plots.curves import metric_curves

    first = int(histories["epoch"].min())
    for fig in (report.diversity_figure(histories, "methods"), report.attention_figure(histories)):
        ax = fig.axes[0]
        assert min(min(line.get_xdata()) for line in ax.get_lines() if len(line.get_xdata())) \
            == first
        assert ax.get_xlabel() == "epoch (from 0)"
    peers = histories[histories["suite"] == "methods"]
    plotly_fig = metric_curves(peers, "val_div_l2")
    assert min(min(t.x) for t in plotly_fig.data if t.x is not None) == first
    assert plotly_fig.layout.xaxis.title.text == "epoch (from 0)"


# the report ------------------------------------------------------------------------------
def test_write_report_writes_markdown_and_figures(suite_dir, tmp_path):
    out = tmp_path / "out"
    path = report.write_report(suite_dir, out)
    assert path == out / "report.md"
    text = path.read_text()
    assert "## methods" in text and "## temperature" in text
    assert text.index("## methods") < text.index("## temperature")
    assert "best-epoch leader top-1" in text and "final-epoch leader top-1" in text
    assert "| T=1 | 3 | 52.00 ± 2.00 | 51.00 ± 2.65 |" in text
    assert "Dataset cifar10-5k, resnet8, 12 epochs; 1 to 3 seed(s) per variant." in text
    assert text.count("No published number exists for cifar10-5k / resnet8 / 12 epochs") == 2
    for name in ("methods_top1.png", "temperature_top1.png", "methods_diversity.png",
                 "attention_diag.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 250_000, name
        assert f"({name})" in text
    assert not (suite_dir / "report.md").exists()


def test_report_puts_published_numbers_beside_a_published_setting(tmp_path, results):
    full = results.assign(dataset="cifar100", arch="resnet32")
    full.to_csv(tmp_path / "results.csv", index=False)
    text = report.write_report(tmp_path).read_text()  # no histories: no curves
    assert (tmp_path / "report.md").is_file() and not (tmp_path / "attention_diag.png").exists()
    methods = text[text.index("## methods"):text.index("## temperature")]
    assert "25.65" in methods and "73.25" in methods and "28.91" in methods  # MCL baseline
    ablation = text[text.index("## temperature"):]
    assert "25.65" in ablation and "28.91" not in ablation  # only OKDDip beside an ablation
    assert "No published number" not in text


# command line ----------------------------------------------------------------------------
def test_report_command_prints_the_summary(suite_dir, tmp_path, capsys):
    out = tmp_path / "figs"
    assert cli.main(["report", str(suite_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## temperature" in printed and "52.00 ± 2.00" in printed
    assert re.search(r"written: .*report\.md and 4 figure\(s\)", printed)
    assert (out / "report.md").is_file()
    assert cli.main(["report", str(suite_dir)]) == 0  # default: into DIR
    assert (suite_dir / "report.md").is_file()


@pytest.mark.parametrize("make", ["missing dir", "no results.csv"])
def test_report_command_fails_in_one_line(make, tmp_path, capsys):
    target = tmp_path / "nowhere"
    if make == "no results.csv":
        target.mkdir()
    assert cli.main(["report", str(target)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("okddip-edu report: error:") and str(target) in err


def test_packaged_published_numbers_equal_the_assets_copy():
    """The installed package ships published.csv (Colab has no repository checkout)."""
    from pathlib import Path

    import okddip_edu

    root = Path(okddip_edu.__file__).resolve().parents[1]
    packaged = Path(okddip_edu.__file__).with_name("published.csv")
    assert packaged.read_bytes() == (root / "assets" / "published" / "published.csv").read_bytes()
