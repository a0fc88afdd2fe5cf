"""What a user waits for: colorize-run on generated gray photos (wall time and peak RSS of the process), the
stages of one photo inside one process, and cold start."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from colorize_runtime import Colorizer, colour

ASPECT = 4 / 3


def photo_shape(megapixels: float) -> tuple[int, int]:
    """(height, width) of a 4:3 landscape photo of about this many megapixels."""
    height = round((megapixels * 1e6 / ASPECT) ** 0.5)
    return height, round(height * ASPECT)


def make_photo(sample: Path, megapixels: float, path: Path) -> Path:
    """A gray JPEG (quality 90) of the sample photo scaled up to the size, with a little noise as film grain,
    so that decoding costs what a real scan of that size costs."""
    height, width = photo_shape(megapixels)
    gray = cv2.resize(cv2.imread(str(sample), cv2.IMREAD_GRAYSCALE), (width, height), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(-4, 5, (height, width), dtype=np.int16)
    cv2.add(gray, noise, dst=gray, dtype=cv2.CV_8U)
    if not cv2.imwrite(str(path), gray, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise RuntimeError(f"cannot write {path}")
    return path


def cli_command() -> list[str]:
    """colorize-run from this Python's environment (the script beside the interpreter), else python -m."""
    script = Path(sys.executable).with_name("colorize-run")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "colorize_runtime"]


# Runs a command and prints its exit code, wall seconds and peak RSS (KB). It runs in a fresh, small Python:
# a child forked from the benchmark itself (hundreds of MB by then) would report the benchmark's RSS as its peak.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss]))
"""


def run_measured(command: list[str]) -> dict:
    """Wall seconds and peak RSS (MB) of one process; raises with its stderr when it fails."""
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True)
    code, wall, peak_kb = json.loads(launched.stdout)
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({code}): {launched.stderr.strip()[-500:]}")
    return {"wall_s": wall, "peak_rss_mb": peak_kb / 1024}


def colorize_run(photos: list[Path], options: list[str], repeats: int = 1) -> dict:
    """colorize-run on the photos in one process (outputs NAME_color.jpg beside them, overwritten), `repeats`
    times: the median wall time and the largest peak RSS, with every wall time."""
    command = [*cli_command(), "--quiet", "--force", *options, *map(str, photos)]
    measured = [run_measured(command) for _ in range(repeats)]
    walls = [m["wall_s"] for m in measured]
    result = {"wall_s": statistics.median(walls), "peak_rss_mb": max(m["peak_rss_mb"] for m in measured),
              "runs": repeats, "wall_s_each": walls}
    result["photos"] = len(photos)
    result["per_photo_s"] = result["wall_s"] / len(photos)
    return result


def stages(photo: Path, colorizer: Colorizer, repeats: int = 3, max_seconds: float = 1.0) -> dict:
    """Median ms of each step of one photo inside a process warmed up by one pass: decode, network (at the working
    resolution, scaling down included), recolour (the photo's L + ab scaled up -> BGR), encode; a breakdown of
    where the time of a batch run goes. A step is repeated up to `repeats` times while under max_seconds in all."""
    image = cv2.imread(str(photo), cv2.IMREAD_UNCHANGED)
    ab = colorizer.predict_colour(image)
    bgr = colour.recolour(image, ab)
    steps = {
        "decode": lambda: cv2.imread(str(photo), cv2.IMREAD_UNCHANGED),
        "predict_colour": lambda: colorizer.predict_colour(image),
        "recolour": lambda: colour.recolour(image, ab),
        "encode": lambda: cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]),
    }
    timings = {}
    for name, step in steps.items():
        times = []
        while len(times) < repeats and sum(times) < max_seconds:
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        timings[name] = 1e3 * statistics.median(times)
    timings["total"] = sum(timings.values())
    return timings


COLD_START_SCRIPT = """
import time
start = time.perf_counter()
from colorize_runtime import Colorizer
imported = time.perf_counter()
Colorizer(providers="cpu")
print(imported - start, time.perf_counter() - imported)
"""


def cold_start(repeats: int = 5) -> dict:
    """Median seconds of `colorize-run --version` (whole process), and of import + session creation inside a
    fresh Python (both parts)."""
    version = [run_measured([*cli_command(), "--version"])["wall_s"] for _ in range(repeats)]
    parts = []
    for _ in range(repeats):
        output = subprocess.run([sys.executable, "-c", COLD_START_SCRIPT], capture_output=True, text=True, check=True)
        parts.append([float(value) for value in output.stdout.split()])
    return {"version_s": statistics.median(version),
            "import_s": statistics.median(p[0] for p in parts),
            "session_s": statistics.median(p[1] for p in parts),
            "import_and_session_s": statistics.median(sum(p) for p in parts)}
