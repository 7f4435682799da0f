"""Committed folders are looked for in the clone first, then in the installed package."""

from __future__ import annotations

import pytest

from okddip_edu import report, resources


def test_clone_first_then_the_package():
    assert resources.asset_dirs("results") == [resources.REPO_ASSETS / "results",
                                               resources.PACKAGED_ASSETS / "results"]


def test_in_a_clone_the_committed_results_are_found():
    assert resources.asset_dir("results", "results.csv") == resources.REPO_ASSETS / "results"
    assert resources.asset_dir("no-such-folder") is None


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_only_folder_names_are_accepted(name):
    with pytest.raises(ValueError, match="folder name of assets/"):
        resources.asset_dirs(name)


def test_find_results_falls_back_to_the_packaged_copy(tmp_path, monkeypatch):
    packaged = tmp_path / "_assets"
    (packaged / "results").mkdir(parents=True)
    (packaged / "results" / "results.csv").write_text("suite\n")
    monkeypatch.setattr(resources, "REPO_ASSETS", tmp_path / "no-clone")
    monkeypatch.setattr(resources, "PACKAGED_ASSETS", packaged)
    monkeypatch.delenv(report.ENV_RESULTS, raising=False)
    monkeypatch.chdir(tmp_path)
    assert report.find_results() == packaged / "results"


def test_display_path_is_machine_independent(tmp_path, monkeypatch):
    assert resources.display_path(resources.REPO_ASSETS / "results") == "assets/results"
    packaged = tmp_path / "site" / "okddip_edu"
    monkeypatch.setattr(resources, "REPO_ASSETS", tmp_path / "no-clone" / "assets")
    monkeypatch.setattr(resources, "PACKAGE", packaged)
    assert (resources.display_path(packaged / "_assets" / "results")
            == "okddip_edu/_assets/results")
    assert resources.display_path(tmp_path / "mine") == str(tmp_path / "mine")
