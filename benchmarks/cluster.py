"""python -m benchmarks.cluster [--photos N] [--megapixels MP]: colorize-run --ray against plain colorize-run.

The same N generated gray JPEGs (benchmarks.endtoend.make_photo, copied N times), colourised into a folder by
  plain     colorize-run -r DIR -o OUT
  ray       the same with --ray: a Ray started by the command on this machine (start-up and shutdown included)
  ray-up    the same with --ray ADDRESS of a Ray already running here (started by this script): actor start-up
            and model loading included, cluster start-up not
each once with N photos and once with one photo: the one-photo difference to plain is the start-up cost, and
(N-photo wall - one-photo wall) / (N - 1) the steady cost of a photo. The --ray runs' reports give the seconds a
worker spends on a photo (one worker per core, one network thread each), hence photos per second per core.
Prints a table; numbers depend on what else runs on the machine (the load average is printed with them). Ray runs
its workers at nice 15 by default; here they run at nice 0 (RAY_worker_niceness), as plain colorize-run does, so
that other load on the machine slows both alike.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.endtoend import cli_command, make_photo, run_measured

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_PHOTO = REPOSITORY / "examples" / "sample.jpg"


def _run(folder: Path, out: Path, extra: list[str], report: Path | None = None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [*cli_command(), "-q", "-r", str(folder), "-o", str(out), *extra]
    if report:
        command += ["--report", str(report)]
    return run_measured(command)["wall_s"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--megapixels", type=float, default=2)
    parser.add_argument("--modes", default="plain,ray,ray-up",
                        help="comma-separated, to split a long run (the vs-plain column needs plain first)")
    parser.add_argument("--ray-options", default="", help="more colorize-run options for the --ray modes, "
                        "e.g. '--ray-workers 1 --ray-cpus-per-worker 2'")
    args = parser.parse_args(argv)

    os.environ["RAY_worker_niceness"] = "0"  # read by every Ray started here, in this process or a child
    import ray

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        many, one = scratch / "many", scratch / "one"
        many.mkdir(), one.mkdir()
        first = make_photo(SAMPLE_PHOTO, args.megapixels, one / "photo.jpg")
        for index in range(args.photos):
            shutil.copyfile(first, many / f"photo{index:04}.jpg")
        load_start = os.getloadavg()[0]

        print(f"{args.photos} photos of {args.megapixels:g} MP, {os.cpu_count()} cores, load average "
              f"{load_start:.2f} at the start")
        print(f"| mode | 1 photo (s) | {args.photos} photos (s) | photos/s | vs plain | steady s/photo | "
              "start-up over plain (s) | worker s/photo (median) |")
        print("|---|---|---|---|---|---|---|---|", flush=True)
        rows = {}
        for name in args.modes.split(","):
            extra = {"plain": [], "ray": ["--ray"]}.get(name)
            if extra is None:  # started only now: an idle Ray would take some CPU from the other modes
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="error")
                extra = ["--ray", ray.get_runtime_context().gcs_address]
            extra += args.ray_options.split() if name != "plain" else []
            report = scratch / f"{name}.jsonl"
            wall_one = _run(one, scratch / "out", extra)
            wall_many = _run(many, scratch / "out", extra, report)
            seconds = [json.loads(line)["seconds"] for line in report.read_text().splitlines()]
            row = rows[name] = {"one_photo_s": wall_one, "many_s": wall_many, "photos_per_s": args.photos / wall_many,
                                "steady_s_per_photo": (wall_many - wall_one) / max(1, args.photos - 1),
                                "report_median_s_per_photo": statistics.median(seconds)}
            plain = rows.get("plain", row)
            print(f"| {name} | {wall_one:.2f} | {wall_many:.1f} | {row['photos_per_s']:.2f} | "
                  f"{row['photos_per_s'] / plain['photos_per_s']:.0%} | {row['steady_s_per_photo']:.3f} | "
                  f"{wall_one - plain['one_photo_s']:+.2f} | "
                  f"{row['report_median_s_per_photo']:.3f} |", flush=True)
        if ray.is_initialized():
            ray.shutdown()
    print(json.dumps({"photos": args.photos, "megapixels": args.megapixels, "ray_options": args.ray_options,
                      "load_average": [load_start, os.getloadavg()[0]], "rows": rows}))


if __name__ == "__main__":
    main()
