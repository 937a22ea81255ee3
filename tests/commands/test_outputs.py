"""Output folders (:mod:`parity.core.outputs`) with real files and real processes: the clean-up
removes only temporaries that a run of rnn-parity marked as its own and whose process is gone,
results a message says are kept survive later runs, a symlinked ``--out`` gets the results, and a
full disk is a typed error (exit 2) naming the path, with nothing left behind.

A full disk is made three ways: a small tmpfs (needs root and ``mount``; skipped otherwise, with
the reason), a file-size limit in a child process (``RLIMIT_FSIZE``: the kernel refuses the write
with EFBIG), and a file that is a link to ``/dev/full`` (ENOSPC)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from parity.cli import main
from parity.core import outputs
from parity.core.errors import OutputError

ROOT = Path(__file__).resolve().parents[2]
LINUX = sys.platform.startswith("linux")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _child(code: str, *args: str, limit: int | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter (with a file-size limit of ``limit`` bytes)."""
    prelude = ("import resource, signal, sys\n"
               "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # EFBIG instead of a kill
               f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
               if limit is not None else "import sys\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", prelude + code, *args], env=env,
                          capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------ clean-up

def test_a_users_lookalike_files_and_folders_survive_a_claim(tmp_path):
    (tmp_path / ".notes.tmp-999999-draft").write_text("mine")
    folder = tmp_path / ".out.tmp-999999-draft"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    other_host = tmp_path / ".out.tmp-999998-x"  # a run on another host of a shared file system
    other_host.mkdir()
    (other_host / outputs.MARKER).write_text(json.dumps(
        {"format": "rnn-parity temporary 1", "host": "elsewhere", "pid": 999998}))
    broken = tmp_path / ".out.tmp-999997-y"
    broken.mkdir()
    (broken / outputs.MARKER).write_text("{not json")
    before = _names(tmp_path)
    with outputs.claim(tmp_path / "out") as claimed:
        (claimed.work / "r.txt").write_text("result")
    assert _names(tmp_path) == sorted([*before, "out"])
    assert (tmp_path / ".notes.tmp-999999-draft").read_text() == "mine"
    assert (folder / "notes.txt").read_text() == "mine"
    assert _names(tmp_path / "out") == ["r.txt"]


_KILLED = ("import os; from parity.core import outputs\n"
           "claimed = outputs.claim(sys.argv[1])\n"
           "(claimed.work / 'half.json').write_text('{')\n"
           "os._exit(0)  # killed: no clean-up\n")


def test_a_killed_runs_claim_and_temporary_are_removed_by_the_next_claim(tmp_path):
    assert _child(_KILLED, str(tmp_path / "out")).returncode == 0
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
    assert len(stale) == 1 and (stale[0] / "half.json").exists()
    assert _names(tmp_path / "out") == [outputs.CLAIM]
    with outputs.claim(tmp_path / "other"):  # any claim in the parent removes the temporary
        pass
    assert not stale[0].exists() and (tmp_path / "out" / outputs.CLAIM).exists()
    with outputs.claim(tmp_path / "out") as claimed:  # the claim of a dead process is taken over
        (claimed.work / "done.txt").write_text("complete")
    assert _names(tmp_path) == ["other", "out"] and _names(tmp_path / "out") == ["done.txt"]


def test_a_live_runs_temporary_is_left_alone_and_a_reused_pid_is_seen(tmp_path):
    me = outputs._identity()
    live, reused = tmp_path / ".a.tmp-1-x", tmp_path / ".b.tmp-1-x"
    for folder, start in ((live, me["start"]), (reused, "1")):
        folder.mkdir()
        (folder / outputs.MARKER).write_text(json.dumps(
            {"format": "rnn-parity temporary 1", **me, "start": start}))
    outputs._clean_stale_temporaries(tmp_path)
    assert live.exists()
    assert reused.exists() is (not LINUX)  # another start time: this pid now is someone else


# ------------------------------------------------------------------- symlinks, kept results

def test_a_symlinked_out_gets_the_results_in_the_folder_it_points_to(tmp_path):
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    with outputs.claim(link) as claimed:
        (claimed.work / "r.txt").write_text("result")
    assert claimed.path == real and link.is_symlink()
    assert (link / "r.txt").read_text() == "result"
    assert _names(tmp_path) == ["link", "real"]  # no temporary left behind


def test_a_symlink_to_a_folder_with_contents_is_refused(tmp_path):
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    (real / "mine.txt").write_text("mine")
    link.symlink_to(real)
    with pytest.raises(FileExistsError, match="nothing is overwritten"):
        outputs.claim(link)
    assert _names(real) == ["mine.txt"]


def test_results_that_cannot_be_moved_into_place_are_kept_and_survive_later_runs(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(OutputError, match="could not be moved into place") as error:
        with outputs.claim(target) as claimed:
            (claimed.work / "r.txt").write_text("result")
            (target / "intruder.txt").write_text("theirs")  # written meanwhile by someone else
    kept = Path(str(error.value).split("kept in ", 1)[1].split(" ", 1)[0])
    assert kept.parent == tmp_path and kept.name.startswith("out.kept-")
    assert (kept / "r.txt").read_text() == "result" and outputs.MARKER not in _names(kept)
    assert _names(target) == ["intruder.txt"]
    with outputs.claim(tmp_path / "next"):
        pass
    assert (kept / "r.txt").read_text() == "result"


# ----------------------------------------------------------------------------- disk full

def test_write_torch_onto_a_full_disk_names_the_file(tmp_path):
    import parity
    from parity.porting import files

    module = parity.KerasRNN(parity.RecurrentSpec("lstm", units=32, input_size=8))
    (tmp_path / files.STATE_DICT).symlink_to("/dev/full")  # the kernel answers ENOSPC
    with pytest.raises(OSError, match="No space left") as error:
        files.write_torch(tmp_path, module)
    assert error.value.filename == str(tmp_path / files.STATE_DICT)


def test_a_claim_file_that_cannot_be_written_leaves_no_claim_and_no_folder(tmp_path):
    done = _child("from parity.core import outputs\n"
                  "try:\n    outputs.claim(sys.argv[1])\n"
                  "except outputs.OutputError as e:\n    print(e)\n", str(tmp_path / "a" / "out"),
                  limit=0)
    assert f"{tmp_path / 'a' / 'out' / outputs.CLAIM}: could not be written" in done.stdout, done
    assert _names(tmp_path) == []  # neither the claim, nor the folder, nor its parent


def _keras_file(tmp_path: Path) -> Path:
    from parity.core.frameworks import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 8)), keras.layers.LSTM(32)])  # 20 kB of weights
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def test_a_port_past_the_file_size_limit_exits_2_naming_the_file(tmp_path):
    model, out = _keras_file(tmp_path), tmp_path / "out"
    done = _child("from parity.cli import main\nsys.exit(main(sys.argv[1:]))\n",
                  "port", str(model), "--out", str(out), limit=4096)
    assert done.returncode == 2, done.stderr
    assert f"{out / 'state_dict.pt'}: could not be written (File too large)" in done.stderr
    assert _names(tmp_path) == ["m.keras"]


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs, unmounted afterwards."""
    if not LINUX or os.geteuid() != 0:
        pytest.skip("a tmpfs needs root and mount (the file-size limit and /dev/full tests cover "
                    "the same paths)")
    where = tmp_path / "fs"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"mount -t tmpfs refused here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(fs: Path, free_pages: int) -> None:
    """Fill ``fs`` but ``free_pages`` pages (tmpfs counts file pages, not folders)."""
    with open(fs / "ballast", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    size = (fs / "ballast").stat().st_size
    os.truncate(fs / "ballast", size - free_pages * os.sysconf("SC_PAGE_SIZE"))


def test_a_mount_point_as_out_is_refused_before_the_work(small_fs):
    with pytest.raises(OutputError, match="is a mount point"):
        outputs.claim(small_fs)
    assert _names(small_fs) == []


def test_a_claim_on_a_full_disk_leaves_nothing(small_fs):
    _fill(small_fs, 0)
    with pytest.raises(OutputError, match=f"{small_fs / 'out' / outputs.CLAIM}: could not be "
                       r"written \(No space left on device\)"):
        outputs.claim(small_fs / "out")
    assert _names(small_fs) == ["ballast"]


def test_a_port_onto_a_full_disk_exits_2_naming_the_file_and_leaves_nothing(small_fs, tmp_path,
                                                                            capsys):
    model = _keras_file(tmp_path)
    _fill(small_fs, 2)  # the claim and the marker fit, the state dict does not
    assert main(["port", str(model), "--out", str(small_fs / "out")]) == 2
    assert (f"{small_fs / 'out' / 'state_dict.pt'}: could not be written (No space left on "
            "device)") in capsys.readouterr().err
    assert _names(small_fs) == ["ballast"]


def test_a_golden_record_onto_a_full_disk_exits_2_and_leaves_nothing(small_fs, monkeypatch,
                                                                     capsys):
    from parity.upgrade import golden

    monkeypatch.setattr(golden, "case_ids", lambda **kw: ["gru/uni/none"])
    _fill(small_fs, 2)
    assert main(["golden", "record", str(small_fs / "base")]) == 2
    err = capsys.readouterr().err
    assert f"{small_fs / 'base'}" in err and "No space left on device" in err, err
    assert _names(small_fs) == ["ballast"]


def test_the_claim_file_names_host_and_process(tmp_path):
    claimed = outputs.claim(tmp_path / "out")
    host, pid, *_ = (tmp_path / "out" / outputs.CLAIM).read_text().split()
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    claimed.abandon()
    assert _names(tmp_path) == []
