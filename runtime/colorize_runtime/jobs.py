"""What the command line and the engines that run its batches share: the program's name, one job of a batch, and
the options passed on to the Colorizer. Imports nothing of colorize_runtime, so that every module may import it:
cli.py (parsing and dispatch) sits above it, report.py and cluster.py (the engines' outcome and the Ray engine)
beside it, and none of them needs cli.py."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

PROG = "colorize-run"

# The command-line options that are the Colorizer's keyword arguments, passed on only when given.
MODEL_OPTIONS = ("providers", "threads", "stride", "blend", "saturation", "size", "precision", "mirror")


@dataclass
class Job:
    source: Path
    target: Path | None = None
    error: str | None = None  # known before anything is read: the job fails with this reason


def files_of_the_run(jobs: list[Job], args: argparse.Namespace, model_path: Path) -> list[Path]:
    """Every file a run reads or writes: its photos and videos, their outputs, the --hints and --reference files
    and the model file (what --report must never be)."""
    guidance = [Path(name) for name in (getattr(args, "hints", None), getattr(args, "reference", None)) if name]
    return [job.source for job in jobs] + [job.target for job in jobs if job.target] + guidance + [Path(model_path)]
