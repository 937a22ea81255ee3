"""An installed wheel runs the shipped checks from any folder: the data they read travels inside
the package. Builds the wheel from a copy of this checkout's package sources (a build in the
checkout itself would leave a `build/` folder whose stale modules a later wheel packs), installs
it (no dependencies: the test environment's packages are reused, but not its editable copy of
rnn-parity) into a fresh virtual environment, and runs ``python -m parity check`` from an empty
temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_installed_wheel_runs_the_shipped_checks_from_any_folder(tmp_path):
    source, wheels = tmp_path / "source", tmp_path / "wheels"
    shutil.copytree(ROOT / "parity", source / "parity",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
          "-q", "-w", str(wheels)])
    (wheel,) = wheels.glob("rnn_parity-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = {p.relative_to(source).as_posix() for p in (source / "parity").rglob("*.py")}
    assert {n for n in names if n.endswith(".py")} == modules  # every module, and nothing else
    assert "parity/data/scenarios/lab_12_0.json" in names
    assert "parity/data/scenarios/hihello.json" in names

    env_dir = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                     ).stdout.strip())
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
          str(wheel)])
    # the test environment's packages (numpy, torch, keras, pytest...) as a plain path entry: its
    # .pth files, among them the editable install of this checkout, are not processed
    (site / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PARITY_FIXTURES")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    where = _run([str(python), "-c", "import parity; print(parity.__file__)"], cwd=elsewhere,
                 env=env).stdout.strip()
    assert where.startswith(str(site)), where
    # no unraisableexception plugin: its two garbage collections at the end walk both
    # frameworks (0.4 s); what it reports are warnings, which this test does not read
    checks = _run([str(python), "-m", "parity", "check", "-q", "-p", "no:cacheprovider",
                   "-p", "no:unraisableexception", "-k", "closed_form or lab_12_0"],
                  cwd=elsewhere, env=env)
    counts = checks.stdout.strip().splitlines()[-1]
    assert "passed" in counts and "error" not in counts and "skipped" not in counts, checks.stdout
    assert int(counts.split(" passed")[0].split()[-1]) >= 5, counts  # closed form 4, lab 12-0 1+
