"""Names read from files never become paths outside ``--out``: a scenario named ``../x``, by an
absolute path or as a dotfile is refused (exit 2) before anything runs or is written."""

from __future__ import annotations

import json

import pytest

from parity.cli import main
from parity.core.errors import InputFileError
from parity.core.names import MAX_LENGTH, safe_component
from parity.scenarios import course as scenarios


@pytest.mark.parametrize("name", ["../escaped", "/tmp/escaped", ".escaped", "..", "", "a\\b",
                                  "a\0b", "x" * (MAX_LENGTH + 1), 3])
def test_unsafe_names_are_refused_naming_where_they_come_from(name):
    with pytest.raises(InputFileError, match="scenario name"):
        safe_component(name, "scenario name")


@pytest.mark.parametrize("name", ["mine", "hihello-v2", "a.b", "x" * MAX_LENGTH])
def test_plain_names_pass_unchanged(name):
    assert safe_component(name, "scenario name") == name


@pytest.mark.parametrize("kind", ["parent", "absolute", "dotfile"])
def test_a_scenario_named_outside_out_is_refused_before_it_runs(tmp_path, capsys, kind):
    users = tmp_path / "escaped.png"
    users.write_text("the user's own file")
    name = {"parent": "../escaped", "absolute": str(tmp_path / "escaped"),
            "dotfile": ".escaped"}[kind]
    path = tmp_path / "my.json"
    path.write_text(json.dumps(dict(scenarios.load_fixture("hihello"), name=name, epochs=1)))
    out = tmp_path / "out"
    assert main(["scenarios", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"scenario name {name!r}" in err and "one plain file name" in err
    assert not out.exists()
    assert users.read_text() == "the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["escaped.png", "my.json"]


def test_two_scenarios_of_one_name_are_refused(tmp_path, capsys):
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.json").write_text(json.dumps(dict(scenarios.load_fixture("hihello"),
                                                               name="same")))
    argv = ["scenarios", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
            "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "named ['same']" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_scenario_file_that_is_not_an_object_is_refused(tmp_path, capsys):
    (tmp_path / "list.json").write_text("[1, 2]")
    assert main(["scenarios", str(tmp_path / "list.json"), "--out", str(tmp_path / "out")]) == 2
    assert "expected a JSON object" in capsys.readouterr().err
