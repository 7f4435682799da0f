"""A suite's tables heal: a row that does not fit is set aside once, never multiplied, and
rewriting a table is idempotent (any appended garbage, any number of reruns)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okddip_edu.cli import main
from okddip_edu.experiments import expand, run_suite, write_tables
from okddip_edu.experiments.schema import read_table

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]
TABLES = ("results.csv", "histories.csv")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """A finished 2-run suite (synthetic, 2 epochs each) and its clean tables."""
    out = tmp_path_factory.mktemp("heal") / "suite"
    jobs = expand("detach", "smoke", 1, out, dataset="synthetic", width=2, train_subset=64,
                  batch_size=32, device="cpu")
    run_suite(jobs, out, progress=False, log=lambda line: None)
    clean = {t: (out / t).read_bytes() for t in TABLES}
    return jobs, out, clean


def restore(out: Path, clean: dict) -> None:
    for t in TABLES:
        (out / t).write_bytes(clean[t])
        (out / f"{t}.rejected").unlink(missing_ok=True)


def one_row_per_run(jobs, out: Path) -> None:
    res, hist = pd.read_csv(out / "results.csv"), pd.read_csv(out / "histories.csv")
    assert sorted(zip(res["suite"], res["variant"], res["seed"])) == \
        sorted((j.suite, j.variant, j.seed) for j in jobs)
    assert len(hist) == sum(j.config.epochs for j in jobs)
    assert not hist.duplicated(["suite", "variant", "seed", "epoch"]).any()


GARBAGE = st.one_of(
    st.sampled_from(["garbage,row,with,too,few", "detach,detach,zero", ",,,", '"unclosed,x',
                     "detach,detach,0" + ",1" * 200, "suite,variant,seed", "\t", "nan,nan,nan"]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
            min_size=1, max_size=60),
)
ACTIONS = st.lists(st.one_of(st.tuples(st.just("append"), st.sampled_from(TABLES), GARBAGE),
                             st.tuples(st.just("copy"), st.sampled_from(TABLES), st.just("")),
                             st.tuples(st.just("rerun"), st.just(""), st.just(""))),
                   min_size=1, max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_any_garbage_and_reruns_leave_one_row_per_finished_run(suite, actions):
    jobs, out, clean = suite
    restore(out, clean)
    for what, table, text in actions:
        if what == "append":
            with open(out / table, "a") as f:
                f.write(text + "\n")
        elif what == "copy":  # an exact copy of a good row (a concatenated table)
            lines = (out / table).read_text().splitlines()
            with open(out / table, "a") as f:
                f.write(lines[1] + "\n")
        else:
            write_tables(jobs, out, log=lambda line: None)
    write_tables(jobs, out, log=lambda line: None)
    one_row_per_run(jobs, out)
    first = {t: (out / t).read_bytes() for t in TABLES}
    write_tables(jobs, out, log=lambda line: None)  # idempotent
    assert {t: (out / t).read_bytes() for t in TABLES} == first


def test_a_malformed_line_is_set_aside_once_with_one_line(suite):
    jobs, out, clean = suite
    restore(out, clean)
    with open(out / "results.csv", "a") as f:
        f.write("garbage,row,with,too,few\n")
    said = []
    for _ in range(3):
        write_tables(jobs, out, log=said.append)
    one_row_per_run(jobs, out)
    assert (out / "results.csv.rejected").read_text() == "garbage,row,with,too,few\n"
    assert len(said) == 1 and "1 row(s) that do not fit the table set aside" in said[0]


@pytest.mark.parametrize("content,words", [
    ("", "holds no finished runs"),  # header only
    ("\x00\x01binary", "not a readable table"),
    ("a,b\n1,2,3,4\n", "its header lacks suite"),
])
def test_report_on_a_bad_results_table_is_one_line(content, words, tmp_path, capsys):
    header = (ROOT / "assets/results/results.csv").read_text().splitlines()[0]
    text = content if content.startswith(("a,", "\x00")) else header + "\n" + content
    (tmp_path / "results.csv").write_text(text)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and str(tmp_path / "results.csv") in err[0], err


def test_report_sets_aside_nan_accuracies_and_bad_seeds(tmp_path):
    src = (ROOT / "assets/results/results.csv").read_text().splitlines()
    bad_seed = src[1].replace("aggregation,attention,0,", "aggregation,attention,zero,", 1)
    fields = src[2].split(",")
    fields[8] = "nan"  # best_top1_leader
    (tmp_path / "results.csv").write_text("\n".join([src[0], src[1], bad_seed,
                                                     ",".join(fields)]) + "\n")
    said = []
    table = read_table(tmp_path / "results.csv", said.append)
    assert len(table) == 1 and len(said) == 1 and "2 row(s)" in said[0]
    assert len((tmp_path / "results.csv.rejected").read_text().splitlines()) == 2


@pytest.mark.parametrize("suite_dir", ["results", "results-course"])
def test_the_committed_tables_read_the_same_strictly(suite_dir, tmp_path):
    for t in TABLES:
        shutil.copy(ROOT / "assets" / suite_dir / t, tmp_path / t)
        said = []
        strict = read_table(tmp_path / t, said.append)
        assert not said
        pd.testing.assert_frame_equal(strict, pd.read_csv(ROOT / "assets" / suite_dir / t))


@pytest.mark.parametrize("line", ["garbage,row,with,too,few", "a,b,0" + ",1" * 40,
                                  '"unclosed,quote'])
def test_ablate_reruns_heal_what_was_appended(line, suite):
    """Through the runner, as ``okddip-edu ablate`` runs it: rows stay one per run."""
    jobs, out, clean = suite
    restore(out, clean)
    for table in TABLES:
        with open(out / table, "a") as f:
            f.write(line + "\n")
    said = []
    for _ in range(2):
        run_suite(jobs, out, progress=False, log=said.append)
    one_row_per_run(jobs, out)
    assert sum("set aside" in s for s in said) == 2, said  # once per table, never again
