"""The course scenarios as files: every one states how it departs from the course, a user's own
file runs by its path, the summed loss of 12_2 is a sum, and 12_4's Adam mismatch on Keras'
TensorFlow backend is reported as the known sparse-Adam difference while SGD passes."""

from __future__ import annotations

import json

import pytest

from parity.cli import main
from parity.core.frameworks import keras
from parity.scenarios import course as scenarios


def test_every_training_scenario_ships_and_states_its_deviations():
    shipped = {p.stem for p in scenarios.scenarios_dir().glob("*.json")} - {"lab_12_0"}
    assert shipped == set(scenarios.TRAINING)
    for name in scenarios.TRAINING:
        deviations = scenarios.load_fixture(name)["deviations"]
        assert deviations and all(isinstance(d, str) and len(d) > 20 for d in deviations), name


def test_a_users_scenario_file_runs_by_its_path(tmp_path, capsys):
    mine = dict(scenarios.load_fixture("many_to_one"), name="mine", epochs=1, target_accuracy=0.0)
    path = tmp_path / "my.json"
    path.write_text(json.dumps(mine))
    assert main(["scenarios", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "| mine | 2 |" in capsys.readouterr().out
    broken = dict(mine)
    del broken["optimizer"]
    path.write_text(json.dumps(broken))
    assert main(["scenarios", str(path), "--out", str(tmp_path / "out2")]) == 2
    assert "needs 'optimizer'" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_the_summed_loss_is_the_sum_over_characters():
    summed = scenarios.run("hello_rnn_summed", epochs=1).record.steps[0]
    mean = scenarios.run("hihello", epochs=1).record.steps[0]
    assert summed.loss_torch == pytest.approx(6 * mean.loss_torch, rel=1e-6)
    assert summed.loss_keras == pytest.approx(6 * mean.loss_keras, rel=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the sparse Adam update is Keras' TensorFlow backend's")
def test_embedding_under_adam_is_the_known_sparse_adam_difference_and_sgd_passes():
    adam = scenarios.run("hello_rnn_embedding", epochs=4)
    assert not adam.record.ok
    assert adam.verdict == "known difference" and "sparse gradient" in adam.known_cause
    assert adam.ok and "known difference" in adam.problems()[0]
    sgd = scenarios.run("hello_rnn_embedding_sgd", epochs=4)
    assert sgd.record.ok, sgd.record.explain()
