"""The pytest plugin's choice of xdist scheduling: with ``-n`` and no ``--dist`` of the user's,
workers steal queued tests (the drawn properties' run times differ a hundredfold). ``tox -e
tests`` runs ``pytest -n auto``, so the schedule itself runs in every CI run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from parity import pytest_plugin


@pytest.mark.parametrize("numprocesses, dist, chosen", [
    ("auto", "no", "worksteal"),  # pytest-xdist's defaults: --dist no unless given
    (2, "no", "worksteal"),
    (2, "load", "load"),  # the user's choice stands
    (2, "loadscope", "loadscope"),
    (None, "no", "no"),  # no workers: nothing to schedule
    (0, "no", "no"),
])
def test_workers_steal_unless_the_user_chose_a_schedule(numprocesses, dist, chosen):
    option = SimpleNamespace(numprocesses=numprocesses, dist=dist)
    pytest_plugin.pytest_cmdline_main(SimpleNamespace(option=option))
    assert option.dist == chosen


def test_the_schedule_is_one_xdist_has():
    scheduler = pytest.importorskip("xdist.scheduler")
    assert hasattr(scheduler, "WorkStealingScheduling")


def test_without_xdist_options_nothing_changes():
    option = SimpleNamespace(verbose=0)
    pytest_plugin.pytest_cmdline_main(SimpleNamespace(option=option))
    assert vars(option) == {"verbose": 0}
