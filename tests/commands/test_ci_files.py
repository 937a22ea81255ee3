"""The CI workflow mirrors tox.ini and passes a workflow linter; the version matrix's constraints
differ only where they should."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "parity.yml"


def _lint(path: Path) -> int:
    """check-jsonschema (test extra) with the GitHub workflow schema it vendors: works offline.
    Run in this process (its command line is a click command; tox's tests environment runs the
    same check as a command)."""
    from check_jsonschema import main

    return main.main(args=["--builtin-schema", "vendor.github-workflows", str(path)],
                     standalone_mode=False)


def test_workflow_passes_the_linter_and_a_broken_one_does_not(tmp_path, capsys):
    assert _lint(WORKFLOW) == 0, capsys.readouterr().out
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1))
    capsys.readouterr()
    assert _lint(broken) != 0
    assert "'runs-on' is a required property" in capsys.readouterr().out


def test_workflow_matrix_mirrors_tox():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    env_list = tox["tox"]["env_list"]
    factors = re.search(r"tf\{([^}]*)\}", env_list).group(1).split(",")
    text = WORKFLOW.read_text()
    matrix = re.search(r"toxenv: \[([^\]]*)\]", text).group(1).replace(" ", "").split(",")
    assert matrix == [f"tf{f}" for f in factors]
    for env in ("tests", "gate", "onnx", "backends"):
        assert f"tox -e {env}" in text and f"testenv:{env}" in tox
    backends = re.findall(r"toxenv: \[([^\]]*)\]", text)[1].replace(" ", "").split(",")
    assert backends == ["keras-torch", "keras-jax"] and all(f"testenv:{env}" in tox for env in backends)


def test_version_constraints_differ_only_in_tensorflow_keras_and_tf_keras():
    def pins(name):
        lines = (ROOT / "constraints" / name).read_text().splitlines()
        return dict(line.split("==") for line in lines if "==" in line)
    current, previous = pins("cpu.txt"), pins("tf2.20.txt")
    differing = {k for k in current.keys() | previous.keys() if current.get(k) != previous.get(k)}
    assert differing == {"tensorflow-cpu", "keras", "tf-keras"}
    assert previous["tensorflow-cpu"].startswith("2.20") and current["tensorflow-cpu"].startswith("2.21")
    # tf-keras (the keras2 extra) requires the TensorFlow of its own minor version
    for pinned in (current, previous):
        assert pinned["tf-keras"].rsplit(".", 1)[0] == pinned["tensorflow-cpu"].rsplit(".", 1)[0]


def test_ci_runs_the_gate_of_tox_ini_in_the_tests_environment():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    gate = tox["testenv:gate"]["commands"].replace("\\\n", " ").replace("{posargs}", "").split()
    ci = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ")
    line = next(ln for ln in ci.splitlines() if "parity gate" in ln)
    used = line.split("tox exec -e tests --", 1)[1].split("--out")[0].split()
    assert used == gate
    # nothing but its command sets the gate env apart from the tests env it runs in here
    assert set(tox["testenv:gate"]) <= {"description", "commands", "extras"}
    assert set(tox["testenv:tests"]) <= {"description", "commands", "extras"}
    assert tox["testenv:gate"].get("extras") == tox["testenv:tests"].get("extras")
