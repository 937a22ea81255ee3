"""Where results are written: the one place that says how, so that no command loses work or
overwrites anything.

- A folder is **claimed before the work starts**: its writability is checked and the name taken
  atomically (``mkdir``, then an exclusive claim file holding the owner's host and process), so
  two runs started in the same second get two folders (``NAME``, ``NAME-2``, ...) and an explicit
  ``--out`` that exists is refused before minutes of computing, not after. A symlink as ``--out``
  claims the folder it points to; a mount point is refused (nothing can be renamed onto it).
- The work is written into a **temporary folder beside the target** (``.NAME.tmp-PID-...``) that
  holds a marker (:data:`MARKER`: host, boot, process and its start time, a random token) and is
  renamed onto the claimed, empty target at the end, so a folder under its final name is
  complete. An exception discards both; a failed write (disk full, ...) is an
  :class:`OutputError` naming the path. An interrupted process leaves a claim and a temporary
  folder whose owner is gone; the next claim of that name (or any claim in that parent, for
  temporary folders) removes them. **Only a temporary whose marker names a process of this host
  that no longer runs is removed**: anything else (a user's ``.notes.tmp-1-draft``, another
  host's run on a shared file system, a marker that does not parse) is left alone.
- Results that cannot be moved into place are kept under a visible name (``NAME.kept-STAMP``)
  without a marker, so no later run removes them.
- A single file is written in such a temporary folder and linked into place, which fails instead
  of overwriting when the name appeared meanwhile.

One module on purpose: the claim, the temporary folder, its marker and the removal of a dead
owner's leftovers are one protocol, each step relying on what the others wrote.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path

from parity.core.errors import OutputError

CLAIM = ".parity-claim"
MARKER = ".parity-temporary"
_TMP = ".tmp-"
_MARKER_FORMAT = "rnn-parity temporary 1"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process' start time (clock ticks since boot; Linux), which tells a reused pid apart."""
    stat = _read(f"/proc/{pid}/stat")
    try:
        return stat.rsplit(")", 1)[1].split()[19] if stat else None
    except IndexError:
        return None


def _identity() -> dict:
    """Who this process is, as a marker records it: a pid means something only on the same host,
    boot and pid namespace."""
    try:
        pidns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pidns = None
    boot = _read("/proc/sys/kernel/random/boot_id")
    return {"host": socket.gethostname(), "boot": boot.strip() if boot else None,
            "pidns": pidns, "pid": os.getpid(), "start": _start_time(os.getpid())}


def _alive(pid: int, start: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    now = _start_time(pid)
    return start is None or now is None or now == start  # another start time: the pid was reused


def _owner_gone(claim_text: str) -> bool:
    """True if the claim was made on this host by a process that no longer runs."""
    try:
        host, pid, *start = claim_text.split()
        return host == socket.gethostname() and not _alive(int(pid), *start[:1])
    except (ValueError, TypeError):
        return False


def _marker(folder: Path) -> dict | None:
    """The marker of a temporary folder of rnn-parity, or None (no marker, not ours, unreadable)."""
    path = folder / MARKER
    if folder.is_symlink() or path.is_symlink() or not folder.is_dir():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeError, RecursionError):  # anything else is not ours
        return None
    if not isinstance(marker, dict) or marker.get("format") != _MARKER_FORMAT:
        return None
    return marker


def _stale(marker: dict) -> bool:
    """True only if ``marker`` names a process of this host that no longer runs. Another host's
    temporaries (a shared file system) are never judged: their processes cannot be seen."""
    me = _identity()
    if marker.get("host") != me["host"]:
        return False
    if marker.get("boot") and me["boot"] and marker["boot"] != me["boot"]:
        return True  # written before this host rebooted
    if marker.get("pidns") != me["pidns"]:
        return False  # another container's processes are not visible from here
    pid, start = marker.get("pid"), marker.get("start")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    return not _alive(pid, start if isinstance(start, str) else None)


def _make_temporary(parent: Path, name: str) -> tuple[Path, str]:
    """A new temporary folder for ``name`` in ``parent`` with its marker; (folder, token)."""
    work = Path(tempfile.mkdtemp(prefix=f".{name}{_TMP}{os.getpid()}-", dir=parent))
    token = secrets.token_hex(8)
    try:
        with open(work / MARKER, "x") as f:
            json.dump({"format": _MARKER_FORMAT, **_identity(), "token": token}, f)
    except BaseException:
        (work / MARKER).unlink(missing_ok=True)
        work.rmdir()
        raise
    return work, token


def _remove_temporary(work: Path, token: str) -> None:
    """Remove the temporary folder ``work`` if it still holds this run's marker."""
    marker = _marker(work)
    if marker is not None and marker.get("token") == token:
        shutil.rmtree(work, ignore_errors=True)


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


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_failed(path: Path, error: BaseException) -> OutputError:
    """The typed error for a failed write of ``path`` (disk full, over quota, file too large,
    I/O error): exit 2, naming the path, not a bug of rnn-parity."""
    reason = getattr(error, "strerror", None) or str(error)
    hint = ("free some space or choose another place" if getattr(error, "errno", None) in _FULL
            else "choose another place")
    return OutputError(f"{path}: could not be written ({reason}); nothing was kept: {hint} "
                       "(--out / --reports)")


def torch_write_failure(error: BaseException) -> bool:
    """torch.save reports a failed write as a RuntimeError of its zip writer."""
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        s in text for s in ("inline_container", "PytorchStreamWriter", "unexpected pos",
                            "failed writing"))


def _clean_stale_temporaries(parent: Path) -> None:
    """Remove this host's temporary folders in ``parent`` whose process no longer runs
    (interrupted runs); anything without a valid marker of rnn-parity is left alone."""
    for tmp in parent.glob(f".*{_TMP}*"):
        marker = _marker(tmp)
        if marker is not None and _stale(marker):
            shutil.rmtree(tmp, ignore_errors=True)


def _kept_name(path: Path) -> Path:
    stamp = path.parent / f"{path.name}.kept-{time.strftime('%Y%m%d-%H%M%S')}"
    n = 1
    while (kept := stamp if n == 1 else Path(f"{stamp}-{n}")).exists() or kept.is_symlink():
        n += 1
    return kept


class Claim:
    """A claimed output folder: write into :attr:`work`; :meth:`commit` moves it to :attr:`path`,
    :meth:`abandon` discards everything. Used as a context manager it commits on success and
    abandons on an exception; a failed write (disk full, ...) becomes an :class:`OutputError`
    naming the path under its final name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _clean_stale_temporaries(path.parent)
        try:
            self.work, self._token = _make_temporary(path.parent, path.name)
        except OSError as e:
            raise write_failed(path, e) from e

    def commit(self) -> Path:
        (self.work / MARKER).unlink()  # from here on no clean-up touches the results
        (self.path / CLAIM).unlink(missing_ok=True)
        try:
            os.rename(self.work, self.path)  # onto the empty claimed folder: atomic on POSIX
        except OSError as e:
            kept = self._keep()
            raise OutputError(f"{self.path}: could not be moved into place ({e.strerror}); the "
                              f"results are kept in {kept} (rnn-parity never removes it): move "
                              "them where you want them") from None
        return self.path

    def _keep(self) -> Path:
        """Give the results a visible, non-temporary name beside the target."""
        try:
            self.path.rmdir()  # the claimed folder, if still empty
        except OSError:
            pass
        kept = _kept_name(self.path)
        try:
            os.rename(self.work, kept)
        except OSError:
            return self.work  # without its marker: never removed by a clean-up either
        return kept

    def abandon(self) -> None:
        _remove_temporary(self.work, self._token)
        (self.path / CLAIM).unlink(missing_ok=True)
        try:
            self.path.rmdir()  # only if still empty: never removes anything else
        except OSError:
            pass

    def _final(self, filename) -> Path:
        """Where ``filename`` (written in :attr:`work`) would have been: the name to report."""
        try:
            return self.path / Path(os.fsdecode(filename)).relative_to(self.work)
        except (TypeError, ValueError):
            return self.path

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.commit()
            return
        self.abandon()
        if isinstance(error, OSError):
            where = self._final(error.filename)
            if error.errno in _FULL or where != self.path:
                raise write_failed(where, error) from error
        elif torch_write_failure(error):
            raise write_failed(self.path, error) from error


def _take(path: Path) -> bool:
    """Atomically take the (existing, otherwise empty) folder ``path``; False if someone has."""
    claim_file = path / CLAIM
    try:
        fd = os.open(claim_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    except OSError as e:
        raise write_failed(claim_file, e) from e
    me = _identity()
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{me['host']} {me['pid']} {me['start'] or ''}".rstrip() + "\n")
    except BaseException as e:
        claim_file.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failed(claim_file, e) from e
        raise
    return True


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, innermost first."""
    missing = []
    while not path.exists() and not path.is_symlink() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def claim(path: str | Path) -> Claim:
    """Claim the folder ``path`` for a new output; refuse if it holds anything (nothing is
    overwritten) or another running process has claimed it. A claim left by an interrupted run
    is taken over. A symlink claims the folder it points to (the results are renamed into place
    beside that folder); a mount point is refused, since nothing can be renamed onto it."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    check_writable(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is a file: choose a new folder (nothing is "
                              "overwritten)")
    if path.is_dir() and os.stat(path).st_dev != os.stat(path.parent).st_dev:
        raise OutputError(f"{path} is a mount point: the results cannot be moved onto it; "
                          f"choose a new folder inside it (e.g. {path / 'results'})")
    made = _missing_folders(path)
    try:
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
    except BaseException:
        _remove_empty(made)  # what this call made, never a folder that was there
        raise


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
    made = _missing_folders(parent)
    parent.mkdir(parents=True, exist_ok=True)
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    try:
        for n in range(1, 1000):
            path = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            try:
                if _take(path):
                    return _claimed(path)
            except BaseException:
                _remove_empty([path])
                raise
    except BaseException:
        _remove_empty(made)
        raise
    raise OutputError(f"{parent}: no free folder name {stamp}-N left")


def check_new_file(path: str | Path) -> Path:
    """Refuse, before the work, a file name that exists or cannot be created."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} exists: choose a new file (nothing is overwritten)")
    check_writable(path)
    return path


def write_new_file(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to the new file ``path`` atomically, never replacing an existing file; a
    failed write is an :class:`OutputError` naming ``path`` and leaves nothing behind."""
    path = check_new_file(path)
    made = _missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        work, token = _make_temporary(path.parent, path.name)
    except OSError as e:
        _remove_empty(made)
        raise write_failed(path, e) from e
    try:
        try:
            with open(work / path.name, "xb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
            os.link(work / path.name, path)  # fails if the name appeared meanwhile
        finally:
            _remove_temporary(work, token)
    except FileExistsError:
        raise FileExistsError(f"{path} exists: choose a new file (nothing is "
                              "overwritten)") from None
    except OSError as e:
        _remove_empty(made)
        raise write_failed(path, e) from e
    return path
