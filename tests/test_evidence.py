"""The evidence table: computed from the CSVs, every 'cannot tell' with its bound."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from okddip_edu.report import evidence

ROOT = Path(__file__).resolve().parents[1]


def results(a: list[float], b: list[float], suite="methods", va="okddip", vb="baseline",
            column="final_top1_leader") -> pd.DataFrame:
    rows = [{"suite": suite, "variant": v, "seed": i, column: x}
            for v, xs in ((va, a), (vb, b)) for i, x in enumerate(xs)]
    return pd.DataFrame(rows)


CLAIM = evidence.EVIDENCE[0]  # okddip vs baseline, leader top-1


def test_cannot_tell_states_the_interval_it_leaves():
    # a: mean 60, var 1; b: mean 59.5, var 1; se = sqrt(1/3 + 1/3) = 0.8165; 2 se = 1.633
    cell = evidence.ours(results([59, 60, 61], [58.5, 59.5, 60.5]), CLAIM)
    assert cell.startswith("+0.50 ± 1.63 (3 vs 3 seeds): **cannot tell**")
    assert "rules out a gain above 2.13 and a loss above 1.13" in cell


@pytest.mark.parametrize("a, b, verdict, tail", [
    ([62, 63, 64], [58, 59, 60], "supports", "rules out no gain"),
    ([56, 57, 58], [60, 61, 62], "contradicts", "rules out the claimed gain"),
])
def test_decided_verdicts(a, b, verdict, tail):
    cell = evidence.ours(results(a, b), CLAIM)
    assert f"**{verdict}**; {tail}" in cell


def test_missing_variants_and_single_seeds_say_so():
    assert evidence.ours(results([60], [59], vb="dml"), CLAIM) == "not run at this scale"
    assert "one seed, no interval" in evidence.ours(results([60], [59]), CLAIM)


def test_independent_reruns_are_computed_from_published_csv():
    pub = evidence.load_published()
    dml = next(c for c in evidence.EVIDENCE if c.b == "dml")
    # winycg/MCL-OKD, CIFAR-100 ResNet-32 error: OKDDip 25.76, DML 24.92 -> -0.84 points
    assert evidence.rerun(pub, dml).startswith("-0.84 (ResNet-32)")
    assert evidence.rerun(pub, CLAIM).startswith("+3.15 (ResNet-32)")
    no_source = next(c for c in evidence.EVIDENCE if c.b == "independent")
    assert evidence.rerun(pub, no_source) == "not reported"


def test_every_claim_has_a_row_and_a_column_per_scale():
    t = evidence.table()
    assert len(t) == len(evidence.EVIDENCE)
    for scale in ("quick", "course"):
        col = evidence.SCALE_NOTES[scale]
        assert col in t
        # every cell of ours is a measured interval or says why there is none
        assert all("±" in c or c == "not run at this scale" for c in t[col])
        assert all("rules out" in c for c in t[col] if "±" in c)


def test_readme_holds_the_generated_table():
    assert not evidence.update_readme(ROOT / "README.md", check=True), (
        "README's evidence table is out of date: python -m okddip_edu.report.evidence README.md")


def test_describe_difference_states_the_bound_of_a_cannot_tell():
    from okddip_edu.report import describe_difference, difference

    d = difference(results([59, 60, 61], [58.5, 59.5, 60.5]), "methods", "okddip", "baseline")
    text = describe_difference(d)
    assert "cannot tell them apart, and rule out a difference above +2.13 or below -1.13" in text
    decided = describe_difference(difference(results([62, 63, 64], [58, 59, 60]), "methods",
                                             "okddip", "baseline"))
    assert "more than two standard errors (interval +2.37 to +5.63)" in decided
