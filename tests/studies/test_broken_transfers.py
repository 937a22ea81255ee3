"""The parity checks must catch real transfer bugs, under the default (CI) profile.

Each bug is injected into the transfer's writing step, then the unchanged property from
parity/suite/test_recurrent.py runs with the same derandomised examples as in CI (shrinking off,
only to save time: it does not change which examples are tried) and must fail.

The control, the same properties over the same examples passing on the unbroken transfer, is the
shipped checks themselves: `parity/suite/test_recurrent.py` runs them under the same profile in
the same `pytest parity tests` session, as CI runs it (rerunning them here would repeat that work).

Keras' outputs are recalled across the tests of this module when the layer, its weights and the
inputs are identical (see ``keras_outputs_recalled``): every test reruns the same examples, and
most bugs leave the Keras side as it was.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from hypothesis import Phase, given, settings

import parity
from parity.core.errors import ParityError, TransferError
from parity.core.spec import LayerWeights, RecurrentSpec
from parity.layers import keras_side, torch_side
from parity.suite import test_recurrent as checks


def _layerwise(fn):
    return lambda spec, weights: tuple(fn(spec, i, w) for i, w in enumerate(weights))


def _kernel_not_transposed(spec, i, w):
    # a square kernel copies without a shape error, so forgetting the transpose goes unnoticed
    square = w.kernel.shape[0] == w.kernel.shape[1]
    return dataclasses.replace(w, kernel=w.kernel.T) if square else w


def _bias_dropped(spec, i, w):
    return w if w.bias is None else dataclasses.replace(
        w, bias=np.zeros_like(w.bias), recurrent_bias=np.zeros_like(w.bias))


def _bias_counted_twice(spec, i, w):
    return w if w.bias is None else dataclasses.replace(w, recurrent_bias=w.bias + w.recurrent_bias)


def _one_weight_off(spec, i, w):
    kernel = w.kernel.copy()
    kernel[0, 0] += 1e-3
    return dataclasses.replace(w, kernel=kernel)


def _stacked_layers_swapped(spec, weights):
    d = spec.directions
    layers = [list(weights[i:i + d]) for i in range(0, len(weights), d)]
    if len(layers) >= 3:  # layers 1.. all have the same shapes
        layers[1], layers[2] = layers[2], layers[1]
    elif len(layers) == 2 and layers[0][0].kernel.shape == layers[1][0].kernel.shape:
        layers[0], layers[1] = layers[1], layers[0]
    return tuple(w for layer in layers for w in layer)


def _gates_swapped(kind, a, b):
    """Swap gate blocks a and b (canonical Keras order) of every array of a ``kind`` cell."""
    def swap(spec, i, w):
        if spec.kind != kind:
            return w

        def fix(v, axis):
            blocks = np.split(v, spec.cell.gates, axis=axis)
            blocks[a], blocks[b] = blocks[b], blocks[a]
            return np.concatenate(blocks, axis=axis)
        return LayerWeights(fix(w.kernel, 1), fix(w.recurrent_kernel, 1),
                            None if w.bias is None else fix(w.bias, 0),
                            None if w.recurrent_bias is None else fix(w.recurrent_bias, 0))
    return swap


WEIGHT_BUGS = {
    "kernel not transposed (square layer)": _layerwise(_kernel_not_transposed),
    "bias dropped": _layerwise(_bias_dropped),
    "bias counted twice": _layerwise(_bias_counted_twice),
    "one weight off by 1e-3": _layerwise(_one_weight_off),
    "two stacked layers swapped": _stacked_layers_swapped,
    "GRU z and r gates swapped": _layerwise(_gates_swapped("gru", 0, 1)),
    "LSTM i and f gates swapped": _layerwise(_gates_swapped("lstm", 0, 1)),
}

# keras_to_torch breaks the torch writer; torch_to_keras breaks the Keras writer.
DIRECTIONS = {"keras_to_torch": (torch_side, checks.keras_to_torch),
              "torch_to_keras": (keras_side, checks.torch_to_keras)}


def _fingerprint(value):
    """Hashable, exact: every array's dtype, shape and bytes (nested lists and tuples kept)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return tuple(_fingerprint(v) for v in value)
    a = np.asarray(value)
    return a.dtype.str, a.shape, a.tobytes()


def _unnamed(config):
    """A Keras config without its layers' and cells' names (Keras numbers each new object's name;
    a name computes nothing). Everything else, dtype policies included, is kept."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items()
                if not (k == "name" and "trainable" in config)}
    if isinstance(config, (list, tuple)):
        return [_unnamed(v) for v in config]
    return config


@pytest.fixture(autouse=True, scope="module")
def keras_outputs_recalled():
    """Keras' outputs for a layer configuration, variable values and inputs this module ran
    before are recalled, not recomputed. Every test here reruns the same derandomised examples,
    and the bugs break the torch side or a writer, so most examples build a Keras layer some
    earlier test already ran (an eager Keras call of a drawn layer costs ~40 ms). The key is
    exact (each Keras layer's config but its name, every variable's bytes in order, the
    inputs' bytes), so a recalled output is the one Keras computes; a layer a broken writer
    filled differently runs anew."""
    real_run, seen, checked = keras_side.run, {}, []

    def run(obj, x, initial_state=None, mask=None):
        layers = obj if isinstance(obj, (list, tuple)) else [obj]
        key = (repr([(type(layer).__name__, _unnamed(layer.get_config())) for layer in layers]),
               tuple(_fingerprint(v.numpy()) for v in keras_side.variables(obj)),
               _fingerprint(x), _fingerprint(initial_state), _fingerprint(mask))
        if key not in seen:
            seen[key] = real_run(obj, x, initial_state, mask)
        elif not checked:  # the first recall is also recomputed: the key must decide the output
            again = real_run(obj, x, initial_state, mask).named()
            kept = seen[key].named()
            assert kept.keys() == again.keys()
            assert all(np.array_equal(kept[k], again[k]) for k in kept), "recall differs"
            checked.append(key)
        return copy.deepcopy(seen[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras_side, "run", run)
        yield seen


def run_default_profile(body) -> None:
    profile = settings.get_profile("parity-ci")
    fast = settings(profile, phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False)
    fast(given(case=checks.CASES)(body))()


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("bug", WEIGHT_BUGS)
def test_weight_bug_is_caught(monkeypatch, bug, direction):
    side, body = DIRECTIONS[direction]
    real_write = side.write_weights
    monkeypatch.setattr(side, "write_weights", lambda obj, weights: real_write(
        obj, WEIGHT_BUGS[bug](side.describe(obj), weights)))
    with pytest.raises(ParityError):
        run_default_profile(body)


def test_go_backwards_ignored_is_caught(monkeypatch):
    real_forward = torch_side.KerasRNN.forward

    def forward_reading_forwards(self, x, initial_state=None, mask=None):
        spec, self.spec = self.spec, self.spec.replace(go_backwards=False)
        try:
            return real_forward(self, x, initial_state, mask)
        finally:
            self.spec = spec

    monkeypatch.setattr(torch_side.KerasRNN, "forward", forward_reading_forwards)
    with pytest.raises(ParityError):
        run_default_profile(checks.keras_to_torch)


def _patch_forward(monkeypatch, change):
    """Replace KerasRNN.forward by one that calls the real one through ``change``."""
    real_forward = torch_side.KerasRNN.forward
    monkeypatch.setattr(torch_side.KerasRNN, "forward",
                        lambda self, x, initial_state=None, mask=None:
                        change(real_forward, self, x, initial_state, mask))


def test_mask_ignored_is_caught(monkeypatch):
    _patch_forward(monkeypatch, lambda real, self, x, h0, mask: real(self, x, h0, None))
    with pytest.raises(ParityError):
        run_default_profile(checks.keras_to_torch)


def test_backward_direction_not_re_reversed_is_caught(monkeypatch):
    real_result = torch_side.KerasRNN._keras_result

    def unreversed(self, per_direction, finals):
        if len(per_direction) == 2:  # hand over the backward outputs in input order
            per_direction = [per_direction[0], per_direction[1].flip(1)]
        return real_result(self, per_direction, finals)

    monkeypatch.setattr(torch_side.KerasRNN, "_keras_result", unreversed)
    with pytest.raises(ParityError):
        run_default_profile(checks.keras_to_torch)


def test_gru_reset_after_variant_mixed_up_is_caught(monkeypatch):
    real_step = torch_side._cell_step
    monkeypatch.setattr(torch_side, "_cell_step", lambda spec, params, x_t, state: real_step(
        spec.replace(reset_after=True), params, x_t, state))  # reset_before computed as after
    with pytest.raises(ParityError):
        run_default_profile(checks.keras_to_torch)


def test_gru_reset_after_module_mismatch_is_refused():
    spec = RecurrentSpec("gru", 3, 3, reset_after=False)
    layer = keras_side.build(spec)
    wrong = torch_side.KerasRNN(spec, rnn=torch_side.torch.nn.GRU(3, 3, batch_first=True))
    with pytest.raises(TransferError, match="reset_after"):
        parity.copy_weights(layer, wrong)


def test_gradient_mapped_to_the_wrong_gate_is_caught(monkeypatch):
    real_read = torch_side.read_weights
    swap = _gates_swapped("gru", 0, 1)
    other = _gates_swapped("lstm", 0, 1)

    def misread(obj, *, values=torch_side._numpy):
        weights = real_read(obj, values=values)
        if values is torch_side._numpy:
            return weights  # weights are read correctly; only gradients are mis-mapped
        spec = torch_side.describe(obj)
        return tuple(other(spec, i, swap(spec, i, w)) for i, w in enumerate(weights))

    monkeypatch.setattr(torch_side, "read_weights", misread)
    with pytest.raises(ParityError):
        run_default_profile(checks.gradients)
