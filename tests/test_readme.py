"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_port_a_layer_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "parity.to_torch(layer)" in b)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["report"].ok
    assert namespace["seq"].shape == (1, 5, 2) and namespace["state"].shape == (1, 2)


def test_own_tests_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "def test_my_ports" in b)
    code = example.split("# test_port.py", 1)[1]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    settings(max_examples=5)(namespace["test_my_ports"])()  # a few examples: it runs, and passes


def test_whole_model_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "parity.assert_training_parity" in b)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["record"].ok and len(namespace["record"].steps) == 5
