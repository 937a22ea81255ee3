"""pytest plugin: CPU seconds (this process and its children, user + sys) per test and per file,
the 30 costliest files and 60 costliest tests at the end. CPU time is steadier than wall time on a
shared machine (docs/measurements.md, issue "the verdict in a minute"):

    PYTHONPATH=scripts pytest -p cputime -q -p no:cacheprovider
"""

import resource
from collections import defaultdict

import pytest

_T = {}
_PER = defaultdict(float)


def _cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def pytest_sessionstart(session):
    _T["start"] = _cpu()


def pytest_collection_finish(session):
    _T["collected"] = _cpu()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    t = _cpu()
    yield
    _PER[item.nodeid] += _cpu() - t


def pytest_terminal_summary(terminalreporter):
    w = terminalreporter.write_line
    total = _cpu() - _T["start"]
    w(f"CPU total {total:.1f}s; collection {_T['collected'] - _T['start']:.1f}s")
    files = defaultdict(float)
    for k, v in _PER.items():
        files[k.split("::")[0]] += v
    for f, v in sorted(files.items(), key=lambda x: -x[1])[:30]:
        w(f"FILE {v:7.2f} {f}")
    for k, v in sorted(_PER.items(), key=lambda x: -x[1])[:60]:
        w(f"TEST {v:7.2f} {k}")
