"""Loss curves of a training run: python -m train.plot RUN_DIR_OR_LOG [-o PNG].

Reads the run's log.jsonl (train/train.py writes it) and draws the training loss, the validation loss and the
validation 'no colour' floor (the loss of predicting ab = 0) against the step. A resumed run logs the steps
after its last checkpoint again; the later record of a step wins.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter


def read_log(path: Path) -> list[dict]:
    """The log's records in step order, one per step (the last one written for a step)."""
    by_step = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step)]


def series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    points = [(r["step"], r[key]) for r in records if key in r]
    return [s for s, _ in points], [v for _, v in points]


def plot(records: list[dict], output: Path, title: str) -> None:
    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    axis = figure.subplots()
    axis.plot(*series(records, "train_loss"), label="train (random crops)", color="tab:blue", alpha=0.6)
    axis.plot(*series(records, "val_loss"), "o-", label="val (centre crops)", color="tab:orange", markersize=3)
    axis.plot(*series(records, "val_loss_no_colour"), "--", label="val, no colour (ab = 0)", color="gray")
    axis.set_xlabel("step")
    axis.set_ylabel("loss on normalised ab")
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    axis.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    axis.set_title(title)
    figure.savefig(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder (holding log.jsonl) or the log file itself")
    parser.add_argument("-o", "--output", type=Path, default=None, help="PNG to write (default: RUN/loss_curves.png)")
    args = parser.parse_args(argv)
    log = args.run / "log.jsonl" if args.run.is_dir() else args.run
    if not log.is_file():
        print(f"plot: {log}: no such log", file=sys.stderr)
        return 2
    try:
        records = read_log(log)
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        print(f"plot: {log}: not a training log ({error})", file=sys.stderr)
        return 2
    if not any("train_loss" in r or "val_loss" in r for r in records):
        print(f"plot: {log}: no losses logged yet", file=sys.stderr)
        return 2
    output = args.output or log.parent / "loss_curves.png"
    plot(records, output, title=f"{log.parent.name}: loss curves up to step {records[-1]['step']}")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
