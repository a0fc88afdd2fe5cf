"""What guided colour costs a window: python -m benchmarks.guided [--threads 2] [--rounds 3].

ms per 256 x 256 window (one window a call, the runtime's own session options) of the default file and of the
guided file without hints, with 3 pins and with pins and a reference; interleaved rounds, medians, and the
ratio to the default measured in the same run. Then what pins.pinned_colour adds a photo (once, after the
network) at the working resolution of a 3:2 photo (160 x 240), with 3 and with 10 pins. Prints two tables.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.windows import sample_windows, time_per_window
from colorize_runtime import Colorizer, guided, pins
from colorize_runtime.colorizer import DEFAULT_MODEL, shipped_model_path
from tests.conftest import SAMPLE_PHOTO


def feeds(colorizer: Colorizer, lightness: np.ndarray) -> dict[str, dict]:
    """The inputs of each measured case."""
    if not colorizer.guided:
        return {"default file": {"L": lightness}}
    cells = len(colorizer.ab_cells)
    pins = guided.hint_plane([guided.Hint.make(x, y, "#3060c0") for x, y in ((40, 40), (128, 200), (220, 90))],
                             (256, 256), (256, 256), colorizer.contract)[None]
    reference = guided.ab_distribution(np.random.default_rng(0).normal(0, 30, (500, 2)), colorizer.ab_cells)
    return {"guided, no hints": {"L": lightness, "hints": np.zeros_like(pins),
                                 "global_hint": np.zeros((1, cells), np.float32)},
            "guided, 3 pins": {"L": lightness, "hints": pins, "global_hint": np.zeros((1, cells), np.float32)},
            "guided, 3 pins + reference": {"L": lightness, "hints": pins, "global_hint": reference[None]}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.guided", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    lightness = sample_windows(SAMPLE_PHOTO, 1)
    cases = {}
    for name in (DEFAULT_MODEL, "guided"):
        colorizer = Colorizer(shipped_model_path(name), providers="cpu", threads=args.threads)
        outputs = ["ab"]  # what the runtime asks for when colouring
        for case, feed in feeds(colorizer, lightness).items():
            cases[case] = (colorizer.session, feed, outputs)
    times: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):  # interleaved, so that a busy moment touches every case alike
        for case, (session, feed, outputs) in cases.items():
            times[case].append(time_per_window(lambda: session.run(outputs, feed), 1)["ms"])
    default = statistics.median(times["default file"])
    print(f"{'case':30} {'ms/window':>10} {'vs default':>11}   ({args.rounds} interleaved rounds, medians, "
          f"{args.threads} threads)")
    for case, values in times.items():
        median = statistics.median(values)
        print(f"{case:30} {median:10.1f} {100 * (median / default - 1):+10.1f}%")
    print(f"\n{'pins (pins.pinned_colour, 160 x 240)':40} {'ms/photo':>9}")
    for count, milliseconds in pin_costs(args.rounds).items():
        print(f"{f'{count} pins':40} {milliseconds:9.1f}")


def pin_costs(rounds: int, counts: tuple[int, ...] = (3, 10)) -> dict[int, float]:
    """Median ms of pins.pinned_colour on a random 160 x 240 plane for each number of pins (the photo's cost
    beside its windows: the geodesic scans do not depend on what the plane shows)."""
    rng = np.random.default_rng(0)
    lightness = rng.uniform(0, 100, (160, 240))
    automatic = rng.normal(0, 10, (160, 240, 2)).astype(np.float32)
    costs = {}
    for count in counts:
        placed = [(int(rng.integers(160)), int(rng.integers(240)), (10.0, 20.0)) for _ in range(count)]
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            pins.pinned_colour(lightness, automatic, automatic, placed)
            samples.append(1000 * (time.perf_counter() - start))
        costs[count] = statistics.median(samples)
    return costs


if __name__ == "__main__":
    main()
