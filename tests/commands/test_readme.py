"""The README stays short, starts with the two set-up commands, and its example runs as written."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# a ```python block directly under an HTML comment `<!-- runnable -->` is executed by the tests
RUNNABLE = re.compile(r"<!-- runnable -->\n```python\n(.*?)```", flags=re.S)
SETUP = [
    'python3 -m pip install "tox>=4.11" && python3 -m tox -e run',
    'python3 -m pip install "tox>=4.11" && python3 -m tox -e tests',
]


def _first_section() -> tuple[str, str]:
    sections = re.split(r"^## ", README.read_text(), flags=re.M)
    heading, _, body = sections[1].partition("\n")
    return heading, body


def test_readme_is_at_most_12_kb():
    assert README.stat().st_size <= 12 * 1024, "move reference material into docs/"


def test_first_section_holds_the_two_setup_commands():
    heading, body = _first_section()
    assert heading == "Set up and run"
    blocks = re.findall(r"```bash\n(.*?)```", body, flags=re.S)
    assert blocks, "the first section has no bash block"
    commands = [line.split("#", 1)[0].strip() for line in blocks[0].splitlines() if line.strip()]
    assert commands == SETUP


def test_setup_commands_name_tox_envs_and_ci_runs_the_tests_one():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    for command in SETUP:
        env = command.rsplit("-e ", 1)[1]
        assert f"testenv:{env}" in tox, env
    assert "tox -e tests" in (ROOT / ".ci" / "run").read_text()


def test_port_a_layer_example_runs():
    example = next(b for b in RUNNABLE.findall(README.read_text()) if "parity.to_torch(layer)" in b)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["report"].ok
    assert namespace["seq"].shape == (1, 5, 2) and namespace["state"].shape == (1, 2)
    assert type(namespace["back"]).__name__ == "SimpleRNN"


def test_links_point_at_files_that_exist():
    targets = re.findall(r"\]\(([^)#:]+)\)", README.read_text())
    assert targets and all((ROOT / t).exists() for t in targets), targets
