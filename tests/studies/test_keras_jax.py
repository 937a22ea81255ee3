"""Keras on its JAX backend, in a subprocess (this process runs Keras on TensorFlow): the float64
probe, compiled gradients that follow the weights they are given, lock-step training, the known
masked-leading-step difference named in the report, and the persistent compilation cache. Runs
only where jax is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, os
    import keras, numpy as np, parity
    from parity.layers.jax_side import use_compilation_cache
    from parity.checks import capabilities
    from parity.checks.cases import ParityCase, build_pair
    from parity.checks.known_differences import JAX_MASKED_LEADING_STEPS
    from parity.core.spec import RecurrentSpec

    use_compilation_cache(os.environ["PARITY_TEST_CACHE"])
    out = {"backend": keras.backend.backend(),
           "float64": capabilities.keras_precision_reason("float64")}
    spec = RecurrentSpec("lstm", 3, 2, return_sequences=True, return_state=True)
    case = ParityCase(spec, batch=2, steps=4, seed=1, with_initial_state=True, mask="right_padded")
    out["gradients ok"] = parity.check_gradients(case).ok
    # a layer of the same configuration and shapes reuses the compiled gradient with its weights
    other = ParityCase(spec, batch=2, steps=4, seed=2, with_initial_state=True, mask="right_padded")
    out["same config, other weights ok"] = parity.check_gradients(other).ok

    model = keras.Sequential([keras.Input((5, 4)), keras.layers.GRU(3), keras.layers.Dense(2)])
    x = np.eye(4, dtype="float32")[[[0, 1, 2, 2, 3], [3, 2, 1, 0, 0]]]
    before = model.get_weights()[0].copy()
    record = parity.train_lockstep(model, parity.to_torch(model), (x, np.array([0, 1])),
                                   loss=parity.SparseCrossEntropy(), optimizer=parity.Adam(0.1),
                                   epochs=3)
    out["training"] = [record.ok, len(record.steps), bool((model.get_weights()[0] != before).any())]

    known = ParityCase(**JAX_MASKED_LEADING_STEPS.case)
    layer, module = build_pair(known, "keras_to_torch")
    report = parity.compare(layer, module, known.inputs(), known.initial_state(), known.step_mask())
    out["known"] = [report.ok, [d.name for d in report.known], JAX_MASKED_LEADING_STEPS.name in
                    report.explain()]
    wide = keras.layers.SimpleRNN(2, dtype="float64"); wide.build((None, 3, 2))
    try:
        parity.compare(wide, parity.to_torch(wide), np.zeros((1, 3, 2)))
    except parity.UnsupportedConfig as e:  # the probe's words, not "keras drifts"
        out["float64 refused"] = str(e)
    out["compiled functions kept"] = len(os.listdir(os.environ["PARITY_TEST_CACHE"]))
    print("RESULT " + json.dumps(out))
""")


def test_gradients_training_probe_and_known_difference_on_keras_jax(tmp_path):
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2",
               PARITY_TEST_CACHE=str(tmp_path / "jax-cache"))
    env.pop("JAX_ENABLE_X64", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["backend"] == "jax"
    assert "on its jax backend (JAX_ENABLE_X64=unset) computes float64" in out["float64"]
    assert out["float64"] in out["float64 refused"] and "not the port" in out["float64 refused"]
    assert out["gradients ok"] and out["same config, other weights ok"]
    assert out["training"] == [True, 3, True]
    assert out["known"] == [False, [MASKED_LEADING], True]
    assert out["compiled functions kept"] > 0  # the persistent compilation cache is written


MASKED_LEADING = "jax-masked-leading-steps"
