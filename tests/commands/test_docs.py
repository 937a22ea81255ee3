"""The documentation under docs/: its runnable examples run, the API reference lists the whole
public API, and every measured figure carries its date, machine, versions and command."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from hypothesis import settings

import parity
from parity.core.frameworks import torch

DOCS = Path(__file__).resolve().parents[2] / "docs"
# a ```python block directly under an HTML comment `<!-- runnable -->` is executed by the tests
RUNNABLE = re.compile(r"<!-- runnable -->\n```python\n(.*?)```", flags=re.S)


def _runnable() -> list[tuple[str, int]]:
    return [(str(page.relative_to(DOCS)), i) for page in sorted(DOCS.rglob("*.md"))
            for i, _ in enumerate(RUNNABLE.findall(page.read_text()))]


@functools.cache
def _run(page: str, index: int) -> dict:
    path = DOCS / page
    namespace: dict = {"__name__": f"docs_example_{index}"}
    exec(compile(RUNNABLE.findall(path.read_text())[index], str(path), "exec"), namespace)
    return namespace


def test_the_guides_have_their_runnable_examples():
    pages = {page for page, _ in _runnable()}
    assert {"guides/porting.md", "guides/models-and-training.md", "guides/own-tests.md"} <= pages


@pytest.mark.parametrize("page, index", _runnable(), ids=[f"{p}:{i}" for p, i in _runnable()])
def test_runnable_example_runs(page, index):
    assert _run(page, index)


def test_port_example_holds_parity():
    namespace = _run("guides/porting.md", 0)
    assert namespace["report"].ok
    assert namespace["seq"].shape == (1, 5, 2) and namespace["state"].shape == (1, 2)


def test_own_tests_example_runs_and_passes():
    namespace = _run("guides/own-tests.md", 0)
    assert namespace["pytest_plugins"] == ["parity.pytest_plugin"]
    settings(max_examples=5)(namespace["test_my_ports"])()  # a few examples: it runs, and passes


def test_own_layers_example_checks_a_users_module_with_a_mask():
    namespace = _run("guides/own-tests.md", 1)
    assert namespace["report"].ok and namespace["grads"].ok
    assert namespace["tagger"](torch.from_numpy(namespace["x"])).shape == (2, 5, 2)


def test_whole_model_example_trains_in_lock_step():
    record = _run("guides/models-and-training.md", 0)["record"]
    assert record.ok and len(record.steps) == 5


def test_api_reference_documents_every_public_name():
    text = (DOCS / "reference" / "api.md").read_text()
    missing = [name for name in parity.__all__
               if f"::: {getattr(parity, name).__module__}.{name}\n" not in text]
    assert not missing, f"add to docs/reference/api.md: {missing}"


def test_every_measurement_row_carries_date_machine_versions_and_command():
    text = (DOCS / "measurements.md").read_text()
    machines = set(re.findall(r"^- \*\*([\w-]+)\*\*: ", text.split("Versions", 1)[0], flags=re.M))
    versions = set(re.findall(r"^- \*\*([\w.]+)\*\*: ", text.split("Versions", 1)[1], flags=re.M))
    assert machines and versions
    rows = 0
    for table in re.findall(r"^(\| figure \|.*?)\n\n", text, flags=re.S | re.M):
        header, _, *body = table.splitlines()
        columns = [c.strip() for c in header.strip("|").split("|")]
        for row in body:
            cells = dict(zip(columns, (c.strip() for c in row.strip("|").split(" | "))))
            assert re.match(r"\d{4}-\d{2}-\d{2}", cells["date"]), row
            assert cells["machine"] in machines and cells["versions"] in versions, row
            assert cells["command"] and cells["value"], row
            rows += 1
    assert rows >= 10


def test_the_support_table_is_what_the_committed_results_generate():
    """docs/support.md is generated, never edited: `python -m parity support` over the results
    files the shipped checks wrote on each backend (docs/support/BACKEND.jsonl)."""
    from parity.matrix.support import load, markdown

    results = sorted((DOCS / "support").glob("*.jsonl"))
    assert [r.stem for r in results] == ["jax", "tensorflow", "torch"]
    assert (DOCS / "support.md").read_text() == markdown(load(results))


# a line of prose that starts with one of these is a command the site would show as a paragraph
SHELL_COMMAND = re.compile(r"\s*(\$ )?(python3? -m |pytest( |$)|pip install |tox( |$)|mkdocs |"
                           r"git clone |bash |KERAS_BACKEND=|PYTHONPATH=|TF_CPP_MIN_LOG_LEVEL=)")


def _commands_outside_fences(text: str) -> list[str]:
    found, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and SHELL_COMMAND.match(line):
            found.append(f"{number}: {line.strip()}")
    return found


def test_commands_outside_fences_are_found():
    text = "Port it:\n\npython -m parity port m.keras\n```bash\npytest -q\n```\n`pytest` runs it\n"
    assert _commands_outside_fences(text) == ["3: python -m parity port m.keras"]


def test_every_shell_command_is_in_a_fenced_block():
    pages = [DOCS.parent / "README.md", *sorted(DOCS.rglob("*.md"))]
    offenders = {str(page.relative_to(DOCS.parent)): found for page in pages
                 if (found := _commands_outside_fences(page.read_text()))}
    assert not offenders, f"put these in a ```bash block: {offenders}"


def test_the_layout_table_names_every_subpackage():
    layout = (DOCS / "index.md").read_text().split("## Layout", 1)[1]
    subpackages = {path.parent.name for path in (DOCS.parent / "parity").glob("*/__init__.py")}
    assert subpackages and not {p for p in subpackages if f"`parity.{p}`" not in layout}
