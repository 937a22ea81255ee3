"""One process of the backend matrix: every matrix case computed by Keras on this process's
backend (``KERAS_BACKEND``, fixed per process), and with ``--reference`` also by the torch module
and the float64 oracle (with each tensor's allowed error). Run by :mod:`parity.matrix.run` as
``python -m parity.matrix.worker --out FILE.npz [--reference]``.

Output: ``FILE.npz`` with one float64 array per ``"<case>|<dtype>|<label>|<tensor>"`` (label
``keras-<backend>``, ``torch``, ``oracle``, ``allowed`` or ``input`` for x, the initial state and
the mask), and ``FILE.json``: the backend, versions, the dtypes not computed and why, each case's
spec and description, and the cases that raised.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np


def _inputs(case) -> dict[str, np.ndarray]:
    named = {"x": case.inputs()}
    named.update({f"initial_state[{i}]": s for i, s in enumerate(case.initial_state() or ())})
    if case.step_mask() is not None:
        named["mask"] = case.step_mask()
    return named


def compute(reference_side: bool) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, metadata) of every matrix case in every dtype this backend computes."""
    from parity.checks.capabilities import keras_precision_reason
    from parity.checks.reference import reference
    from parity.core.frameworks import keras, pin_threads, torch
    from parity.core.inputs import CaseInputs
    from parity.layers import keras_side, torch_side
    from parity.matrix.cases import DTYPES, in_dtype, matrix_cases

    pin_threads(1, 1)  # tiny tensors: a thread pool only adds synchronisation
    backend = keras.backend.backend()
    label = f"keras-{backend}"
    skipped = {d: r for d in DTYPES if (r := keras_precision_reason(d))}
    arrays, errors, cases = {}, {}, {}
    for case_id, base in matrix_cases().items():
        cases[case_id] = {"spec": dataclasses.asdict(base.spec), "description": repr(base)}
        for dtype in DTYPES:
            case, key = in_dtype(base, dtype), f"{case_id}|{dtype}"
            weights, x, h0, mask = case.weights(), case.inputs(), case.initial_state(), \
                case.step_mask()
            computed = {}
            try:
                if dtype not in skipped:
                    layer = keras_side.build(case.spec)
                    keras_side.write_weights(layer, weights)
                    computed[label] = keras_side.run(layer, x, h0, mask).named()
                if reference_side:
                    module = torch_side.KerasRNN(case.spec)
                    torch_side.write_weights(module, weights)
                    computed["torch"] = torch_side.run(module, x, h0, mask).named()
                    ref = reference(case.spec, weights, CaseInputs.of(case.spec, x, h0, mask))
                    computed["oracle"] = ref.outputs.named()
                    computed["allowed"] = ref.allowed
                    computed["input"] = _inputs(case)
            except Exception as e:  # noqa: BLE001 - a backend that fails a case is a finding
                errors[key] = f"{type(e).__name__}: {e}"[:500]
            arrays.update({f"{key}|{who}|{name}": np.asarray(v, dtype=np.float64)
                           for who, named in computed.items() for name, v in named.items()})
    import platform
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "keras": keras.__version__, "torch": torch.__version__,
                backend: _backend_version(backend)}
    return arrays, {"backend": backend, "label": label, "versions": versions,
                    "skipped_dtypes": skipped, "cases": cases, "errors": errors,
                    "reference": reference_side}


def _backend_version(backend: str) -> str:
    import importlib

    return getattr(importlib.import_module(backend), "__version__", "?")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.matrix.worker",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="new .npz file (a .json goes beside it)")
    parser.add_argument("--reference", action="store_true",
                        help="also the torch module and the float64 oracle")
    args = parser.parse_args(argv)
    from parity.core import outputs

    out = Path(args.out)
    outputs.check_new_file(out)
    outputs.check_new_file(out.with_suffix(".json"))
    start = time.perf_counter()
    arrays, meta = compute(args.reference)
    meta["seconds"] = round(time.perf_counter() - start, 2)
    with open(outputs.check_new_file(out), "xb") as f:
        np.savez_compressed(f, **arrays)
    outputs.write_new_file(out.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from parity.core.frameworks import freeze_imported

    freeze_imported()  # a process of its own: see its docstring
    sys.exit(main())
