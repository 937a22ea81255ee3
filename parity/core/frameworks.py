# ruff: noqa: I001
"""Imports both frameworks in the one order that is safe in a single process.

torch must be imported before TensorFlow (the other order can crash at import on some builds), and
TensorFlow's C++ logging is quietened unless the user chose a level. Every module that needs a framework
imports it from here.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import torch  # noqa: E402, I001  (must precede keras/tensorflow; keep this order)
import keras  # noqa: E402

__all__ = ["keras", "torch"]
