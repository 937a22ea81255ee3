# ruff: noqa: I001
"""Keras 2 (tf-keras) course models -> .h5 -> `python -m parity port`: the largest difference of
the Keras-2 -> torch port. Each keras-origin course model is built in tf-keras from the scenario's
layer list (one-hot frozen Embedding as the course has it), trained in tf-keras with the course's
optimizer, loss, epochs and batch size (so the weights are not the initial ones), saved as .h5 and
ported through the command line; then the Keras 2 model and the torch port are compared on the
course's own inputs with parity.assert_model_parity."""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from parity.core.frameworks import torch  # noqa: F401  (torch before TensorFlow: keep this order)
import tf_keras as tfk

import parity
from parity.porting import files
from parity.scenarios import course

KERAS_ORIGIN = ["many_to_one", "stacked_many_to_one", "pos_tagger", "bidirectional_pos_tagger"]


def layer(config, vocab_size):
    options = {k: v for k, v in config.items() if k not in ("layer", "inner", "one_hot")}
    if config["layer"] == "Embedding":  # one-hot rows set after building: tf-keras cannot reload
        return tfk.layers.Embedding(vocab_size, vocab_size, **options)  # a Constant(array) from .h5
    if config["layer"] in ("TimeDistributed", "Bidirectional"):
        return getattr(tfk.layers, config["layer"])(layer(config["inner"], vocab_size), **options)
    return getattr(tfk.layers, config["layer"])(**options)


out = Path(tempfile.mkdtemp(prefix="keras2-port-"))
print("| model | Keras 2 vs torch on the course inputs | tolerance there | port: keras 2 -> 3 output "
      "(Keras 2 vs twin) | port: keras 2 model output (Keras 2 vs torch) | port: largest difference "
      "(all rows), tolerance used | exit |")
print("|---|---:|---:|---:|---:|---:|---|")
for name in KERAS_ORIGIN:
    scenario = course.load_fixture(name)
    d = course.data(scenario)
    vocab = len(course.vocabulary(scenario, scenario["inputs"]))
    tfk.utils.set_random_seed(scenario["seed"])
    model = tfk.Sequential([tfk.Input((None,), dtype="int32"),
                            *[layer(c, vocab) for c in scenario["model"]]])
    model.layers[0].set_weights([np.eye(vocab, dtype="float32")])
    opt = scenario["optimizer"]
    model.compile(tfk.optimizers.Adam(opt["learning_rate"], epsilon=opt["epsilon"]),
                  tfk.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(d.x, d.y, epochs=scenario["epochs"], batch_size=scenario["batch_size"], verbose=0)
    saved = out / f"{name}.h5"
    model.save(saved)
    port = subprocess.run([sys.executable, "-m", "parity", "port", str(saved), "--out",
                           str(out / name)], capture_output=True, text=True)
    table = port.stdout
    row = next(ln for ln in table.splitlines() if ln.startswith("| keras 2 model | output |"))
    twin_row = next(ln for ln in table.splitlines() if ln.startswith("| keras 2 -> 3 | output |"))
    torch_model = files.load_torch(out / name).eval()
    report = parity.assert_model_parity(model, torch_model, d.x)
    summary = table.splitlines()[0]
    largest = summary.split("largest difference ")[1]
    print(f"| {name} | {report[0].max_abs.difference:.3g} | {report[0].max_abs.allowed:.3g} | "
          f"{twin_row.split('|')[3].strip()} | {row.split('|')[3].strip()} | {largest} | "
          f"{port.returncode} |")
print(f"(files in {out}; tf-keras {tfk.__version__})")
