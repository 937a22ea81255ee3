# ruff: noqa: I001
"""Imports both frameworks in the one order that is safe in a single process.

torch must be imported before TensorFlow (the other order can crash at import on some builds), and
TensorFlow's C++ logging is quietened unless the user chose a level. Every module that needs a framework
imports it from here.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile

# TF_CPP_MIN_LOG_LEVEL=0 (the user's): all of TensorFlow's C++ log lines, the import's included
_USER_LOG_LEVEL = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# what TensorFlow's C++ code prints at import before its log level applies (absl's logging is
# not initialised yet): a notice about that, and oneDNN's, once per library loaded
IMPORT_NOISE = ("All log messages before absl::InitializeLog() is called are written to STDERR",
                "oneDNN custom operations are on.")


def _flush_stderr() -> None:
    if sys.stderr is not None:
        sys.stderr.flush()


@contextlib.contextmanager
def _import_noise_filtered():
    """Around the frameworks' import: what C++ writes to file descriptor 2 is held in a temporary
    file and written back to it afterwards, less the lines of ``IMPORT_NOISE``. Unfiltered when
    the user asked for every line (``TF_CPP_MIN_LOG_LEVEL=0``), or without a stderr or a
    temporary folder."""
    if _USER_LOG_LEVEL == "0":
        yield
        return
    try:
        held = tempfile.TemporaryFile()
    except OSError:
        yield
        return
    with held:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        _flush_stderr()
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(keepends=True)
                    if not any(n.encode() in line for n in IMPORT_NOISE)]
            with open(2, "wb", closefd=False) as stderr:
                stderr.write(b"".join(kept))


# The collector is paused while they import: the collections their half a million new objects
# would trigger walk them all, again and again (about 1 s of CPU time on the 2-core machine).
_collecting = gc.isenabled()
gc.disable()
try:
    with _import_noise_filtered():
        import threadpoolctl  # noqa: E402
        import torch  # noqa: E402, I001  (must precede keras/tensorflow; keep this order)
        import keras  # noqa: E402
finally:
    if _collecting:
        gc.enable()

__all__ = ["freeze_imported", "keras", "pin_threads", "torch"]


def freeze_imported() -> None:
    """Leave every object alive now (both frameworks' half a million, which live as long as the
    process) out of the garbage collector's later full collections and the one at exit. For a
    process's entry point (the command line, the pytest plugin, a worker), not for a library
    import: an object frozen here is never collected, even if it later becomes garbage.

    Examples:
        >>> import gc
        >>> freeze_imported()
        >>> gc.get_freeze_count() > 0 and gc.isenabled()
        True
    """
    gc.freeze()


def pin_threads(intra_op: int, inter_op: int) -> bool:
    """Set torch's threads and numpy's BLAS threads (the float64 reference's matrix products) to
    ``intra_op`` and, on Keras' TensorFlow backend, TensorFlow's intra-op and inter-op pools.
    False when TensorFlow's runtime has already started (its pools can no longer change); torch's
    and numpy's are set either way.

    Why numpy's too: OpenBLAS threads spin while they wait for each other, so on a machine whose
    cores are busy (pytest-xdist workers, other jobs) a product whose threads are not all running
    takes many times as long as on one thread (measured on the 2-core CPU machine, load average
    8.7: a 4 x 1024 by 1024 x 4096 float64 product and its 32-block split took 0.04 s (median of
    5) on one thread, 0.08 to 0.82 s on two).
    """
    torch.set_num_threads(intra_op)
    threadpoolctl.threadpool_limits(intra_op, user_api="blas")
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf
    try:  # possible only before TensorFlow's runtime starts
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        return False
    return True
