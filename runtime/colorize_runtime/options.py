"""The Colorizer's options checked before anything is loaded: each bad value is a ColorizeError that says which
option and why, for callers of the API as for colorize-run (which prints it on one line and exits 2)."""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from colorize_runtime.errors import ColorizeError

MAX_SATURATION = 5.0  # scales the predicted colour; far above 1 every colour clips to the gamut's edge


def machine_threads() -> int:
    """The CPUs this machine has: the most onnxruntime threads that make sense."""
    return os.cpu_count() or 1


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy's integers too


def check(model, threads, stride, size, saturation, batch) -> None:
    """ColorizeError for a model that is neither a name nor a path, or an option of the wrong type or range:
    threads 1..the machine's CPUs, stride and batch whole numbers >= 1 (stride at most a window: checked once
    the window is known), size a whole number >= 1 or None, saturation a finite number 0..MAX_SATURATION."""
    if model is not None and not isinstance(model, (str, Path)):
        raise ColorizeError(f"model must be a shipped model's name or a path, not {type(model).__name__}")
    if isinstance(model, str) and (not model or "\0" in model):
        raise ColorizeError(f"model must be a shipped model's name or a path, not {model!r}")
    if threads is not None and (not _whole(threads) or not 1 <= threads <= machine_threads()):
        raise ColorizeError(f"threads must be between 1 and {machine_threads()} (this machine's CPUs), "
                            f"not {threads!r}")
    for name, value in (("stride", stride), ("batch", batch), ("size", size)):
        if value is not None:
            check_whole(name, value)
    if isinstance(saturation, bool) or not isinstance(saturation, numbers.Real) or not math.isfinite(saturation) \
            or not 0 <= saturation <= MAX_SATURATION:
        raise ColorizeError(f"saturation must be a number between 0 and {MAX_SATURATION:g}, not {saturation!r}")


def check_whole(name: str, value, low: int = 1, high: int | None = None) -> None:
    """ColorizeError unless value is a whole number (numpy's too; not a bool, nor a float) from low to high (no
    upper bound when None)."""
    if not _whole(value) or value < low or (high is not None and value > high):
        bounds = f"{low} or more" if high is None else f"between {low} and {high}"
        raise ColorizeError(f"{name} must be a whole number, {bounds}, not {value!r}")
