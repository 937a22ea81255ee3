"""Where results are written: the one place that says how, so that no command loses work or
overwrites anything.

- A folder is **claimed before the work starts**: its writability is checked and the name taken
  atomically (``mkdir``, then an exclusive claim file holding the owner's process id), so two runs
  started in the same second get two folders (``NAME``, ``NAME-2``, ...) and an explicit
  ``--out`` that exists is refused before minutes of computing, not after.
- The work is written into a **temporary folder beside the target** (``.NAME.tmp-PID-...``) and
  renamed onto the claimed, empty target at the end, so a folder under its final name is
  complete. An exception discards both; an interrupted process leaves a claim and a temporary
  folder whose owner is gone, and the next claim of that name (or any claim in that parent, for
  temporary folders) removes them.
- A single file is written beside its target and linked into place, which fails instead of
  overwriting when the name appeared meanwhile.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from parity.core.errors import OutputError

CLAIM = ".parity-claim"
_TMP = ".tmp-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _owner_gone(claim_text: str) -> bool:
    """True if the claim was made on this host by a process that no longer runs."""
    try:
        host, pid = claim_text.split()
        return host == socket.gethostname() and not _alive(int(pid))
    except ValueError:
        return False


def check_writable(path: str | Path) -> None:
    """Raise :class:`OutputError` unless ``path`` (a file or folder to be made) can be created:
    its nearest existing ancestor is a writable folder."""
    path = Path(path)
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot be created, {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot be created, {parent} is not writable; choose another "
                          "place (--out / --reports)")


def _clean_stale_temporaries(parent: Path) -> None:
    """Remove temporary folders in ``parent`` whose process no longer runs (interrupted runs)."""
    for tmp in parent.glob(f".*{_TMP}*"):
        try:
            pid = int(tmp.name.split(_TMP, 1)[1].split("-", 1)[0])
        except ValueError:
            continue
        if not _alive(pid):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


class Claim:
    """A claimed output folder: write into :attr:`work`; :meth:`commit` moves it to :attr:`path`,
    :meth:`abandon` discards everything. Used as a context manager it commits on success and
    abandons on an exception."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _clean_stale_temporaries(path.parent)
        self.work = Path(tempfile.mkdtemp(prefix=f".{path.name}{_TMP}{os.getpid()}-",
                                          dir=path.parent))

    def commit(self) -> Path:
        (self.path / CLAIM).unlink()
        try:
            os.rename(self.work, self.path)  # onto the empty claimed folder: atomic on POSIX
        except OSError as e:
            raise OutputError(f"{self.path}: could not be moved into place ({e}); the results "
                              f"are in {self.work}") from None
        return self.path

    def abandon(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        (self.path / CLAIM).unlink(missing_ok=True)
        try:
            self.path.rmdir()  # only if still empty: never removes anything else
        except OSError:
            pass

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.abandon()


def _take(path: Path) -> bool:
    """Atomically take the (existing, otherwise empty) folder ``path``; False if someone has."""
    try:
        fd = os.open(path / CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(f"{socket.gethostname()} {os.getpid()}\n")
    return True


def claim(path: str | Path) -> Claim:
    """Claim the folder ``path`` for a new output; refuse if it holds anything (nothing is
    overwritten) or another running process has claimed it. A claim left by an interrupted run
    is taken over."""
    path = Path(path)
    check_writable(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is a file: choose a new folder (nothing is "
                              "overwritten)")
    path.mkdir(parents=True, exist_ok=True)
    contents = [p.name for p in path.iterdir()]
    if contents == [CLAIM]:
        text = (path / CLAIM).read_text()
        if not _owner_gone(text):
            raise FileExistsError(f"{path} is being written by another run ({text.strip()}): "
                                  "choose a new folder")
        (path / CLAIM).unlink(missing_ok=True)  # left by an interrupted run
    elif contents:
        raise FileExistsError(f"{path} exists: choose a new folder (nothing is overwritten)")
    if not _take(path):
        raise FileExistsError(f"{path} is being written by another run: choose a new folder")
    return _claimed(path)


def _claimed(path: Path) -> Claim:
    try:
        return Claim(path)
    except BaseException:
        (path / CLAIM).unlink(missing_ok=True)
        raise


def claim_stamped(parent: str | Path, prefix: str = "") -> Claim:
    """Claim a new folder ``parent/PREFIX<YYYYmmdd-HHMMSS>``, suffixed ``-2``, ``-3``, ... when that
    name is taken (runs started within one second)."""
    parent = Path(parent)
    check_writable(parent / "x")
    parent.mkdir(parents=True, exist_ok=True)
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        if _take(path):
            return _claimed(path)
    raise OutputError(f"{parent}: no free folder name {stamp}-N left")


def check_new_file(path: str | Path) -> Path:
    """Refuse, before the work, a file name that exists or cannot be created."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} exists: choose a new file (nothing is overwritten)")
    check_writable(path)
    return path


def write_new_file(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to the new file ``path`` atomically, never replacing an existing file."""
    path = check_new_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{_TMP}{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        try:
            os.link(tmp, path)  # fails if the name appeared meanwhile
        except FileExistsError:
            raise FileExistsError(f"{path} exists: choose a new file (nothing is "
                                  "overwritten)") from None
    finally:
        os.unlink(tmp)
    return path
