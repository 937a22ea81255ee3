"""The seed's course scenarios (parity/data/scenarios): the course model in its own framework and
its port train in lock step; losses and weights agree at every step within the float64-derived
tolerance, the final predictions are identical, and both reach the course's accuracy."""

from __future__ import annotations

import pytest

from parity.scenarios import course as scenarios


@pytest.mark.parametrize("name", scenarios.TRAINING)
def test_scenario_trains_the_same(name, request):
    result = scenarios.run(name, context=f"pytest '{request.node.nodeid}'")
    assert result.ok, "\n".join(result.problems())
    assert result.record.steps, "no training steps ran"
    if result.verdict == "known difference":  # a mismatch, explained by the cause it declares
        assert not result.record.ok and result.known_cause
