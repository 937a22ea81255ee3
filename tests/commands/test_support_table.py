"""The support table is generated from the checks' recorded outcomes: pytest --parity-results
writes what each check exercised and how it ended (xdist workers included), and python -m parity
support turns one or more such files into the table."""

from __future__ import annotations

import json
import textwrap

import pytest

from parity.cli import main
from parity.core.errors import InputFileError
from parity.matrix.support import load, markdown


def _write(path, records):
    keys = ("test", "backend", "cell", "feature", "dtype", "outcome", "reason")
    path.write_text("".join(json.dumps(dict(zip(keys, r))) + "\n" for r in records))
    return path


def _cells(text: str) -> dict[tuple[str, str], list[str]]:
    rows = [line.strip("|").split("|") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| cell")]
    return {(r[0].strip(), r[1].strip()): [c.strip() for c in r[2:]] for r in rows}


def test_the_table_shows_the_worst_outcome_per_backend_cell_feature_and_dtype(tmp_path):
    tf = _write(tmp_path / "tf.jsonl", [
        ("a", "tensorflow", "lstm", "forward", "float32", "passed", ""),
        ("b", "tensorflow", "lstm", "forward", "float32", "failed", "ParityError: h drifts"),
        ("a", "tensorflow", "lstm", "forward", "float64", "passed", ""),
        ("c", "tensorflow", "lstm", "forward", "float16", "skipped", "Keras cannot run float16"),
        ("d", "tensorflow", "lstm", "forward", "float16", "passed", ""),
        ("e", "tensorflow", "gru", "masks", "float32", "skipped", "no mask here"),
    ])
    jax = _write(tmp_path / "jax.jsonl", [
        ("a", "jax", "lstm", "forward", "float32", "passed", ""),
        ("f", "jax", "lstm", "forward", "float64", "skipped", "computes float64 in float32"),
        ("g", "jax", "gru", "masks", "float32", "xfailed", "jax-masked-leading-steps"),
        ("g", "jax", "gru", "masks", "float32", "passed", ""),
        ("h", "jax", None, None, None, "skipped", "needs TensorFlow"),
        ("probe", "jax", None, None, "float16", "skipped", "float16 fails in Keras"),
    ])
    text = markdown(load([tf, jax]))
    header = next(line for line in text.splitlines() if line.startswith("| cell"))
    assert header == ("| cell | feature | jax float16 | jax float32 | jax float64 | "
                      "tensorflow float16 | tensorflow float32 | tensorflow float64 |")
    cells = _cells(text)
    assert cells[("LSTM", "forward")] == ["skipped [1]", "yes", "skipped [2]", "yes",
                                          "FAILING [3]", "yes"]
    assert cells[("GRU", "masks")] == ["skipped [1]", "known [4]", "—", "—", "skipped [5]", "—"]
    assert "1. float16 fails in Keras" in text and "2. computes float64 in float32" in text
    assert "3. ParityError: h drifts" in text and "4. jax-masked-leading-steps" in text
    assert "- jax: skipped: needs TensorFlow" in text
    assert ("LSTM", "masks") not in cells  # no check reached it


def test_bad_results_files_are_refused_by_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"test": "t"}\n')
    with pytest.raises(InputFileError, match=r"bad.jsonl:1: not a parity result"):
        load([bad])
    assert main(["support", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in (err := capsys.readouterr().err) and "no such file" in err
    only_skips = _write(tmp_path / "s.jsonl", [("h", "jax", None, None, None, "skipped", "x")])
    assert main(["support", str(only_skips)]) == 2


def test_support_command_writes_a_new_file_only(tmp_path, capsys):
    results = _write(tmp_path / "r.jsonl",
                     [("a", "torch", "gru", "gradients", "float32", "passed", "")])
    out = tmp_path / "support.md"
    assert main(["support", str(results), "--out", str(out)]) == 0
    assert "| GRU | gradients | yes |" in out.read_text()
    assert main(["support", str(results), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


CHECKS = textwrap.dedent('''
    import pytest
    from parity.checks.cases import ParityCase, check_case
    from parity.core import exercised
    from parity.core.spec import RecurrentSpec

    def test_passes():
        spec = RecurrentSpec("gru", 2, 2, return_sequences=True)
        check_case(ParityCase(spec, batch=2, steps=3, seed=1, mask="gaps"))

    def test_skips():
        with exercised.checking(RecurrentSpec("lstm", 2, 2, dtype="float16"), "gradients"):
            pytest.skip("no float16 here")

    @pytest.mark.xfail(reason="a known difference", strict=True)
    def test_known():
        with exercised.checking(RecurrentSpec("simple_rnn", 2, 2, go_backwards=True),
                                "forward"):
            raise AssertionError("differs")

    def test_fails():
        with exercised.checking(RecurrentSpec("lstm", 2, 2, dtype="float64"), "training"):
            raise AssertionError("loss differs")
''')


EXPECTED = {
    ("test_passes", "gru", "forward", "float32"): ("passed", ""),
    ("test_passes", "gru", "masks", "float32"): ("passed", ""),
    ("test_skips", "lstm", "gradients", "float16"): ("skipped", "no float16 here"),
    ("test_known", "simple_rnn", "forward", "float32"): ("xfailed", "a known difference"),
    ("test_known", "simple_rnn", "go_backwards", "float32"): ("xfailed", "a known difference"),
    ("test_fails", "lstm", "training", "float64"): ("failed", "AssertionError: loss differs")}


def _rows(results) -> dict:
    return {(r["test"].split("::")[-1], r["cell"], r["feature"], r["dtype"]):
            (r["outcome"], r["reason"]) for r in load([results]) if r["cell"] is not None}


def test_the_plugin_records_each_checks_outcome_and_never_overwrites(tmp_path, capsys,
                                                                     nested_pytest):
    (tmp_path / "test_some_checks.py").write_text(CHECKS)
    results = tmp_path / "results.jsonl"
    code = nested_pytest(f"--parity-results={results}", "--rootdir", str(tmp_path),
                         str(tmp_path / "test_some_checks.py"))
    assert code == 1 and "1 failed, 1 passed, 1 skipped, 1 xfailed" in capsys.readouterr().out
    assert _rows(results) == EXPECTED
    assert nested_pytest(f"--parity-results={results}", str(tmp_path / "test_some_checks.py")) == 4
    assert "exists" in capsys.readouterr().err  # never overwritten


def test_the_outcomes_travel_in_the_report_as_xdist_sends_it(tmp_path, capsys, nested_pytest):
    """xdist workers send each report to the controller through pytest's report serialisation:
    the outcomes ride in the report's user properties and survive it."""
    from parity import pytest_plugin

    class Relay:  # stands where xdist's controller is: reports arrive serialised and rebuilt
        def __init__(self, config):
            self.config, self.writer = config, pytest_plugin.ResultsWriter(str(results))

        def pytest_runtest_logreport(self, report):
            hook = self.config.hook
            data = hook.pytest_report_to_serializable(config=self.config, report=report)
            rebuilt = hook.pytest_report_from_serializable(config=self.config,
                                                           data=json.loads(json.dumps(data)))
            self.writer.pytest_runtest_logreport(rebuilt)

        def pytest_sessionfinish(self, session):
            self.writer.pytest_sessionfinish(session)

    class Installer:
        def pytest_configure(self, config):
            config.pluginmanager.register(Relay(config), "relay")

    (tmp_path / "test_some_checks.py").write_text(CHECKS)
    results = tmp_path / "relayed.jsonl"
    # --parity-results turns the recording on; its own writer writes direct.jsonl
    code = nested_pytest(f"--parity-results={tmp_path / 'direct.jsonl'}", "--rootdir",
                         str(tmp_path), str(tmp_path / "test_some_checks.py"),
                         plugins=[Installer()])
    out = capsys.readouterr().out
    assert code == 1, out
    assert _rows(results) == EXPECTED == _rows(tmp_path / "direct.jsonl")
