"""Loss curves of a training run, or of a chain of runs: python -m train.plot RUN [RUN ...] [-o PNG].

Reads each run's log.jsonl (train/train.py writes it) and draws the training loss, the validation loss and the
validation 'no colour' floor (the loss of predicting ab = 0) against the step, one panel per run. A run started
with --init-from the previous one continues its step count. Where a run logged it, the validation gain over no
colour in dB (what mean PSNR rewards) is drawn on a second axis. A resumed run logs the steps after its last
checkpoint again; the later record of a step wins.
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


def series(records: list[dict], key: str, offset: int = 0) -> tuple[list[int], list[float]]:
    points = [(r["step"] + offset, r[key]) for r in records if key in r]
    return [s for s, _ in points], [v for _, v in points]


def plot(runs: list[tuple[str, list[dict]]], output: Path) -> None:
    figure = Figure(figsize=(6 + 3 * len(runs), 4.5), dpi=100, layout="constrained")
    axes = figure.subplots(1, len(runs), squeeze=False)[0]
    offset = 0
    for axis, (name, records) in zip(axes, runs):
        axis.plot(*series(records, "train_loss", offset), label="train (the run's training windows)", color="tab:blue",
                  alpha=0.6)
        axis.plot(*series(records, "val_loss", offset), "o-", label="val", color="tab:orange",
                  markersize=3)
        axis.plot(*series(records, "val_loss_no_colour", offset), "--", label="val, no colour (ab = 0)", color="gray")
        if all(r.get(key, 1) > 0 for r in records for key in ("train_loss", "val_loss")):
            axis.set_yscale("log")
            axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            axis.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        axis.set_xlabel("step")
        axis.set_ylabel("loss (the run's --loss, on normalised ab)")
        axis.grid(True, which="both", alpha=0.3)
        if any("val_gain_db" in r for r in records):
            gain_axis = axis.twinx()
            gain_axis.plot(*series(records, "val_gain_db", offset), "s:", color="tab:green", markersize=3,
                           label="val gain over no colour (dB, right)")
            gain_axis.set_ylabel("dB")
            handles, labels = axis.get_legend_handles_labels()
            extra = gain_axis.get_legend_handles_labels()
            axis.legend(handles + extra[0], labels + extra[1], fontsize="small")
        else:
            axis.legend(fontsize="small")
        axis.set_title(f"{name}: steps {offset}–{offset + records[-1]['step']}")
        offset += records[-1]["step"]
    figure.savefig(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", metavar="run",
                        help="a run folder (holding log.jsonl) or the log file itself; several: a chain of runs")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="PNG to write (default: loss_curves.png in the last run's folder)")
    args = parser.parse_args(argv)
    runs = []
    for run in args.runs:
        log = run / "log.jsonl" if run.is_dir() else run
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
        runs.append((log.parent.name, records))
    output = args.output or log.parent / "loss_curves.png"
    plot(runs, output)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
