"""The seed's course scenarios (parity/data/scenarios): the course model in its own framework and
its port train in lock step; losses and weights agree at every step within the float64-derived
tolerance and the final predictions are identical. By default each scenario trains its first
``--scenario-steps`` steps (its model, loss, optimizer, data and shuffling all exercised); with
``--scenario-steps=0`` (and under the parity-thorough profile, and in ``python -m parity run`` /
``scenarios``) the course's full length, where both must also reach the course's accuracy."""

from __future__ import annotations

import pytest

from parity.pytest_plugin import scenario_steps
from parity.scenarios import course as scenarios


@pytest.mark.parametrize("name", scenarios.TRAINING)
def test_scenario_trains_the_same(name, request):
    steps = scenario_steps(request.config)
    result = scenarios.run(name, epochs=scenarios.epochs_for(name, steps) if steps else None,
                           context=f"pytest '{request.node.nodeid}' --scenario-steps={steps}")
    assert result.ok, "\n".join(result.problems())
    assert result.record.steps, "no training steps ran"
    if result.verdict == "known difference":  # a mismatch, explained by the cause it declares
        assert not result.record.ok and result.known_cause
